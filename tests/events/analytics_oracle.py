"""Independent answers to the product analytics, computed plainly in Python over a list of events.

Nothing here calls Clarion's analytics: each function restates a definition from
docs/extensions.md directly (sets, loops, zoneinfo), so a test comparing both catches a query
that drifts from its definition.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SERVICE_PREFIXES = ("_email.", "_SMS.", "_sms.", "_voice.", "_custom.", "_push.")
SERVICE_TYPES = {"_campaign.send", "_journey.send"}
DIMENSION_COLUMNS = {"platform": "platform", "os_version": "platform_version", "model": "model",
                     "app_version": "app_version", "country": "country", "locale": "locale", "make": "make"}


def is_activity(e: dict) -> bool:
    return not (e["event_type"].startswith(SERVICE_PREFIXES) or e["event_type"] in SERVICE_TYPES)


def local_day(moment: datetime, tz: str | None) -> date:
    if tz is None:
        return moment.date()
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)).date()


def actor(e: dict, by_user: bool):
    if by_user and e["user_id"] is not None:
        return ("user", e["user_id"])
    return ("endpoint", e["endpoint_id"])


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def activity(events, by_user=False, tz=None, until: date | None = None) -> set:
    """{(actor, day)} for every app-activity event up to `until` (inclusive)."""
    pairs = set()
    for e in events:
        if is_activity(e):
            day = local_day(e["event_time"], tz)
            if until is None or day <= until:
                pairs.add((actor(e, by_user), day))
    return pairs


def active_users(events, start, end, by_user=False, tz=None) -> list[dict]:
    pairs = activity(events, by_user, tz, until=end)
    first = {}
    for who, day in pairs:
        first[who] = min(day, first.get(who, day))
    result = []
    for d in days(start, end):
        def active_within(n):
            return len({who for who, day in pairs if d - timedelta(days=n - 1) <= day <= d})
        result.append({"date": d.isoformat(), "dau": active_within(1), "wau": active_within(7),
                       "mau": active_within(30), "new": sum(1 for day in first.values() if day == d)})
    return result


def retention(events, start, end, as_of, max_day=30, by_user=False, tz=None) -> dict:
    pairs = activity(events, by_user, tz, until=as_of)
    first = {}
    for who, day in pairs:
        first[who] = min(day, first.get(who, day))
    cohorts = {}
    for c in days(start, end):
        members = [who for who, day in first.items() if day == c]
        returning, within = [], []
        for n in range(1, max_day + 1):
            if c + timedelta(days=n) > as_of:
                returning.append(None)
                within.append(None)
                continue
            returning.append(sum(1 for who in members if (who, c + timedelta(days=n)) in pairs))
            within.append(sum(1 for who in members
                              if any((who, c + timedelta(days=m)) in pairs for m in range(1, n + 1))))
        cohorts[c.isoformat()] = {"size": len(members), "returning": returning, "within": within}
    return cohorts


def in_range(e, start, end, tz) -> bool:
    return start <= local_day(e["event_time"], tz) <= end


def demographics(events, start, end, dimension, by_user=False, tz=None) -> dict:
    """{value: actors} and the total of actors: each (endpoint, user) pair's value on its latest event."""
    latest = {}  # (endpoint, user) -> the latest event
    for e in events:
        if not is_activity(e) or not in_range(e, start, end, tz):
            continue
        key = (e["endpoint_id"], e["user_id"] if by_user else None)
        if key not in latest or e["event_time"] > latest[key]["event_time"]:
            latest[key] = e
    counts = defaultdict(set)
    for e in latest.values():
        who = actor(e, by_user)
        if dimension.startswith("endpoint_attribute:"):
            value = (e["endpoint_attributes"] or {}).get(dimension.split(":", 1)[1]) or [None]
        else:
            value = [e[DIMENSION_COLUMNS[dimension]]]
        for v in value:
            counts[v].add(who)
    return {"total": len({actor(e, by_user) for e in latest.values()}),
            "values": {v: len(who) for v, who in counts.items()}}


def sessions(events, start, end, by_user=False, tz=None) -> dict:
    """{day: {...}} per day and under None for the whole range."""
    pairs = activity(events, by_user, tz)
    out = {}
    for d in days(start, end) + [None]:
        def inside(day):
            return start <= day <= end if d is None else day == d
        starts = [e for e in events if e["event_type"] == "_session.start" and inside(local_day(e["event_time"], tz))]
        lengths = []
        for e in events:
            if e["event_type"] != "_session.stop":
                continue
            began = local_day(e["session_start"] or e["event_time"], tz)
            if not inside(began):
                continue
            ms = e["session_duration"]
            if ms is None and e["session_stop"] is not None and e["session_start"] is not None:
                ms = (e["session_stop"] - e["session_start"]) // timedelta(milliseconds=1)
            if ms is not None:
                lengths.append(ms)
        active = {who for who, day in pairs if inside(day)}
        out[d] = {"sessions": len(starts), "active": len(active),
                  "median": statistics.median(lengths) if lengths else None,
                  "mean": statistics.fmean(lengths) if lengths else None, "measured": len(lengths)}
    return out


