"""The durable job queue: a table in the store, claimed with leases.

A job is claimed by setting a lease (owner + expiry). A worker that dies stops renewing its
lease; once it expires, any worker may claim the job again and resume from the job's saved
checkpoint. Failures retry with exponential backoff up to `max_attempts`, then the job is
`dead` (kept, with its last error, for an operator to see). On PostgreSQL, concurrent
claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`); on SQLite, writes are serialized.

`unique_key` makes enqueueing idempotent: periodic work (a campaign run for a scheduled
start) is enqueued once however many schedulers tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..clock import Clock, Ids, iso
from ..store import Store
from ..store.schema import jobs

DEFAULT_LEASE = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=10)


@dataclass
class Job:
    job_id: str
    kind: str
    app_id: str | None
    payload: dict
    checkpoint: object
    attempts: int
    max_attempts: int
    lease_owner: str


class Queue:
    def __init__(self, store: Store, clock: Clock, ids: Ids):
        self.store, self.clock, self.ids = store, clock, ids
        self.listeners: list = []  # called after an enqueue commits, to wake idle workers

    def enqueue(self, conn: Connection, kind: str, payload: dict, *, app_id: str | None = None,
                unique_key: str | None = None, run_after=None, max_attempts: int = 5) -> str | None:
        """Add a job inside the caller's transaction. With a `unique_key` already used, nothing
        is added and None is returned."""
        now = iso(self.clock.now())
        job_id = self.ids.resource_id()
        values = dict(job_id=job_id, kind=kind, app_id=app_id, unique_key=unique_key, payload=payload,
                      state="queued", attempts=0, max_attempts=max_attempts,
                      run_after=iso(run_after) if run_after else now, created=now, updated=now)
        if unique_key is not None:
            if conn.execute(select(jobs.c.job_id).where(jobs.c.unique_key == unique_key)).first():
                return None
            try:
                with conn.begin_nested():
                    conn.execute(jobs.insert().values(**values))
            except IntegrityError:  # a concurrent enqueuer won the race
                return None
        else:
            conn.execute(jobs.insert().values(**values))
        return job_id

    def notify(self) -> None:
        for listener in self.listeners:
            listener()

    def claim(self, owner: str, kinds: list[str] | None = None, lease: timedelta = DEFAULT_LEASE) -> Job | None:
        """Take the oldest ready job (queued and due, or running with an expired lease)."""
        now = self.clock.now()
        stamp = iso(now)
        ready = or_(and_(jobs.c.state == "queued", jobs.c.run_after <= stamp),
                    and_(jobs.c.state == "running", jobs.c.lease_until < stamp))
        query = select(jobs).where(ready).order_by(jobs.c.run_after, jobs.c.created).limit(1)
        if kinds:
            query = query.where(jobs.c.kind.in_(kinds))
        with self.store.write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(update(jobs).where(jobs.c.job_id == row.job_id).values(
                state="running", lease_owner=owner, lease_until=iso(now + lease), attempts=row.attempts + 1,
                updated=stamp))
        return Job(row.job_id, row.kind, row.app_id, row.payload, row.checkpoint, row.attempts + 1,
                   row.max_attempts, owner)

    def _owned(self, job: Job):
        return and_(jobs.c.job_id == job.job_id, jobs.c.lease_owner == job.lease_owner, jobs.c.state == "running")

    def checkpoint(self, job: Job, value, lease: timedelta = DEFAULT_LEASE) -> bool:
        """Save progress and renew the lease; False when the job is no longer ours (lease lost,
        app deleted): the handler must stop."""
        now = self.clock.now()
        with self.store.write() as conn:
            result = conn.execute(update(jobs).where(self._owned(job)).values(
                checkpoint=value, lease_until=iso(now + lease), updated=iso(now)))
        job.checkpoint = value
        return result.rowcount == 1

    def complete(self, job: Job, conn: Connection | None = None) -> bool:
        """Mark done, optionally inside the caller's transaction (so the job's last writes and
        its completion commit together)."""
        stmt = update(jobs).where(self._owned(job)).values(state="done", lease_owner=None, lease_until=None,
                                                           updated=iso(self.clock.now()))
        if conn is not None:
            return conn.execute(stmt).rowcount == 1
        with self.store.write() as own:
            return own.execute(stmt).rowcount == 1

    def fail(self, job: Job, error: str) -> str:
        """Retry later with backoff, or give up: returns the new state."""
        now = self.clock.now()
        dead = job.attempts >= job.max_attempts
        delay = min(MAX_BACKOFF, timedelta(seconds=2 ** job.attempts))
        with self.store.write() as conn:
            conn.execute(update(jobs).where(self._owned(job)).values(
                state="dead" if dead else "queued", run_after=iso(now + delay), lease_owner=None,
                lease_until=None, last_error=error[:2000], updated=iso(now)))
        return "dead" if dead else "queued"

    def get(self, job_id: str):
        with self.store.read() as conn:
            return conn.execute(select(jobs).where(jobs.c.job_id == job_id)).first()
