"""Segment benchmark: counting a 4-dimension segment over 1 million endpoints, against a
full-table count in the same run (the floor), and the import rate of a CSV import job.

    .venv/bin/python bench/segments.py [--endpoints 1000000] [--import-rows 200000]
                                       [--repeat 3] [--database-url URL] [--keep DIR]

1. Builds a real service (`clarion.service.build`) on a temporary data dir: SQLite by default,
   PostgreSQL with `--database-url` (or CLARION_DATABASE_URL); the tables are created by the
   store's own migrations.
2. Seeds one app with `--endpoints` endpoints written straight into the store's `endpoints`,
   `users` and `attribute_names` tables in big batches (executemany on SQLite, COPY on
   PostgreSQL). Each row is exactly what `clarion.store.endpoints` writes for an
   UpdateEndpoint: the same wire-shaped `doc` (EndpointResponse without UserAttributes, same
   member order, latitude/longitude rounded to one decimal) and the same indexed columns.
3. Times, best of `--repeat` after a warm-up run (wall seconds, and on SQLite, which works
   in-process, this process's CPU seconds: on a shared machine they move less than wall time):
   - the floor: `SELECT count(*) FROM endpoints WHERE app_id = ?` (both databases answer it
     from an index, without reading a row);
   - a scan: a count that reads every row's document (the sum of their sizes), which any JSON
     filter has to pay;
   - `clarion.store.segments.size` for a 4-dimension segment (Platform + Country + an
     Attributes INCLUSIVE + a Metrics comparison): total, eligible and eligible per channel;
   - the size-and-preview extension's code (`operations.segments.segment_size`, 20 samples).
4. Writes a `--import-rows` CSV file in Pinpoint's import format, creates an import job
   (`operations.jobs.create_import_job`, RegisterEndpoints into a second app) and runs it
   with `service.workers.drain()`: rows/s over the whole job.

Targets (issue 5): segment count <= 3x the floor and <= 2 s; import >= 20,000 rows/s. The
ratio is printed against both the floor and the scan. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import Text, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clarion.config import Settings  # noqa: E402
from clarion.operations import Caller, Context  # noqa: E402
from clarion.operations import apps as app_ops  # noqa: E402
from clarion.operations import segments as segment_ops  # noqa: E402
from clarion.service import build, freeze_startup_heap  # noqa: E402
from clarion.store import segments as segment_store  # noqa: E402
from clarion.store.schema import apps, attribute_names, endpoints  # noqa: E402

APP_NAME = "bench-segments"
TARGETS = {"ratio": 3.0, "seconds": 2.0, "rows/s": 20_000}
BATCH = 50_000
SEGMENT = {"Name": "bench: 4 dimensions", "Dimensions": {
    "Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios", "android"]}},
    "Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["US", "FR", "DE"]}},
    "Attributes": {"interests": {"AttributeType": "INCLUSIVE", "Values": ["shoes", "coats"]}},
    "Metrics": {"visits": {"ComparisonOperator": "LESS_THAN", "Value": 70}},
}}

# -- a realistic audience ----------------------------------------------------------------------

CHANNELS = ["EMAIL"] * 9 + ["SMS"] * 4 + ["GCM"] * 4 + ["APNS"] * 3
COUNTRIES = [("US", "New York", 40.71, -74.01), ("US", "Chicago", 41.88, -87.63), ("FR", "Paris", 48.86, 2.35),
             ("DE", "Berlin", 52.52, 13.40), ("GB", "London", 51.51, -0.13), ("JP", "Tokyo", 35.68, 139.69),
             ("BR", "Sao Paulo", -23.55, -46.63), ("IN", "Mumbai", 19.08, 72.88), ("CA", "Toronto", 43.65, -79.38),
             ("ES", "Madrid", 40.42, -3.70), ("IT", "Rome", 41.90, 12.50), ("AU", "Sydney", -33.87, 151.21)]
INTERESTS = ["shoes", "hats", "bags", "coats", "music", "travel", "books", "games"]
DEVICES = {"ios": ("Apple", "iPhone15,2"), "android": ("samsung", "SM-S911B"), "web": ("Mozilla", "Firefox")}
TIERS = ["gold", "silver", "bronze"]
PLANS = ["free", "pro", "team"]


class Audience:
    """Endpoint rows as `clarion.store.endpoints.insert_endpoints` writes them, generated from
    a seeded random source (one draw of 64 bits per endpoint, sliced for each field)."""

    def __init__(self, app_id: str, now, seed: int = 20260601):
        self.app_id, self.rnd = app_id, random.Random(seed)
        self.now = now.timestamp()
        self.request_id = "bench-seed-0000-0000-000000000000"

    def rows(self, first: int, count: int) -> tuple[list[tuple], list[tuple]]:
        """(endpoint rows, user rows) for endpoints first .. first+count-1 (column order as in
        ENDPOINT_COLUMNS and USER_COLUMNS)."""
        rows, user_rows = [], []
        for i in range(first, first + count):
            bits = self.rnd.getrandbits(64)
            row, user = self.endpoint(i, bits)
            rows.append(row)
            if user is not None:
                user_rows.append(user)
        return rows, user_rows

    def endpoint(self, i: int, bits: int) -> tuple[tuple, tuple | None]:
        channel = CHANNELS[bits % 20]
        system = "ios" if channel == "APNS" else "android" if channel == "GCM" else \
            ("ios", "android", "web")[(bits >> 5) % 3]
        country, city, lat, lon = COUNTRIES[(bits >> 7) % len(COUNTRIES)]
        created = iso_at(self.now - ((bits >> 11) % (90 * 86400)))
        updated = iso_at(self.now - ((bits >> 11) % (30 * 86400)))
        interests = [INTERESTS[(bits >> s) % 8] for s in (18, 21, 24)][: (bits >> 27) % 4]
        address = (f"user{i}@example.com" if channel == "EMAIL" else f"+1555{i:07d}" if channel == "SMS"
                   else f"{(bits * 2654435761 + i) & (2**128 - 1):032x}{i:032x}")
        make, model = DEVICES[system]
        doc = {"ApplicationId": self.app_id, "Id": f"endpoint-{i:07d}", "CohortId": str((bits >> 29) % 100),
               "CreationDate": created, "OptOut": "ALL" if (bits >> 36) % 20 == 0 else "NONE",
               "Address": address, "ChannelType": channel,
               "Attributes": {"interests": list(dict.fromkeys(interests)), "tier": [TIERS[(bits >> 38) % 3]]},
               "Metrics": {"visits": float((bits >> 40) % 100), "purchases": float((bits >> 47) % 10)},
               "Demographic": {"AppVersion": f"3.{(bits >> 51) % 4}", "Locale": "en_US", "Make": make,
                               "Model": model, "Platform": system, "Timezone": "UTC"},
               "Location": {"City": city, "Country": country, "Latitude": round(lat + ((bits >> 53) % 5) / 10, 1),
                            "Longitude": round(lon - ((bits >> 56) % 5) / 10, 1)},
               "EndpointStatus": "INACTIVE" if (bits >> 59) % 32 == 0 else "ACTIVE",
               "EffectiveDate": updated, "RequestId": self.request_id}
        user_id, user = None, None
        if i % 5:  # 80% of the endpoints belong to a user, two endpoints per user
            user_id = f"user-{i // 2}"
            doc["User"] = {"UserId": user_id}
            user = (self.app_id, user_id, orjson.dumps({"plan": [PLANS[i // 2 % 3]]}).decode())
        last_active = iso_at(self.now - ((bits >> 30) % (60 * 86400))) if (bits >> 62) % 4 else None
        return (self.app_id, doc["Id"].lower(), orjson.dumps(doc).decode(), user_id, channel, address, updated,
                int(doc["CohortId"]), last_active), user


def iso_at(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


ENDPOINT_COLUMNS = ("app_id", "endpoint_key", "doc", "user_id", "channel_type", "address", "effective_date",
                    "cohort", "last_active")
USER_COLUMNS = ("app_id", "user_id", "attributes")


def seed(service, app_id: str, total: int) -> float:
    """Write `total` endpoints (and their users) into the store; returns the seconds it took."""
    audience = Audience(app_id, service.clock.now())
    started = time.perf_counter()
    for first in range(0, total, BATCH):
        rows, user_rows = audience.rows(first, min(BATCH, total - first))
        user_rows = list({u[1]: u for u in user_rows}.values())  # BATCH is even: a user's pair is in one batch
        with service.store.write() as conn:
            bulk_insert(conn, "endpoints", ENDPOINT_COLUMNS, rows)
            bulk_insert(conn, "users", USER_COLUMNS, user_rows)
        print(f"\r  seeded {first + len(rows):,} endpoints", end="", flush=True)
    with service.store.write() as conn:
        conn.execute(attribute_names.insert(), [
            {"app_id": app_id, "kind": kind, "name": name, "removed": False}
            for kind, name in (("custom", "interests"), ("custom", "tier"), ("metric", "purchases"),
                               ("metric", "visits"), ("user", "plan"))])
    print()
    return time.perf_counter() - started


def seeded_app(service, total: int) -> str | None:
    """The app an earlier run (`--keep`) seeded with `total` endpoints, if there is one."""
    with service.store.read() as conn:
        for (app_id,) in conn.execute(select(apps.c.app_id).where(apps.c.doc["Name"].as_string() == APP_NAME)):
            count = conn.execute(select(func.count()).select_from(endpoints).where(endpoints.c.app_id == app_id))
            if count.scalar() == total:
                return app_id
    return None


def bulk_insert(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows straight through the driver: COPY on PostgreSQL, executemany on SQLite."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    driver.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def analyze(service) -> None:
    """Refresh the planner's statistics, as PostgreSQL's autovacuum would after a bulk load."""
    with service.store.write() as conn:
        conn.exec_driver_sql("ANALYZE")


# -- measurements ------------------------------------------------------------------------------

def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall time of `repeat` runs after one warm-up run, this process's CPU time in that
    run (SQLite works in-process; on a shared machine CPU time moves less than wall time),
    and the last result."""
    result = fn()
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    best = min(runs)
    return best[0], best[1], result


