"""The access log: one line per request, written in batches.

Formatting and writing a log record per request cost about 40 µs, a tenth of a small
request; lines are queued instead and written together every half second (and at shutdown).
Each line holds method, path, status, time, key id and request id: never headers, query
strings or bodies, so no secret can reach it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

log = logging.getLogger("clarion.access")
FLUSH_SECONDS = 0.5
MAX_QUEUED = 10_000


class AccessLog:
    def __init__(self):
        self.lines: deque = deque()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def record(self, method: str, path: str, status: int, millis: float, key_id: str, request_id: str) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        self.lines.append((method, path, status, millis, key_id, request_id))
        if self.thread is None or len(self.lines) > MAX_QUEUED:
            self.flush()  # no flusher running (tests, embedding): write now

    def flush(self) -> None:
        batch = []
        while self.lines:
            batch.append(self.lines.popleft())
        if batch:
            log.info("\n".join("%s %s %d %.1fms key=%s req=%s" % line for line in batch))

    def start(self) -> None:
        if self.thread is None:
            self.stopping.clear()
            self.thread = threading.Thread(target=self._loop, name="clarion-access-log", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
            self.thread = None
        self.flush()

    def _loop(self) -> None:
        while not self.stopping.wait(FLUSH_SECONDS):
            self.flush()
