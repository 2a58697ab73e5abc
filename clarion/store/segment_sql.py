"""Compile a segment plan (`domain.segments`) to a SQL condition over one endpoint row.

The condition reads `endpoints` (its JSON `doc`, `channel_type`, `last_active`,
`effective_date`) and the user's attributes through an outer join on `users`; the two dialects
differ only in how JSON is taken apart, which is all this module knows about them.

On SQLite, the document's fields are read in the shape of `schema.endpoints_for_segments`'s
expressions (a metric is `json_extract(json_extract(doc, '$."Metrics"'), '$."visits"')`), so
that SQLite takes them from that index instead of parsing the document: a condition that
reads only what the index holds (`index_covers`) never touches a row.
"""

from __future__ import annotations

import re

from sqlalchemy import (Float, String, Text, and_, case, cast, exists, false, func, literal, not_, or_, select, true,
                        type_coerce)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.sql import ColumnElement

from ..domain import segments as seg
from .schema import SEGMENT_FIELDS, SQLITE_ELIGIBLE, endpoints, segment_members, sqlite_json, sqlite_json_path, users

EARTH_RADIUS_KM = 6371.0088
PREFILTER_VALUES = 4  # a text search per value: beyond four, parsing the JSON once costs less
PLAIN = re.compile(r"[A-Za-z0-9 _.,:;!?()@#$%*+=~|-]*")  # characters JSON encoders write as they are
KEY = re.compile(r"[A-Za-z0-9 _.;!?()@#$%*+=~|-]+")  # PLAIN less `,` and `:`, which end JSON members and keys


