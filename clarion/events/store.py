"""The event store interface, and `open_event_store` choosing a backend from a URL.

Backends: DuckDB (`duckdb:///<path>` or `duckdb:///:memory:`, the default, in the data
directory). A distributed backend (ClickHouse) would implement the same methods. Whatever the
backend, the table is `events` as described in `schema`, and `append` returns only once the
rows are durable.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime, timedelta

from ..clock import Clock
from .names import NameRegistry
from .rows import Encoded, encode_rows


class EventStore(abc.ABC):
    """Where events live. Writes and reads may come from any thread."""

    def __init__(self, clock: Clock, retention_days: int):
        self.clock = clock
        self.retention_days = retention_days
        self.registry = NameRegistry(self.names)  # per-app event/attribute/metric names (quotas)
        # fn(encoded), called once appended rows are durable (EVENT campaigns, runtime/campaigns/triggers.py)
        self.listeners: list = []

    @abc.abstractmethod
    def submit(self, encoded: Encoded) -> Future:
        """Queue encoded rows (see `rows`); the future resolves once they survive a crash."""

    def write(self, encoded: Encoded) -> None:
        """Store encoded rows; return once they survive a crash of this process (no listeners:
        PutEvents tells `Service.event_listeners` itself)."""
        self.submit(encoded).result()

    def append_encoded(self, encoded: Encoded) -> None:
        """Store encoded rows; return once they survive a crash of this process, after telling
        the `listeners`. (PutEvents uses `write` and tells `Service.event_listeners` instead.)"""
        self.write(encoded)
        if encoded.count:
            self.notify(encoded)

    def append(self, rows: Iterable[dict]) -> None:
        """Store rows keyed by `events` column names (see `rows.encode_rows`)."""
        encoded = encode_rows(rows)
        if encoded.count:
            self.append_encoded(encoded)

    def notify(self, encoded: Encoded) -> None:
        """Tell the listeners about rows just made durable (`append_encoded` calls it)."""
        for listener in self.listeners:
            listener(encoded)

    def sync(self) -> None:
        """Make every acknowledged event queryable now (`read` does it first)."""

    @abc.abstractmethod
    def read(self) -> contextlib.AbstractContextManager:
        """A DB-API cursor for reads (`with store.read() as cur: cur.execute(sql, params)`),
        after `sync`: a query sees every event acknowledged before it began."""

    def query(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        """Rows of a read-only SQL query over `events`."""
        with self.read() as cursor:
            return cursor.execute(sql, params or []).fetchall()

    @abc.abstractmethod
    def names(self, app_id: str) -> dict[str, set[str]]:
        """The names the app has used so far: {"event_type" | "attribute" | "metric": set of names}."""

    @abc.abstractmethod
    def delete_app(self, app_id: str) -> None:
        """Remove every event (and name) of the app."""

    @abc.abstractmethod
    def purge(self, before: datetime) -> int:
        """Delete events whose event time is before `before`; return how many."""

    def purge_expired(self) -> int:
        """Apply the retention period, counted back from the store's clock."""
        return self.purge(self.clock.now() - timedelta(days=self.retention_days))

    def start(self) -> None:
        """Start background upkeep (the periodic retention purge)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush pending writes and release the store."""


def open_event_store(url: str, clock: Clock, retention_days: int, memory_limit: str | None = None) -> EventStore:
    if url.startswith("duckdb://"):
        from .duckdb_store import DuckDBEventStore

        path = url[len("duckdb://"):]
        return DuckDBEventStore(":memory:" if path.lstrip("/") == ":memory:" else path, clock, retention_days,
                                memory_limit)
    raise ValueError(f"unsupported event store URL {url!r}: use duckdb:///<path>")
