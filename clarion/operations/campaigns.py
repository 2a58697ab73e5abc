"""Campaigns: Create/Get/Update/Delete, versions, and activities (runs).

The scheduler (`runtime/scheduler.py`) reads `next_due` to start runs; this module keeps it
right whenever a campaign's schedule or pause state changes.
"""

from __future__ import annotations

from datetime import datetime

from ..clock import iso, parse_iso
from ..domain import campaigns as rules
from ..domain import schedule as sched
from ..protocol.errors import BadRequest, NotFound
from ..store import campaigns as campaign_store
from ..store import tags as tag_store
from . import operation, paging
from .apps import require_app
from .segments import require_segment

# Members of WriteCampaignRequest copied to the CampaignResponse as they are.
WRITABLE = ("CustomDeliveryConfiguration", "Description", "HoldoutPercent", "Hook", "IsPaused", "Limits",
            "MessageConfiguration", "Name", "Schedule", "SegmentId", "SegmentVersion", "TemplateConfiguration",
            "TreatmentDescription", "TreatmentName", "Priority")


def campaign_arn(ctx, app_id: str, campaign_id: str) -> str:
    return ctx.arn(f"apps/{app_id}/campaigns/{campaign_id}")


def require_campaign(conn, app_id: str, campaign_id: str, version: int | None = None, **kw) -> dict:
    doc = campaign_store.get(conn, app_id, campaign_id, version, **kw)
    if doc is None:
        what = f"Campaign {campaign_id}" + (f" version {version}" if version is not None else "")
        raise NotFound(f"{what} not found")
    return doc


def next_due(doc: dict, last_run: datetime | None, last_starts: dict[str, datetime] | None = None) -> str | None:
    """When the scheduler must next look at the campaign: its next run, minus the lead of the
    earliest time zone for local-time campaigns; the EndTime of an event-driven campaign (to
    complete it then); None when paused or finished.

    `last_run` is the latest start of the campaign's own schedule. A treatment with a Schedule
    of its own has its own runs: `last_starts` gives their latest starts (the scheduler reads
    them from the activities); without it, the treatment's first start is used, which at worst
    wakes the scheduler early, never late."""
    if doc["State"]["CampaignStatus"] not in rules.ACTIVE_STATES:
        return None
    if (doc["Schedule"].get("Frequency") or "ONCE") in sched.EVENT_FREQUENCIES:
        return doc["Schedule"].get("EndTime")
    created = parse_iso(doc["CreationDate"])
    times = []
    for treatment_id, schedule, own in treatment_schedules(doc):
        last = (last_starts or {}).get(treatment_id) if own else last_run
        upcoming = sched.next_run(schedule, created, last)
        if upcoming is not None:
            times.append(upcoming - sched.EARLIEST_OFFSET if schedule.get("IsLocalTime") else upcoming)
    return iso(min(times)) if times else None


def treatment_schedules(doc: dict) -> list[tuple[str, dict, bool]]:
    """(treatment id, its schedule, whether it is its own rather than the campaign's)."""
    schedules = [("0", doc["Schedule"], False)]
    for treatment in doc.get("AdditionalTreatments") or []:
        own = treatment.get("Schedule")
        schedules.append((treatment["Id"], own or doc["Schedule"], bool(own)))
    return schedules


def _check(ctx, request: dict, *, new: bool) -> None:
    try:
        rules.validate(request, ctx.service.clock.now(), new=new)
    except rules.CampaignError as exc:
        raise BadRequest(str(exc)) from None


def _treatments(request: dict, state: str) -> list[dict]:
    return [{**t, "Id": str(i), "State": {"CampaignStatus": state}}
            for i, t in enumerate(request.get("AdditionalTreatments") or [], start=1)]


def _response(conn, doc: dict) -> dict:
    return {**doc, "tags": tag_store.get(conn, doc["Arn"])}


@operation("CreateCampaign")
def create_campaign(ctx, application_id: str, write_campaign_request: dict) -> dict:
    request = write_campaign_request
    _check(ctx, request, new=True)
    campaign_id, now = ctx.ids.resource_id(), ctx.now()
    state = rules.initial_state(request)
    doc = {"HoldoutPercent": 0, "IsPaused": False, "Limits": {}, **{k: request[k] for k in WRITABLE if k in request},
           "AdditionalTreatments": _treatments(request, state), "ApplicationId": application_id,
           "Arn": campaign_arn(ctx, application_id, campaign_id), "CreationDate": now, "LastModifiedDate": now,
           "Id": campaign_id, "State": {"CampaignStatus": state}, "DefaultState": {"CampaignStatus": state},
           "Version": 1}
    doc["Schedule"] = {"IsLocalTime": False, "Timezone": "UTC", "Frequency": "ONCE", **doc["Schedule"]}
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        segment = require_segment(conn, application_id, request["SegmentId"], request.get("SegmentVersion"))
        doc["SegmentVersion"] = request.get("SegmentVersion") or segment["Version"]
        campaign_store.insert(conn, doc, next_due(doc, None))
        tag_store.put(conn, doc["Arn"], application_id, request.get("tags") or {})
        result = _response(conn, doc)
    ctx.service.on_campaigns_changed()
    return result


