"""Segment semantics -> a query plan (pure: no I/O, the clock and segment lookup passed in).

A plan is a small tree of predicates over one endpoint (its document, its user's attributes
and its last activity). `store.segment_sql` compiles it to SQL for SQLite or PostgreSQL, so
an audience is always filtered by the database, never in Python.

Semantics follow reference §3: all dimensions of one SegmentDimensions must match (AND);
a group's dimensions combine by its `Type` (ALL = AND, ANY = OR, NONE = NOR); its base
population is its SourceSegments combined by `SourceType` (none: every endpoint of the app);
groups combine by `Include`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import iso, parse_iso


class SegmentError(ValueError):
    """A segment definition that cannot be evaluated; the message is for the API caller."""


@dataclass(frozen=True)
class All:
    parts: tuple


@dataclass(frozen=True)
class Any:
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


@dataclass(frozen=True)
class FieldIn:
    """A scalar field of the endpoint document (a dotted path) is one of `values`."""

    path: tuple[str, ...]
    values: tuple[str, ...]


@dataclass(frozen=True)
class AttributeTest:
    """A multi-valued custom attribute: `source` is "endpoint" (Attributes) or "user"."""

    source: str
    name: str
    op: str  # INCLUSIVE | CONTAINS | BEFORE | AFTER | ON | BETWEEN
    values: tuple[str, ...]


@dataclass(frozen=True)
class MetricTest:
    name: str
    op: str  # GREATER_THAN | LESS_THAN | GREATER_THAN_OR_EQUAL | LESS_THAN_OR_EQUAL | EQUAL
    value: float


@dataclass(frozen=True)
class ActiveSince:
    """Last activity (max of the last event and the last update) at or after `since`."""

    since: str


@dataclass(frozen=True)
class WithinKm:
    latitude: float
    longitude: float
    km: float


@dataclass(frozen=True)
class Imported:
    """Membership of an imported segment (its rows in the store)."""

    segment_id: str


EVERYONE = All(())

# Demographic dimension -> the endpoint field it compares with. DeviceType has no endpoint
# field in Pinpoint's model; Clarion compares it with Demographic.Model (docs/decisions.md).
DEMOGRAPHIC_FIELDS = {
    "AppVersion": ("Demographic", "AppVersion"),
    "Channel": ("ChannelType",),
    "DeviceType": ("Demographic", "Model"),
    "Make": ("Demographic", "Make"),
    "Model": ("Demographic", "Model"),
    "Platform": ("Demographic", "Platform"),
}
RECENCY = {"HR_24": timedelta(hours=24), "DAY_7": timedelta(days=7), "DAY_14": timedelta(days=14),
           "DAY_30": timedelta(days=30)}
METRIC_OPERATORS = {"GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"}
DATE_OPERATORS = {"BEFORE", "AFTER", "ON", "BETWEEN"}
MAX_DIMENSIONS = 100
MAX_GROUPS = 2

# (segment id, version or None) -> the SegmentResponse document of that version, or None.
SegmentLookup = Callable[[str, "int | None"], "dict | None"]


def plan(segment: dict, now: datetime, lookup: SegmentLookup, _seen: frozenset = frozenset()) -> object:
    """The predicate selecting the segment's endpoints."""
    if segment.get("SegmentType") == "IMPORT":
        return Imported(segment["Id"])
    if segment.get("SegmentGroups"):
        return _groups(segment["SegmentGroups"], now, lookup, _seen | {segment.get("Id")})
    return dimensions(segment.get("Dimensions") or {}, now)


def _groups(group_list: dict, now: datetime, lookup: SegmentLookup, seen: frozenset) -> object:
    groups = [_group(g, now, lookup, seen) for g in group_list.get("Groups") or []]
    return combine(group_list.get("Include") or "ALL", groups)


def _group(group: dict, now: datetime, lookup: SegmentLookup, seen: frozenset) -> object:
    sources = []
    for ref in group.get("SourceSegments") or []:
        if ref["Id"] in seen:
            raise SegmentError(f"Segment {ref['Id']} refers to itself through its source segments")
        source = lookup(ref["Id"], ref.get("Version"))
        if source is None:
            version = f" version {ref['Version']}" if ref.get("Version") else ""
            raise SegmentError(f"Source segment {ref['Id']}{version} not found")
        sources.append(plan(source, now, lookup, seen))
    base = combine(group.get("SourceType") or "ANY", sources) if sources else EVERYONE
    filters = [dimensions(d, now) for d in group.get("Dimensions") or []]
    return _and(base, combine(group.get("Type") or "ALL", filters)) if filters else base


