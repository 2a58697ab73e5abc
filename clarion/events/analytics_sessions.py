"""Sessions, from the `_session.start` / `_session.stop` events the client SDKs send.

- **Sessions of a day**: the `_session.start` events of that day, Pinpoint's "times the app was
  opened" (PutEvents keeps one event per client event id, so a re-sent start is not counted twice).
- **Sessions per active**: sessions / actors active that day (DAU, see `analytics_users`).
- **Duration** of a session: the `Duration` (ms) its `_session.stop` event reports, else its stop
  minus start timestamps. It belongs to the day the session started (the stop event's session
  `StartTimestamp`, else the stop event's time); median and mean are over the stop events of
  the sessions that started that day. A session still open (no stop event yet) has no duration.
- The `total` row gives the same figures over the whole range (active = distinct actors in it).
"""

from __future__ import annotations

from datetime import date, timedelta

from .analytics_base import Scope, active_ctes, day_series, iso_day, query, ratio, ts


def sessions(source, app_id: str, start: date, end: date, *, by_user: bool = False,
             tz: str | None = None) -> dict:
    """Sessions, sessions per active actor and session durations for every day of [start, end]."""
    scope = Scope(app_id, start, end, by_user, tz)
    lo, hi = scope.bounds()
    stop_hi = hi + timedelta(days=1)  # a session of the last day may stop after midnight
    started = scope.day("coalesce(session_start, event_time)")
    sql = f"""
        WITH {active_ctes(scope, lo, hi)},
        starts AS (SELECT {scope.day()} AS day, count(*) AS sessions
                   FROM events WHERE app_id = $app AND event_type = '_session.start'
                   AND {scope.in_range()} GROUP BY GROUPING SETS ((day), ())),
        lengths AS (SELECT {started} AS day,
                           coalesce(session_duration, epoch_ms(session_stop) - epoch_ms(session_start)) AS ms
                    FROM events WHERE app_id = $app AND event_type = '_session.stop'
                    AND event_time >= {ts(lo)} AND event_time < {ts(stop_hi)}),
        durations AS (SELECT day, median(ms) AS median_ms, avg(ms) AS mean_ms, count(*) AS measured
                      FROM lengths WHERE day BETWEEN $start AND $end AND ms IS NOT NULL
                      GROUP BY GROUPING SETS ((day), ()))
        SELECT s.day, coalesce(a.active, 0) AS active, coalesce(st.sessions, 0) AS sessions,
               d.median_ms, d.mean_ms, coalesce(d.measured, 0) AS measured
        FROM ({day_series(scope)} UNION ALL SELECT NULL) s
        LEFT JOIN active a ON a.day IS NOT DISTINCT FROM s.day
        LEFT JOIN starts st ON st.day IS NOT DISTINCT FROM s.day
        LEFT JOIN durations d ON d.day IS NOT DISTINCT FROM s.day
        ORDER BY s.day NULLS LAST"""
    found = [_row(r) for r in query(source, sql, {"app": app_id, "start": start, "end": end})]
    total = found.pop()
    del total["date"]
    return {"days": found, "total": total}


def _row(r: dict) -> dict:
    return {"date": iso_day(r["day"]) if r["day"] is not None else None, "sessions": r["sessions"],
            "active": r["active"], "sessions_per_active": ratio(r["sessions"], r["active"]),
            "sessions_with_duration": r["measured"],
            "median_duration_ms": float(r["median_ms"]) if r["median_ms"] is not None else None,
            "mean_duration_ms": float(r["mean_ms"]) if r["mean_ms"] is not None else None}
