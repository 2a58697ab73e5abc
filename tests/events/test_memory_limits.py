"""The event store's memory: queries may use CLARION_EVENTS_MEMORY_LIMIT; between queries,
while events are loaded, the store keeps to 64MiB (less if the limit is less), and it
checkpoints loaded events (which stay in memory until then) at half of that."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.clock import Clock
from clarion.events.duckdb_store import DuckDBEventStore, checkpoint_threshold, load_limit

MiB = 2**20


@pytest.mark.parametrize(("limit", "between_queries"), [
    (None, None), ("2GiB", 64 * MiB), ("512MiB", 64 * MiB), ("512MB", 64 * MiB), ("128 mib", 64 * MiB),
    ("64MB", 64 * 10**6), ("32MiB", 32 * MiB)])
def test_the_load_limit_is_64MiB_or_the_limit_if_less(limit, between_queries):
    assert load_limit(limit) == between_queries


@pytest.mark.parametrize(("limit", "threshold"), [
    (None, 128 * MiB), (2048 * MiB, 128 * MiB), (64 * MiB, 32 * MiB), (32 * MiB, 16 * MiB)])
def test_the_checkpoint_threshold_is_half_the_load_limit_within_bounds(limit, threshold):
    assert checkpoint_threshold(limit) == threshold


def setting(store, name: str) -> str:
    cursor = store._open().cursor()
    try:
        return cursor.execute(f"SELECT current_setting('{name}')").fetchone()[0]
    finally:
        cursor.close()


def test_queries_get_the_whole_limit_and_give_it_back(tmp_path):
    store = DuckDBEventStore(str(tmp_path / "events.duckdb"), Clock(), 90, "1GiB")
    try:
        store.append([{"app_id": "app", "event_id": "e1", "event_type": "visit", "endpoint_id": "ep",
                       "event_time": datetime(2026, 1, 1, tzinfo=timezone.utc)}])
        assert (setting(store, "memory_limit"), setting(store, "checkpoint_threshold")) == ("64.0 MiB", "32.0 MiB")
        with store.read() as outer:
            with store.read() as inner:
                assert inner.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "1.0 GiB"
            assert outer.execute("SELECT count(*), current_setting('memory_limit') FROM events").fetchone() == (
                1, "1.0 GiB")
        assert setting(store, "memory_limit") == "64.0 MiB"
        assert store.query("SELECT event_type FROM events") == [("visit",)]
    finally:
        store.close()
