"""The durable job queue and its workers, on both store backends."""

from datetime import datetime, timezone

import pytest

from clarion.clock import FixedClock
from clarion.runtime.queue import Queue
from clarion.runtime.worker import Workers
from clarion.service import build

from .conftest import make_settings


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def queue(tmp_path, database_url, clock):
    service = build(make_settings(tmp_path, database_url), clock=clock)
    yield Queue(service.store, clock, service.ids)
    service.close()


def enqueue(queue, *args, **kwargs):
    with queue.store.write() as conn:
        return queue.enqueue(conn, *args, **kwargs)


def test_a_unique_key_enqueues_once(queue):
    first = enqueue(queue, "run", {"n": 1}, unique_key="campaign-1@2026-01-01T00:00")
    second = enqueue(queue, "run", {"n": 2}, unique_key="campaign-1@2026-01-01T00:00")
    assert first and second is None
    job = queue.claim("w1", ["run"])
    assert job.payload == {"n": 1} and queue.claim("w2", ["run"]) is None


def test_an_expired_lease_lets_another_worker_resume_from_the_checkpoint(queue, clock):
    enqueue(queue, "import", {"file": "a.csv"})
    job = queue.claim("w1", ["import"])
    assert queue.checkpoint(job, {"row": 500})
    assert queue.claim("w2", ["import"]) is None  # leased
    clock.advance(seconds=31)  # w1 died: its lease runs out
    resumed = queue.claim("w2", ["import"])
    assert resumed.job_id == job.job_id and resumed.checkpoint == {"row": 500} and resumed.attempts == 2
    assert not queue.checkpoint(job, {"row": 600})  # w1 lost it
    assert queue.complete(resumed) and not queue.complete(job)
    assert queue.get(job.job_id).state == "done"


def test_failures_back_off_then_die(queue, clock):
    job_id = enqueue(queue, "flaky", {}, max_attempts=2)
    job = queue.claim("w", ["flaky"])
    assert queue.fail(job, "boom") == "queued"
    assert queue.claim("w", ["flaky"]) is None  # backing off
    clock.advance(seconds=3)
    job = queue.claim("w", ["flaky"])
    assert queue.fail(job, "boom again") == "dead"
    row = queue.get(job_id)
    assert row.state == "dead" and row.last_error == "boom again" and row.attempts == 2


def test_workers_run_handlers_and_record_failures(queue):
    seen = []

    def ok(service, job, progress):
        assert progress.save({"step": 1})
        seen.append(job.payload["n"])

    def broken(service, job, progress):
        raise ValueError("bad input file")

    workers = Workers(None, queue, {"ok": ok, "broken": broken})
    ids = [enqueue(queue, "ok", {"n": n}) for n in range(3)]
    bad = enqueue(queue, "broken", {}, max_attempts=1)
    assert workers.drain() == 4
    assert sorted(seen) == [0, 1, 2]
    assert all(queue.get(i).state == "done" for i in ids)
    assert queue.get(bad).state == "dead" and "bad input file" in queue.get(bad).last_error
