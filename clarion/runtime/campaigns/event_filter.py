"""Does an event match an EVENT campaign's `Schedule.EventFilter.Dimensions` (pure)?

EventDimensions{EventType: SetDimension, Attributes: {name: AttributeDimension}, Metrics:
{name: MetricDimension}}, every part must hold (reference §4.5):
- EventType INCLUSIVE: the type is one of Values; EXCLUSIVE: it is none of them.
- An attribute INCLUSIVE: its value is one of Values (values are OR-ed); EXCLUSIVE: it is none
  of them (an event without the attribute passes); CONTAINS: the value contains one of Values;
  BEFORE / AFTER / ON / BETWEEN: the value is an ISO-8601 date-time compared with Values
  (BETWEEN takes two). An event without the attribute fails all but EXCLUSIVE.
- A metric: `value <op> Value` with GREATER_THAN, LESS_THAN, GREATER_THAN_OR_EQUAL,
  LESS_THAN_OR_EQUAL or EQUAL; an event without the metric fails.
"""

from __future__ import annotations

import operator
from datetime import datetime, timezone

COMPARISONS = {"GREATER_THAN": operator.gt, "LESS_THAN": operator.lt, "GREATER_THAN_OR_EQUAL": operator.ge,
               "LESS_THAN_OR_EQUAL": operator.le, "EQUAL": operator.eq}


def event_types(dimensions: dict) -> tuple[str, frozenset] | None:
    """("INCLUSIVE" | "EXCLUSIVE", the types) of the filter's EventType, None when it has none."""
    event_type = (dimensions or {}).get("EventType")
    if not event_type or not event_type.get("Values"):
        return None
    return event_type.get("DimensionType") or "INCLUSIVE", frozenset(event_type["Values"])


def matches(dimensions: dict, event_type: str, attributes: dict | None, metrics: dict | None) -> bool:
    dimensions = dimensions or {}
    types = event_types(dimensions)
    if types is not None and (event_type in types[1]) != (types[0] == "INCLUSIVE"):
        return False
    attributes, metrics = attributes or {}, metrics or {}
    for name, dimension in (dimensions.get("Attributes") or {}).items():
        if not _attribute_matches(dimension, attributes.get(name)):
            return False
    for name, dimension in (dimensions.get("Metrics") or {}).items():
        value = metrics.get(name)
        compare = COMPARISONS.get(dimension.get("ComparisonOperator"))
        if value is None or compare is None or not compare(float(value), float(dimension["Value"])):
            return False
    return True


def _attribute_matches(dimension: dict, value: str | None) -> bool:
    kind = dimension.get("AttributeType") or "INCLUSIVE"
    values = dimension.get("Values") or []
    if kind == "EXCLUSIVE":
        return value is None or value not in values
    if value is None:
        return False
    if kind == "INCLUSIVE":
        return value in values
    if kind == "CONTAINS":
        return any(v in value for v in values)
    return _date_matches(kind, value, values)


def _date_matches(kind: str, value: str, values: list[str]) -> bool:
    try:
        moment = _instant(value)
        bounds = [_instant(v) for v in values]
    except ValueError:
        return False
    if not bounds:
        return False
    if kind == "BEFORE":
        return moment < bounds[0]
    if kind == "AFTER":
        return moment > bounds[0]
    if kind == "ON":
        return moment.date() == bounds[0].date()
    if kind == "BETWEEN" and len(bounds) == 2:
        return bounds[0] <= moment <= bounds[1]
    return False


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