def measure_counts(service, app_id: str, segment: dict, repeat: int) -> dict:
    ctx = Context(service, Caller("bench"), "bench-size")

    def floor():
        with service.store.read() as conn:
            return conn.execute(select(func.count()).select_from(endpoints)
                                .where(endpoints.c.app_id == app_id)).scalar()

    def scan():
        with service.store.read() as conn:
            size = func.pg_column_size(endpoints.c.doc) if conn.dialect.name == "postgresql" \
                else func.length(endpoints.c.doc.cast(Text))
            return conn.execute(select(func.count(), func.sum(size)).where(endpoints.c.app_id == app_id)).one()

    def size():
        with service.store.read() as conn:
            plan = segment_store.plan_for(conn, app_id, segment, service.clock.now())
            return segment_store.size(conn, app_id, plan)

    def preview():
        with service.store.read() as conn:
            return segment_ops.segment_size(ctx, conn, app_id, segment, sample=20)

    return {name: timed(fn, repeat) for name, fn in
            (("floor", floor), ("scan", scan), ("size", size), ("preview", preview))}


def floor_plan(service, app_id: str) -> str:
    """How PostgreSQL answered the floor: an index-only scan only skips the table for pages the
    visibility map marks all-visible, which a bulk load followed by ANALYZE (not VACUUM) leaves
    unmarked; the heap fetches say how far the floor is from a vacuumed table's."""
    with service.store.read() as conn:
        query = select(func.count()).select_from(endpoints).where(endpoints.c.app_id == app_id)
        compiled = query.compile(conn)
        (plan,) = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params).scalar()
    node = plan["Plan"]
    while node.get("Plans") and node["Node Type"] in ("Aggregate", "Gather", "Finalize Aggregate"):
        node = node["Plans"][0]
    fetches = node.get("Heap Fetches")
    return f"{node['Node Type']}" + (f" using {node['Index Name']}" if node.get("Index Name") else "") + \
        (f", {fetches:,} heap fetches" if fetches is not None else "")


