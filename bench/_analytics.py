"""Analytics benchmark (bench/events.py part b): each product-analytics query over 10 million
generated events, against the same answer computed with pandas in the same run. (A library of
bench/events.py, hence the underscore: `make bench` runs it once, through events.py.)

    .venv/bin/python bench/_analytics.py [--events 10000000] [--repeat 3] [--store PATH]
    .venv/bin/python bench/events.py --parts analytics [--analytics-store PATH]   (the same)

`--store PATH` keeps the generated DuckDB file at PATH and reuses it on the next run (generation
is seeded, so the same --events gives the same file; PATH.json records what it holds): only the
generation is skipped, every query is timed the same way.

`clarion.events.generate` writes a 60-day history of about --events events (users with several
devices, sessions, a shop funnel, purchases, custom events) into a DuckDB file, columnar, in
DuckDB SQL. Then, best of --repeat, each query of `clarion.events.analytics` runs on that file,
and so does a pandas version of the same answer over a DataFrame already in memory (its load is
not timed: pandas gets the data at its best, ids as integer codes); the two answers are checked
to agree. Target: every query answers in <= 1 s. Needs the `bench` extra (pandas).

Times are wall seconds and the CPU seconds of this process; on a shared machine wall time moves
with whatever else runs, CPU time much less (DuckDB uses both cores: wall ~ CPU / 2 when idle).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from clarion.config import Settings  # noqa: E402
from clarion.events import analytics, schema  # noqa: E402
from clarion.events.analytics_base import ACTIVE  # noqa: E402
from clarion.events.generate import generate, users_for  # noqa: E402

APP = "5f1a6c5e2b8d4d2a9c3e7f8a1b2c3d4e"
START = date(2024, 1, 1)
DAYS = 60
FROM, TO = START + timedelta(days=30), START + timedelta(days=DAYS - 1)  # the last 30 days
SHOP = ["view_item", "add_to_cart", "checkout", "_monetization.purchase"]
SHOES = [{"event_type": "view_item", "attributes": {"category": "shoes"}},
         {"event_type": "add_to_cart", "attributes": {"category": "shoes"}}, "_monetization.purchase"]
TARGET_SECONDS = 1.0


@dataclass
class Timing:
    name: str
    wall: float
    cpu: float
    pandas_wall: float | None = None
    agree: bool | None = None


def best_of(repeat: int, fn):
    """(result, best wall seconds, CPU seconds of that run)."""
    best = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        run = (time.perf_counter() - wall, time.process_time() - cpu)
        best = run if best is None or run[0] < best[0] else best
    return result, best[0], best[1]


def build(path: Path, events: int) -> tuple[int, float]:
    """Generate the history into a DuckDB file: (events, seconds)."""
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    schema.create(con)
    started = time.perf_counter()
    count = generate(con, APP, seed=1, users=users_for(events), days=DAYS, start=START)
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - started
    con.close()
    return count, elapsed


# -- pandas: the same answers, plainly vectorized ------------------------------------------------

FRAME_SQL = f"""
    SELECT hash(endpoint_id) AS ep, event_type::kinds AS event_type, event_time AS t,
           session_start, session_duration::DOUBLE AS session_duration, session_stop,
           platform::platforms AS platform, hash(coalesce(session_id, event_id)) AS sid,
           (attributes['difficulty'] = 'hard') AS hard, metrics['score'] AS score,
           metrics['_item_price'] AS price, metrics['_quantity'] AS quantity,
           NOT ({ACTIVE}) AS service
    FROM f.events WHERE app_id = '{APP}'"""


def load_frame(path: Path):
    """The events as a pandas DataFrame: ids as 64-bit hashes, repeated strings as categories
    (DuckDB ENUMs arrive as pandas Categoricals without a Python object per row)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS f (READ_ONLY)")
    con.execute("CREATE TYPE kinds AS ENUM (SELECT DISTINCT event_type FROM f.events WHERE event_type IS NOT NULL)")
    con.execute("CREATE TYPE platforms AS ENUM (SELECT DISTINCT platform FROM f.events WHERE platform IS NOT NULL)")
    df = con.execute(FRAME_SQL).df()
    con.close()
    df["active"] = ~df["service"]
    return df


def _days(pd):
    return pd.date_range(FROM, TO, freq="D")


def _pairs(pd, df, until):
    active = df[df["active"] & (df["t"] < pd.Timestamp(until))]
    return pd.DataFrame({"ep": active["ep"].to_numpy(), "day": active["t"].dt.floor("D").to_numpy()}).drop_duplicates()


