"""Tags, keyed by resource ARN, for every taggable resource kind."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from .schema import tags


def get(conn: Connection, arn: str) -> dict:
    return conn.execute(select(tags.c.tags).where(tags.c.arn == arn)).scalar() or {}


def put(conn: Connection, arn: str, app_id: str | None, values: dict) -> None:
    """Replace the ARN's whole tag set (an empty set removes the row)."""
    conn.execute(delete(tags).where(tags.c.arn == arn))
    if values:
        conn.execute(tags.insert().values(arn=arn, app_id=app_id, tags=values))


def delete_arn(conn: Connection, arn: str) -> None:
    conn.execute(delete(tags).where(tags.c.arn == arn))
