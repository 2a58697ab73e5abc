"""The outbox: what the sandbox transport recorded, in the store's `outbox` table.

Written in batches (one executemany per `send_batch`, one transaction), read newest-last by the
console, the tests and `clarion outbox`. Rows belong to an app, so DeleteApp clears them.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, delete, func, select

from ..store.schema import outbox

COLUMNS = (outbox.c.seq, outbox.c.app_id, outbox.c.channel, outbox.c.address, outbox.c.message_id,
           outbox.c.created, outbox.c.content)
NAMES = tuple(str(c.name) for c in COLUMNS)  # plain str: SQLAlchemy's names are a str subclass
_INSERT = f"INSERT INTO {outbox.name} ({', '.join(NAMES[1:])}) VALUES (?, ?, ?, ?, ?, ?)"


def encode(content: dict) -> str:
    """A message's content as the `content` column holds it (as the store's Json type writes it)."""
    return orjson.dumps(content).decode()


def append(conn: Connection, rows: list[tuple]) -> None:
    """Rows of (app_id, channel, address, message_id, created, content as `encode` gives it).

    One driver-level executemany: the sandbox writes a row per message, and SQLAlchemy's
    per-row parameter processing would cost more than SQLite's insert."""
    if rows:
        conn.exec_driver_sql(_INSERT if conn.dialect.paramstyle == "qmark" else _INSERT.replace("?", "%s"), rows)


def recent(conn: Connection, *, channel: str | None = None, address: str | None = None,
           app_id: str | None = None, message_id: str | None = None, limit: int = 50) -> list[dict]:
    """The last `limit` matching messages, oldest first (like the tail of a log)."""
    query = select(*COLUMNS).order_by(outbox.c.seq.desc()).limit(limit)
    if channel:
        query = query.where(outbox.c.channel == channel)
    if address:
        query = query.where(outbox.c.address == address)
    if app_id:
        query = query.where(outbox.c.app_id == app_id.lower())
    if message_id:
        query = query.where(outbox.c.message_id == message_id)
    rows = [dict(zip(NAMES, row)) for row in conn.execute(query)]
    rows.reverse()
    return rows


def count(conn: Connection, *, channel: str | None = None, app_id: str | None = None) -> int:
    query = select(func.count()).select_from(outbox)
    if channel:
        query = query.where(outbox.c.channel == channel)
    if app_id:
        query = query.where(outbox.c.app_id == app_id.lower())
    return conn.execute(query).scalar_one()


def clear(conn: Connection, *, app_id: str | None = None) -> int:
    statement = delete(outbox)
    if app_id:
        statement = statement.where(outbox.c.app_id == app_id.lower())
    return conn.execute(statement).rowcount