def pd_active_users(df):
    import numpy as np
    import pandas as pd

    pairs = _pairs(pd, df, TO + timedelta(days=1))
    first = pairs.groupby("ep")["day"].min()
    recent = pairs[pairs["day"] >= pd.Timestamp(FROM - timedelta(days=29))].sort_values(["ep", "day"])
    after = recent.groupby("ep")["day"].shift(-1)
    day = recent["day"]
    week, month = day + pd.Timedelta(days=7), day + pd.Timedelta(days=30)
    deltas = pd.concat([
        pd.DataFrame({"d": day, "w": 1, "m": 1}),
        pd.DataFrame({"d": np.minimum(after.fillna(week), week), "w": -1, "m": 0}),
        pd.DataFrame({"d": np.minimum(after.fillna(month), month), "w": 0, "m": -1})])
    running = deltas.groupby("d")[["w", "m"]].sum().cumsum().reindex(_days(pd), method="ffill")
    dau = pairs[pairs["day"] >= pd.Timestamp(FROM)].groupby("day").size().reindex(_days(pd), fill_value=0)
    new = first[first >= pd.Timestamp(FROM)].value_counts().reindex(_days(pd), fill_value=0)
    return [(int(a), int(w), int(m), int(n)) for a, w, m, n in zip(dau, running["w"], running["m"], new)]


def pd_sessions(df):
    import pandas as pd

    lo, hi = pd.Timestamp(FROM), pd.Timestamp(TO + timedelta(days=1))
    starts = df[(df["event_type"] == "_session.start") & (df["t"] >= lo) & (df["t"] < hi)]
    sessions = starts.groupby(starts["t"].dt.floor("D")).size().reindex(_days(pd), fill_value=0)
    stops = df[(df["event_type"] == "_session.stop") & (df["t"] >= lo)]
    began = stops["session_start"].fillna(stops["t"]).dt.floor("D")
    ms = stops["session_duration"].fillna((stops["session_stop"] - stops["session_start"]).dt.total_seconds() * 1000)
    inside = (began >= lo) & (began < hi)
    durations = ms[inside].groupby(began[inside]).agg(["median", "mean"]).reindex(_days(pd))
    pairs = _pairs(pd, df, hi)
    active = pairs[pairs["day"] >= lo].groupby("day").size().reindex(_days(pd), fill_value=0)
    return [(int(s), int(a), round(float(m), 3)) for s, a, m in zip(sessions, active, durations["median"])]


def pd_retention(df):
    import pandas as pd

    pairs = _pairs(pd, df, TO + timedelta(days=1))
    first = pairs.groupby("ep")["day"].min().rename("first")
    cohort = first[(first >= pd.Timestamp(FROM)) & (first <= pd.Timestamp(FROM + timedelta(days=14)))]
    back = pairs.merge(cohort, left_on="ep", right_index=True)
    back["n"] = (back["day"] - back["first"]).dt.days
    back = back[(back["n"] >= 1) & (back["n"] <= 30)]
    counts = back.groupby(["first", "n"]).size()
    return sorted((k[0].date().isoformat(), int(k[1]), int(v)) for k, v in counts.items())


def pd_demographics(df):
    import pandas as pd

    inside = df[df["active"] & (df["t"] >= pd.Timestamp(FROM)) & (df["t"] < pd.Timestamp(TO + timedelta(days=1)))]
    known = inside[inside["platform"].notna()]
    latest = known.loc[known.groupby("ep")["t"].idxmax(), ["ep", "platform"]]
    counts = latest["platform"].value_counts()
    nobody = inside["ep"].nunique() - len(latest)
    result = {str(k): int(v) for k, v in counts.items() if v}
    if nobody:
        result[None] = nobody
    return result


def pd_event_types(df):
    import pandas as pd

    inside = df[(df["t"] >= pd.Timestamp(FROM)) & (df["t"] < pd.Timestamp(TO + timedelta(days=1)))]
    figures = inside.groupby("event_type", observed=True)["ep"].agg(["size", "nunique"])
    return {str(k): (int(r["size"]), int(r["nunique"])) for k, r in figures.iterrows()}


def pd_event_metric(df):
    import pandas as pd

    sub = df[(df["event_type"] == "level_complete") & df["hard"].fillna(False).astype(bool)
             & (df["t"] >= pd.Timestamp(FROM))
             & (df["t"] < pd.Timestamp(TO + timedelta(days=1)))]
    day = sub["t"].dt.floor("D")
    figures = sub.groupby(day).agg(count=("ep", "size"), uniques=("ep", "nunique"), total=("score", "sum"))
    session_mean = sub.groupby([day, sub["ep"], sub["sid"]])["score"].mean().groupby(level=0).mean()
    return [(int(c), int(u), round(float(s), 3), round(float(m), 6))
            for c, u, s, m in zip(figures["count"], figures["uniques"], figures["total"], session_mean)]


