"""Pinpoint's per-app quotas on event names: 1,500 custom event types, 500 custom attribute
keys and 500 custom metric keys per app.

The names an app has used live in the event store (`event_names`); this keeps them in memory,
loaded per app on first use, so the check costs a set lookup per event. Names starting with `_`
are Pinpoint's own (`_session.start`, `_item_price`, ...) and do not count. A new name is
admitted under a lock and returned to the caller, which stores it with the events that use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

LIMITS = {"event_type": 1500, "attribute": 500, "metric": 500}
KINDS_IN_MESSAGES = {"event_type": "custom event types", "attribute": "custom attribute names",
                     "metric": "custom metric names"}


class _AppNames:
    def __init__(self, names: dict[str, set[str]]):
        self.known = {kind: set(names.get(kind, ())) for kind in LIMITS}
        self.custom = {kind: sum(1 for n in names if not n.startswith("_")) for kind, names in self.known.items()}


class NameRegistry:
    def __init__(self, load: Callable[[str], dict[str, set[str]]]):
        self._load = load
        self._apps: dict[str, _AppNames] = {}
        self._lock = threading.Lock()

    def known(self, app_id: str) -> dict[str, set[str]]:
        """{kind: names} for the app. The sets only grow; read them without the lock."""
        app = self._apps.get(app_id)
        if app is None:
            with self._lock:
                app = self._apps.get(app_id)
                if app is None:
                    app = self._apps[app_id] = _AppNames(self._load(app_id))
        return app.known

    def admit(self, app_id: str, kind: str, name: str, admitted: list[tuple[str, str, str]]) -> str | None:
        """Record a new name, appending (app, kind, name) to `admitted`; or say why not."""
        self.known(app_id)
        with self._lock:
            app = self._apps[app_id]
            if name in app.known[kind]:
                return None
            custom = not name.startswith("_")
            if custom and app.custom[kind] >= LIMITS[kind]:
                return (f"The application already uses {LIMITS[kind]} {KINDS_IN_MESSAGES[kind]}, the most "
                        f"allowed; the event with the new name '{name}' was not recorded")
            app.known[kind].add(name)
            app.custom[kind] += custom
        admitted.append((app_id, kind, name))
        return None

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._apps.pop(app_id, None)
