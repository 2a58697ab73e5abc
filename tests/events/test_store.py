"""The DuckDB event store: concurrent journal appends, retention, names, failures, settings."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from clarion.clock import FixedClock
from clarion.config import Settings
from clarion.events.duckdb_store import DuckDBEventStore
from clarion.events.rows import Encoded

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)


def row(app_id="app", event_id="e", when=NOW, **extra) -> dict:
    return {"app_id": app_id, "event_id": event_id, "event_type": "custom", "event_time": when,
            "endpoint_id": "ep", **extra}


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def store(tmp_path, clock):
    events = DuckDBEventStore(str(tmp_path / "events.duckdb"), clock, retention_days=90)
    yield events
    events.close()


def ids(store, app_id="app") -> list[str]:
    return [r[0] for r in store.query("SELECT event_id FROM events WHERE app_id = ? ORDER BY event_id", [app_id])]


def test_concurrent_appends_are_all_stored(store):
    def send(worker):
        for n in range(20):
            store.append([row(event_id=f"w{worker:02d}-{n:02d}")])

    threads = [threading.Thread(target=send, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids(store) == sorted(f"w{w:02d}-{n:02d}" for w in range(16) for n in range(20))


def test_retention_purges_events_older_than_the_period_by_the_injected_clock(store, clock):
    store.append([row(event_id="100-days", when=NOW - timedelta(days=100)),
                  row(event_id="89-days", when=NOW - timedelta(days=89)), row(event_id="today")])
    assert store.purge_expired() == 1
    assert ids(store) == ["89-days", "today"]
    clock.advance(days=2)
    assert store.purge_expired() == 1
    assert ids(store) == ["today"]


def test_the_retention_period_is_a_setting(tmp_path):
    from clarion.service import build

    settings = Settings.from_env({"CLARION_EVENTS_RETENTION_DAYS": "30", "CLARION_DATA_DIR": str(tmp_path)})
    assert settings.events_retention_days == 30 and Settings().events_retention_days == 90
    service = build(settings, clock=FixedClock(NOW))
    try:
        service.events.append([row(event_id="31-days", when=NOW - timedelta(days=31)), row(event_id="29-days",
                                                                                          when=NOW - timedelta(days=29))])
        service.events.purge_expired()
        assert ids(service.events) == ["29-days"]
    finally:
        service.close()


def test_a_line_the_store_cannot_load_is_set_aside_and_the_rest_is_loaded(store, tmp_path):
    """Rows come from our own encoder, so this is a bug's safety net: one bad line must not cost
    the other requests of its journal segment their events."""
    store.append([row(event_id="before")])
    store.append_encoded(Encoded(b'{"a": "app", "ev": "not a list"}\n', 1))
    store.append([row(event_id="after")])
    assert ids(store) == ["after", "before"]
    failed = list((tmp_path / "events.duckdb.journal").glob("*.failed"))
    assert len(failed) == 1 and b"not a list" in failed[0].read_bytes()


def test_journaled_events_are_loaded_after_a_crash(tmp_path, clock):
    """What the journal holds when the process dies is loaded at the next start, exactly once,
    without a line the crash cut short."""
    path = str(tmp_path / "events.duckdb")
    first = DuckDBEventStore(path, clock, 90)
    first.append([row(event_id="loaded")])
    assert ids(first) == ["loaded"]
    first.append([row(event_id="journaled")])
    first.close()
    journal = tmp_path / "events.duckdb.journal"
    segment = journal / "000000000999.ndjson"  # as a crash leaves it: one whole line, one cut short
    from clarion.events.rows import encode_rows

    whole = encode_rows([row(event_id="crashed-but-acknowledged")]).lines
    segment.write_bytes(whole + encode_rows([row(event_id="never-acknowledged")]).lines[:40])
    again = DuckDBEventStore(path, clock, 90)
    try:
        assert ids(again) == ["crashed-but-acknowledged", "journaled", "loaded"]
        assert list(journal.glob("*.ndjson")) == []
    finally:
        again.close()


def test_names_and_events_survive_a_reopen(tmp_path, clock):
    path = str(tmp_path / "events.duckdb")
    first = DuckDBEventStore(path, clock, 90)
    first.append_encoded(Encoded(b"", 0, [("app", "event_type", "song.played"), ("app", "attribute", "genre")]))
    first.append([row(event_id="kept", attributes={"genre": "jazz"}, metrics={"s": 1.5})])
    first.close()
    second = DuckDBEventStore(path, clock, 90)
    try:
        assert second.names("app") == {"event_type": {"song.played"}, "attribute": {"genre"}, "metric": set()}
        assert second.query("SELECT event_id, attributes, metrics FROM events") == [
            ("kept", {"genre": "jazz"}, {"s": 1.5})]
    finally:
        second.close()


def test_delete_app_removes_only_that_apps_events_and_names(store):
    store.append([row("a", "a1"), row("b", "b1")])
    store.append_encoded(Encoded(b"", 0, [("a", "event_type", "x"), ("b", "event_type", "y")]))
    store.delete_app("a")
    assert ids(store, "a") == [] and ids(store, "b") == ["b1"]
    assert store.names("a")["event_type"] == set() and store.names("b")["event_type"] == {"y"}


def test_the_event_store_memory_limit_is_applied_and_a_bad_one_refused(tmp_path):
    from datetime import datetime, timezone

    import pytest

    from clarion.clock import FixedClock
    from clarion.events.duckdb_store import DuckDBEventStore

    clock = FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = DuckDBEventStore(str(tmp_path / "events.duckdb"), clock, 90, "96MB")
    try:
        with store.read() as con:
            assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "91.5 MiB"
    finally:
        store.close()
    with pytest.raises(ValueError, match="CLARION_EVENTS_MEMORY_LIMIT"):
        DuckDBEventStore(str(tmp_path / "other.duckdb"), clock, 90, "lots")