def csv_file(path: Path, rows: int) -> None:
    """An import file in Pinpoint's CSV format: dot-notation headers, a repeated header for a
    multi-valued attribute, a user id and user attributes."""
    header = ["Id", "ChannelType", "Address", "Demographic.Platform", "Demographic.Make", "Location.Country",
              "Location.City", "Location.Latitude", "Location.Longitude", "Attributes.interests",
              "Attributes.interests", "Metrics.visits", "OptOut", "User.UserId", "User.UserAttributes.plan"]
    rnd = random.Random(7)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(rows):
            country, city, lat, lon = COUNTRIES[i % len(COUNTRIES)]
            system = ("ios", "android", "web")[i % 3]
            out.writerow([f"imported-{i:07d}", "EMAIL", f"import{i}@example.com", system, DEVICES[system][0],
                          country, city, lat, lon, rnd.choice(INTERESTS), rnd.choice(INTERESTS), rnd.randrange(100),
                          "NONE", f"import-user-{i // 2}", PLANS[i % 3]])


def measure_import(service, workdir: Path, rows: int) -> dict:
    """Run one CSV import job of `rows` rows into a new app; rows/s over the whole job."""
    from clarion.operations import jobs as job_ops

    ctx = Context(service, Caller("bench"), "req")
    app_id = app_ops.create_app(ctx, create_application_request={"Name": "bench-import"})["Id"]
    path = workdir / "import" / "endpoints.csv"
    path.parent.mkdir()
    csv_file(path, rows)
    job = job_ops.create_import_job(ctx, app_id, {
        "S3Url": path.as_uri(), "Format": "CSV", "RegisterEndpoints": True,
        "RoleArn": "arn:aws:iam::000000000000:role/clarion-bench"})
    started, cpu = time.perf_counter(), time.process_time()
    service.workers.drain()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = job_ops.get_import_job(ctx, app_id, job["Id"])
    with service.store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(endpoints)
                              .where(endpoints.c.app_id == app_id)).scalar()
    return {"seconds": seconds, "cpu": cpu, "job": done, "stored": stored, "rows": rows}


