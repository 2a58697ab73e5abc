"""`Store.first_unchanged`: GetApp answered from memory only while the database is unchanged.

"Unchanged" is SQLite's WAL-index header; these tests change the database every way it can be
changed (this process, another process, the API) and check the next read sees it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clarion.store import Store, _WalHeader
from clarion.store import apps as app_store

APP = "a" * 32
ARN = f"arn:aws:mobiletargeting:us-east-1:000000000000:apps/{APP}"


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'clarion.db'}")
    store.migrate()
    with store.write() as conn:
        app_store.insert(conn, {"Id": APP, "Name": "first", "CreationDate": "2026-01-01T00:00:00.000Z"}, {})
    yield store
    store.close()


def counting_fetches(store) -> dict:
    calls = {"n": 0}
    fetch = store._fetch

    def counted(*args, **kwargs):
        calls["n"] += 1
        return fetch(*args, **kwargs)

    store._fetch = counted
    return calls


def test_repeated_reads_of_an_unchanged_database_are_answered_from_memory(store):
    calls = counting_fetches(store)
    for _ in range(5):
        assert app_store.get_with_tags(store, APP, ARN)["Name"] == "first"
    assert calls["n"] == 1


def test_a_commit_in_this_process_is_seen_at_once(store):
    assert app_store.get_with_tags(store, APP, ARN)["tags"] == {}
    with store.write() as conn:
        conn.exec_driver_sql("INSERT INTO tags (app_id, arn, tags) VALUES (?, ?, ?)", (APP, ARN, '{"team": "a"}'))
    assert app_store.get_with_tags(store, APP, ARN)["tags"] == {"team": "a"}


def test_a_commit_by_another_process_is_seen_at_once(store, tmp_path):
    assert app_store.get_with_tags(store, APP, ARN)["tags"] == {}
    script = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute('UPDATE apps SET doc = json_set(doc, \\'$.Name\\', \\'renamed\\')'); c.commit()")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "clarion.db")], check=True)
    assert app_store.get_with_tags(store, APP, ARN)["Name"] == "renamed"


def test_a_deleted_app_is_gone_at_once(store):
    assert app_store.get_with_tags(store, APP, ARN) is not None
    with store.write() as conn:
        app_store.delete_everything(conn, APP)
    assert app_store.get_with_tags(store, APP, ARN) is None


def test_each_caller_gets_its_own_copy(store):
    first = app_store.get_with_tags(store, APP, ARN)
    first["tags"]["mutated"] = "yes"
    assert app_store.get_with_tags(store, APP, ARN)["tags"] == {}


@pytest.mark.parametrize("header, trusted", [
    (bytes(12) + b"\x01" + bytes(35), True),  # both copies equal, initialised
    (bytes(12) + b"\x00" + bytes(35), False),  # not initialised yet
    (None, False),  # the two copies differ: a commit is being written
])
def test_the_header_is_trusted_only_when_whole(tmp_path, store, header, trusted):
    shm = tmp_path / "other.db-shm"
    first = header if header is not None else bytes(12) + b"\x01" + bytes(35)
    second = header if header is not None else bytes(8) + b"\x07" + bytes(3) + b"\x01" + bytes(35)
    shm.write_bytes(first + second + bytes(40))
    reader = _WalHeader(str(tmp_path / "other.db"), store)
    try:
        assert (reader.read() == first) is trusted
    finally:
        reader.close()


def test_without_a_wal_file_every_read_goes_to_the_database(store, tmp_path):
    reader = _WalHeader(str(tmp_path / "missing.db"), store)
    assert reader.read() is None