def pd_funnel(df, steps=SHOP, window=timedelta(days=7)):
    import pandas as pd

    lo, hi = pd.Timestamp(FROM), pd.Timestamp(TO + timedelta(days=1))
    w = pd.Timedelta(window)
    first = df[(df["event_type"] == steps[0]) & (df["t"] >= lo) & (df["t"] < hi)]
    chains = pd.DataFrame({"ep": first["ep"].to_numpy(), "t0": first["t"].to_numpy(), "t": first["t"].to_numpy()})
    finished = []
    for k in range(1, len(steps)):
        right = df[df["event_type"] == steps[k]][["ep", "t"]].rename(columns={"t": "tk"}).sort_values("tk")
        matched = pd.merge_asof(chains.sort_values("t"), right, left_on="t", right_on="tk", by="ep",
                                direction="forward")
        ok = matched["tk"].notna() & (matched["tk"] <= matched["t0"] + w)
        finished.append(pd.DataFrame({"ep": matched.loc[~ok, "ep"], "depth": k}))
        chains = pd.DataFrame({"ep": matched.loc[ok, "ep"], "t0": matched.loc[ok, "t0"], "t": matched.loc[ok, "tk"]})
    finished.append(pd.DataFrame({"ep": chains["ep"], "depth": len(steps)}))
    depth = pd.concat(finished).groupby("ep")["depth"].max()
    return [int((depth >= k).sum()) for k in range(1, len(steps) + 1)]


def pd_revenue(df):
    import pandas as pd

    lo, hi = pd.Timestamp(FROM), pd.Timestamp(TO + timedelta(days=1))
    buys = df[(df["event_type"] == "_monetization.purchase") & (df["t"] >= lo) & (df["t"] < hi)]
    revenue = buys["price"].fillna(0) * buys["quantity"].fillna(1)
    day = buys["t"].dt.floor("D")
    figures = pd.DataFrame({"revenue": revenue, "ep": buys["ep"]}).groupby(day).agg(
        revenue=("revenue", "sum"), purchases=("ep", "size"), paying=("ep", "nunique")).reindex(_days(pd))
    pairs = _pairs(pd, df, hi)
    active = pairs[pairs["day"] >= lo].groupby("day").size().reindex(_days(pd), fill_value=0)
    return [(round(float(r), 2), int(p), int(q), int(a)) for r, p, q, a in
            zip(figures["revenue"], figures["purchases"], figures["paying"], active)]


# -- ours, and what to compare -------------------------------------------------------------------

def _ours_active(con):
    days = analytics.active_users(con, APP, FROM, TO)["days"]
    return [(d["dau"], d["wau"], d["mau"], d["new"]) for d in days]


def _ours_sessions(con):
    return [(d["sessions"], d["active"], round(d["median_duration_ms"], 3))
            for d in analytics.sessions(con, APP, FROM, TO)["days"]]


def _ours_retention(con):
    cohorts = analytics.retention(con, APP, FROM, FROM + timedelta(days=14), as_of=TO)["cohorts"]
    return sorted((c["date"], n, r) for c in cohorts for n, r in enumerate(c["returning"], 1) if r)


def _ours_demographics(con):
    return {v["value"]: v["count"] for v in analytics.demographics(con, APP, FROM, TO, "platform")["values"]}


def _ours_types(con):
    return {t["event_type"]: (t["count"], t["uniques"]) for t in analytics.events(con, APP, FROM, TO)["types"]}


def _ours_metric(con):
    days = analytics.events(con, APP, FROM, TO, event_type="level_complete", attributes={"difficulty": "hard"},
                            metric="score")["days"]
    return [(d["count"], d["uniques"], round(d["metric"]["sum"], 3), round(d["metric"]["session_mean"], 6))
            for d in days]


def _ours_funnel(con):
    return [s["count"] for s in analytics.funnel(con, APP, FROM, TO, SHOP)["steps"]]


def _ours_revenue(con):
    return [(round(d["revenue"], 2), d["purchases"], d["paying"], d["active"])
            for d in analytics.revenue(con, APP, FROM, TO)["days"]]