def matches(e: dict, attributes: dict | None) -> bool:
    for key, values in (attributes or {}).items():
        values = [values] if isinstance(values, str) else values
        if (e["attributes"] or {}).get(key) not in values:
            return False
    return True


def event_figures(events, start, end, event_type=None, attributes=None, metric=None, by_user=False, tz=None):
    """{(event_type, day or None): figures} where None is the whole range."""
    groups = defaultdict(list)
    for e in events:
        if (event_type is None or e["event_type"] == event_type) and matches(e, attributes):
            day = local_day(e["event_time"], tz)
            if start <= day <= end:
                groups[(e["event_type"], day)].append(e)
                groups[(e["event_type"], None)].append(e)
    out = {}
    for key, group in groups.items():
        figures = {"count": len(group), "uniques": len({actor(e, by_user) for e in group})}
        if metric is not None:
            values = [e for e in group if metric in (e["metrics"] or {})]
            per_session = defaultdict(list)
            for e in values:
                per_session[(e["endpoint_id"], e["session_id"] or e["event_id"])].append(e["metrics"][metric])
            figures["metric"] = {
                "events": len(values), "sum": sum(e["metrics"][metric] for e in values),
                "min": min((e["metrics"][metric] for e in values), default=None),
                "max": max((e["metrics"][metric] for e in values), default=None),
                "mean": statistics.fmean([e["metrics"][metric] for e in values]) if values else None,
                "session_mean": statistics.fmean([statistics.fmean(v) for v in per_session.values()])
                if per_session else None}
        out[key] = figures
    return out


def funnel(events, start, end, steps, window: timedelta, breakdown=None, by_user=False, tz=None):
    """({depth: actors}, {value: {depth: actors}}): each actor's deepest chain over its entries."""
    def step_matches(e, step):
        return e["event_type"] == step["event_type"] and matches(e, step.get("attributes"))

    per_actor = defaultdict(list)
    for e in events:
        if any(step_matches(e, s) for s in steps):
            per_actor[actor(e, by_user)].append(e)
    overall, by_value = defaultdict(int), defaultdict(lambda: defaultdict(int))
    for who, evs in per_actor.items():
        best = None  # (depth, entry time, entry event)
        for entry in evs:
            if not step_matches(entry, steps[0]) or not in_range(entry, start, end, tz):
                continue
            depth, at = 1, entry["event_time"]
            for k in range(1, len(steps)):
                same_type = steps[k]["event_type"] == steps[k - 1]["event_type"]
                later = [e["event_time"] for e in evs if step_matches(e, steps[k])
                         and (e["event_time"] > at if same_type else e["event_time"] >= at)]
                if not later:
                    break
                at = min(later)
                if at > entry["event_time"] + window:
                    break
                depth += 1
            if best is None or (depth, entry["event_time"]) > best[:2]:
                best = (depth, entry["event_time"], entry)
        if best is None:
            continue
        overall[best[0]] += 1
        if breakdown is not None:
            value = breakdown_value(best[2], breakdown)
            for v in value if isinstance(value, list) and value else [None] if isinstance(value, list) else [value]:
                by_value[v][best[0]] += 1
    return dict(overall), {v: dict(d) for v, d in by_value.items()}


def breakdown_value(e, breakdown):
    if breakdown.startswith("attribute:"):
        return (e["attributes"] or {}).get(breakdown.split(":", 1)[1])
    if breakdown.startswith("endpoint_attribute:"):
        return (e["endpoint_attributes"] or {}).get(breakdown.split(":", 1)[1])
    return e[DIMENSION_COLUMNS[breakdown]]


def reaching(depths: dict, steps: int) -> list[int]:
    """Actors reaching each step, from {depth: actors}."""
    return [sum(n for depth, n in depths.items() if depth >= k) for k in range(1, steps + 1)]


def revenue(events, start, end, currency=None, by_user=False, tz=None) -> dict:
    pairs = activity(events, by_user, tz)
    out = {}
    for d in days(start, end) + [None]:
        def inside(day):
            return start <= day <= end if d is None else day == d
        buys = [e for e in events if e["event_type"] == "_monetization.purchase"
                and inside(local_day(e["event_time"], tz))
                and (currency is None or (e["attributes"] or {}).get("_currency") == currency)]
        total = 0.0
        units = 0.0
        for e in buys:
            quantity = (e["metrics"] or {}).get("_quantity", 1.0)
            total += (e["metrics"] or {}).get("_item_price", 0.0) * quantity
            units += quantity
        out[d] = {"revenue": total, "purchases": len(buys), "units": units,
                  "paying": len({actor(e, by_user) for e in buys}),
                  "active": len({who for who, day in pairs if inside(day)})}
    return out
