"""Endpoint activity: events refresh their endpoint's last-active time (segment recency reads it).

Writing the store for every PutEvents would put a write transaction on the ingestion path, so
requests only note (app, endpoint, time) in memory and a background thread writes what piled up
once a second, one transaction for all of it. A crash can lose at most the last second of
"last active" refreshes (the events themselves are durable).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime

from ..clock import iso

log = logging.getLogger("clarion.events")


class ActivityTracker:
    def __init__(self, store, interval: float = 1.0):
        self.store = store
        self.interval = interval
        self._pending: dict[str, dict[str, datetime]] = {}  # app id -> endpoint key -> time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, app_id: str, endpoint_keys: Iterable[str], moment: datetime) -> None:
        """Note that these endpoints were active at `moment` (an aware datetime: it is put in
        ISO form once per flush, not once per request)."""
        with self._lock:
            app = self._pending.setdefault(app_id, {})
            for key in endpoint_keys:
                if key not in app or app[key] < moment:
                    app[key] = moment
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="clarion-endpoint-activity", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Write what is pending now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        from ..store.endpoints import touch_last_active

        forms: dict[datetime, str] = {}  # many endpoints share a request's time
        with self.store.write() as conn:
            for app_id, moments in pending.items():
                touch_last_active(conn, app_id, {key: forms.get(moment) or forms.setdefault(moment, iso(moment))
                                                 for key, moment in moments.items()})

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._pending.pop(app_id, None)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the next round tries again with newer times
                log.exception("could not record endpoint activity")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        except Exception:
            log.exception("could not record endpoint activity")