def combine(how: str, parts: list) -> object:
    if how == "ALL":
        return All(tuple(parts))
    if how == "ANY":
        return Any(tuple(parts)) if parts else EVERYONE
    return Not(Any(tuple(parts))) if parts else EVERYONE  # NONE: none of them


def _and(*parts) -> object:
    return All(tuple(p for p in parts if p != EVERYONE))


def dimensions(dims: dict, now: datetime) -> object:
    """One SegmentDimensions object: every dimension in it must match."""
    parts = []
    for name, dim in (dims.get("Demographic") or {}).items():
        parts.append(_set(DEMOGRAPHIC_FIELDS[name], dim))
    location = dims.get("Location") or {}
    if location.get("Country"):
        parts.append(_set(("Location", "Country"), location["Country"]))
    if location.get("GPSPoint"):
        gps = location["GPSPoint"]
        km = gps.get("RangeInKilometers", 100.0)  # Pinpoint's console default radius
        if km <= 0:
            raise SegmentError("GPSPoint.RangeInKilometers must be greater than 0")
        parts.append(WithinKm(gps["Coordinates"]["Latitude"], gps["Coordinates"]["Longitude"], km))
    recency = (dims.get("Behavior") or {}).get("Recency")
    if recency:
        active = ActiveSince(iso(now - RECENCY[recency["Duration"]]))
        parts.append(active if recency["RecencyType"] == "ACTIVE" else Not(active))
    for source, key in (("endpoint", "Attributes"), ("user", "UserAttributes")):
        for name, dim in (dims.get(key) or {}).items():
            parts.append(_attribute(source, name, dim))
    for name, dim in (dims.get("Metrics") or {}).items():
        op = dim["ComparisonOperator"]
        if op not in METRIC_OPERATORS:
            raise SegmentError(f"Invalid ComparisonOperator '{op}' for metric {name}: "
                               f"expected one of {', '.join(sorted(METRIC_OPERATORS))}")
        parts.append(MetricTest(name, op, float(dim["Value"])))
    return All(tuple(parts))


def _set(path: tuple[str, ...], dim: dict) -> object:
    test = FieldIn(path, tuple(dim["Values"]))
    return Not(test) if dim.get("DimensionType") == "EXCLUSIVE" else test


def _attribute(source: str, name: str, dim: dict) -> object:
    op = dim.get("AttributeType") or "INCLUSIVE"
    values = tuple(dim["Values"])
    if op in DATE_OPERATORS:
        expected = 2 if op == "BETWEEN" else 1
        if len(values) != expected:
            raise SegmentError(f"{op} on attribute {name} takes {expected} value(s), got {len(values)}")
        try:
            values = tuple(iso(parse_iso(v)) for v in values)
        except ValueError:
            raise SegmentError(f"{op} on attribute {name} needs ISO-8601 date-times, got {list(values)}") from None
    if op == "EXCLUSIVE":
        return Not(AttributeTest(source, name, "INCLUSIVE", values))
    return AttributeTest(source, name, op, values)


def count_dimensions(segment: dict) -> int:
    """How many dimensions a definition uses (Pinpoint allows 100 per segment)."""
    def one(dims: dict) -> int:
        n = sum(len(dims.get(k) or {}) for k in ("Demographic", "Location", "Attributes", "UserAttributes",
                                                    "Metrics"))
        return n + (1 if (dims.get("Behavior") or {}).get("Recency") else 0)

    total = one(segment.get("Dimensions") or {})
    for group in (segment.get("SegmentGroups") or {}).get("Groups") or []:
        total += sum(one(d) for d in group.get("Dimensions") or [])
    return total


def validate_definition(request: dict) -> None:
    """Rules the model cannot express, checked before anything is stored."""
    if request.get("Dimensions") and request.get("SegmentGroups"):
        raise SegmentError("A segment can have Dimensions or SegmentGroups, not both")
    groups = (request.get("SegmentGroups") or {}).get("Groups") or []
    if len(groups) > MAX_GROUPS:
        raise SegmentError(f"A segment can have at most {MAX_GROUPS} segment groups")
    if count_dimensions(request) > MAX_DIMENSIONS:
        raise SegmentError(f"A segment can have at most {MAX_DIMENSIONS} dimensions")
    # Evaluate with a lookup that accepts any source, to surface dimension errors now.
    plan({"Dimensions": request.get("Dimensions"), "SegmentGroups": request.get("SegmentGroups")},
         datetime.fromtimestamp(0).astimezone(), lambda _id, _v: {"Dimensions": {}})
