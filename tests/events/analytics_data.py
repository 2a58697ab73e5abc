"""The history the analytics tests run on: a generated one plus hand-made edge cases.

The generated part spans 2024-02-20 .. 2024-04-19, across both DST changes (US 2024-03-10,
Europe 2024-03-31), so day boundaries in local time zones are exercised.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import duckdb

from clarion.events import schema
from clarion.events.generate import generate, read_events

APP = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
OTHER_APP = "ffffffffffffffffffffffffffffffff"
START = date(2024, 2, 20)
DAYS = 60
END = START + timedelta(days=DAYS - 1)


def _edge_events() -> list[dict]:
    """Cases the generator does not make."""
    t = datetime(2024, 3, 5, 10, 0, 0)
    base = {"app_id": APP, "platform": "Android", "country": "CA", "locale": "fr_CA", "model": "Pixel 7"}
    return [
        # A stop event without Duration: stop minus start is the duration.
        {**base, "event_id": "edge-1", "event_type": "_session.start", "event_time": t, "endpoint_id": "edge-ep-1",
         "session_id": "edge-s1", "session_start": t},
        {**base, "event_id": "edge-2", "event_type": "_session.stop", "event_time": t + timedelta(minutes=3),
         "endpoint_id": "edge-ep-1", "session_id": "edge-s1", "session_start": t,
         "session_stop": t + timedelta(minutes=3)},
        # Metric events without a session id: each is a session of its own for the per-session mean.
        {**base, "event_id": "edge-3", "event_type": "level_complete", "event_time": t + timedelta(minutes=5),
         "endpoint_id": "edge-ep-1", "metrics": {"score": 10.0}, "attributes": {"difficulty": "hard"}},
        {**base, "event_id": "edge-4", "event_type": "level_complete", "event_time": t + timedelta(minutes=6),
         "endpoint_id": "edge-ep-1", "metrics": {"score": 2000.0}, "attributes": {"difficulty": "hard"}},
        # The service's own events never make anyone active.
        {**base, "event_id": "edge-5", "event_type": "_campaign.send", "event_time": t,
         "endpoint_id": "edge-ep-quiet", "attributes": {"campaign_id": "c1"}},
        {**base, "event_id": "edge-6", "event_type": "_SMS.SUCCESS", "event_time": t,
         "endpoint_id": "edge-ep-quiet", "user_id": "edge-user-quiet"},
        # A purchase without quantity (1) in another currency; one without a price (revenue 0).
        {**base, "event_id": "edge-7", "event_type": "_monetization.purchase", "event_time": t + timedelta(minutes=1),
         "endpoint_id": "edge-ep-1", "attributes": {"_currency": "GBP", "_product_id": "sku-x"},
         "metrics": {"_item_price": 3.5}},
        {**base, "event_id": "edge-8", "event_type": "_monetization.purchase", "event_time": t + timedelta(minutes=2),
         "endpoint_id": "edge-ep-1", "attributes": {"_currency": "GBP"}, "metrics": {"_quantity": 2.0}},
        # One endpoint, anonymous first and signed in later: with by-user it is two actors.
        {**base, "event_id": "edge-9", "event_type": "view_item", "event_time": t + timedelta(hours=1),
         "endpoint_id": "edge-ep-2", "attributes": {"category": "hats"}},
        {**base, "event_id": "edge-10", "event_type": "add_to_cart", "event_time": t + timedelta(hours=2),
         "endpoint_id": "edge-ep-2", "user_id": "edge-user-2", "attributes": {"category": "hats"}},
        # Right at UTC midnight: a different local day in most zones.
        {**base, "event_id": "edge-11", "event_type": "view_item", "event_time": datetime(2024, 3, 31, 0, 0, 0),
         "endpoint_id": "edge-ep-3", "endpoint_attributes": {"plan": ["pro"], "interests": []}},
    ]


def insert(con, rows: list[dict]) -> None:
    columns = [name for name, _ in schema.COLUMNS]
    for row in rows:
        row = {c: row.get(c) for c in columns}
        values = []
        for c in columns:
            if c in ("attributes", "metrics", "endpoint_attributes"):
                value = row[c] or {}
                values += [list(value.keys()), list(value.values())]
            else:
                values.append(row[c])
        expressions = []
        for c, kind in schema.COLUMNS:
            if c in ("attributes", "metrics", "endpoint_attributes"):
                value_type = kind[len("MAP(VARCHAR, "):-1]
                expressions.append(f"map(?::VARCHAR[], ?::{value_type}[]) AS {c}")
            else:
                expressions.append(f"?::{kind} AS {c}")
        con.execute(f"INSERT INTO events BY NAME SELECT {', '.join(expressions)}", values)


@functools.lru_cache(maxsize=1)
def history() -> tuple[duckdb.DuckDBPyConnection, list[dict]]:
    """(a DuckDB connection holding the events, the app's events as dicts)."""
    con = duckdb.connect()
    schema.create(con)
    generate(con, APP, seed=11, users=450, days=DAYS, start=START)
    generate(con, OTHER_APP, seed=12, users=40, days=DAYS, start=START)
    insert(con, _edge_events())
    return con, read_events(con, APP)
