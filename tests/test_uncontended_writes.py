"""Endpoint writes run on the event loop unless they would wait (`inline="uncontended"`).

A write that would wait, for this process's writer or another process's SQLite lock, must
neither fail nor stall the server: other requests are answered meanwhile, and the write lands
once the other writer is done."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from clarion.store import Contended

from .conftest import LiveServer


@pytest.fixture
def live(sqlite_service):
    server = LiveServer(sqlite_service).start()
    yield server
    server.stop()


def endpoint(n: int) -> dict:
    return {"ChannelType": "EMAIL", "Address": f"user{n}@example.com", "User": {"UserId": f"user-{n}"}}


def write_while_blocked(live, hold, release):
    """Start a batch write while `hold()` keeps the store busy; check the server still answers,
    then `release()` and return the write's response."""
    client = live.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "busy"})["ApplicationResponse"]["Id"]
    hold()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.update_endpoints_batch, ApplicationId=app_id, EndpointBatchRequest={
            "Item": [{"Id": f"e{n}", **endpoint(n)} for n in range(5)]})
        # The loop is not stuck behind the waiting write: a read is answered meanwhile.
        assert client.get_app(ApplicationId=app_id)["ApplicationResponse"]["Name"] == "busy"
        assert httpx.get(f"{live.url}/healthz", timeout=10).status_code == 200
        assert not pending.done()  # still waiting for the other writer
        release()
        response = pending.result(timeout=30)
    assert response["MessageBody"]["Message"] == "Accepted"
    assert client.get_endpoint(ApplicationId=app_id, EndpointId="e4")["EndpointResponse"]["Address"] == \
        "user4@example.com"


def test_a_write_waits_for_this_processs_writer_without_stalling_the_server(live):
    lock = live.service.store._write_lock
    write_while_blocked(live, hold=lock.acquire, release=lock.release)


def test_a_write_waits_for_another_processs_sqlite_lock_without_stalling_the_server(live):
    database = live.service.store.engine.url.database
    other = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        write_while_blocked(live, hold=lambda: other.execute("BEGIN IMMEDIATE"),
                            release=lambda: other.execute("COMMIT"))
    finally:
        other.close()


def test_concurrent_batches_all_land(live):
    client = live.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "many"})["ApplicationResponse"]["Id"]

    def batch(b):
        return client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={
            "Item": [{"Id": f"b{b}-{n}", **endpoint(b * 100 + n)} for n in range(20)]})

    # A background writer holds the lock now and then, as jobs do.
    stop = threading.Event()

    def background_writer():
        while not stop.is_set():
            with live.service.store.write():
                stop.wait(0.002)

    writer = threading.Thread(target=background_writer)
    writer.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(batch, range(16)))
    finally:
        stop.set()
        writer.join()
    for b in range(16):
        assert client.get_endpoint(ApplicationId=app_id, EndpointId=f"b{b}-19")["EndpointResponse"]["User"] == \
            {"UserId": f"user-{b * 100 + 19}"}


def test_without_waiting_applies_to_the_first_write_only(sqlite_service):
    store = sqlite_service.store
    with store.without_waiting():
        with store.write():
            pass
        store._write_lock.acquire()
        threading.Timer(0.2, store._write_lock.release).start()
        with store.write():  # a second write waits as usual
            pass
    store._write_lock.acquire()
    try:
        with pytest.raises(Contended), store.without_waiting(), store.write():
            pass
    finally:
        store._write_lock.release()
