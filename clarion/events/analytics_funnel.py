"""Funnels: ordered steps within a conversion window, conversion per step, optional breakdown.

Definitions:

- A step is an event type, optionally with attribute filters ({key: value or [values]}).
- An actor *enters* the funnel with any event matching step 1 whose time falls in the range.
  From an entry at time T, step k+1 is the first event matching it at or after step k's event
  (strictly after when both steps have the same event type, so one event never fills two steps),
  and it counts only if it happened by T + `window`. Later steps may fall after the range's end
  (still within the window). Events of different types with equal timestamps may fill
  consecutive steps.
- An actor's depth is the most steps it completed from any of its entries; `count` of step k is
  the number of actors whose depth is at least k. `rate` = count / count of step 1; `step_rate`
  = count / count of the previous step.
- With a `breakdown`, each actor counts once, under the value read on the entry event of its
  deepest chain (the latest entry when several reach the same depth): an endpoint dimension, an
  event attribute `attribute:KEY`, or a custom endpoint attribute `endpoint_attribute:KEY` (an
  actor counts under each value of the list). So the values' counts add up to the total (except
  for list attributes).

In SQL: greedy matching (the first next-step event after the previous one) gives the deepest
chain from a given entry, found with one ASOF join per step. Of two entries that lead to the
same step-2 event the later one is always at least as deep, so only it is kept (`_first_step`).
"""

from __future__ import annotations

from datetime import date, timedelta

from .analytics_base import Scope, query, ratio, ts
from .analytics_events import attribute_filter
from .analytics_users import DIMENSIONS, ENDPOINT_ATTRIBUTE

EVENT_ATTRIBUTE = "attribute:"
MAX_STEPS = 20


def normalize_steps(steps: list) -> list[dict]:
    """Steps as [{"event_type": str, "attributes": {key: [values]}}]; ValueError when malformed."""
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_STEPS:
        raise ValueError(f"A funnel needs between 2 and {MAX_STEPS} steps")
    normalized = []
    for i, step in enumerate(steps, 1):
        if isinstance(step, str):
            step = {"event_type": step}
        if not isinstance(step, dict) or not isinstance(step.get("event_type"), str) or not step["event_type"]:
            raise ValueError(f"Step {i} needs an event_type")
        attributes = step.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"Step {i}: attributes must be an object of key -> value or list of values")
        clean = {}
        for key, values in attributes.items():
            values = [values] if isinstance(values, str) else values
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ValueError(f"Step {i}: attribute {key!r} needs a string value or a list of them")
            clean[str(key)] = values
        normalized.append({"event_type": step["event_type"], "attributes": clean})
    return normalized


def _breakdown_sql(breakdown: str | None, params: dict) -> tuple[str, bool]:
    """(SQL of the breakdown value on an event, whether it is a list)."""
    if breakdown is None:
        return "NULL", False
    for prefix, column, is_list in ((EVENT_ATTRIBUTE, "attributes", False),
                                    (ENDPOINT_ATTRIBUTE, "endpoint_attributes", True)):
        if breakdown.startswith(prefix) and len(breakdown) > len(prefix):
            params["bkey"] = breakdown[len(prefix):]
            return f"{column}[$bkey]", is_list
    column = DIMENSIONS.get(breakdown.replace("-", "_"))
    if column is None:
        raise ValueError(f"Unknown breakdown {breakdown!r}: use one of {', '.join(sorted(DIMENSIONS))}, "
                         f"{EVENT_ATTRIBUTE}<key> or {ENDPOINT_ATTRIBUTE}<key>")
    return column, False


def funnel(source, app_id: str, start: date, end: date, steps: list, *, window: timedelta = timedelta(days=7),
           breakdown: str | None = None, by_user: bool = False, tz: str | None = None) -> dict:
    """Conversion through `steps` for actors entering in [start, end]."""
    steps = normalize_steps(steps)
    if window <= timedelta(0):
        raise ValueError("The conversion window must be positive")
    scope = Scope(app_id, start, end, by_user, tz)
    params = {"app": app_id}
    found = query(source, _sql(scope, steps, window, breakdown, params), params)
    result = {"window_seconds": int(window.total_seconds()),
              "steps": _steps(steps, [r for r in found if r["overall"]])}
    if breakdown is not None:
        values = sorted({r["bd"] for r in found if not r["overall"]},
                        key=lambda v: (-_entered(found, v), v is None, v or ""))
        result["breakdown"] = {"dimension": breakdown,
                               "values": [{"value": v, "steps": _steps(steps, [r for r in found if not r["overall"]
                                                                               and r["bd"] == v])}
                                          for v in values]}
    return result


