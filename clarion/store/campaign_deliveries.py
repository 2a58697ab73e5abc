"""Campaign deliveries: one row per (activity, endpoint[, trigger]) a campaign run targeted.

A run writes an endpoint's row *before* it hands the message to the transport (status
`PENDING`) and sets the outcome after, so a run that restarts knows whom it has reached. The
caps (campaign Daily/Total, the app's Daily) count these rows; duplicate addresses within a
run are found through them, which keeps a run's memory flat however big its audience.

A run reads and writes these rows a page (a thousand endpoints) at a time, so the per-page
statements go straight to the driver: plain SQL with the page's values as one list (`IN
(?, ...)` on SQLite, `= ANY(%s)` with an array on PostgreSQL) and tuples for executemany.
SQLAlchemy's expanding IN and per-row parameter processing cost as much as the database's own
work here (a page's insert, lookups and outcome update: 27 µs per endpoint through SQLAlchemy
Core, 14 µs this way, on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, case, func, or_, select

from .schema import campaign_deliveries as deliveries

PENDING = "PENDING"
QUIET_TIME = "QUIET_TIME"
EXPIRED = "EXPIRED"
# Rows that do not count as "targeted" for the caps.
NOT_TARGETED = (EXPIRED,)
COLUMNS = ("activity_id", "endpoint_key", "trigger_id", "app_id", "campaign_id", "address", "status", "created")
_TABLE = deliveries.name
_INSERT = f"INSERT INTO {_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_RUN = "activity_id = ? AND trigger_id = ?"


def recorded(conn: Connection, activity_id: str, trigger_id: str, keys: list[str],
             addresses: list[str]) -> tuple[dict[str, str], set[str]]:
    """For a page: the statuses already recorded for its endpoints in this run, and which of
    its addresses this run has already used (by any endpoint). Two index seeks per page."""
    statuses: dict[str, str] = {}
    if keys:
        statuses = dict(_rows(conn, f"SELECT endpoint_key, status FROM {_TABLE} WHERE {_RUN} AND endpoint_key",
                              (activity_id, trigger_id), keys))
    used: set[str] = set()
    if addresses:
        used = {row[0] for row in _rows(conn, f"SELECT address FROM {_TABLE} WHERE {_RUN} AND address",
                                        (activity_id, trigger_id), addresses)}
    return statuses, used


def insert(conn: Connection, rows: Sequence[tuple]) -> None:
    """rows: tuples of every column, in `COLUMNS` order."""
    if rows:
        conn.exec_driver_sql(_driver_sql(conn, _INSERT), list(rows))


def set_statuses(conn: Connection, activity_id: str, trigger_id: str, statuses: dict[str, str]) -> None:
    """Record outcomes: endpoint key -> status, one statement per distinct status."""
    by_status: dict[str, list[str]] = {}
    for key, status in statuses.items():
        by_status.setdefault(status, []).append(key)
    for status, keys in by_status.items():
        _rows(conn, f"UPDATE {_TABLE} SET status = ? WHERE {_RUN} AND endpoint_key", (status, activity_id, trigger_id),
              keys)


def forget(conn: Connection, activity_id: str, trigger_id: str, keys: Iterable[str]) -> None:
    """Drop rows whose message certainly did not go (the transport was unreachable): a resumed
    run sends them again."""
    keys = list(keys)
    if keys:
        _rows(conn, f"DELETE FROM {_TABLE} WHERE {_RUN} AND endpoint_key", (activity_id, trigger_id), keys)


def cap_counts(conn: Connection, app_id: str, campaign_id: str, keys: list[str],
               since: str) -> dict[str, tuple[int, int, int]]:
    """Per endpoint: (targeted by this campaign ever, by this campaign since `since`, by any
    campaign of the app since `since`)."""
    c = deliveries.c
    recent = c.created > since  # within the last 24 hours: a message sent exactly a day ago no longer counts
    mine = c.campaign_id == campaign_id
    query = (select(c.endpoint_key,
                    func.sum(case((mine, 1), else_=0)),
                    func.sum(case((and_(mine, recent), 1), else_=0)),
                    func.sum(case((recent, 1), else_=0)))
             .where(c.app_id == app_id, c.endpoint_key.in_(keys), c.status.not_in(NOT_TARGETED),
                    or_(mine, recent))
             .group_by(c.endpoint_key))
    return {r[0]: (int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in conn.execute(query)}


def count_by_status(conn: Connection, activity_id: str) -> dict[str, int]:
    c = deliveries.c
    rows = conn.execute(select(c.status, func.count()).where(c.activity_id == activity_id).group_by(c.status))
    return {status: count for status, count in rows}


# -- driver-level statements --------------------------------------------------------------------

LIST_CHUNK = 5000  # values per statement (SQLite allows 32766 parameters)


def _rows(conn: Connection, sql: str, params: tuple, values: list[str]) -> list:
    """Run `sql` (`?` placeholders, ending in the column to match) for the rows whose column
    is one of `values`; the rows it returns, if any."""
    found = []
    for start in range(0, len(values), LIST_CHUNK):
        chunk = values[start:start + LIST_CHUNK]
        if conn.dialect.name == "postgresql":
            result = conn.exec_driver_sql(_driver_sql(conn, sql + " = ANY(?)"), (*params, list(chunk)))
        else:
            result = conn.exec_driver_sql(f"{sql} IN ({', '.join('?' * len(chunk))})", (*params, *chunk))
        if result.returns_rows:
            found += result.all()
    return found


def _driver_sql(conn: Connection, sql: str) -> str:
    """`?` placeholders in the driver's own style (psycopg: `%s`)."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")
