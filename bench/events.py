"""Events benchmark: (a) PutEvents ingestion, (b) analytics queries, each against a baseline
measured side by side in the same run.

    .venv/bin/python bench/events.py [--seconds 5] [--warmup 1] [--clients 2] [--connections 4]

(a) `bench_ingest`: PutEvents end to end over HTTP: `clarion serve` in a subprocess on a free
port with a temporary data dir, driven by client processes replaying pre-signed requests of 100
events each (see _harness.py), against the in-process floor: the same request bodies parsed
(orjson) and appended into DuckDB (the store's own bulk load, 30,000 events per statement) by
one process with no HTTP, no validation, no endpoint store, no journal. Prints events/s for
both, the ratio, and the server's CPU per event. Targets: >= 50,000 events/s end to end on this
2-core machine, and >= 0.5 of the floor. Both sides share the machine with the client
processes (and with anything else running: the first line says how busy it was).

(b) `bench_analytics`: each analytics query over 10 million events against pandas (see
bench/_analytics.py; `--analytics-store PATH` keeps the generated events for the next run).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import botocore.config
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Credentials, add_load_options, Load, Server, format_table, free_port, machine_line, run_phase  # noqa: E402

REGION = "us-east-1"
CREDS = Credentials("AKIDCLARIONBENCH0002", "bench-secret-key-0123456789abcdef", REGION)
EVENTS_PER_REQUEST = 100
ENDPOINTS_PER_REQUEST = 10
POOL = 150  # distinct request bodies per client process
FLOOR_GROUP = 300  # requests per DuckDB load in the floor (30,000 events, like the server's journal segments)
TARGET_EVENTS_PER_SECOND = 50_000
TARGET_RATIO = 0.5

_TYPES = ["_session.start", "_session.stop", "screen.view", "button.tap", "level.complete", "_monetization.purchase"]


# -- request bodies (top-level: each client process builds its own after forking) ------------

def request_body(seed: int) -> bytes:
    """100 events for 10 devices, shaped like the Amplify and mobile SDKs send them."""
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc)
    batches = {}
    for _ in range(ENDPOINTS_PER_REQUEST):
        session = {"Id": str(uuid.UUID(int=rnd.getrandbits(128))), "StartTimestamp": now.isoformat()}
        events = {}
        for _ in range(EVENTS_PER_REQUEST // ENDPOINTS_PER_REQUEST):
            event_type = rnd.choice(_TYPES)
            events[str(uuid.UUID(int=rnd.getrandbits(128)))] = {
                "EventType": event_type,
                "Timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "Attributes": {"screen": rnd.choice(["home", "cart", "checkout", "settings"]),
                               "variant": rnd.choice(["a", "b"]), "source": "organic"},
                "Metrics": {"duration": round(rnd.random() * 100, 3)},
                "Session": session,
                "AppPackageName": "com.example.shop", "AppTitle": "Shop", "AppVersionCode": "4.2.0",
                "SdkName": "aws-amplify/js", "ClientSdkVersion": "6.0.0",
            }
        batches[str(uuid.UUID(int=rnd.getrandbits(128)))] = {"Endpoint": {}, "Events": events}
    return orjson.dumps({"BatchItem": batches})


def put_events_requests(app_id: str, client: int):
    return [("POST", f"/v1/apps/{app_id}/events", request_body(client * 100_000 + n)) for n in range(POOL)]


# -- (a) ingestion -----------------------------------------------------------------------------

def floor_events_per_second(bodies: list[bytes], workdir: Path, seconds: float) -> tuple[float, float]:
    """The same bodies parsed and loaded into DuckDB by this process alone: (events/s, CPU share)."""
    import duckdb

    from clarion.events import schema
    from clarion.events.duckdb_store import CHECKPOINT_THRESHOLD, INSERT_LINES

    path = workdir / "floor.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    schema.create(con)
    load_file = str(path) + ".load.ndjson"
    arrival = int(time.time() * 1e6)
    events, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for first in range(0, len(bodies), FLOOR_GROUP):
            lines = []
            for body in bodies[first:first + FLOOR_GROUP]:
                for endpoint_id, batch in orjson.loads(body)["BatchItem"].items():
                    items = [{"id": event_id, "t": arrival, "ss": arrival, "sp": None, "e": event}
                             for event_id, event in batch["Events"].items()]
                    lines.append(orjson.dumps({"a": "floor", "arr": arrival, "ep": endpoint_id, "ctx": {}, "ev": items}))
                    events += len(items)
            with open(load_file, "wb") as f:
                f.write(b"\n".join(lines) + b"\n")
            con.execute(INSERT_LINES, [load_file])
    elapsed = time.perf_counter() - started
    share = (time.process_time() - cpu) / elapsed
    stored = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    assert stored == events, (stored, events)
    return events / elapsed, share


def bench_ingest(load: Load, workdir: Path) -> list[str]:
    """Run part (a); return the report lines."""
    port = free_port()
    env = {**os.environ, "CLARION_ACCESS_KEY_ID": CREDS.key_id, "CLARION_SECRET_ACCESS_KEY": CREDS.secret,
           "CLARION_REGION": REGION, "CLARION_LOG_LEVEL": "warning"}
    argv = [sys.executable, "-m", "clarion", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(workdir / "clarion-data")]
    with Server("clarion", argv, port, workdir, env=env, ready_path="/healthz") as server:
        client = boto3.client("pinpoint", endpoint_url=server.url, region_name=REGION,
                              aws_access_key_id=CREDS.key_id, aws_secret_access_key=CREDS.secret,
                              config=botocore.config.Config(retries={"max_attempts": 1}))
        app_id = client.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        check_accepted(client, app_id)
        result = run_phase("PutEvents", "clarion", server.host, port, CREDS,
                           functools.partial(put_events_requests, app_id), load,
                           items_per_request=EVENTS_PER_REQUEST, server_pid=server.pid)
    bodies = [body for client in range(load.clients) for _, _, body in put_events_requests("x", client)]
    floor, floor_cpu = floor_events_per_second(bodies, workdir, load.seconds)
    ours = result.items_per_second
    lines = [format_table([result]), "",
             f"{'PutEvents over HTTP':<34} {ours:10,.0f} events/s   (target >= {TARGET_EVENTS_PER_SECOND:,}: "
             f"{verdict(ours >= TARGET_EVENTS_PER_SECOND)})",
             f"{'in-process floor (parse + load)':<34} {floor:10,.0f} events/s   (one process, {floor_cpu:.0%} CPU)",
             f"{'ratio to the floor':<34} {ours / floor:10.2f}x          (target >= {TARGET_RATIO}x: "
             f"{verdict(ours / floor >= TARGET_RATIO)})"]
    if result.server_cpu is not None and result.requests:
        lines.append(f"{'server CPU per event':<34} {result.server_cpu / result.requests / EVENTS_PER_REQUEST * 1e6:10.1f} "
                     f"us  (floor: {1e6 * floor_cpu / floor:.1f} us)")
    if result.errors:
        lines.append(f"{result.errors} error responses, first: {result.first_error}")
    return lines


def check_accepted(client, app_id: str) -> None:
    """One request through boto3 first: every event of a bench body must be accepted."""
    body = orjson.loads(request_body(-1))
    results = client.put_events(ApplicationId=app_id, EventsRequest=body)["EventsResponse"]["Results"]
    codes = {r["StatusCode"] for batch in results.values() for r in batch["EventsItemResponse"].values()}
    assert codes == {202}, results


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# -- (b) analytics -------------------------------------------------------------------------------

# >>> bench_analytics: part (b), owned by the analytics work. Replace this stub; keep the name and
# the signature (load, workdir) -> report lines, or None when not implemented.
def bench_analytics(load: Load, workdir: Path, store: Path | None = None) -> list[str] | None:
    """Part (b): each analytics query over 10 million generated events against pandas; the
    work is in bench/_analytics.py (which also runs on its own, with --events and --repeat)."""
    from _analytics import run  # bench/_analytics.py (this directory is on sys.path)

    return run(10_000_000, 3, workdir, store)
# <<< bench_analytics


# -- main ----------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser)
    parser.add_argument("--parts", default="ingest,analytics", help="which parts to run (default: both)")
    parser.add_argument("--analytics-store", type=Path, default=None,
                        help="keep part (b)'s generated 10M-event DuckDB file here and reuse it on later runs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    load = Load(args.clients, args.connections, args.warmup, args.seconds)
    if os.getloadavg()[0] > 0.5:
        print("note: the machine is already busy; throughput will read low and noisy", flush=True)
    print(f"bench/events.py: {machine_line()}; Python {platform.python_version()}; {load.clients} client "
          f"processes x {load.connections} connections; {load.warmup:g}s warm-up + {load.seconds:g}s",
          flush=True)
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="clarion-bench-events-") as tmp:
        workdir = Path(tmp)
        if "ingest" in parts:
            print("\n(a) PutEvents ingestion\n")
            print("\n".join(bench_ingest(load, workdir)), flush=True)
        if "analytics" in parts:
            report = bench_analytics(load, workdir, args.analytics_store)
            print("\n(b) analytics queries\n")
            print("\n".join(report) if report else "not implemented yet")
    print(f"\n(after: {machine_line()})")


if __name__ == "__main__":
    main()
