"""Group commit: one thread makes every append durable, many requests at a time.

A request hands its encoded rows to `submit` and blocks on the returned future; the writer
thread takes everything queued while it was busy, applies it at once (one journal write for
the whole group) and only then resolves the futures. Under load the groups
grow by themselves, so the cost per event falls as the rate rises; when idle a request waits for
its own write only. `tick` runs on the same thread after each group and at least every
`interval` seconds (the journal closes segments there); `run` executes a task on the thread
between groups, in order with the appends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from .rows import Encoded

log = logging.getLogger("clarion.events")


class GroupCommitWriter:
    def __init__(self, apply_group: Callable[[list[Encoded]], None], tick: Callable[[], None] = lambda: None,
                 interval: float = 0.25, name: str = "clarion-events-writer"):
        self._apply_group = apply_group
        self._tick = tick
        self._interval = interval
        self._queue: list[tuple[object, Future]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, encoded: Encoded) -> Future:
        """Queue rows; the future resolves once they are durable (or fails with the error)."""
        return self._put(encoded)

    def run(self, task: Callable[[], object]):
        """Run `task` on the writer thread, after the appends queued before it; return its result."""
        return self._put(task).result()

    def _put(self, item) -> Future:
        future: Future = Future()
        with self._wake:
            if self._closing:
                raise RuntimeError("the event store is closed")
            self._queue.append((item, future))
            self._wake.notify()
        return future

    def close(self) -> None:
        """Apply what is queued, then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._queue and not self._closing:
                    self._wake.wait(self._interval)
                taken, self._queue = self._queue, []
                if not taken and self._closing:
                    return
            appends: list[tuple[Encoded, Future]] = []
            for item, future in taken:  # in order: appends between two tasks form one group
                if isinstance(item, Encoded):
                    appends.append((item, future))
                    continue
                if appends:
                    self._commit(appends)
                    appends = []
                _resolve(future, item)
            if appends:
                self._commit(appends)
            try:
                self._tick()
            except Exception:  # logged, never fatal: the next tick tries again
                log.exception("event store upkeep failed")

    def _commit(self, appends: list[tuple[Encoded, Future]]) -> None:
        try:
            self._apply_group([item for item, _ in appends])
        except BaseException as error:  # every waiting request learns of it; the thread goes on
            log.exception("event store write failed for %d requests", len(appends))
            for _, future in appends:
                future.set_exception(error)
            return
        for _, future in appends:
            future.set_result(None)


def _resolve(future: Future, task: Callable[[], object]) -> None:
    try:
        future.set_result(task())
    except BaseException as error:
        future.set_exception(error)