class Compiler:
    def __init__(self, dialect: str):
        self.pg = dialect == "postgresql"

    def condition(self, node) -> ColumnElement:
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    # -- combinators -------------------------------------------------------------------------

    def _All(self, node: seg.All) -> ColumnElement:
        return and_(true(), *[self.condition(p) for p in node.parts])

    def _Any(self, node: seg.Any) -> ColumnElement:
        return or_(false(), *[self.condition(p) for p in node.parts])

    def _Not(self, node: seg.Not) -> ColumnElement:
        # NULL-safe: an endpoint lacking the field is "not in" the set.
        return not_(func.coalesce(self.condition(node.part), false()))

    # -- leaves ------------------------------------------------------------------------------

    def _FieldIn(self, node: seg.FieldIn) -> ColumnElement:
        if node.path == ("ChannelType",):  # the column the endpoint writer keeps equal to it
            return endpoints.c.channel_type.in_(node.values)
        return self._text(endpoints.c.doc, node.path).in_(node.values)

    def _AttributeTest(self, node: seg.AttributeTest) -> ColumnElement:
        if node.op == "INCLUSIVE" and self.pg:
            return self._pg_has_any(node)
        values = self._elements(node)
        value = values.c.value
        if node.op == "INCLUSIVE":
            test = value.in_(node.values)
        elif node.op == "CONTAINS":  # case-sensitive substring, as Pinpoint documents
            fn = func.strpos if self.pg else func.instr
            test = or_(*[fn(value, v) > 0 for v in node.values])
        else:
            test = self._date_test(value, node.op, node.values)
        found = exists(select(literal(1)).select_from(values).where(test))
        if self.pg or node.op not in ("INCLUSIVE", "CONTAINS") or len(node.values) > PREFILTER_VALUES:
            return found
        return and_(self._may_hold(node), found)

    def _MetricTest(self, node: seg.MetricTest) -> ColumnElement:
        if self.pg or not KEY.fullmatch(node.name):
            metric = cast(self._text(endpoints.c.doc, ("Metrics", node.name)), Float)
        else:
            metric = _sqlite_number(SEGMENT_FIELDS["Metrics",], node.name)
        return {
            "GREATER_THAN": metric > node.value,
            "LESS_THAN": metric < node.value,
            "GREATER_THAN_OR_EQUAL": metric >= node.value,
            "LESS_THAN_OR_EQUAL": metric <= node.value,
            "EQUAL": metric == node.value,
        }[node.op]

    def _ActiveSince(self, node: seg.ActiveSince) -> ColumnElement:
        last = case((endpoints.c.last_active > endpoints.c.effective_date, endpoints.c.last_active),
                    else_=endpoints.c.effective_date)
        return last >= node.since

    def _WithinKm(self, node: seg.WithinKm) -> ColumnElement:
        lat = cast(self._text(endpoints.c.doc, ("Location", "Latitude")), Float)
        lon = cast(self._text(endpoints.c.doc, ("Location", "Longitude")), Float)
        # Haversine great-circle distance, after a cheap bounding-box test on latitude.
        dlat = func.radians(lat - node.latitude)
        dlon = func.radians(lon - node.longitude)
        a = (func.power(func.sin(dlat / 2), 2) + func.cos(func.radians(node.latitude)) * func.cos(func.radians(lat))
             * func.power(func.sin(dlon / 2), 2))
        distance = 2 * EARTH_RADIUS_KM * func.asin(func.sqrt(func.min(a, 1.0) if not self.pg else func.least(a, 1.0)))
        box = node.km / 111.0 + 0.1
        return and_(lat.is_not(None), lat.between(node.latitude - box, node.latitude + box), distance <= node.km)

    def _Imported(self, node: seg.Imported) -> ColumnElement:
        return exists(select(literal(1)).where(
            segment_members.c.app_id == endpoints.c.app_id,
            segment_members.c.segment_id == node.segment_id,
            segment_members.c.endpoint_key == endpoints.c.endpoint_key))

    def eligible(self) -> ColumnElement:
        """The endpoint can be sent to: active and not opted out."""
        if not self.pg:
            return SQLITE_ELIGIBLE == 1  # the same test, as the index holds it
        status = self._text(endpoints.c.doc, ("EndpointStatus",))
        opt_out = self._text(endpoints.c.doc, ("OptOut",))
        return and_(func.coalesce(status, "ACTIVE") == "ACTIVE", func.coalesce(opt_out, "NONE") != "ALL")

    # -- JSON, per dialect -----------------------------------------------------------------

    def _text(self, column, path: tuple[str, ...]) -> ColumnElement:
        """The scalar at `path` in a JSON column, as text (SQLite keeps numbers numeric)."""
        if self.pg:
            return func.jsonb_extract_path_text(column, *path)
        if column is endpoints.c.doc:
            return _sqlite_doc(path)
        return sqlite_json(column, *path)

    def _attribute_path(self, node: seg.AttributeTest) -> tuple:
        if node.source == "user":
            return users.c.attributes, (node.name,)
        if self.pg:
            return endpoints.c.doc, ("Attributes", node.name)
        return SEGMENT_FIELDS["Attributes",], (node.name,)

    def _elements(self, node: seg.AttributeTest):
        """A table of the attribute's values (`value`), for EXISTS subqueries."""
        column, path = self._attribute_path(node)
        if self.pg:
            array = func.jsonb_extract_path(column, *path)
            array = case((func.jsonb_typeof(array) == "array", array), else_=cast(literal("[]"), JSONB))
            return func.jsonb_array_elements_text(array).table_valued("value").alias()
        return func.json_each(column, sqlite_json_path(*path)).table_valued("value").alias()

    def _may_hold(self, node: seg.AttributeTest) -> ColumnElement:
        """SQLite: a cheap necessary condition for an INCLUSIVE or CONTAINS test, read on the
        JSON text of the object holding the attribute: a string equal to a value appears in it
        as `"value"` (one containing it, as `value`). It spares most endpoints the JSON parsing
        of the exact test that follows.

        JSON lets a writer escape any character (`\\u0073` for `s`), but no encoder escapes
        letters, digits or the like (PLAIN): only a value with another character needs the
        text to be searched for a backslash too, and then any escaped text passes."""
        text = type_coerce(self._attribute_path(node)[0], Text)
        needles = [f'"{v}"' if node.op == "INCLUSIVE" else v for v in node.values]
        if not all(PLAIN.fullmatch(v) for v in node.values):
            needles.append("\\")
        return or_(*[func.instr(text, literal(n, Text)) > 0 for n in needles])

    def _pg_has_any(self, node: seg.AttributeTest) -> ColumnElement:
        """INCLUSIVE on PostgreSQL: `?|` tests an array's string elements in place, several
        times cheaper than unnesting it in a subquery for every endpoint."""
        column, path = self._attribute_path(node)
        array = func.jsonb_extract_path(column, *path)
        listed = literal(list(node.values), ARRAY(String))
        return and_(func.jsonb_typeof(array) == "array", array.op("?|")(listed))

    def _date_test(self, value, op: str, bounds: tuple[str, ...]) -> ColumnElement:
        if self.pg:
            # Only strings that look like dates are cast: a bad cast would fail the whole query.
            moment = case((value.op("~")(r"^\d{4}-\d{2}-\d{2}"), cast(value, TIMESTAMP(timezone=True))), else_=None)
            bound = [cast(literal(b), TIMESTAMP(timezone=True)) for b in bounds]
            day = lambda x: func.date(func.timezone("UTC", x))  # noqa: E731
        else:
            moment = func.julianday(value)
            bound = [func.julianday(b) for b in bounds]
            day = func.date
        if op == "BEFORE":
            return moment < bound[0]
        if op == "AFTER":
            return moment > bound[0]
        if op == "BETWEEN":
            return and_(moment >= bound[0], moment <= bound[1])
        if self.pg:  # ON: the same calendar day (UTC), time ignored
            return day(moment) == day(bound[0])
        return day(value) == day(bounds[0])


