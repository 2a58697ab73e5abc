"""The embedded event store: one DuckDB file in the data directory, owned by this process.

DuckDB allows one writer process, so the server process owns the file and opens it on first
use (CLI commands that build the service but never touch events do not take the lock).

Writes: a `GroupCommitWriter` thread appends each group of requests to the `Journal` (the 202
waits for that; see `journal` for what it guarantees), and closes a journal segment every `LOAD_SECONDS` or
`LOAD_EVENTS`; one loader thread loads closed segments with DuckDB's JSON reader (the per-value
work happens in C, outside the GIL) and records the segment number in the same transaction.
Deletes and purges run on the loader too, after what was journaled before them. Reads first
load whatever is journaled, so a query sees every event that was acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ..clock import Clock
from . import schema
from .journal import Journal
from .rows import CONTEXT_COLUMNS, Encoded
from .store import EventStore
from .writer import GroupCommitWriter

log = logging.getLogger("clarion.events")

LOAD_SECONDS = 0.5  # a journaled event reaches DuckDB within about this long, or at the next read
LOAD_EVENTS = 50_000  # or as soon as the open segment holds this many
PURGE_INTERVAL_SECONDS = 3600.0
CHECKPOINT_THRESHOLD = "128MB"  # DuckDB's default is 16MB

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
_LOADED_DDL = "CREATE TABLE IF NOT EXISTS journal_loaded (segment BIGINT NOT NULL)"


class DuckDBEventStore(EventStore):
    def __init__(self, path: str, clock: Clock, retention_days: int):
        super().__init__(clock, retention_days)
        self.path = path
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stop = threading.Event()
        self._purger: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _open(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = self._connect()
                # A larger WAL before each checkpoint fills row groups before they are compressed
                # and written: about a quarter less CPU per event loaded, and a smaller file.
                self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
                schema.create(self._con)
                self._con.execute(_LOADED_DDL)
                self._journal = Journal(self._journal_directory())
                self._recover()
                self._names_cursor = self._con.cursor()  # the writer thread's own connection
                self._loader = ThreadPoolExecutor(1, thread_name_prefix="clarion-events-loader")
                self._writer = GroupCommitWriter(self._journal_group, tick=self._rotate_if_due,
                                                 interval=LOAD_SECONDS / 2)
            return self._con

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
            self._writer.close()
            last = self._journal.rotate()
            if last is not None:
                self._loader.submit(self._load, last)
            self._loader.shutdown(wait=True)
            self._names_cursor.close()
            self._con.close()
            self._con = None
            if self.path == ":memory:":
                shutil.rmtree(self._journal.directory, ignore_errors=True)

    # -- writes ------------------------------------------------------------------------------

    def submit(self, encoded: Encoded) -> Future:
        if not (encoded.count or encoded.new_names):
            done: Future = Future()
            done.set_result(None)
            return done
        self._open()
        return self._writer.submit(encoded)

    def _journal_group(self, group: list[Encoded]) -> None:
        """On the writer thread: names straight into DuckDB (rare), rows into the journal."""
        names = sorted({n for e in group for n in e.new_names})
        if names:
            self._names_cursor.executemany("INSERT INTO event_names VALUES (?, ?, ?) ON CONFLICT DO NOTHING", names)
        count = sum(e.count for e in group)
        if count:
            self._journal.append(b"".join(e.lines for e in group), count)
        if self._journal.events >= LOAD_EVENTS:
            self._rotate()

    def _rotate(self) -> Future | None:
        """On the writer thread: close the open segment and queue its load."""
        segment = self._journal.rotate()
        return None if segment is None else self._loader.submit(self._load, segment)

    def _rotate_if_due(self) -> None:
        if self._journal.events and time.monotonic() - self._journal.opened_at >= LOAD_SECONDS:
            self._rotate()

    def _load(self, segment: Path) -> None:
        """On the loader thread: one segment in one transaction, with its number."""
        Journal.repair(segment)
        con = self._con
        con.begin()
        try:
            con.execute(INSERT_LINES, [str(segment)])
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
            except Exception:
                with open(segment.with_suffix(".failed"), "ab") as failed:
                    failed.write(line)
        single.unlink(missing_ok=True)
        self._con.execute("DELETE FROM journal_loaded")
        self._con.execute("INSERT INTO journal_loaded VALUES (?)", [Journal.seq(segment)])

    def sync(self) -> None:
        """Load everything journaled so far; return once it is queryable."""
        self._open()
        pending = self._writer.run(self._rotate)
        (pending or self._loader.submit(lambda: None)).result()

    def _on_loader(self, task):
        """Run `task` on the loader thread after everything journaled so far is loaded."""
        self._open()
        self._writer.run(self._rotate)
        return self._loader.submit(task).result()

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
        cursor = self._con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def names(self, app_id: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {"event_type": set(), "attribute": set(), "metric": set()}
        cursor = self._open().cursor()  # names are stored as they are admitted: no need to sync
        try:
            rows = cursor.execute("SELECT kind, name FROM event_names WHERE app_id = ?", [app_id]).fetchall()
        finally:
            cursor.close()
        for kind, name in rows:
            found.setdefault(kind, set()).add(name)
        return found
