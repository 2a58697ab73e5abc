"""The import job: endpoint files -> endpoints (RegisterEndpoints) and/or an imported segment
(DefineSegment).

Files are streamed in chunks; each chunk's endpoint writes, segment members, counters and the
job's position commit in one transaction, so a job resumed after a crash neither loses nor
double-counts a row. Bad rows are counted and the first reasons kept in `Failures`; one bad row
never fails the job. Rows without an `Id` get one derived from (ChannelType, Address), so
running the same import twice gives the same endpoints.
"""

from __future__ import annotations

import hashlib
from itertools import islice

from sqlalchemy import func, select

from ..domain.endpoints import endpoint_key
from ..operations import Caller, Context
from ..store import endpoints as endpoint_store
from ..store import segments as segment_store
from ..store import transfer_jobs
from ..store.schema import endpoints, segment_members
from ..store.upsert import insert_ignore
from .endpoint_files import matches_format, read_rows
from .locations import Location, LocationError, list_files, open_binary

CHUNK = 1000
MAX_FAILURE_MESSAGES = 100


def run_import(service, job, progress) -> None:
    app_id, job_id = job.payload["app_id"], job.payload["job_id"]
    found = transfer_jobs.unfinished(service.store, app_id, job_id, "IMPORT")
    if found is None:
        return
    doc, position = found
    ctx = Context(service, Caller("clarion-import"), job_id)
    if position is None:
        position = _start(ctx, doc)
        if position is None:
            return
    files = [Location.parse(url) for url in position["files"]]
    for index in range(position["file"], len(files)):
        if not _import_file(ctx, doc, files[index], index, position, progress):
            return  # lease lost or shutting down: another worker resumes from the saved position
    _finish(ctx, doc)


def _start(ctx, doc: dict) -> dict | None:
    """List the files and mark the job PROCESSING; None when it failed at once."""
    definition = doc["Definition"]
    try:
        files = [f for f in list_files(Location.parse(definition["S3Url"]))
                 if matches_format(f.path, definition["Format"])]
        error = None if files else f"No {definition['Format']} files found at {definition['S3Url']}"
    except (LocationError, OSError) as exc:
        files, error = [], str(exc)
    except Exception as exc:  # botocore's errors: access denied, unknown endpoint, ...
        files, error = [], f"Cannot read {definition['S3Url']}: {exc}"
    with ctx.store.write() as conn:
        if error:
            doc.update(JobStatus="FAILED", Failures=[error], CompletionDate=ctx.now())
            transfer_jobs.save(conn, doc)
            return None
        position = {"files": [str(f) for f in files], "file": 0, "row": 0}
        doc.update(JobStatus="PROCESSING", TotalPieces=len(files))
        if definition.get("DefineSegment"):
            conn.execute(segment_members.delete().where(segment_members.c.app_id == doc["ApplicationId"],
                                                        segment_members.c.segment_id == definition["SegmentId"]))
        transfer_jobs.save(conn, doc, position)
    return position


def _import_file(ctx, doc: dict, location: Location, index: int, position: dict, progress) -> bool:
    skip = position["row"] if position["file"] == index else 0
    try:
        with open_binary(location) as stream:
            rows = read_rows(stream, doc["Definition"]["Format"], skip)
            while chunk := list(islice(rows, CHUNK)):
                _apply_chunk(ctx, doc, chunk, {**position, "file": index, "row": chunk[-1][0]})
                position.update(file=index, row=chunk[-1][0])
                if not progress.save(None):
                    return False
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        doc["FailedPieces"] = doc.get("FailedPieces", 0) + 1
        _note_failures(doc, [f"{location}: {exc}"])
    else:
        doc["CompletedPieces"] = doc.get("CompletedPieces", 0) + 1
    position.update(file=index + 1, row=0)
    with ctx.store.write() as conn:
        transfer_jobs.save(conn, doc, position)
    return True


