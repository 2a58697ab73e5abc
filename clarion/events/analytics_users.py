"""Who uses the app: active users (DAU/WAU/MAU, stickiness, new), retention, demographics.

Definitions (actor, activity, days) are in `analytics`. Here:

- **DAU** of a day: actors active that day. **WAU** / **MAU**: actors active on at least one of
  the 7 / 30 days ending that day (rolling windows, computed for every day). **Sticky factor**:
  DAU / MAU. **New**: actors whose first-use day is that day.
- **Retention.** A cohort is the actors whose first-use day is a given day C. "Returning on day N"
  counts the cohort's actors active on day C+N (the classic "N-day retention"); "within N days"
  counts those active on at least one of the days C+1 .. C+N (Pinpoint's 7-day retention rate is
  of this kind: "opened the app again in the following 7 days"). A day C+N after `as_of` is not
  observed yet and is null. The N-day rates pool the cohorts whose day N is observed:
  sum of returning / sum of cohort sizes.
- **Demographics.** Each actor active in the range is counted under the dimension's value on the
  latest event of each of its endpoints in the range (events carry the endpoint as it was when
  they arrived, so that is the endpoint's latest state; null when it had none); a list-valued
  custom endpoint attribute counts the actor under each of its values. With `by_user=True` a user
  whose devices differ counts under each value, so shares can add up to more than 1.
"""

from __future__ import annotations

from datetime import date, timedelta

from .analytics_base import ACTIVE, Scope, activity, day_series, iso_day, query, ratio

# Endpoint columns a breakdown can use, by public name (aliases included).
DIMENSIONS = {
    "platform": "platform", "platform_version": "platform_version", "os_version": "platform_version",
    "make": "make", "model": "model", "app_version": "app_version", "country": "country",
    "region": "region", "city": "city", "locale": "locale", "timezone": "timezone",
    "channel_type": "channel_type",
}
ENDPOINT_ATTRIBUTE = "endpoint_attribute:"


def active_users(source, app_id: str, start: date, end: date, *, by_user: bool = False,
                 tz: str | None = None) -> dict:
    """DAU, WAU, MAU, sticky factor and new actors for every day of [start, end]."""
    scope = Scope(app_id, start, end, by_user, tz)
    first_window = start - timedelta(days=29)
    sql = f"""
        WITH act AS MATERIALIZED ({activity(scope, None, scope.bounds()[1])}),
        first AS (SELECT actor, min(day) AS first_day FROM act GROUP BY actor),
        recent AS (SELECT day, lead(day) OVER (PARTITION BY actor ORDER BY day) AS next
                   FROM act WHERE day >= DATE '{first_window}'),
        -- Each active day covers the window days up to the actor's next active day: an actor's
        -- spans never overlap, so WAU/MAU are running sums of +1 at a span's start, -1 at its end.
        deltas AS (SELECT day AS d, 1 AS dw, 1 AS dm FROM recent
                   UNION ALL SELECT least(coalesce(next, day + 7), day + 7), -1, 0 FROM recent
                   UNION ALL SELECT least(coalesce(next, day + 30), day + 30), 0, -1 FROM recent),
        running AS (SELECT d, sum(dw) OVER w AS wau, sum(dm) OVER w AS mau
                    FROM (SELECT d, sum(dw) AS dw, sum(dm) AS dm FROM deltas GROUP BY d) WINDOW w AS (ORDER BY d)),
        dau AS (SELECT day, count(*) AS dau FROM act WHERE day BETWEEN $start AND $end GROUP BY day),
        new AS (SELECT first_day AS day, count(*) AS new FROM first WHERE first_day BETWEEN $start AND $end GROUP BY 1)
        SELECT s.day, coalesce(dau.dau, 0) AS dau, coalesce(r.wau, 0) AS wau, coalesce(r.mau, 0) AS mau,
               coalesce(new.new, 0) AS new,
               (SELECT count(DISTINCT actor) FROM act WHERE day BETWEEN $start AND $end) AS active_total
        FROM {day_series(scope)} s ASOF LEFT JOIN running r ON s.day >= r.d
        LEFT JOIN dau ON dau.day = s.day LEFT JOIN new ON new.day = s.day
        ORDER BY s.day"""
    found = query(source, sql, {"app": app_id, "start": start, "end": end})
    days = [{"date": iso_day(r["day"]), "dau": r["dau"], "wau": int(r["wau"]), "mau": int(r["mau"]),
             "sticky": ratio(r["dau"], r["mau"]), "new": r["new"]} for r in found]
    return {"days": days, "total": {"active": found[0]["active_total"] if found else 0,
                                    "new": sum(d["new"] for d in days)}}


