"""Import and export jobs: Create/Get/list, per app and per segment.

Creating a job stores its Pinpoint document and enqueues a durable runtime job in the same
transaction; a worker does the work (`transfer/imports.py`, `transfer/exports.py`), and the
Get operations show its progress as it goes.
"""

from __future__ import annotations

from ..protocol.errors import BadRequest, NotFound
from ..store import segments as segment_store
from ..store import transfer_jobs
from ..transfer.locations import Location, LocationError
from . import operation, paging
from .apps import require_app
from .segments import require_segment, segment_arn

COUNTERS = {"CompletedPieces": 0, "FailedPieces": 0, "TotalFailures": 0, "TotalPieces": 0, "TotalProcessed": 0}


def _check_url(url: str, member: str) -> None:
    try:
        Location.parse(url)
    except LocationError as exc:
        raise BadRequest(f"{member}: {exc}") from None


def _new_job(ctx, app_id: str, job_type: str, definition: dict) -> dict:
    return {"ApplicationId": app_id, "CreationDate": ctx.now(), "Definition": definition,
            "Id": ctx.ids.resource_id(), "JobStatus": "CREATED", "Type": job_type, "Failures": [], **COUNTERS}


def _enqueue(ctx, conn, kind: str, doc: dict, segment_id: str | None) -> None:
    transfer_jobs.insert(conn, doc, segment_id)
    ctx.service.queue.enqueue(conn, kind, {"app_id": doc["ApplicationId"], "job_id": doc["Id"]},
                              app_id=doc["ApplicationId"], unique_key=f"{kind}:{doc['Id']}")


@operation("CreateImportJob")
def create_import_job(ctx, application_id: str, import_job_request: dict) -> dict:
    definition = dict(import_job_request)
    _check_url(definition["S3Url"], "S3Url")
    if not definition.get("RegisterEndpoints") and not definition.get("DefineSegment"):
        raise BadRequest("An import job must set RegisterEndpoints, DefineSegment, or both")
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        doc = _new_job(ctx, application_id, "IMPORT", definition)
        if definition.get("DefineSegment"):
            definition["SegmentId"] = _import_segment(ctx, conn, application_id, definition)
        _enqueue(ctx, conn, "import", doc, definition.get("SegmentId"))
    ctx.service.queue.notify()
    return doc


def _import_segment(ctx, conn, app_id: str, definition: dict) -> str:
    """The imported segment the job fills: an existing one (a new version), or a new one."""
    import_definition = {"Format": definition["Format"], "S3Url": definition["S3Url"],
                         "RoleArn": definition["RoleArn"], "ExternalId": definition.get("ExternalId", ""),
                         "Size": 0, "ChannelCounts": {}}
    now = ctx.now()
    if definition.get("SegmentId"):
        current = require_segment(conn, app_id, definition["SegmentId"], for_update=True)
        if current["SegmentType"] != "IMPORT":
            raise BadRequest(f"Segment {current['Id']} is a dimensional segment; an import can only "
                             "replace an imported segment")
        segment_store.replace(conn, {**current, "ImportDefinition": import_definition, "LastModifiedDate": now,
                                     "Version": current["Version"] + 1,
                                     "Name": definition.get("SegmentName") or current.get("Name", "")})
        return current["Id"]
    if not definition.get("SegmentName"):
        raise BadRequest("DefineSegment needs a SegmentName (or the SegmentId of an imported segment)")
    segment_id = ctx.ids.resource_id()
    segment_store.insert(conn, {"ApplicationId": app_id, "Arn": segment_arn(ctx, app_id, segment_id),
                                "CreationDate": now, "LastModifiedDate": now, "Id": segment_id,
                                "Name": definition["SegmentName"], "SegmentType": "IMPORT", "Version": 1,
                                "ImportDefinition": import_definition})
    return segment_id


@operation("CreateExportJob")
def create_export_job(ctx, application_id: str, export_job_request: dict) -> dict:
    definition = dict(export_job_request)
    _check_url(definition["S3UrlPrefix"], "S3UrlPrefix")
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        if definition.get("SegmentId"):
            require_segment(conn, application_id, definition["SegmentId"], definition.get("SegmentVersion"))
        elif definition.get("SegmentVersion") is not None:
            raise BadRequest("SegmentVersion needs a SegmentId")
        doc = _new_job(ctx, application_id, "EXPORT", definition)
        _enqueue(ctx, conn, "export", doc, definition.get("SegmentId"))
    ctx.service.queue.notify()
    return doc


def _get(ctx, app_id: str, job_id: str, job_type: str) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, app_id)
        found = transfer_jobs.get(conn, app_id, job_id, job_type)
    if found is None:
        raise NotFound(f"{job_type.capitalize()} job {job_id} not found")
    return found[0]


@operation("GetImportJob", inline=True)
def get_import_job(ctx, application_id: str, job_id: str) -> dict:
    return _get(ctx, application_id, job_id, "IMPORT")


@operation("GetExportJob", inline=True)
def get_export_job(ctx, application_id: str, job_id: str) -> dict:
    return _get(ctx, application_id, job_id, "EXPORT")


def _list(ctx, app_id: str, job_type: str, page_size, token, segment_id: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, app_id)
        if segment_id is not None:
            require_segment(conn, app_id, segment_id)
        items, next_token = paging.fetch_page(
            page_size, token,
            lambda limit, after: transfer_jobs.page(conn, app_id, job_type, limit, after, segment_id),
            lambda d: [d["CreationDate"], d["Id"]])
    return paging.listing(items, next_token)


@operation("GetImportJobs")
def get_import_jobs(ctx, application_id: str, page_size: str | None = None, token: str | None = None) -> dict:
    return _list(ctx, application_id, "IMPORT", page_size, token)


@operation("GetSegmentImportJobs")
def get_segment_import_jobs(ctx, application_id: str, segment_id: str, page_size: str | None = None,
                            token: str | None = None) -> dict:
    return _list(ctx, application_id, "IMPORT", page_size, token, segment_id)


@operation("GetExportJobs")
def get_export_jobs(ctx, application_id: str, page_size: str | None = None, token: str | None = None) -> dict:
    return _list(ctx, application_id, "EXPORT", page_size, token)


@operation("GetSegmentExportJobs")
def get_segment_export_jobs(ctx, application_id: str, segment_id: str, page_size: str | None = None,
                            token: str | None = None) -> dict:
    return _list(ctx, application_id, "EXPORT", page_size, token, segment_id)
