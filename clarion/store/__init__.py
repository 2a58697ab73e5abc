"""The store: SQLite (WAL) in the data directory by default, PostgreSQL by URL.

`Store.read()` and `Store.write()` hand out connections inside a transaction; repositories
(one module per noun next to this one) are plain functions that take that connection.
On SQLite a write transaction starts with BEGIN IMMEDIATE, so two writers queue on the busy
timeout instead of failing when a read lock is upgraded.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from . import schema

MIGRATIONS = Path(__file__).parent / "migrations"
OWN_CONNECTIONS = 4  # threads that keep a connection of their own for hot single-row reads
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another process's write
UNCHANGED_ROWS = 1024  # rows `first_unchanged` remembers while the database is unchanged
_MISSING = object()


def head_revision() -> str:
    """The newest migration's revision. Migrations are linear and each file is named after its
    revision (`0012_segment_index_by_channel.py` is revision "0012"; tests check it)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _json_dumps(value) -> str:
    return orjson.dumps(value).decode()


class Contended(Exception):
    """A write asked not to wait (`Store.without_waiting`) would have had to."""


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer at a time. Writers of this process queue on a lock rather than
        # on SQLite's busy handler, which sleeps up to 100 ms between tries and so leaves the
        # CPU idle while requests wait. (Other processes still meet the busy timeout.)
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        self._compiled: dict = {}
        self._local = threading.local()
        self._detached: list = []
        self._detach_lock = threading.Lock()
        database = self.engine.url.database if self.dialect == "sqlite" else None
        self._wal_header = _WalHeader(database, self) if database and database != ":memory:" else None
        self._unchanged: tuple[bytes | None, dict] = (None, {})
        # Only SQLite writes are short and local enough to run on the event loop: PostgreSQL's
        # are network round trips, better waited for in a thread.
        self.writes_without_waiting = self.dialect == "sqlite"

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent). Alembic (with Mako) is imported
        only when there is something to do: a running server otherwise carries ~8 MB of modules
        it never uses."""
        if self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")

    def revision(self) -> str | None:
        """The schema's migration revision (None: not migrated yet)."""
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:  # no such table yet
                return None

    def first(self, statement, params: dict, json_columns: tuple[int, ...] = ()) -> tuple | None:
        """The first row of one prebuilt SELECT, for the hottest single-row reads (GetApp).

        It runs straight on a driver connection (this thread's own for the few busiest threads,
        else one borrowed from the pool): one statement is its own snapshot, so the transaction
        and the SQLAlchemy execution around it, three quarters of the store's time on a small
        request, are skipped."""
        row = self._fetch(statement, params, _fetch_one)
        return row if row is None or not json_columns else _decoded(row, json_columns)

    def first_unchanged(self, statement, params: dict, json_columns: tuple[int, ...] = ()) -> tuple | None:
        """`first`, answered from memory while the database has not changed: for small rows
        read far more often than written (GetApp).

        On SQLite, "unchanged" is SQLite's own transaction counter, read from the WAL-index
        header (`_WalHeader`) with no lock taken: a commit by any connection of any process
        changes it. A row read after the header was seen is at least as new as the header says,
        so it is kept under that header and dropped as soon as the header moves. Elsewhere
        (PostgreSQL) this is `first`."""
        header = self._wal_header.read() if self._wal_header is not None else None
        if header is None:
            return self.first(statement, params, json_columns)
        seen, rows = self._unchanged
        if seen != header:
            rows = {}
            self._unchanged = (header, rows)
        key = (statement, tuple(sorted(params.items())))
        row = rows.get(key, _MISSING)
        if row is _MISSING:
            row = self._fetch(statement, params, _fetch_one)
            if len(rows) < UNCHANGED_ROWS:
                rows[key] = row
        return row if row is None or not json_columns else _decoded(row, json_columns)

    def all(self, statement, params: dict, json_columns: tuple[int, ...] = ()) -> list[tuple]:
        """Every row of one prebuilt SELECT, run as `first` runs it (PutEvents' endpoints)."""
        rows = self._fetch(statement, params, _fetch_all)
        return [_decoded(row, json_columns) for row in rows] if json_columns else rows

    def _fetch(self, statement, params: dict, fetch):
        sql, names = self._compiled.get(statement) or self._compile(statement)
        args = tuple(params[n] for n in names) if names is not None else params
        own = self._own_connection()
        if own is not None:
            try:
                return fetch(own, sql, args)
            except Exception:  # e.g. the database restarted: forget the connection, use the pool
                self._local.conn = False
                raise
        raw = self.engine.raw_connection()
        try:
            if self.dialect == "postgresql":
                raw.driver_connection.autocommit = True
            return fetch(raw.driver_connection, sql, args)
        finally:
            if self.dialect == "postgresql":
                raw.driver_connection.autocommit = False
            raw.close()  # back to the pool

    def _own_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._detach_lock:
                if len(self._detached) >= OWN_CONNECTIONS:
                    self._local.conn = False  # this thread borrows from the pool
                    return None
                raw = self.engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # leaves the pool for good: closed by close()
                if self.dialect == "postgresql":
                    conn.autocommit = True
                self._detached.append(raw)
                self._local.conn = conn
        return conn or None

    def _compile(self, statement):
        compiled = statement.compile(dialect=self.engine.dialect)
        entry = (compiled.string, list(compiled.positiontup) if compiled.positional else None)
        self._compiled[statement] = entry
        return entry

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if getattr(self._local, "no_wait", False):
            self._local.no_wait = False  # only the first write of the block (see without_waiting)
            if not self._write_lock.acquire(blocking=False):
                raise Contended()
            lock, options = _held(self._write_lock), {"clarion_write": True, "clarion_no_wait": True}
        else:
            lock, options = self._write_lock, {"clarion_write": True}
        with lock, self.engine.connect() as conn:
            with conn.execution_options(**options).begin():
                yield conn

    def wait_for_writers(self) -> None:
        """Return once this process's current writer is done (from a thread: it blocks)."""
        with self._write_lock:
            pass

    @contextlib.contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Within the block, this thread's first `write()` raises `Contended` rather than wait
        for another writer, of this process (the write lock) or of another (SQLite's lock).
        The gateway runs short write handlers on the event loop this way, and in a thread only
        when they would wait: the hop to a thread and back, with the GIL handed over at every
        SQLite step, cost a quarter of an UpdateEndpointsBatch. SQLite only
        (`writes_without_waiting`)."""
        self._local.no_wait = True
        try:
            yield
        finally:
            self._local.no_wait = False

    def close(self) -> None:
        if self._wal_header is not None:
            self._wal_header.close()
        for raw in self._detached:
            raw.close()
        self._detached.clear()
        self.engine.dispose()


class _WalHeader:
    """SQLite's WAL-index header, read as SQLite's readers read it, without a lock.

    The first 96 bytes of the `-shm` file are two copies of a 48-byte header that every commit
    rewrites; it holds a counter incremented by each transaction (https://www.sqlite.org/
    walformat.html, "the WAL-index header"). A reader trusts the header when both copies agree.
    Taking SQLite's own read lock costs two `fcntl` calls per statement, most of a small read.

    The file is only read while a connection of this process holds the shared memory open: SQLite
    then never deletes or re-creates it (that needs every connection of every process closed)."""

    def __init__(self, database: str, store: "Store"):
        self.path, self.store, self.fd = database + "-shm", store, None

    def read(self) -> bytes | None:
        """The header, or None when it cannot be trusted now (a commit half-written, no WAL)."""
        fd = self.fd
        if fd is None:
            if self.store._own_connection() is None:
                return None
            try:
                fd = self.fd = os.open(self.path, os.O_RDONLY)
            except OSError:  # no WAL (yet): nothing to read
                return None
        header = os.pread(fd, 96, 0)
        first = header[:48]
        # Both copies equal, and the header initialised (its byte 12, isInit).
        return first if len(header) == 96 and first == header[48:] and first[12] == 1 else None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def _held(lock):
    """Release on exit a lock already acquired."""
    try:
        yield
    finally:
        lock.release()


def _fetch_one(driver_connection, sql: str, args):
    cursor = driver_connection.execute(sql, args)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


def _fetch_all(driver_connection, sql: str, args) -> list:
    cursor = driver_connection.execute(sql, args)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _decoded(row, json_columns: tuple[int, ...]) -> tuple:
    row = list(row)
    for i in json_columns:  # SQLite hands JSON back as text; psycopg already decodes jsonb
        if isinstance(row[i], str):
            row[i] = orjson.loads(row[i])
    return tuple(row)


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs = dict(json_serializer=_json_dumps, json_deserializer=orjson.loads)
    if url.startswith("sqlite"):
        # A pool as large as the worker threads that may hold a connection at once, so connections
        # (each set up with four PRAGMAs) are kept, not opened and closed under load.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=20,
                               max_overflow=20, **kwargs)
        _tune_sqlite(engine)
    else:
        # No pre-ping: it is a round trip per checkout. A connection the server dropped fails
        # its request once and the pool is then rebuilt; recycling bounds their age.
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800, **kwargs)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
        cur = dbapi_conn.cursor()
        # WAL + synchronous=NORMAL: a committed write survives a killed process; only a
        # power cut can lose the last commits. See docs/configuration.md.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # Straight to the driver: a full SQLAlchemy execution here cost as much as the query.
        driver, options = conn.connection.driver_connection, conn.get_execution_options()
        if not options.get("clarion_no_wait"):
            driver.execute("BEGIN IMMEDIATE" if options.get("clarion_write") else "BEGIN")
            return
        driver.execute("PRAGMA busy_timeout=0")  # another process writing: say so, do not wait
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            raise Contended() from None
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


__all__ = ["Store", "schema"]
