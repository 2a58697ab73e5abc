"""The store: SQLite (WAL) in the data directory by default, PostgreSQL by URL.

`Store.read()` and `Store.write()` hand out connections inside a transaction; repositories
(one module per noun next to this one) are plain functions that take that connection.
On SQLite a write transaction starts with BEGIN IMMEDIATE, so two writers queue on the busy
timeout instead of failing when a read lock is upgraded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine

from . import schema

MIGRATIONS = Path(__file__).parent / "migrations"


def _json_dumps(value) -> str:
    return orjson.dumps(value).decode()


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer at a time. Writers of this process queue on a lock rather than
        # on SQLite's busy handler, which sleeps up to 100 ms between tries and so leaves the
        # CPU idle while requests wait. (Other processes still meet the busy timeout.)
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.connect() as conn:
            with conn.execution_options(clarion_write=True).begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs = dict(json_serializer=_json_dumps, json_deserializer=orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _tune_sqlite(engine)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
        cur = dbapi_conn.cursor()
        # WAL + synchronous=NORMAL: a committed write survives a killed process; only a
        # power cut can lose the last commits. See docs/configuration.md.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # Straight to the driver: a full SQLAlchemy execution here cost as much as the query.
        conn.connection.driver_connection.execute(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("clarion_write") else "BEGIN")


__all__ = ["Store", "schema"]
