"""Dialect-aware bulk writes SQLAlchemy Core has no neutral form for."""

from __future__ import annotations

from sqlalchemy import Connection, Table


def insert_ignore(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Insert rows, skipping those whose primary key already exists."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(), rows)
