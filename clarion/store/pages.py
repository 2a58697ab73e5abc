"""Keyset pages of an app's resources, shared by every resource with versions."""

from __future__ import annotations

from sqlalchemy import Column, Connection, Table, select, tuple_


def by_creation(conn: Connection, table: Table, id_column: Column, app_id: str, limit: int,
                after: list | None) -> list[dict]:
    """Documents in creation order, `limit` of them, after the (created, id) position."""
    query = (select(table.c.doc).where(table.c.app_id == app_id)
             .order_by(table.c.created, id_column).limit(limit))
    if after:
        query = query.where(tuple_(table.c.created, id_column) > tuple_(*after))
    return list(conn.execute(query).scalars())


def versions(conn: Connection, table: Table, id_column: Column, app_id: str, resource_id: str, limit: int,
             after: int | None) -> list[dict]:
    """A resource's versions newest first, as Pinpoint lists them, after version `after`."""
    query = (select(table.c.doc).where(table.c.app_id == app_id, id_column == resource_id)
             .order_by(table.c.version.desc()).limit(limit))
    if after is not None:
        query = query.where(table.c.version < after)
    return list(conn.execute(query).scalars())