# -- report ------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(args, backend: str, seeded: float, counts: dict, imported: dict | None, import_error: str) -> bool:
    floor, _, floor_count = counts["floor"]
    scan, _, (_, doc_bytes) = counts["scan"]
    size_s, _, size = counts["size"]
    in_process = backend == "sqlite"
    lines = [f"{'measurement':<46} {'seconds':>8} {'CPU s':>6} {'x floor':>8} {'x scan':>7}  result",
             f"{'-' * 46} {'-' * 8} {'-' * 6} {'-' * 8} {'-' * 7}  {'-' * 36}"]

    def line(label, name, result):
        seconds, cpu, _ = counts[name]
        cpu_text = f"{cpu:6.2f}" if in_process else "     -"
        lines.append(f"{label:<46} {seconds:8.3f} {cpu_text} {seconds / floor:7.2f}x {seconds / scan:6.2f}x  {result}")

    line("floor: count(*) of the app's endpoints", "floor", f"{floor_count:,} endpoints")
    line("scan: count reading every document", "scan", f"{doc_bytes / 1e6:,.0f} MB of JSON read")
    line("segment size, 4 dimensions (store.size)", "size", f"total {size['Total']:,}, eligible {size['Eligible']:,}")
    line("size + 20-endpoint preview (extension API)", "preview",
         f"{len(counts['preview'][2].get('Sample', []))} endpoints sampled")
    print(f"\nbackend: {backend}; Python {platform.python_version()}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; seeded {floor_count:,} endpoints in {seeded:.1f} s; best of {args.repeat}"
          f"{'' if in_process else ' (CPU s: the work runs in the PostgreSQL server)'}\n")
    print("\n".join(lines))
    print("\neligible per channel: " + ", ".join(f"{k} {v:,}" for k, v in size["EligibleByChannel"].items()))
    ok = size_s <= TARGETS["seconds"] and size_s / floor <= TARGETS["ratio"]
    print(f"\nsegment count vs floor (count(*))  {size_s / floor:6.2f}x  (target <= {TARGETS['ratio']}x: "
          f"{verdict(size_s / floor <= TARGETS['ratio'])})")
    if in_process:
        print(f"  the same in CPU time              {counts['size'][1] / counts['floor'][1]:6.2f}x  (this process's "
              f"CPU in the best runs: steadier than wall time on a busy machine)")
    elif counts.get("floor plan"):
        print(f"  the floor's plan: {counts['floor plan']}")
    print(f"segment count vs scan              {size_s / scan:6.2f}x  (the same target against a count that reads "
          f"every row: {verdict(size_s / scan <= TARGETS['ratio'])})")
    print(f"segment count time                 {size_s:6.3f} s  (target <= {TARGETS['seconds']} s: "
          f"{verdict(size_s <= TARGETS['seconds'])})")
    return import_report(imported, import_error) and ok


