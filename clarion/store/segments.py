"""Segments, their versions, and audiences: who is in a segment, counted or read in pages."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Connection, and_, case, delete, func, literal, null, select, type_coerce, union_all, update
from sqlalchemy.types import NullType

from ..domain import segments as seg
from . import pages
from .schema import (SEGMENT_INDEX_OPT_IN, SQLITE_ELIGIBLE, endpoints, segment_members, segment_versions, segments,
                     users)
from .segment_sql import Compiler, audience_from, index_covers


def insert(conn: Connection, doc: dict) -> None:
    conn.execute(segments.insert().values(app_id=doc["ApplicationId"], segment_id=doc["Id"],
                                          created=doc["CreationDate"], version=doc["Version"], doc=doc))
    conn.execute(segment_versions.insert().values(app_id=doc["ApplicationId"], segment_id=doc["Id"],
                                                  version=doc["Version"], doc=doc))


def replace(conn: Connection, doc: dict) -> None:
    """Store a new version and make it the latest."""
    conn.execute(update(segments).where(segments.c.app_id == doc["ApplicationId"], segments.c.segment_id == doc["Id"])
                 .values(version=doc["Version"], doc=doc))
    conn.execute(segment_versions.insert().values(app_id=doc["ApplicationId"], segment_id=doc["Id"],
                                                  version=doc["Version"], doc=doc))


def overwrite(conn: Connection, doc: dict) -> None:
    """Change the current version in place (an import filling in its segment's size)."""
    where = dict(app_id=doc["ApplicationId"], segment_id=doc["Id"])
    conn.execute(update(segments).where(segments.c.app_id == where["app_id"],
                                        segments.c.segment_id == where["segment_id"]).values(doc=doc))
    conn.execute(update(segment_versions).where(
        segment_versions.c.app_id == where["app_id"], segment_versions.c.segment_id == where["segment_id"],
        segment_versions.c.version == doc["Version"]).values(doc=doc))


def get(conn: Connection, app_id: str, segment_id: str, version: int | None = None, *,
        for_update: bool = False) -> dict | None:
    if version is None:
        query = select(segments.c.doc).where(segments.c.app_id == app_id, segments.c.segment_id == segment_id)
        if for_update and conn.dialect.name == "postgresql":
            query = query.with_for_update()
    else:
        query = select(segment_versions.c.doc).where(
            segment_versions.c.app_id == app_id, segment_versions.c.segment_id == segment_id,
            segment_versions.c.version == version)
    return conn.execute(query).scalar()


def page(conn: Connection, app_id: str, limit: int, after: list | None) -> list[dict]:
    return pages.by_creation(conn, segments, segments.c.segment_id, app_id, limit, after)


def versions_page(conn: Connection, app_id: str, segment_id: str, limit: int, after: int | None) -> list[dict]:
    return pages.versions(conn, segment_versions, segment_versions.c.segment_id, app_id, segment_id, limit, after)


def delete_segment(conn: Connection, app_id: str, segment_id: str) -> None:
    for table in (segment_members, segment_versions, segments):
        conn.execute(delete(table).where(table.c.app_id == app_id, table.c.segment_id == segment_id))


# -- audiences ----------------------------------------------------------------------------

def lookup(conn: Connection, app_id: str):
    """A `domain.segments.SegmentLookup` reading this app's segments."""
    return lambda segment_id, version: get(conn, app_id, segment_id, version)


def condition(conn: Connection, app_id: str, plan):
    return and_(endpoints.c.app_id == app_id, Compiler(conn.dialect.name).condition(plan))


def _without_jit(conn: Connection) -> None:
    """PostgreSQL compiles queries it expects to be long (a scan of 1 M rows is) with JIT,
    which takes ~0.2 s and saves nothing on JSON function calls: off for this transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def size(conn: Connection, app_id: str, plan) -> dict:
    """Total members, eligible members (active and opted in) and eligible members per channel."""
    _without_jit(conn)
    if conn.dialect.name == "sqlite" and index_covers(plan):
        rows = _counted_in_index(conn, app_id, plan)
    else:
        rows = _counted(conn, app_id, plan)
    per_channel: dict[str, int] = {}
    for channel, is_eligible, count in rows:
        if is_eligible and count:
            per_channel[channel or "UNKNOWN"] = per_channel.get(channel or "UNKNOWN", 0) + count
    return {"Total": sum(r[2] for r in rows), "Eligible": sum(per_channel.values()),
            "EligibleByChannel": dict(sorted(per_channel.items()))}


def _counted(conn: Connection, app_id: str, plan) -> list:
    """(channel, eligible, count) rows: the members grouped by channel and eligibility."""
    eligible = case((Compiler(conn.dialect.name).eligible(), True), else_=False)
    members = (select(endpoints.c.channel_type.label("channel"), eligible.label("eligible"))
               .select_from(audience_from(plan)).where(condition(conn, app_id, plan)))
    if conn.dialect.name == "sqlite":
        # SQLite 3.40 takes an aggregate's inputs from the table row: grouping in the same query
        # would read every member's document. A limit (-1: none) keeps SQLite from merging this
        # query into the grouping one.
        members = members.limit(-1)
    members = members.subquery("members")
    return conn.execute(select(members.c.channel, members.c.eligible, func.count())
                        .group_by(members.c.channel, members.c.eligible)).all()


def _counted_in_index(conn: Connection, app_id: str, plan) -> list:
    """The same rows on SQLite for a segment that `schema.endpoints_for_segments` covers, read
    from that index alone and without a sort: it leads with channel and eligibility, so one
    count per eligibility, over the app's channels one after the other, seeks within each
    (channel, eligibility) group to what the segment names and groups in index order. (Grouping
    by the eligibility expression instead would read the documents, see `_counted`.)"""
    where = and_(condition(conn, app_id, plan), SEGMENT_INDEX_OPT_IN)
    channels = _channels(conn, app_id)
    counts = []
    for flag in (1, 0):
        group = and_(where, SQLITE_ELIGIBLE == flag)
        if channels:
            counts.append(select(endpoints.c.channel_type, literal(flag), func.count())
                          .where(group, endpoints.c.channel_type.in_(channels)).group_by(endpoints.c.channel_type))
        counts.append(select(null(), literal(flag), func.count()).where(group, endpoints.c.channel_type.is_(None)))
    return conn.execute(union_all(*counts)).all()


def _channels(conn: Connection, app_id: str) -> list[str]:
    """The channel types the app's endpoints have, by one seek of the segment index each."""
    first = select(func.min(endpoints.c.channel_type)).where(endpoints.c.app_id == app_id, SEGMENT_INDEX_OPT_IN)
    found: list[str] = []
    while True:
        channel = conn.execute(first.where(endpoints.c.channel_type > found[-1]) if found else first).scalar()
        if channel is None:
            return found
        found.append(channel)


def endpoint_pages(conn: Connection, app_id: str, plan, *, after: str | None = None, page_size: int = 1000,
                   eligible_only: bool = False) -> Iterator[list[dict]]:
    """The audience's endpoint documents in pages, keyset-ordered by endpoint key. Each page is
    read by separate queries, so a caller can save the last key as a checkpoint and resume there.

    Each query examines at most WINDOW endpoints, a range of the primary key: a page costs the
    endpoints walked to fill it whatever plan the database picks. (PostgreSQL cannot estimate
    JSON filters; left to itself it scans and sorts the whole app for every page.)"""
    _without_jit(conn)
    where = condition(conn, app_id, plan)
    if eligible_only:
        where = and_(where, Compiler(conn.dialect.name).eligible())
    # The JSON columns come raw from the driver and are decoded once each (`_endpoint`):
    # SQLAlchemy's JSON processing and a copy to add the user's attributes cost a campaign as
    # much as the rest of a message's send.
    columns = (endpoints.c.endpoint_key, type_coerce(endpoints.c.doc, NullType()),
               type_coerce(users.c.attributes, NullType()))
    page: list[dict] = []
    while True:
        upto = _window_end(conn, app_id, after)
        query = (select(*columns).select_from(audience_from())
                 .where(where).order_by(endpoints.c.endpoint_key).limit(page_size - len(page)))
        if after is not None:
            query = query.where(endpoints.c.endpoint_key > after)
        if upto is not None:
            query = query.where(endpoints.c.endpoint_key <= upto)
        rows = conn.execute(query).all()
        page += [_endpoint(doc, attributes) for _, doc, attributes in rows]
        if len(page) == page_size:
            yield page
            page, after = [], rows[-1][0]
        elif upto is None:  # the last window: the audience ends here
            if page:
                yield page
            return
        else:
            after = upto


WINDOW = 5_000  # endpoints one audience query may examine


def _window_end(conn: Connection, app_id: str, after: str | None) -> str | None:
    """The key WINDOW endpoints past `after` (None when fewer are left): an index-only walk."""
    query = (select(endpoints.c.endpoint_key).where(endpoints.c.app_id == app_id)
             .order_by(endpoints.c.endpoint_key).offset(WINDOW - 1).limit(1))
    if after is not None:
        query = query.where(endpoints.c.endpoint_key > after)
    return conn.execute(query).scalar()


def plan_for(conn: Connection, app_id: str, segment: dict, now) -> object:
    return seg.plan(segment, now, lookup(conn, app_id))


def _endpoint(doc, attributes) -> dict:
    """The full EndpointResponse from its raw columns (SQLite: JSON text; psycopg: decoded):
    user attributes live with the user, shared by its endpoints."""
    if type(doc) is not dict:
        doc = orjson.loads(doc)
    if attributes is not None and doc.get("User"):
        if type(attributes) is not dict:
            attributes = orjson.loads(attributes)
        if attributes:
            doc["User"]["UserAttributes"] = attributes  # a fresh document: changed in place
    return doc
