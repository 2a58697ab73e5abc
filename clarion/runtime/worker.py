"""Workers: threads that claim jobs from the queue and run their handlers.

A handler is `fn(service, job, progress) -> None` registered for a job kind. It may call
`progress.save(checkpoint)` as often as it likes: that persists its position and renews the
lease, and returns False when the job was taken away (then the handler returns at once).
Raising fails the attempt (retried with backoff); returning completes the job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from .queue import Job, Queue

log = logging.getLogger("clarion.worker")
IDLE_WAIT = 1.0  # seconds between polls when there is nothing to do (an enqueue wakes us earlier)


class Progress:
    def __init__(self, queue: Queue, job: Job, stopping: threading.Event):
        self.queue, self.job, self.stopping = queue, job, stopping

    @property
    def checkpoint(self):
        return self.job.checkpoint

    def save(self, checkpoint) -> bool:
        return self.queue.checkpoint(self.job, checkpoint) and not self.stopping.is_set()


class Workers:
    def __init__(self, service, queue: Queue, handlers: dict[str, Callable], threads: int = 2):
        self.service, self.queue, self.handlers = service, queue, handlers
        self.count = threads
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        queue.listeners.append(self.wake.set)

    def start(self) -> None:
        for i in range(self.count):
            thread = threading.Thread(target=self._loop, args=(f"{self.owner}:{i}",), name=f"clarion-worker-{i}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)
        self.threads.clear()

    def _loop(self, owner: str) -> None:
        while not self.stopping.is_set():
            try:
                ran = self.run_one(owner)
            except Exception:  # the store itself failed: keep the worker alive, try again later
                log.exception("worker %s could not claim a job", owner)
                ran = False
            if not ran:
                self.wake.wait(IDLE_WAIT)
                self.wake.clear()

    def run_one(self, owner: str) -> bool:
        """Claim and run one job; False when none was ready."""
        if not self.handlers:
            return False
        job = self.queue.claim(owner, list(self.handlers))
        if job is None:
            return False
        progress = Progress(self.queue, job, self.stopping)
        try:
            self.handlers[job.kind](self.service, job, progress)
        except Exception as exc:  # the job's failure, not the worker's
            error = f"{type(exc).__name__}: {exc}"
            state = self.queue.fail(job, error)
            log.warning("job %s (%s) attempt %d failed: %s; now %s", job.job_id, job.kind, job.attempts, exc, state)
            if state == "dead":
                self._buried(job, error)
            return True
        if not self.stopping.is_set():
            self.queue.complete(job)
        return True

    def _buried(self, job: Job, error: str) -> None:
        """A job failed its last attempt: its handler's `on_dead(service, job, error)`, if it has
        one, puts what the job left half done in a final state (a campaign run's activity)."""
        on_dead = getattr(self.handlers[job.kind], "on_dead", None)
        if on_dead is None:
            return
        try:
            on_dead(self.service, job, error)
        except Exception:
            log.exception("job %s (%s): its on_dead failed", job.job_id, job.kind)

    def drain(self, owner: str = "drain", limit: int = 10_000) -> int:
        """Run ready jobs in the calling thread until none is left (tests, `clarion worker --once`)."""
        ran = 0
        while ran < limit and self.run_one(owner):
            ran += 1
        return ran
