"""Events: how often each event type happened, by how many actors, and its metrics.

- Without `event_type`: one row per event type over the range (`types`). With it: that type's
  figures for every day of the range too (`days`, zero-filled). `attributes` keeps only events
  whose attributes match: {key: value or [values]}, every key must match one of its values.
- `count`: events; `uniques`: distinct actors (endpoints, or users with `by_user`) reporting it;
  `per_session`: count / sessions (`_session.start` events) that day or in the range, as
  Pinpoint's Events tab shows.
- With `metric` (a metric key of the events), over the events that carry it: `sum`, `min`,
  `max`, `mean` (per event) and `session_mean`, the per-session weighted mean: the mean over
  sessions of each session's own mean, so a session that logged the metric 20 times weighs as
  much as one that logged it once. A session is an endpoint's session id; an event without a
  session id is a session of its own. For a day, a session's mean is over its events of that
  day; for the range, over all its events in the range.
"""

from __future__ import annotations

from datetime import date, timedelta

from .analytics_base import Scope, iso_day, query, ratio


def attribute_filter(attributes: dict | None, params: dict, prefix: str = "a") -> str:
    """SQL (AND-ed, starting with " AND") matching event attributes; adds its parameters."""
    sql = ""
    for i, (key, values) in enumerate(sorted((attributes or {}).items())):
        params[f"{prefix}k{i}"] = key
        params[f"{prefix}v{i}"] = [values] if isinstance(values, str) else list(values)
        sql += f" AND list_contains(${prefix}v{i}, attributes[${prefix}k{i}])"
    return sql


def events(source, app_id: str, start: date, end: date, *, event_type: str | None = None,
           attributes: dict | None = None, metric: str | None = None, by_user: bool = False,
           tz: str | None = None) -> dict:
    """Counts, uniques, events per session and (with `metric`) metric statistics."""
    scope = Scope(app_id, start, end, by_user, tz)
    params = {"app": app_id}
    where = f"app_id = $app AND {scope.in_range()}"
    if event_type is not None:
        where += " AND event_type = $type"
        params["type"] = event_type
    where += attribute_filter(attributes, params)
    daily = event_type is not None
    if metric is None:
        counted, measured = query(source, _counts_sql(scope, where, daily), params), {}
    else:
        params["metric"] = metric
        counted = query(source, _measured_sql(scope, where, daily), params)
        measured = {(r["event_type"], r["day"]): r for r in counted if r["measured"]}
    sessions = _sessions_per_day(source, scope, app_id)
    types, days = [], []
    for r in counted:
        figures = _figures(r, sessions.get(r["day"]), measured.get((r["event_type"], r["day"])), metric)
        (types if r["day"] is None else days).append(figures)
    if event_type is not None:
        days = _zero_filled(scope, event_type, days, sessions, metric)
    return {"types": sorted(types, key=lambda t: (-t["count"], t["event_type"])), "days": days}


def _counts_sql(scope: Scope, where: str, daily: bool) -> str:
    day = scope.day() if daily else "NULL::DATE"
    rows = f"SELECT event_type, {day} AS day, {scope.actor()} AS actor FROM events WHERE {where}"
    return f"WITH base AS ({rows}) {_counted(daily)}"


def _counted(daily: bool) -> str:
    """SQL of (event_type, day, count, uniques) over a CTE `base` of (event_type, day, actor):
    per day and over the range when `daily`, else over the range (day NULL)."""
    # Events per (type, day, actor) first: then uniques count those rows' actors (each row is a
    # distinct actor of its type over the range, unless days split it).
    if daily:
        uniques, grouping = "count(DISTINCT actor)", "GROUPING SETS ((event_type, day), (event_type))"
    else:
        uniques, grouping = "count(*)", "event_type, day"
    return f"""SELECT event_type, {'day' if daily else 'NULL AS day'}, sum(n) AS count, {uniques} AS uniques
               FROM (SELECT event_type, day, actor, count(*) AS n FROM base GROUP BY ALL) GROUP BY {grouping}"""


def _measured_sql(scope: Scope, where: str, daily: bool) -> str:
    """The counts and the metric's figures from one scan of the events: a session is the
    endpoint's session id, or the event itself (its row) when it has none."""
    day = scope.day() if daily else "NULL::DATE"
    session = "hash(endpoint_id) AS ep, session_id, CASE WHEN session_id IS NULL THEN rowid END AS own"
    sets = ("GROUPING SETS ((event_type, day, ep, session_id, own), (event_type, ep, session_id, own))" if daily
            else "event_type, day, ep, session_id, own")
    return f"""
        WITH base AS MATERIALIZED (SELECT event_type, {day} AS day, {scope.actor()} AS actor, {session},
                                          metrics[$metric] AS m FROM events WHERE {where}),
        counts AS ({_counted(daily)}),
        per_session AS (SELECT event_type, day, sum(m) AS s, count(*) AS c, min(m) AS lo, max(m) AS hi
                        FROM base WHERE m IS NOT NULL GROUP BY {sets}),
        measured AS (SELECT event_type, day, sum(s) AS sum, sum(c) AS measured, min(lo) AS min, max(hi) AS max,
                            avg(s / c) AS session_mean FROM per_session GROUP BY event_type, day)
        SELECT c.*, m.sum, m.measured, m.min, m.max, m.session_mean FROM counts c
        LEFT JOIN measured m ON m.event_type = c.event_type AND m.day IS NOT DISTINCT FROM c.day"""


def _sessions_per_day(source, scope: Scope, app_id: str) -> dict:
    found = query(source, f"""
        SELECT {scope.day()} AS day, count(*) AS sessions
        FROM events WHERE app_id = $app AND event_type = '_session.start'
        AND {scope.in_range()}
        GROUP BY GROUPING SETS ((day), ())""", {"app": app_id})
    return {r["day"]: r["sessions"] for r in found}


def _figures(r: dict, sessions: int | None, m: dict | None, metric: str | None) -> dict:
    figures = {"event_type": r["event_type"], "count": int(r["count"]), "uniques": r["uniques"],
               "per_session": ratio(r["count"], sessions)}
    if r["day"] is not None:
        figures = {"date": iso_day(r["day"]), **figures}
    if metric is not None:
        figures["metric"] = _metric_figures(metric, m)
    return figures


def _metric_figures(metric: str, m: dict | None) -> dict:
    if not m:
        return {"name": metric, "events": 0, "sum": 0.0, "min": None, "max": None, "mean": None,
                "session_mean": None}
    return {"name": metric, "events": int(m["measured"]), "sum": float(m["sum"]), "min": m["min"],
            "max": m["max"], "mean": ratio(m["sum"], m["measured"]), "session_mean": m["session_mean"]}


def _zero_filled(scope: Scope, event_type: str, days: list[dict], sessions: dict, metric: str | None) -> list[dict]:
    by_day = {d["date"]: d for d in days}
    filled = []
    for offset in range(scope.days):
        day = scope.start + timedelta(days=offset)
        empty = {"date": day.isoformat(), "event_type": event_type, "count": 0, "uniques": 0,
                 "per_session": ratio(0, sessions.get(day))}
        if metric is not None:
            empty["metric"] = _metric_figures(metric, None)
        filled.append(by_day.get(day.isoformat(), empty))
    return filled
