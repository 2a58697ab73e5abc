"""The export job: endpoints of an app, or of a segment version, to gzip'd newline-JSON files.

Files are `<S3UrlPrefix>/<job id>/part-00000.json.gz`, ... each holding up to `PART_SIZE` endpoints
(full EndpointResponse documents, user attributes included), so an export imports back with
Format JSON as it is. Each written part saves the job's position (the last endpoint key), so a
resumed export rewrites at most the part it was writing.
"""

from __future__ import annotations

import gzip

import orjson

from ..domain.endpoints import endpoint_key
from ..domain.segments import EVERYONE, SegmentError
from ..store import segments as segment_store
from ..store import transfer_jobs
from .locations import Location, LocationError, write_bytes

PART_SIZE = 10_000
PAGE = 1000


def run_export(service, job, progress) -> None:
    app_id, job_id = job.payload["app_id"], job.payload["job_id"]
    found = transfer_jobs.unfinished(service.store, app_id, job_id, "EXPORT")
    if found is None:
        return
    doc, position = found
    position = position or {"after": None, "part": 0}
    try:
        plan = _plan(service, doc)
        prefix = Location.parse(doc["Definition"]["S3UrlPrefix"]).child(job_id)
        while True:
            rows, after = _next_part(service, app_id, plan, position["after"])
            if not rows:
                break
            write_bytes(prefix.child(f"part-{position['part']:05d}.json.gz"), gzip.compress(b"".join(rows), 6))
            position = {"after": after, "part": position["part"] + 1}
            doc.update(JobStatus="PROCESSING", TotalPieces=position["part"], CompletedPieces=position["part"],
                       TotalProcessed=doc.get("TotalProcessed", 0) + len(rows))
            with service.store.write() as conn:
                transfer_jobs.save(conn, doc, position)
            if not progress.save(None):
                return
    except (SegmentError, LocationError) as exc:
        return _fail(service, doc, str(exc))
    doc.update(JobStatus="COMPLETED", CompletionDate=_now(service))
    with service.store.write() as conn:
        transfer_jobs.save(conn, doc, None)


def _plan(service, doc: dict):
    definition = doc["Definition"]
    if not definition.get("SegmentId"):
        return EVERYONE
    with service.store.read() as conn:
        segment = segment_store.get(conn, doc["ApplicationId"], definition["SegmentId"],
                                    definition.get("SegmentVersion"))
        if segment is None:
            raise SegmentError(f"Segment {definition['SegmentId']} no longer exists")
        return segment_store.plan_for(conn, doc["ApplicationId"], segment, service.clock.now())


def _next_part(service, app_id: str, plan, after: str | None) -> tuple[list[bytes], str | None]:
    """Up to PART_SIZE endpoints after `after`, as JSON lines, read page by page."""
    lines: list[bytes] = []
    with service.store.read() as conn:
        for page in segment_store.endpoint_pages(conn, app_id, plan, after=after, page_size=PAGE):
            lines += [orjson.dumps(doc) + b"\n" for doc in page]
            after = endpoint_key(page[-1]["Id"])
            if len(lines) >= PART_SIZE:
                break
    return lines, after


def _fail(service, doc: dict, message: str) -> None:
    doc.update(JobStatus="FAILED", Failures=[message], CompletionDate=_now(service),
               FailedPieces=doc.get("FailedPieces", 0) + 1)
    with service.store.write() as conn:
        transfer_jobs.save(conn, doc, None)


def _now(service) -> str:
    from ..clock import iso

    return iso(service.clock.now())