COMPARED = [  # (name, ours, pandas)
    ("active users (DAU/WAU/MAU, new)", _ours_active, pd_active_users),
    ("sessions (per day, durations)", _ours_sessions, pd_sessions),
    ("retention (15 cohorts x 30 days)", _ours_retention, pd_retention),
    ("demographics (platform)", _ours_demographics, pd_demographics),
    ("events (every type)", _ours_types, pd_event_types),
    ("events (type, attribute, metric)", _ours_metric, pd_event_metric),
    ("funnel (4 steps, 7 days)", _ours_funnel, pd_funnel),
    ("revenue (per day, ARPDAU)", _ours_revenue, pd_revenue),
]
OURS_ONLY = [
    ("active users by user, New York days",
     lambda con: analytics.active_users(con, APP, FROM, TO, by_user=True, tz="America/New_York")),
    ("retention by user, 90-day horizon",
     lambda con: analytics.retention(con, APP, START, TO, by_user=True, days=30, as_of=TO)),
    ("demographics (custom attribute)",
     lambda con: analytics.demographics(con, APP, FROM, TO, "endpoint_attribute:interests", by_user=True)),
    ("funnel (5 steps from sessions, by platform)",
     lambda con: analytics.funnel(con, APP, FROM, TO, ["_session.start"] + SHOP, breakdown="platform")),
    ("funnel (attribute filters, 1 hour)",
     lambda con: analytics.funnel(con, APP, FROM, TO, SHOES, window=timedelta(hours=1))),
]


def reuse_or_build(path: Path, events: int) -> tuple[int, float, bool]:
    """(events, generation seconds, reused): a file built earlier for the same --events is kept."""
    meta = Path(str(path) + ".json")
    wanted = {"events": events, "users": users_for(events), "days": DAYS, "start": START.isoformat(), "seed": 1}
    if path.exists() and meta.exists():
        recorded = json.loads(meta.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted:
            return recorded["count"], recorded["seconds"], True
    path.unlink(missing_ok=True)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    count, seconds = build(path, events)
    meta.write_text(json.dumps({**wanted, "count": count, "seconds": seconds}))
    return count, seconds, False


def run(events: int, repeat: int, workdir: Path, store: Path | None = None) -> list[str]:
    """Generate (or reuse `store`), time every query and its pandas twin; return the report lines."""
    if store is None:
        path = workdir / "analytics.duckdb"
        count, generated = build(path, events)
        reused = False
    else:
        path = store
        count, generated, reused = reuse_or_build(path, events)
    how = f"reused from {path} (generated earlier" if reused else "generated into DuckDB"
    lines = [f"{count:,} events over {DAYS} days {how} in {generated:.1f} s "
             f"({count / generated:,.0f} events/s){')' if reused else ''}; queries cover {FROM} .. {TO}, "
             f"best of {repeat}", ""]
    con = duckdb.connect(str(path), read_only=True)
    # The server's own limit (CLARION_EVENTS_MEMORY_LIMIT), so the queries run as they would there.
    con.execute("SET memory_limit = ?", [Settings.from_env().events_memory_limit])
    timings = []
    try:
        started = time.perf_counter()
        frame = load_frame(path)
        lines.append(f"pandas DataFrame loaded in {time.perf_counter() - started:.1f} s (not timed below)")
        for name, ours, theirs in COMPARED:
            answer, wall, cpu = best_of(repeat, lambda: ours(con))
            baseline, pandas_wall, _ = best_of(repeat, lambda: theirs(frame))
            timings.append(Timing(name, wall, cpu, pandas_wall, answer == baseline))
        frame = None  # free the memory before the DuckDB-only queries
        for name, ours in OURS_ONLY:
            _, wall, cpu = best_of(repeat, lambda: ours(con))
            timings.append(Timing(name, wall, cpu))
    finally:
        con.close()
    return lines + [""] + report(timings)


def report(timings: list[Timing]) -> list[str]:
    lines = [f"{'query':<46} {'ours s':>7} {'CPU s':>6} {'pandas s':>9} {'ratio':>7}  agree  <= {TARGET_SECONDS:g} s",
             "-" * 96]
    for t in timings:
        pandas = f"{t.pandas_wall:9.3f} {t.pandas_wall / t.wall:6.1f}x" if t.pandas_wall else f"{'-':>9} {'-':>7}"
        agree = "-" if t.agree is None else ("yes" if t.agree else "NO")
        lines.append(f"{t.name:<46} {t.wall:7.3f} {t.cpu:6.2f} {pandas}  {agree:<5}  "
                     f"{'met' if t.wall <= TARGET_SECONDS else 'NOT met'}")
    slowest = max(timings, key=lambda t: t.wall)
    lines += ["", f"slowest: {slowest.name} {slowest.wall:.3f} s; every query <= {TARGET_SECONDS:g} s: "
                  f"{'met' if slowest.wall <= TARGET_SECONDS else 'NOT met'}; "
                  f"ratio = pandas time / ours (higher is better for us)"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate (default 10,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per query, the best counts (default 3)")
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the generated DuckDB file here and reuse it on later runs")
    args = parser.parse_args()
    print(f"bench/_analytics.py: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="clarion-bench-analytics-") as tmp:
        print("\n".join(run(args.events, args.repeat, Path(tmp), args.store)))
    print(f"(after: load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
