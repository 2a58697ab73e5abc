"""The event store's table: one row per event, with the endpoint context analytics need.

This is the contract between ingestion (PutEvents, the messaging runtime) and every query
(KPIs, product analytics): the column names and types below do not change without a
migration of the data directory. Times are UTC `TIMESTAMP`s; `session_duration` is in ms.

- `event_time` comes from the event's `Timestamp`; `arrival_time` is when Clarion accepted it.
- The endpoint columns (`user_id` ... `timezone`, `endpoint_attributes`) are the endpoint as it
  was when the event arrived: the batch's `Endpoint` merged over the stored endpoint.
- `endpoint_id` is the endpoint id lower-cased (endpoint ids are case-insensitive).
"""

from __future__ import annotations

COLUMNS: list[tuple[str, str]] = [
    ("app_id", "VARCHAR"),
    ("event_id", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("event_time", "TIMESTAMP"),
    ("arrival_time", "TIMESTAMP"),
    ("endpoint_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("channel_type", "VARCHAR"),
    ("platform", "VARCHAR"),
    ("platform_version", "VARCHAR"),
    ("make", "VARCHAR"),
    ("model", "VARCHAR"),
    ("app_version", "VARCHAR"),
    ("country", "VARCHAR"),
    ("region", "VARCHAR"),
    ("city", "VARCHAR"),
    ("locale", "VARCHAR"),
    ("timezone", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("session_start", "TIMESTAMP"),
    ("session_stop", "TIMESTAMP"),
    ("session_duration", "BIGINT"),
    ("app_package", "VARCHAR"),
    ("app_title", "VARCHAR"),
    ("sdk_name", "VARCHAR"),
    ("client_sdk_version", "VARCHAR"),
    ("attributes", "MAP(VARCHAR, VARCHAR)"),
    ("metrics", "MAP(VARCHAR, DOUBLE)"),
    ("endpoint_attributes", "MAP(VARCHAR, VARCHAR[])"),
]

COLUMN_NAMES: list[str] = [name for name, _ in COLUMNS]

DDL = "CREATE TABLE IF NOT EXISTS events (\n  " + ",\n  ".join(f"{n} {t}" for n, t in COLUMNS) + "\n)"

# Names an app has used (event types, attribute keys, metric keys): Pinpoint's per-app quotas
# count them, and reading them here is cheaper than scanning `events`.
NAMES_DDL = """CREATE TABLE IF NOT EXISTS event_names (
  app_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL,
  PRIMARY KEY (app_id, kind, name)
)"""


def create(con) -> None:
    """Create the tables on a DuckDB connection (idempotent)."""
    con.execute(DDL)
    con.execute(NAMES_DDL)
