"""The embedded event store: one DuckDB file in the data directory, owned by this process.

DuckDB allows one writer process, so the server process owns the file and opens it on first
use (CLI commands that build the service but never touch events do not take the lock).

Writes: `write` appends a request's rows to the `Journal` in the caller's own thread, under a
lock, and returns once the write is done (the 202 waits for that; see `journal` for what it
guarantees). No hand-off to a writer thread: a journal append is one `write` of a few tens of
kilobytes into the page cache (no fsync), far cheaper than waking another thread and passing
the GIL back and forth, so PutEvents can run on the event loop without waiting on anything.
The journal's open segment is closed every `LOAD_SECONDS` or `LOAD_EVENTS` (by the append that
finds it due, or by a ticker thread when idle); one loader thread loads closed segments with
DuckDB's JSON reader (the per-value work happens in C, outside the GIL) and records the
segment number in the same transaction. Deletes and purges run on the loader too, after what
was journaled before them. Reads first load whatever is journaled, so a query sees every event
that was acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson

from ..clock import Clock
from . import schema
from .journal import Journal
from .rows import CONTEXT_COLUMNS, Encoded
from .store import EventStore

log = logging.getLogger("clarion.events")

LOAD_SECONDS = 0.5  # a journaled event reaches DuckDB within about this long, or at the next read
LOAD_EVENTS = 50_000  # or as soon as the open segment holds this many
PURGE_INTERVAL_SECONDS = 3600.0
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|[KMGT]i?B)", re.IGNORECASE)
CHECKPOINT_THRESHOLD = 128 * 2**20  # bytes of WAL; DuckDB's default is 16MB
LOAD_MEMORY = 64 * 2**20  # memory between queries, while events load: 128MiB cost ~60 MB more peak RSS
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}

_TYPES = dict(schema.COLUMNS)
_EVENT_STRUCT = ("STRUCT(EventType VARCHAR, Attributes MAP(VARCHAR, VARCHAR), Metrics MAP(VARCHAR, DOUBLE), "
                 "Session STRUCT(Id VARCHAR, Duration BIGINT), AppPackageName VARCHAR, AppTitle VARCHAR, "
                 "AppVersionCode VARCHAR, SdkName VARCHAR, ClientSdkVersion VARCHAR)")
_LINE_COLUMNS = {
    "a": "VARCHAR", "arr": "BIGINT", "ep": "VARCHAR",
    "ctx": "STRUCT(" + ", ".join(f"{c} {_TYPES[c]}" for c in CONTEXT_COLUMNS) + ")",
    "ev": f"STRUCT(id VARCHAR, t BIGINT, ss BIGINT, sp BIGINT, e {_EVENT_STRUCT})[]",
}
_EXPRESSIONS = {  # events column -> expression over a line `l` and one of its events `v`
    "app_id": "l.a", "event_id": "v.id", "event_type": "v.e.EventType", "event_time": "make_timestamp(v.t)",
    "arrival_time": "make_timestamp(l.arr)", "endpoint_id": "l.ep",
    "app_version": "coalesce(v.e.AppVersionCode, l.ctx.app_version)",
    "session_id": "v.e.Session.Id", "session_start": "make_timestamp(v.ss)", "session_stop": "make_timestamp(v.sp)",
    "session_duration": "v.e.Session.Duration", "app_package": "v.e.AppPackageName", "app_title": "v.e.AppTitle",
    "sdk_name": "v.e.SdkName", "client_sdk_version": "v.e.ClientSdkVersion",
    "attributes": "v.e.Attributes", "metrics": "v.e.Metrics",
    **{c: f"l.ctx.{c}" for c in CONTEXT_COLUMNS if c != "app_version"},
}
_COLUMNS_ARG = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _LINE_COLUMNS.items()) + "}"
INSERT_LINES = (
    "INSERT INTO events BY NAME SELECT "
    + ", ".join(f"{_EXPRESSIONS[c]} AS {c}" for c in schema.COLUMN_NAMES)
    + f" FROM (SELECT *, unnest(ev) AS v FROM read_json(?, format='newline_delimited', columns={_COLUMNS_ARG}"
    + ", maximum_object_size=16777216)) AS l"
)
# The names lines (`{"n": [[app id, kind, name], ...]}`, see `_append`) of a segment.
INSERT_NAMES = (
    "INSERT INTO event_names SELECT DISTINCT n[1], n[2], n[3] FROM (SELECT unnest(n) AS n FROM "
    "read_json(?, format='newline_delimited', columns={'n': 'VARCHAR[][]'}, maximum_object_size=16777216)) "
    "ON CONFLICT DO NOTHING"
)


def size_bytes(size: str) -> int:
    """`128MB`, `1.5GiB`, ... in bytes (MB = 10^6 bytes, MiB = 2^20, as DuckDB reads them)."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(\w+)", size.strip()).groups()
    return int(float(number) * _UNITS[unit.upper()])


