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
  deepest chain (the latest entry when several reach the same depth; the first by event id when
  several entries share that time): an endpoint dimension, an event attribute `attribute:KEY`,
  or a custom endpoint attribute `endpoint_attribute:KEY` (an actor counts under each value of
  the list). So the values' counts add up to the total (except for list attributes).

In SQL: greedy matching (the first next-step event after the previous one) gives the deepest
chain from a given entry. The chains of an actor advance together, one step at a time: each step
is one pass, in time order, over the chain heads and that step's events (`_advance`); a head
whose next row is the step's event moves on to it, one whose next row is another head is left
behind (the later head has the same events ahead and a later window: it goes at least as deep,
from a later entry), so every step's event carries at most one chain and a pass costs one sort
of the rows it reads, with no join and no grouping. Times are integer microseconds from the
range's start.
"""

from __future__ import annotations

from datetime import date, timedelta

from .analytics_base import Scope, query, ratio, ts
from .analytics_events import attribute_filter
from .analytics_users import DIMENSIONS, ENDPOINT_ATTRIBUTE

EVENT_ATTRIBUTE = "attribute:"
MAX_STEPS = 20
DEPTH_SHIFT = 57  # an actor's best chain as one integer: depth << 57 | t0 (t0 < 2^57 µs, 4,500 years)


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
    types = list(dict.fromkeys(step["event_type"] for step in steps))
    params.update({f"y{j}": event_type for j, event_type in enumerate(types)})
    # actor: a 64-bit hash (sorts on integers cost half what strings do); t: microseconds from lo;
    # m: the steps the event matches, bit i for step i.
    ctes = [f"""ev AS MATERIALIZED (SELECT * FROM (
            SELECT {scope.actor()} AS actor, epoch_us(event_time) - epoch_us({ts(lo)}) AS t,
                   {_step_bits(steps, types, hi, params)} AS m, {'rowid' if breakdown else 'NULL::BIGINT'} AS entry
            FROM events WHERE app_id = $app AND event_time >= {ts(lo)}
            AND event_time < {ts(hi)} + to_microseconds({w})
            AND event_type IN ({', '.join(f'$y{j}' for j in range(len(types)))})) WHERE m > 0)"""]
    for k in range(1, len(steps)):
        ctes += _advance(k, steps[k]["event_type"] == steps[k - 1]["event_type"], w)
    last = len(steps) - 1
    # Per actor its deepest chain, and of those the latest entry (see DEPTH_SHIFT).
    reached = [f"SELECT actor, {k} AS depth, t0 FROM n{k} WHERE NOT alive" for k in range(1, last + 1)]
    reached.append(f"SELECT actor, {len(steps)}, t0 FROM h{last}")
    ctes.append(f"""best AS MATERIALIZED (SELECT actor, max((depth::BIGINT << {DEPTH_SHIFT}) + t0) AS score
                    FROM ({' UNION ALL '.join(reached)}) GROUP BY actor)""")
    overall = (f"SELECT NULL AS bd, score >> {DEPTH_SHIFT} AS depth, count(*) AS actors, true AS overall "
               "FROM best GROUP BY 2")
    if breakdown is None:
        return f"WITH {', '.join(ctes)} {overall}"
    ctes.append(_labelled(breakdown, params))
    return f"""WITH {', '.join(ctes)}
        SELECT bd, depth, count(*) AS actors, false AS overall FROM labelled GROUP BY bd, depth
        UNION ALL {overall}"""


def _step_bits(steps: list[dict], types: list[str], hi, params: dict) -> str:
    """SQL of m: one CASE on the event type, then the attribute filters of that type's steps."""
    cases = []
    for j, event_type in enumerate(types):
        bits = []
        for i, step in enumerate(steps):
            if step["event_type"] != event_type:
                continue
            conditions = attribute_filter(step["attributes"], params, f"s{i}")
            if i == 0:
                conditions += f" AND event_time < {ts(hi)}"  # entries fall in the range
            bits.append(f"CASE WHEN {conditions[len(' AND '):]} THEN {1 << i} ELSE 0 END" if conditions
                        else str(1 << i))
        cases.append(f"WHEN $y{j} THEN {' + '.join(bits)}")
    return f"CASE event_type {' '.join(cases)} ELSE 0 END"


def _advance(k: int, strict: bool, w: int) -> list[str]:
    """CTEs n{k} (the chains that reached step k, each with its next row among the heads and the
    step k+1 events, `alive` when that is a step event within the window) and h{k} (the chains
    that reached step k+1, at its event's time tk).

    One sort key per row: time * 4 + a tag ordering equal times. A step event at the very time of
    the head counts (tag 2 after the head's 1), except when both steps have the same event type
    (tag 1 before the head's 2): then one event never fills both steps."""
    head, step = (2, 1) if strict else (1, 2)
    # The entries (k = 1) are their own t0: not carrying it through the sort saves a tenth of it.
    if k == 1:
        rows, t0 = f"SELECT actor, t * 4 + {head} AS key FROM ev WHERE m & 1 > 0 UNION ALL SELECT actor", "key // 4"
    else:
        rows, t0 = f"SELECT actor, t0, tk * 4 + {head} AS key FROM h{k - 1} UNION ALL SELECT actor, NULL", "t0"
    return [f"""n{k} AS MATERIALIZED (SELECT actor, t0, nxt // 4 <= t0 + {w} AND nxt IS NOT NULL AS alive,
                       nxt // 4 AS tk FROM (
                    SELECT actor, {t0} AS t0, key, lead(key) OVER (PARTITION BY actor ORDER BY key) AS nxt FROM (
                        {rows}, t * 4 + {step} FROM ev WHERE m & {1 << k} > 0))
                 WHERE key % 4 = {head} AND (nxt IS NULL OR nxt % 4 = {step}))""",
            f"h{k} AS (SELECT actor, t0, tk FROM n{k} WHERE alive)"]


def _labelled(breakdown: str, params: dict) -> str:
    """CTE labelled (depth, bd): each actor's breakdown value, read on the entry of its best chain.
    Of several entry events at that very time, the first by event id (the order of the oracle's
    history) gives it."""
    value_sql, is_list = _breakdown_sql(breakdown, params)
    pick = f"""SELECT best.actor, any_value(best.score >> {DEPTH_SHIFT}) AS depth,
                      arg_min_null({value_sql}, events.event_id) AS bd
               FROM best JOIN ev ON ev.actor = best.actor AND ev.t = best.score & {(1 << DEPTH_SHIFT) - 1}
               AND ev.m & 1 > 0
               JOIN events ON events.rowid = ev.entry GROUP BY best.actor"""
    if is_list:
        return f"""labelled AS (SELECT depth, unnest(CASE WHEN len(bd) > 0 THEN bd ELSE [NULL] END) AS bd
                   FROM ({pick}))"""
    return f"labelled AS ({pick})"


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