def _apply_chunk(ctx, doc: dict, chunk: list, position: dict) -> None:
    from ..operations.endpoints import upsert_endpoints

    definition, app_id = doc["Definition"], doc["ApplicationId"]
    failures, items, users = [], [], []
    for number, row in chunk:
        if isinstance(row, str):
            failures.append(row)
        elif len(row) == 1 and "User" in row and (row["User"] or {}).get("UserId") and len(row["User"]) == 1:
            users.append(row["User"]["UserId"])  # a user-id-only row: the user's endpoints
        else:
            endpoint_id = row.pop("Id", None) or _derived_id(row)
            if endpoint_id is None:
                failures.append(f"line {number}: a new endpoint needs ChannelType and Address, or an Id")
            else:
                items.append((number, endpoint_id, row))
    with ctx.store.write() as conn:
        if definition.get("RegisterEndpoints") and items:
            items, refused = _complete_new_endpoints(conn, app_id, items)
            failures += refused
            errors = upsert_endpoints(ctx, conn, app_id, [(i, r) for _, i, r in items], partial=True)
            if errors:
                failures += [f"line {items[pos][0]}: {message}" for pos, message in sorted(errors.items())]
                items = [item for pos, item in enumerate(items) if pos not in errors]
        if definition.get("DefineSegment"):
            _add_members(conn, app_id, definition["SegmentId"], [endpoint_key(i) for _, i, _ in items], users)
        doc["TotalProcessed"] = doc.get("TotalProcessed", 0) + len(chunk)
        doc["TotalFailures"] = doc.get("TotalFailures", 0) + len(failures)
        _note_failures(doc, failures)
        transfer_jobs.save(conn, doc, position)


def _complete_new_endpoints(conn, app_id: str, items: list) -> tuple[list, list[str]]:
    """A row that creates an endpoint needs ChannelType and Address (reference §1.8): only rows
    without both are looked up, to tell an update of an existing endpoint from a bad new one."""
    partial = [item for item in items if not (item[2].get("ChannelType") and item[2].get("Address"))]
    if not partial:
        return items, []
    existing = endpoint_store.existing_keys(conn, app_id, {endpoint_key(i) for _, i, _ in partial})
    refused = {number for number, i, _ in partial if endpoint_key(i) not in existing}
    return ([item for item in items if item[0] not in refused],
            [f"line {number}: a new endpoint needs ChannelType and Address" for number in sorted(refused)])


def _derived_id(row: dict) -> str | None:
    if not row.get("ChannelType") or not row.get("Address"):
        return None
    return hashlib.sha256(f"{row['ChannelType']}\n{row['Address']}".encode()).hexdigest()[:32]


def _add_members(conn, app_id: str, segment_id: str, keys: list[str], user_ids: list[str]) -> None:
    if user_ids:
        keys = keys + list(conn.execute(select(endpoints.c.endpoint_key).where(
            endpoints.c.app_id == app_id, endpoints.c.user_id.in_(set(user_ids)))).scalars())
    insert_ignore(conn, segment_members, [{"app_id": app_id, "segment_id": segment_id, "endpoint_key": k}
                                          for k in dict.fromkeys(keys)])


def _note_failures(doc: dict, messages: list[str]) -> None:
    kept = doc.setdefault("Failures", [])
    kept += messages[: max(0, MAX_FAILURE_MESSAGES - len(kept))]


def _finish(ctx, doc: dict) -> None:
    definition, app_id = doc["Definition"], doc["ApplicationId"]
    with ctx.store.write() as conn:
        if definition.get("DefineSegment"):
            _update_segment_size(conn, app_id, definition["SegmentId"])
        doc.update(JobStatus="COMPLETED", CompletionDate=ctx.now())
        transfer_jobs.save(conn, doc, None)


def _update_segment_size(conn, app_id: str, segment_id: str) -> None:
    """ImportDefinition.Size and ChannelCounts of the imported segment, from its members."""
    segment = segment_store.get(conn, app_id, segment_id)
    if segment is None:
        return
    counts = dict(conn.execute(
        select(endpoints.c.channel_type, func.count()).select_from(
            segment_members.join(endpoints, (endpoints.c.app_id == segment_members.c.app_id)
                                 & (endpoints.c.endpoint_key == segment_members.c.endpoint_key)))
        .where(segment_members.c.app_id == app_id, segment_members.c.segment_id == segment_id)
        .group_by(endpoints.c.channel_type)).all())
    members = conn.execute(select(func.count()).where(segment_members.c.app_id == app_id,
                                                      segment_members.c.segment_id == segment_id)).scalar()
    definition = {**segment.get("ImportDefinition", {}), "Size": members,
                  "ChannelCounts": {k: v for k, v in counts.items() if k}}
    segment_store.overwrite(conn, {**segment, "ImportDefinition": definition})