def load_limit(memory_limit: str | None) -> int | None:
    """The memory the store keeps to between queries, while it loads events, in bytes (None: no
    limit): LOAD_MEMORY, or the whole limit when that is smaller. It does not grow with the
    limit queries get: loading needs little, and what it holds stays in the process."""
    if not memory_limit:
        return None
    return min(size_bytes(memory_limit), LOAD_MEMORY)


def checkpoint_threshold(limit: int | None) -> int:
    """The WAL size at which loaded events are checkpointed, in bytes, for a memory limit in
    bytes. A larger WAL fills row groups before they are compressed and written (about a
    quarter less CPU per event loaded at 128MB than at DuckDB's 16MB, and a smaller file), but
    everything loaded since the last checkpoint stays in memory, uncompressed, until then: so
    at most half the limit."""
    if limit is None:
        return CHECKPOINT_THRESHOLD
    return max(16 * 2**20, min(CHECKPOINT_THRESHOLD, limit // 2))


_LOADED_DDL = "CREATE TABLE IF NOT EXISTS journal_loaded (segment BIGINT NOT NULL)"


class DuckDBEventStore(EventStore):
    def __init__(self, path: str, clock: Clock, retention_days: int, memory_limit: str | None = None):
        super().__init__(clock, retention_days)
        self.path = path
        if memory_limit and not MEMORY_SIZE.fullmatch(memory_limit):  # refuse at start-up, not at first use
            raise ValueError(f"CLARION_EVENTS_MEMORY_LIMIT={memory_limit!r} is not a size such as 128MB or 2GB")
        self.memory_limit = memory_limit
        # Queries may use the whole limit; between them the store keeps to the load limit, so
        # the blocks a query read, and the events loaded, do not hold memory for nothing.
        self._load_limit = load_limit(memory_limit) if path != ":memory:" else None
        self._readers = 0  # queries running (`read`)
        self._readers_lock = threading.Lock()
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stop = threading.Event()
        self._purger: threading.Thread | None = None
        self._append_lock = threading.Lock()  # the journal's open segment
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    def _open(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = self._connect()
                self._con.execute(f"SET checkpoint_threshold = '{checkpoint_threshold(self._load_limit)}B'")
                self._limit_memory()
                schema.create(self._con)
                self._con.execute(_LOADED_DDL)
                self._journal = Journal(self._journal_directory())
                self._recover()
                self._loader = ThreadPoolExecutor(1, thread_name_prefix="clarion-events-loader")
                self._closed = False
                self._ticker_stop = threading.Event()
                self._ticker = threading.Thread(target=self._tick, name="clarion-events-ticker", daemon=True)
                self._ticker.start()
            return self._con

    def _limit_memory(self) -> None:
        """DuckDB's buffer pool may grow to 80% of RAM by default, and keeps what it loaded: on a
        server that shares the machine, the process would grow with every event stored. With a
        limit, it evicts (persisted blocks) and spills (big queries) to disk instead."""
        if not self.memory_limit or self.path == ":memory:":  # in memory, nothing can be evicted
            return
        try:
            self._con.execute("SET memory_limit = ?", [self.memory_limit])  # checks the setting
            self._con.execute("SET memory_limit = ?", [f"{self._load_limit}B"])
        except duckdb.Error as error:
            raise RuntimeError(f"CLARION_EVENTS_MEMORY_LIMIT={self.memory_limit!r} is not a size DuckDB "
                               f"accepts (e.g. 128MB, 1GB): {error}") from error

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            return duckdb.connect(self.path)
        except duckdb.IOException as error:  # another process holds the file
            raise RuntimeError(f"cannot open the event store {self.path}: {error} (DuckDB allows one process "
                               "at a time; is another Clarion server using this data directory?)") from error

    def _journal_directory(self) -> Path:
        if self.path == ":memory:":
            return Path(tempfile.mkdtemp(prefix="clarion-events-journal-"))
        return Path(self.path + ".journal")

    def _recover(self) -> None:
        """Load the segments a crash left behind (those not recorded as loaded)."""
        loaded = self._con.execute("SELECT max(segment) FROM journal_loaded").fetchone()[0] or 0
        for segment in self._journal.segments():
            if Journal.seq(segment) <= loaded:
                segment.unlink()
            else:
                self._load(segment)

    def start(self) -> None:
        if self._purger is None:
            self._purger = threading.Thread(target=self._purge_periodically, name="clarion-events-retention",
                                            daemon=True)
            self._purger.start()

    def _purge_periodically(self) -> None:
        while not self._stop.is_set():
            try:
                removed = self.purge_expired()
                if removed:
                    log.info("retention: purged %d events older than %d days", removed, self.retention_days)
            except Exception:  # keep trying at the next interval
                log.exception("retention purge failed")
            self._stop.wait(PURGE_INTERVAL_SECONDS)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._con is None:
                return
            with self._append_lock:
                self._closed = True
                self._rotate()
            self._ticker_stop.set()
            self._ticker.join()
            self._loader.shutdown(wait=True)
            self._con.close()
            self._con = None
            if self.path == ":memory:":
                shutil.rmtree(self._journal.directory, ignore_errors=True)

    # -- writes ------------------------------------------------------------------------------

    def submit(self, encoded: Encoded) -> Future:
        """`write` now, in this thread; the returned future is already resolved."""
        done: Future = Future()
        self.write(encoded)
        done.set_result(None)
        return done

    def write(self, encoded: Encoded) -> None:
        """Append to the journal now, in this thread."""
        if encoded.count or encoded.new_names:
            self._open()
            with self._append_lock:
                if self._closed:
                    raise RuntimeError("the event store is closed")
                self._append(encoded)

    def _append(self, encoded: Encoded) -> None:
        """Under the append lock: the rows, and the new names they use (rare), in one write."""
        data = encoded.lines
        if encoded.new_names:
            data = orjson.dumps({"n": sorted(set(encoded.new_names))}) + b"\n" + data
        self._journal.append(data, encoded.count, names=bool(encoded.new_names))
        if self._journal.events >= LOAD_EVENTS or self._journal.due(LOAD_SECONDS):
            self._rotate()

    def _rotate(self) -> Future | None:
        """Under the append lock: close the open segment and queue its load."""
        names = self._journal.names
        segment = self._journal.rotate()
        return None if segment is None else self._loader.submit(self._load, segment, names)

    def _tick(self) -> None:
        """Close a segment that is due while no append comes to do it, until the store closes."""
        while not self._ticker_stop.wait(LOAD_SECONDS / 2):
            with self._append_lock:
                if self._journal.due(LOAD_SECONDS):
                    self._rotate()

    def _load(self, segment: Path, names: bool = True) -> None:
        """On the loader thread: one segment in one transaction, with its number (and its names
        when it has any)."""
        Journal.repair(segment)
        con = self._con
        con.begin()
        try:
            con.execute(INSERT_LINES, [str(segment)])
            if names:
                con.execute(INSERT_NAMES, [str(segment)])
            con.execute("DELETE FROM journal_loaded")
            con.execute("INSERT INTO journal_loaded VALUES (?)", [Journal.seq(segment)])
            con.commit()
        except Exception:
            con.rollback()
            log.exception("could not load journal segment %s; loading it line by line", segment)
            self._load_lines(segment)
        segment.unlink()

    def _load_lines(self, segment: Path) -> None:
        """The slow path after a failed load: keep every line that loads, set the others aside."""
        single = segment.with_suffix(".line")
        for line in segment.read_bytes().splitlines(keepends=True):
            single.write_bytes(line)
            try:
                self._con.execute(INSERT_LINES, [str(single)])
                self._con.execute(INSERT_NAMES, [str(single)])
            except Exception:
                with open(segment.with_suffix(".failed"), "ab") as failed:
                    failed.write(line)
        single.unlink(missing_ok=True)
        self._con.execute("DELETE FROM journal_loaded")
        self._con.execute("INSERT INTO journal_loaded VALUES (?)", [Journal.seq(segment)])

    def sync(self) -> None:
        """Load everything journaled so far; return once it is queryable."""
        self._open()
        with self._append_lock:
            pending = self._rotate() or self._loader.submit(lambda: None)
        pending.result()

    def _on_loader(self, task):
        """Run `task` on the loader thread after everything journaled so far is loaded."""
        self._open()
        with self._append_lock:
            self._rotate()
            pending = self._loader.submit(task)
        return pending.result()

    def delete_app(self, app_id: str) -> None:
        self._on_loader(lambda: self._delete_app(app_id))
        self.registry.forget(app_id)

    def _delete_app(self, app_id: str) -> None:
        con = self._con
        con.begin()
        con.execute("DELETE FROM events WHERE app_id = ?", [app_id])
        con.execute("DELETE FROM event_names WHERE app_id = ?", [app_id])
        con.commit()

    def purge(self, before: datetime) -> int:
        cutoff = before.astimezone(timezone.utc).replace(tzinfo=None) if before.tzinfo else before
        return self._on_loader(
            lambda: self._con.execute("DELETE FROM events WHERE event_time < ?", [cutoff]).fetchone()[0])

    # -- reads -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.sync()
        self._widen()
        try:
            cursor = self._con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            self._narrow()

    def _widen(self) -> None:
        """A query starts: the first one running lifts the limit to CLARION_EVENTS_MEMORY_LIMIT."""
        if self._load_limit is None:
            return
        with self._readers_lock:
            self._readers += 1
            if self._readers == 1:
                self._set_limit(self.memory_limit)

    def _narrow(self) -> None:
        """A query ended: the last one running brings the limit back to the load limit (DuckDB
        evicts cached blocks to get there; if it cannot yet, the next query's end tries again)."""
        if self._load_limit is None:
            return
        with self._readers_lock:
            self._readers -= 1
            if self._readers == 0:
                try:
                    self._set_limit(f"{self._load_limit}B")
                except duckdb.Error as error:
                    log.debug("event store memory stays at %s for now: %s", self.memory_limit, error)

    def _set_limit(self, size: str) -> None:
        cursor = self._con.cursor()  # a connection of its own: any thread may call this
        try:
            cursor.execute("SET memory_limit = ?", [size])
        finally:
            cursor.close()

    def names(self, app_id: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {"event_type": set(), "attribute": set(), "metric": set()}
        # No sync: names are journaled with their rows, but every name this process admitted
        # stays in the registry's memory (`names.NameRegistry`, until the app is deleted) and an
        # earlier process's journal is loaded on open, so an app this process has not loaded yet
        # has all its names here already. (A sync would stall PutEvents behind a bulk load.)
        cursor = self._open().cursor()
        try:
            rows = cursor.execute("SELECT kind, name FROM event_names WHERE app_id = ?", [app_id]).fetchall()
        finally:
            cursor.close()
        for kind, name in rows:
            found.setdefault(kind, set()).add(name)
        return found