def _sql(scope: Scope, steps: list[dict], window: timedelta, breakdown: str | None, params: dict) -> str:
    lo, hi = scope.bounds()
    w = int(window / timedelta(microseconds=1))
    bits = []
    for i, step in enumerate(steps):
        params[f"t{i}"] = step["event_type"]
        in_range = f" AND event_time < {ts(hi)}" if i == 0 else ""  # entries fall in the range
        bits.append(f"CASE WHEN event_type = $t{i}{attribute_filter(step['attributes'], params, f's{i}')}{in_range} "
                    f"THEN {1 << i} ELSE 0 END")
    value_sql, is_list = _breakdown_sql(breakdown, params)
    actor = scope.actor()  # a 64-bit hash: joins and sorts on integers cost half what strings do
    ctes = [f"""ev AS MATERIALIZED (SELECT * FROM (
            SELECT {actor} AS actor, event_time AS t, {' + '.join(bits)} AS m,
                   {'rowid' if breakdown else 'NULL::BIGINT'} AS entry
            FROM events WHERE app_id = $app AND event_time >= {ts(lo)}
            AND event_time < {ts(hi)} + to_microseconds({w})
            AND event_type IN ({', '.join(f'$t{i}' for i in range(len(steps)))})) WHERE m > 0)""",
            _first_step(steps), *_later_steps(steps, w)]
    last = len(steps) - 1
    finished = [f"SELECT actor, entry, t0, depth FROM j{k} WHERE NOT alive" for k in range(1, last + 1)]
    finished = " UNION ALL ".join(finished + [f"SELECT actor, entry, t0, {len(steps)} FROM a{last}"])
    # An actor's deepest chain, the latest entry among equally deep ones, gives its breakdown value.
    ctes.append(f"""best AS (SELECT actor, max(depth) AS depth,
                           arg_max_null(entry, {{'depth': depth, 't0': t0}}) AS entry
                    FROM ({finished}) GROUP BY actor)""")
    # The breakdown value is read last, on the ~one entry event per actor that won (by row id).
    value = f"unnest(CASE WHEN len({value_sql}) > 0 THEN {value_sql} ELSE [NULL] END)" if is_list else value_sql
    labelled = (f"SELECT best.depth, {value} AS bd FROM best LEFT JOIN events ON events.rowid = best.entry"
                if breakdown else "SELECT depth, NULL AS bd FROM best")
    return f"""WITH {', '.join(ctes)}
        SELECT bd, depth, count(*) AS actors, false AS overall FROM ({labelled}) GROUP BY bd, depth
        UNION ALL SELECT NULL, depth, count(*), true FROM best GROUP BY depth"""


def _later_steps(steps: list[dict], w: int) -> list[str]:
    """CTEs j1..jK-1 (chains with their next step t_k, `alive` when it is within the window) and
    a1..aK-1 (the alive ones). A chain that misses step k+1 is finished with depth k. Alive chains
    that reached the same event keep only the latest entry: the same events lie ahead of them and
    its window ends last, so the others can neither go deeper nor win the breakdown."""
    within = f"t_k IS NOT NULL AND t_k <= t0 + to_microseconds({w})"
    ctes = [f"j1 AS MATERIALIZED (SELECT actor, entry, t0, t1 AS t_k, {within} AS alive, 1 AS depth FROM p1)",
            "a1 AS (SELECT actor, entry, t0, t_k FROM j1 WHERE alive)"]
    for k in range(2, len(steps)):
        op = "<" if steps[k]["event_type"] == steps[k - 1]["event_type"] else "<="
        ctes.append(f"""j{k} AS MATERIALIZED (SELECT *, {within} AS alive, {k} AS depth FROM (
                            SELECT p.actor, p.entry, p.t0, s.t AS t_k FROM a{k - 1} p ASOF LEFT JOIN
                            (SELECT actor, t FROM ev WHERE m & {1 << k} > 0) s
                            ON p.actor = s.actor AND p.t_k {op} s.t))""")
        ctes.append(f"""a{k} AS (SELECT actor, arg_max_null(entry, t0) AS entry, max(t0) AS t0, t_k
                       FROM j{k} WHERE alive GROUP BY actor, t_k)""")
    return ctes


def _first_step(steps: list[dict]) -> str:
    """CTE p1: entries (t0) with the first step-2 event after them (t1), keeping of the entries
    that lead to the same step-2 event only the latest (it is at least as deep as the others).

    With different event types, that is one pass in time order over the rows of steps 1 and 2:
    an entry is kept when the next row is a step-2 row (its t1) or there is none; equal times
    sort step-1 rows first, so a step 2 at the very time of the entry counts. With the same type
    an event cannot fill both steps, so an ASOF join finds the next, strictly later, one."""
    if steps[0]["event_type"] != steps[1]["event_type"]:
        # One sort key per row, time then 1 (step 1) or 2 (step 2), and one lead: half the work of
        # ordering by two columns and leading two.
        return """p1 AS (SELECT actor, entry, make_timestamp(k // 4) AS t0,
                            CASE WHEN next_k % 4 = 2 THEN make_timestamp(next_k // 4) END AS t1 FROM (
                     SELECT actor, entry, k, lead(k) OVER (PARTITION BY actor ORDER BY k) AS next_k
                     FROM (SELECT actor, entry, epoch_us(t) * 4 + (m & 3) AS k FROM ev WHERE m & 3 > 0))
                  WHERE k % 4 = 1 AND (next_k IS NULL OR next_k % 4 = 2))"""
    return """p1 AS (SELECT actor, arg_max_null(entry, t0) AS entry, max(t0) AS t0, t1 FROM (
                 SELECT p.actor, p.entry, p.t AS t0, s.t AS t1 FROM (SELECT actor, entry, t FROM ev WHERE m & 1 > 0) p
                 ASOF LEFT JOIN (SELECT actor, t FROM ev WHERE m & 2 > 0) s ON p.actor = s.actor AND p.t < s.t)
              GROUP BY actor, t1)"""


def _entered(found: list[dict], value) -> int:
    return sum(r["actors"] for r in found if not r["overall"] and r["bd"] == value)


def _steps(steps: list[dict], chosen: list[dict]) -> list[dict]:
    """Per step: actors whose depth reaches it, and the rates."""
    result, first, previous = [], None, None
    for k, step in enumerate(steps, 1):
        count = sum(r["actors"] for r in chosen if r["depth"] >= k)
        first = count if first is None else first
        result.append({"step": k, "event_type": step["event_type"], "attributes": step["attributes"],
                       "count": count, "rate": ratio(count, first),
                       "step_rate": ratio(count, count if previous is None else previous)})
        previous = count
    return result
