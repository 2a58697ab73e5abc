"""MessagesPerSecond: one rate limiter per campaign, shared by its treatments' runs in this
process (best effort, as in Pinpoint: several worker processes each pace on their own).

A limiter hands out send slots on a virtual timeline: a batch of n messages takes n/rate
seconds of it, starting where the previous batch ended (or now, if the campaign was idle, with
up to one second of unused rate allowed as a burst). The caller sleeps until its slot starts.
Senders pass batches of at most a tenth of the rate, so the pace stays even.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_SECONDS = 1.0


class RateLimiter:
    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = float(rate)
        self.monotonic, self.sleep = monotonic, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def batch_size(self, wanted: int) -> int:
        return max(1, min(wanted, int(self.rate // 10) or 1))

    def acquire(self, count: int) -> float:
        """Wait for the slot of `count` messages; returns the seconds waited."""
        with self._lock:
            now = self.monotonic()
            start = max(self._next, now - BURST_SECONDS)
            self._next = start + count / self.rate
        wait = start - now
        if wait > 1e-6:
            self.sleep(wait)
            return wait
        return 0.0


class Limiters:
    """The per-campaign limiters of this process."""

    def __init__(self):
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, campaign_id: str, rate: int | None) -> RateLimiter | None:
        if not rate:
            return None
        with self._lock:
            limiter = self._limiters.get(campaign_id)
            if limiter is None or limiter.rate != float(rate):
                limiter = self._limiters[campaign_id] = RateLimiter(rate)
            return limiter