def import_report(imported: dict | None, import_error: str) -> bool:
    if imported is None:
        print(f"import                             not measured: {import_error}")
        return False
    job = imported["job"]
    rate = job.get("TotalProcessed", 0) / imported["seconds"]
    print(f"import rate ({imported['rows']:,} CSV rows)     {rate:8,.0f} rows/s  (target >= {TARGETS['rows/s']:,}: "
          f"{verdict(rate >= TARGETS['rows/s'])}); {imported['seconds']:.1f} s, {imported['cpu']:.1f} s CPU, "
          f"job {job['JobStatus']}, processed {job.get('TotalProcessed', 0):,}, failures "
          f"{job.get('TotalFailures', 0):,}, endpoints stored {imported['stored']:,}")
    if job.get("Failures"):
        print(f"  first failures: {job['Failures'][:3]}")
    return rate >= TARGETS["rows/s"] and job["JobStatus"] == "COMPLETED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each query (the best is shown)")
    parser.add_argument("--database-url", default=os.environ.get("CLARION_DATABASE_URL"),
                        help="PostgreSQL URL (an empty database or schema); default SQLite in a temporary dir")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the data dir in DIR and reuse the endpoints seeded there by an earlier run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        workdir = Path(tmp)
        service = build(Settings(data_dir=args.keep or workdir / "data", database_url=args.database_url,
                                 access_key_id="AKIDCLARIONBENCH0001", secret_access_key="bench-secret-0123456789"))
        freeze_startup_heap()  # as `clarion serve` and `clarion worker` start, where imports run
        try:
            return 0 if run(args, service, workdir) else 1
        finally:
            service.close()


def run(args, service, workdir: Path) -> bool:
    ctx = Context(service, Caller("bench"), "req")
    app_id = seeded_app(service, args.endpoints) if args.keep else None
    seeded = 0.0  # a reused app was seeded by an earlier run
    if app_id is None:
        app_id = app_ops.create_app(ctx, create_application_request={"Name": APP_NAME})["Id"]
        print(f"seeding {args.endpoints:,} endpoints ({service.store.dialect})")
        seeded = seed(service, app_id, args.endpoints)
        if service.store.dialect == "postgresql":
            analyze(service)
    else:
        print(f"reusing the {args.endpoints:,} endpoints seeded in app {app_id}")
    segment = segment_ops.create_segment(ctx, app_id, dict(SEGMENT))
    print("counting ...")
    counts = measure_counts(service, app_id, segment, args.repeat)
    if service.store.dialect == "postgresql":
        counts["floor plan"] = floor_plan(service, app_id)
    imported, error = None, ""
    if args.import_rows:
        print(f"importing {args.import_rows:,} CSV rows ...")
        try:
            imported = measure_import(service, workdir, args.import_rows)
        except Exception as exc:  # the import code is young: report, don't hide the other figures
            error = f"{type(exc).__name__}: {exc}"
    return report(args, service.store.dialect, seeded, counts, imported, error)


if __name__ == "__main__":
    sys.exit(main())