def _sqlite_doc(path: tuple[str, ...]) -> ColumnElement:
    """The field at `path` of an endpoint document, through the index's expressions when it has
    them: a field of Attributes or Metrics is read from that object's JSON text."""
    if path in SEGMENT_FIELDS:
        return SEGMENT_FIELDS[path]
    if path[0] in ("Attributes", "Metrics") and len(path) > 1:
        return sqlite_json(SEGMENT_FIELDS[path[:1]], *path[1:])
    return sqlite_json(endpoints.c.doc, *path)


def _sqlite_number(members, name: str) -> ColumnElement:
    """SQLite: the number at key `name` of an object of numbers held as JSON text (Metrics, as
    the index holds it), read by a text search: parsing the JSON costs several times more, and
    a segment count does it for every endpoint that passes its other tests.

    `json_extract` renders an object without spaces, so a member starts right after `{` or `,`.
    Neither can come just before a key's opening quote other than at a member's start: a
    quote inside a JSON string is escaped, and a key with no `,` or `:` in it (KEY) cannot
    continue past a closing one. So `{"name":` or `,"name":` marks that key, and CAST reads the
    number written after it, up to the `,` or `}` that follows. A missing key gives NULL, as
    `json_extract` would (the writer keeps no null metric)."""
    at = [func.nullif(func.instr(members, literal(f'{start}"{name}":', Text)), 0) for start in "{,"]
    return cast(func.substr(members, func.coalesce(*at) + (len(name) + 4)), Float)


def index_covers(node) -> bool:
    """Whether the condition reads only fields that `endpoints_for_segments` holds."""
    if isinstance(node, (seg.All, seg.Any)):
        return all(index_covers(p) for p in node.parts)
    if isinstance(node, seg.Not):
        return index_covers(node.part)
    if isinstance(node, seg.FieldIn):
        return node.path in SEGMENT_FIELDS or node.path == ("ChannelType",)
    if isinstance(node, seg.AttributeTest):
        return node.source == "endpoint"
    return isinstance(node, seg.MetricTest)


def audience_from(plan=None):
    """endpoints LEFT JOIN users: the FROM clause every compiled condition expects. Given the
    plan, just `endpoints` when nothing in it reads user attributes (a count then skips a
    lookup per member)."""
    if plan is not None and not reads_users(plan):
        return endpoints
    return endpoints.outerjoin(users, and_(users.c.app_id == endpoints.c.app_id,
                                           users.c.user_id == endpoints.c.user_id))


def reads_users(node) -> bool:
    if isinstance(node, (seg.All, seg.Any)):
        return any(reads_users(p) for p in node.parts)
    if isinstance(node, seg.Not):
        return reads_users(node.part)
    return isinstance(node, seg.AttributeTest) and node.source == "user"
