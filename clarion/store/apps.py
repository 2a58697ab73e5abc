"""Apps (Pinpoint projects), their settings, and deleting everything under an app."""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, bindparam, delete, select, tuple_, update

from . import keys as key_store
from .schema import app_tables, apps, tags


def insert(conn: Connection, doc: dict, settings: dict) -> None:
    conn.execute(apps.insert().values(app_id=doc["Id"], created=doc["CreationDate"], doc=doc, settings=settings))


# Built once: constructing a statement costs more than running it on SQLite.
_GET = select(apps.c.doc).where(apps.c.app_id == bindparam("app_id"))
_GET_WITH_TAGS = (select(apps.c.doc, tags.c.tags)
                  .select_from(apps.outerjoin(tags, (tags.c.app_id == apps.c.app_id)
                                              & (tags.c.arn == bindparam("arn"))))
                  .where(apps.c.app_id == bindparam("app_id")))


def get(conn: Connection, app_id: str) -> dict | None:
    return conn.execute(_GET, {"app_id": app_id.lower()}).scalar()


def get_with_tags(store, app_id: str, arn: str) -> dict | None:
    """The ApplicationResponse, tags included, in one query (GetApp is a hot path), remembered
    while the database is unchanged."""
    row = store.first_unchanged(_GET_WITH_TAGS, {"app_id": app_id.lower(), "arn": arn})
    if row is None:
        return None
    doc, tags = row
    # SQLite hands JSON back as text (decoded here into a new dict, so ours to extend); psycopg
    # decodes jsonb itself.
    doc = orjson.loads(doc) if isinstance(doc, str) else dict(doc)
    doc["tags"] = (orjson.loads(tags) if isinstance(tags, str) else tags) or {}
    return doc


def exists(conn: Connection, app_id: str) -> bool:
    return conn.execute(select(apps.c.app_id).where(apps.c.app_id == app_id.lower())).first() is not None


def page(conn: Connection, limit: int, after: tuple[str, str] | None, only: frozenset[str] | None) -> list[dict]:
    """Apps in creation order, `limit` of them, after the (created, id) keyset position."""
    query = select(apps.c.doc).order_by(apps.c.created, apps.c.app_id).limit(limit)
    if after is not None:
        query = query.where(tuple_(apps.c.created, apps.c.app_id) > tuple_(*after))
    if only is not None:
        query = query.where(apps.c.app_id.in_(sorted(only)))
    return list(conn.execute(query).scalars())


def get_settings(conn: Connection, app_id: str) -> dict | None:
    return conn.execute(select(apps.c.settings).where(apps.c.app_id == app_id.lower())).scalar()


def put_settings(conn: Connection, app_id: str, settings: dict) -> None:
    conn.execute(update(apps).where(apps.c.app_id == app_id.lower()).values(settings=settings))


def delete_everything(conn: Connection, app_id: str) -> None:
    """Every row that belongs to the app, in every table, then the keys' scopes."""
    for table in app_tables():
        conn.execute(delete(table).where(table.c.app_id == app_id))
    key_store.remove_app(conn, app_id)
