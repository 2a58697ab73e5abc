"""Product analytics over the event store (the queries behind `/v1/apps/{id}/analytics/...`).

One module per family: `analytics_users` (active users, retention, demographics),
`analytics_sessions`, `analytics_events` (event counts and metrics), `analytics_funnel`,
`analytics_revenue`; `analytics_base` holds what they share and the common definitions (actor,
activity, days and time zones). Each query takes a *source* (a DuckDB connection, or the event
store: see `analytics_base.cursor`) and plain parameters, does its heavy lifting in DuckDB SQL,
and returns plain dicts and lists (dates as ISO strings), ready for JSON.
"""

from __future__ import annotations

from .analytics_base import Scope, UnknownTimeZone
from .analytics_events import events
from .analytics_funnel import funnel, normalize_steps
from .analytics_revenue import revenue
from .analytics_sessions import sessions
from .analytics_users import DIMENSIONS, ENDPOINT_ATTRIBUTE, active_users, demographics, retention

__all__ = ["DIMENSIONS", "ENDPOINT_ATTRIBUTE", "Scope", "UnknownTimeZone", "active_users", "demographics",
           "events", "funnel", "normalize_steps", "retention", "revenue", "sessions"]
