"""PutEvents' fast paths give the same answers as the general ones: the endpoint read without a
transaction, the inline (event loop) handling of batches without endpoint data, and the journal
carrying new names with the rows that use them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.clock import FixedClock
from clarion.events import context
from clarion.events.duckdb_store import DuckDBEventStore
from clarion.events.rows import Encoded, encode_rows
from clarion.operations.events import _without_endpoint_updates
from clarion.protocol.validate import ItemError

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8, 9])
def test_the_endpoint_read_outside_a_transaction_matches_the_transactional_one(server, client, app_id, count):
    for n in range(0, 9, 2):  # endpoints e0, e2, e4, e6, e8 exist; the odd ones do not
        client.update_endpoint(ApplicationId=app_id, EndpointId=f"E{n}", EndpointRequest={
            "ChannelType": "GCM", "Address": f"token-{n}", "Demographic": {"Platform": "android"},
            "Attributes": {"team": [f"t{n}"]}})
    keys = [f"e{n}" for n in range(count)]
    store = server.service.store
    with store.read() as conn:
        expected = context.app_and_endpoints(conn, app_id.upper(), keys)
    assert context.read_app_and_endpoints(store, app_id.upper(), keys) == expected
    assert sorted(expected[1]) == [k for k in keys if int(k[1:]) % 2 == 0]
    assert expected[1].get("e0", {"Attributes": {"team": ["t0"]}})["Attributes"] == {"team": ["t0"]}


def test_the_endpoint_read_outside_a_transaction_finds_no_unknown_app(server):
    assert context.read_app_and_endpoints(server.service.store, "no-such-app", ["a"]) == (None, {})


def test_only_batches_without_endpoint_data_run_on_the_event_loop():
    def params(*batches):
        return {"events_request": {"BatchItem": {f"d{i}": b for i, b in enumerate(batches)}}}

    def batch(endpoint):
        return {"Endpoint": endpoint, "Events": {}}

    bad = ItemError("bad")
    assert _without_endpoint_updates(params(batch({}), batch({"Address": None}), batch(bad), bad))
    assert not _without_endpoint_updates(params(batch({}), batch({"Address": "token"})))
    assert not _without_endpoint_updates(params(batch({"User": {"UserId": "u"}})))


def test_new_names_are_journaled_and_loaded_with_their_rows_after_a_crash(tmp_path):
    """A crash before the journal is loaded: names and rows come back together at the next start."""
    path = str(tmp_path / "events.duckdb")
    DuckDBEventStore(path, FixedClock(NOW), 90).close()  # the database and its journal directory
    names = [("app", "event_type", "song.played"), ("app", "attribute", "genre")]
    first = DuckDBEventStore(path, FixedClock(NOW), 90)
    first.write(Encoded(b"", 0, names))  # written by the request's own thread, before any load
    first._journal.rotate()  # as a kill -9 leaves it: closed on disk, never loaded
    rows = encode_rows([{"app_id": "app", "event_id": "e1", "event_type": "song.played", "event_time": NOW,
                         "endpoint_id": "ep", "attributes": {"genre": "jazz"}}])
    (tmp_path / "events.duckdb.journal" / "000000999999.ndjson").write_bytes(rows.lines)
    first._ticker_stop.set()  # no orderly close: the loader never runs
    first._loader.shutdown()
    first._con.close()
    again = DuckDBEventStore(path, FixedClock(NOW), 90)
    try:
        assert again.names("app") == {"event_type": {"song.played"}, "attribute": {"genre"}, "metric": set()}
        assert again.query("SELECT event_id, attributes FROM events") == [("e1", {"genre": "jazz"})]
    finally:
        again.close()


def test_journaled_names_are_stored_once(tmp_path):
    store = DuckDBEventStore(str(tmp_path / "events.duckdb"), FixedClock(NOW), 90)
    try:
        store.write(Encoded(b"", 0, [("app", "metric", "score"), ("app", "metric", "score")]))
        store.write(Encoded(b"", 0, [("app", "metric", "score")]))
        assert store.query("SELECT app_id, kind, name FROM event_names") == [("app", "metric", "score")]
        assert store.names("app")["metric"] == {"score"}
    finally:
        store.close()