@operation("UpdateCampaign")
def update_campaign(ctx, application_id: str, campaign_id: str, write_campaign_request: dict) -> dict:
    request = write_campaign_request
    _check(ctx, request, new=False)
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        row = campaign_store.row(conn, application_id, campaign_id, lock=True)
        if row is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        current, status = row.doc, row.doc["State"]["CampaignStatus"]
        recurring = (current["Schedule"].get("Frequency") or "ONCE") != "ONCE"
        if status in ("COMPLETED", "DELETED") or (status == "EXECUTING" and not recurring and "IsPaused" not in request):
            raise BadRequest(f"A campaign that is {status} cannot be updated")
        doc = {**current, **{k: request[k] for k in WRITABLE if k in request}}
        if "AdditionalTreatments" in request:
            doc["AdditionalTreatments"] = _treatments(request, status)
        if "SegmentId" in request or "SegmentVersion" in request:
            segment = require_segment(conn, application_id, doc["SegmentId"], request.get("SegmentVersion"))
            doc["SegmentVersion"] = request.get("SegmentVersion") or segment["Version"]
        state = _state_on_update(current, doc, status, row.last_run)
        doc.update(Version=current["Version"] + 1, LastModifiedDate=ctx.now(), State={"CampaignStatus": state},
                   DefaultState={"CampaignStatus": state})
        last_run = parse_iso(row.last_run) if row.last_run else None
        due = next_due(doc, last_run)
        if status == "PAUSED" and state != "PAUSED":
            due = ctx.now()  # resumed: the scheduler looks now, and restarts a run the pause stopped
        campaign_store.save(conn, doc, next_due=due, new_version=True)
        if "tags" in request:
            tag_store.put(conn, doc["Arn"], application_id, request["tags"] or {})
        result = _response(conn, doc)
    ctx.service.on_campaigns_changed()
    return result


def _state_on_update(current: dict, doc: dict, status: str, last_run: str | None) -> str:
    if doc.get("IsPaused") and not current.get("IsPaused"):
        if current["Schedule"].get("StartTime") == "IMMEDIATE" and status == "EXECUTING":
            raise BadRequest("An immediate campaign cannot be paused once it has started")
        return "PAUSED" if status != "EXECUTING" else status  # a running run finishes first
    if not doc.get("IsPaused") and status == "PAUSED":
        return "PENDING_NEXT_RUN" if last_run else "SCHEDULED"
    return status


@operation("GetCampaign", inline=True)
def get_campaign(ctx, application_id: str, campaign_id: str) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        return _response(conn, require_campaign(conn, application_id, campaign_id))


@operation("GetCampaignVersion")
def get_campaign_version(ctx, application_id: str, campaign_id: str, version: str) -> dict:
    number = paging.whole_number(version, "campaign version")
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        require_campaign(conn, application_id, campaign_id)
        return _response(conn, require_campaign(conn, application_id, campaign_id, number))


@operation("GetCampaigns")
def get_campaigns(ctx, application_id: str, page_size: str | None = None, token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        items, next_token = paging.fetch_page(
            page_size, token, lambda limit, after: campaign_store.page(conn, application_id, limit, after),
            lambda d: [d["CreationDate"], d["Id"]])
        return paging.listing([_response(conn, d) for d in items], next_token)


@operation("GetCampaignVersions")
def get_campaign_versions(ctx, application_id: str, campaign_id: str, page_size: str | None = None,
                          token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        require_campaign(conn, application_id, campaign_id)
        items, next_token = paging.fetch_page(
            page_size, token,
            lambda limit, after: campaign_store.versions_page(conn, application_id, campaign_id, limit, after),
            lambda d: d["Version"])
        return paging.listing([_response(conn, d) for d in items], next_token)


@operation("GetCampaignActivities")
def get_campaign_activities(ctx, application_id: str, campaign_id: str, page_size: str | None = None,
                            token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        require_app(conn, application_id)
        require_campaign(conn, application_id, campaign_id)
        items, next_token = paging.fetch_page(
            page_size, token,
            lambda limit, after: campaign_store.activities_page(conn, application_id, campaign_id, limit, after),
            lambda d: [d["ScheduledStart"], d["Id"]])
    return paging.listing(items, next_token)


@operation("DeleteCampaign")
def delete_campaign(ctx, application_id: str, campaign_id: str) -> dict:
    with ctx.store.write() as conn:
        require_app(conn, application_id)
        doc = _response(conn, require_campaign(conn, application_id, campaign_id, lock=True))
        campaign_store.delete_campaign(conn, application_id, campaign_id)
        tag_store.delete_arn(conn, doc["Arn"])
    ctx.service.on_campaigns_changed()
    return doc
