"""Channels of an app (email, sms, apns, ...): the wire-shaped response document, plus the
write-only credentials (API keys, certificates, private keys) sealed by the vault.

`load()` is what senders use: the channel's document and its decrypted credentials.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .schema import channels

_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def get(conn: Connection, app_id: str, channel: str, *, for_update: bool = False):
    """The channel's row (doc, credentials sealed) or None when it was never configured."""
    query = select(channels.c.doc, channels.c.credentials).where(
        channels.c.app_id == app_id.lower(), channels.c.channel == channel)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: serialize concurrent updates (SQLite: a no-op)
    return conn.execute(query).first()


def load(conn: Connection, vault, app_id: str, channel: str) -> tuple[dict, dict] | None:
    """The channel's document and its decrypted credentials, or None when not configured."""
    row = get(conn, app_id, channel)
    if row is None:
        return None
    return row.doc, vault.open_sealed(row.credentials) if row.credentials else {}


def put(conn: Connection, vault, app_id: str, channel: str, doc: dict, credentials: dict) -> None:
    """Insert or replace the channel (an upsert, so two first writes never collide)."""
    sealed = vault.seal(credentials) if credentials else None
    insert = _INSERTS[conn.dialect.name](channels).values(
        app_id=app_id.lower(), channel=channel, doc=doc, credentials=sealed)
    conn.execute(insert.on_conflict_do_update(
        index_elements=[channels.c.app_id, channels.c.channel],
        set_={"doc": insert.excluded.doc, "credentials": insert.excluded.credentials}))


def remove(conn: Connection, app_id: str, channel: str) -> None:
    conn.execute(delete(channels).where(channels.c.app_id == app_id.lower(), channels.c.channel == channel))


def all_docs(conn: Connection, app_id: str) -> list[dict]:
    """Every configured channel's document, in channel-name order."""
    query = select(channels.c.doc).where(channels.c.app_id == app_id.lower()).order_by(channels.c.channel)
    return list(conn.execute(query).scalars())