def retention(source, app_id: str, start: date, end: date, *, by_user: bool = False, tz: str | None = None,
              days: int = 30, as_of: date | None = None) -> dict:
    """Cohorts of actors by first-use day in [start, end], and who came back on days 1..`days`."""
    as_of = as_of or end + timedelta(days=days)
    scope = Scope(app_id, start, end, by_user, tz)
    horizon = Scope(app_id, start, max(as_of, end), by_user, tz)
    sql = f"""
        WITH act AS MATERIALIZED ({activity(horizon, None, horizon.bounds()[1])}),
        cohort AS (SELECT actor, min(day) AS first_day FROM act GROUP BY actor
                   HAVING min(day) BETWEEN $start AND $end),
        back AS (SELECT c.actor, c.first_day, a.day - c.first_day AS n FROM act a JOIN cohort c USING (actor)
                 WHERE a.day > c.first_day AND a.day <= c.first_day + {int(days)})
        SELECT 'size' AS kind, first_day, 0 AS n, count(*) AS actors FROM cohort GROUP BY first_day
        UNION ALL SELECT 'on', first_day, n, count(*) FROM back GROUP BY first_day, n
        UNION ALL SELECT 'first', first_day, n, count(*) FROM
            (SELECT actor, first_day, min(n) AS n FROM back GROUP BY actor, first_day) GROUP BY first_day, n"""
    found = query(source, sql, {"app": app_id, "start": start, "end": end})
    return _retention_result(scope, found, days, as_of)


def _retention_result(scope: Scope, found: list[dict], days: int, as_of: date) -> dict:
    sizes = {r["first_day"]: r["actors"] for r in found if r["kind"] == "size"}
    on = {(r["first_day"], r["n"]): r["actors"] for r in found if r["kind"] == "on"}
    first_back = {(r["first_day"], r["n"]): r["actors"] for r in found if r["kind"] == "first"}
    cohorts = []
    for offset in range(scope.days):
        day = scope.start + timedelta(days=offset)
        size, returning, within, running = sizes.get(day, 0), [], [], 0
        for n in range(1, days + 1):
            running += first_back.get((day, n), 0)
            seen = day + timedelta(days=n) <= as_of
            returning.append(on.get((day, n), 0) if seen else None)
            within.append(running if seen else None)
        cohorts.append({"date": day.isoformat(), "size": size, "returning": returning, "within": within})
    rates = []
    for n in sorted({7, 14, 30, days} & set(range(1, days + 1))):
        observed = [c for c in cohorts if c["returning"][n - 1] is not None]
        size = sum(c["size"] for c in observed)
        rates.append({"day": n, "cohort_size": size,
                      "on_day": ratio(sum(c["returning"][n - 1] for c in observed), size),
                      "within": ratio(sum(c["within"][n - 1] for c in observed), size)})
    return {"as_of": as_of.isoformat(), "cohorts": cohorts, "rates": rates}


def dimension_sql(dimension: str) -> tuple[str, bool]:
    """(SQL expression, whether it is a list) for a breakdown dimension name; ValueError if unknown.
    `endpoint_attribute:KEY` reads the custom endpoint attribute KEY (from parameter `$key`)."""
    if dimension.startswith(ENDPOINT_ATTRIBUTE) and len(dimension) > len(ENDPOINT_ATTRIBUTE):
        return "endpoint_attributes[$key]", True
    column = DIMENSIONS.get(dimension.replace("-", "_"))
    if column is None:
        raise ValueError(f"Unknown dimension {dimension!r}: use one of {', '.join(sorted(DIMENSIONS))} "
                         f"or {ENDPOINT_ATTRIBUTE}<key>")
    return column, False


def demographics(source, app_id: str, start: date, end: date, dimension: str, *, by_user: bool = False,
                 tz: str | None = None, limit: int = 100) -> dict:
    """Active actors in [start, end] by the value of an endpoint dimension, most common first."""
    scope = Scope(app_id, start, end, by_user, tz)
    expression, is_list = dimension_sql(dimension)
    value = f"unnest(CASE WHEN len({expression}) > 0 THEN {expression} ELSE [NULL] END)" if is_list else expression
    # The latest event of each endpoint (of each endpoint and user, by user), then its value: taking
    # values along in arg_max would copy every list it passes over.
    key = "hash(endpoint_id, user_id)" if by_user else "hash(endpoint_id)"
    sql = f"""
        WITH latest AS (SELECT arg_max(rowid, event_time) AS row FROM events
                        WHERE app_id = $app AND {scope.in_range()} AND {ACTIVE}
                        GROUP BY {key}),
        vals AS MATERIALIZED (SELECT {scope.actor()} AS actor, {value} AS value
                              FROM events JOIN latest ON events.rowid = latest.row)
        SELECT value, count(DISTINCT actor) AS actors, (SELECT count(DISTINCT actor) FROM vals) AS total,
               count(*) OVER () AS distinct_values
        FROM vals GROUP BY value ORDER BY actors DESC, value NULLS LAST LIMIT {int(limit)}"""
    params = {"app": app_id}
    if is_list:
        params["key"] = dimension[len(ENDPOINT_ATTRIBUTE):]
    found = query(source, sql, params)
    total = found[0]["total"] if found else 0
    return {"dimension": dimension, "total": total, "distinct_values": found[0]["distinct_values"] if found else 0,
            "values": [{"value": r["value"], "count": r["actors"], "share": ratio(r["actors"], total)}
                       for r in found]}
