"""Segments: Create/Get/Update/Delete, versions, and the size-and-preview extension."""

from __future__ import annotations

from ..domain import segments as seg
from ..protocol.errors import BadRequest, NotFound
from ..protocol.extensions import extension
from ..store import segments as segment_store
from ..store import tags as tag_store
from . import operation, paging
from .apps import require_app

SAMPLE_LIMIT = 100


def segment_arn(ctx, app_id: str, segment_id: str) -> str:
    return ctx.arn(f"apps/{app_id}/segments/{segment_id}")


def require_segment(conn, app_id: str, segment_id: str, version: int | None = None, **kw) -> dict:
    doc = segment_store.get(conn, app_id, segment_id, version, **kw)
    if doc is None:
        what = f"Segment {segment_id}" + (f" version {version}" if version is not None else "")
        raise NotFound(f"{what} not found")
    return doc


def _definition(request: dict) -> dict:
    try:
        seg.validate_definition(request)
    except seg.SegmentError as exc:
        raise BadRequest(str(exc)) from None
    return {k: request[k] for k in ("Dimensions", "SegmentGroups") if request.get(k)}


def _check_sources(conn, app_id: str, definition: dict, segment_id: str | None, now) -> None:
    """Source segments must exist (and not loop back to this one)."""
    try:
        seg.plan({"Id": segment_id, **definition}, now, segment_store.lookup(conn, app_id))
    except seg.SegmentError as exc:
        raise BadRequest(str(exc)) from None


def _response(conn, doc: dict) -> dict:
    return {**doc, "tags": tag_store.get(conn, doc["Arn"])}


@operation("CreateSegment")
def create_segment(ctx, application_id: str, write_segment_request: dict) -> dict:
    definition = _definition(write_segment_request)
    segment_id, now = ctx.ids.resource_id(), ctx.now()
    doc = {"ApplicationId": application_id, "Arn": segment_arn(ctx, application_id, segment_id),
           "CreationDate": now, "LastModifiedDate": now, "Id": segment_id,
           "Name": write_segment_request.get("Name", ""), "SegmentType": "DIMENSIONAL", "Version": 1,
           **definition}
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        _check_sources(conn, application_id, definition, segment_id, ctx.service.clock.now())
        segment_store.insert(conn, doc)
        tag_store.put(conn, doc["Arn"], application_id, write_segment_request.get("tags") or {})
        return _response(conn, doc)


@operation("UpdateSegment")
def update_segment(ctx, application_id: str, segment_id: str, write_segment_request: dict) -> dict:
    definition = _definition(write_segment_request)
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        current = require_segment(conn, application_id, segment_id, for_update=True)
        if current["SegmentType"] == "IMPORT" and definition:
            raise BadRequest("An imported segment's endpoints come from its import; "
                             "create a dimensional segment with it as a source segment instead")
        doc = {k: v for k, v in current.items() if k not in ("Dimensions", "SegmentGroups")} if definition \
            else dict(current)
        doc.update(definition, Version=current["Version"] + 1, LastModifiedDate=ctx.now())
        if "Name" in write_segment_request:
            doc["Name"] = write_segment_request["Name"]
        _check_sources(conn, application_id, definition, segment_id, ctx.service.clock.now())
        segment_store.replace(conn, doc)
        if "tags" in write_segment_request:
            tag_store.put(conn, doc["Arn"], application_id, write_segment_request["tags"] or {})
        return _response(conn, doc)


@operation("GetSegment")
def get_segment(ctx, application_id: str, segment_id: str) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        return _response(conn, require_segment(conn, application_id, segment_id))


@operation("GetSegmentVersion")
def get_segment_version(ctx, application_id: str, segment_id: str, version: str) -> dict:
    number = paging.whole_number(version, "segment version")
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        require_segment(conn, application_id, segment_id)
        return _response(conn, require_segment(conn, application_id, segment_id, number))


@operation("GetSegments")
def get_segments(ctx, application_id: str, page_size: str | None = None, token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        items, next_token = paging.fetch_page(
            page_size, token, lambda limit, after: segment_store.page(conn, application_id, limit, after),
            lambda d: [d["CreationDate"], d["Id"]])
        return paging.listing([_response(conn, d) for d in items], next_token)


@operation("GetSegmentVersions")
def get_segment_versions(ctx, application_id: str, segment_id: str, page_size: str | None = None,
                         token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        require_segment(conn, application_id, segment_id)
        items, next_token = paging.fetch_page(
            page_size, token,
            lambda limit, after: segment_store.versions_page(conn, application_id, segment_id, limit, after),
            lambda d: d["Version"])
        return paging.listing([_response(conn, d) for d in items], next_token)


@operation("DeleteSegment")
def delete_segment(ctx, application_id: str, segment_id: str) -> dict:
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        doc = _response(conn, require_segment(conn, application_id, segment_id, for_update=True))
        segment_store.delete_segment(conn, application_id, segment_id)
        tag_store.delete_arn(conn, doc["Arn"])
    return doc


def segment_size(ctx, conn, app_id: str, segment: dict, sample: int = 0) -> dict:
    """Total, eligible and per-channel counts, and optionally a sample of member endpoints."""
    plan = segment_store.plan_for(conn, app_id, segment, ctx.service.clock.now())
    result = {"ApplicationId": app_id, "SegmentId": segment["Id"], "Version": segment["Version"],
              **segment_store.size(conn, app_id, plan)}
    if sample:
        pages = segment_store.endpoint_pages(conn, app_id, plan, page_size=sample)
        result["Sample"] = next(pages, [])
    return result


@extension("GET", "/v1/apps/{application-id}/segments/{segment-id}/size")
def get_segment_size(ctx, application_id: str, segment_id: str, query: dict, body=None) -> dict:
    """Clarion extension: how many endpoints a segment holds now (docs/extensions.md)."""
    version = paging.whole_number(query["version"][-1], "segment version") if query.get("version") else None
    sample = paging.whole_number(query.get("sample", ["0"])[-1], "sample", 0, SAMPLE_LIMIT)
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        segment = require_segment(conn, application_id, segment_id, version)
        try:
            return segment_size(ctx, conn, application_id, segment, sample)
        except seg.SegmentError as exc:
            raise BadRequest(str(exc)) from None
