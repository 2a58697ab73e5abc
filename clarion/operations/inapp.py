"""GetInAppMessages: the in-app campaigns an endpoint may show now.

In-app messages are pulled, not pushed: the app (Amplify's in-app messaging) asks for its
endpoint's campaigns and decides on the device when to display one, from each campaign's
EventFilter, QuietTime and caps (reference §12.4). So the server's part is who gets what:

- only an `IN_APP` endpoint that is active and not opted out gets anything;
- a campaign counts while it is active (not paused, completed or deleted) and inside its
  StartTime..EndTime, and only if the endpoint is in its segment (the pinned version or the
  latest, evaluated now);
- the endpoint's CohortId picks the treatment as for every campaign run: the holdout gets
  nothing, a treatment without in-app content gets nothing;
- `Limits.Daily`, `Limits.Session` and `Limits.Total` go out as DailyCap, SessionCap and TotalCap
  (0 = no cap), and `Priority` as is. The list is ordered most important first: a lower
  Priority first (UNCONFIRMED direction; the reference recommends lower = more important),
  campaigns without one last, then oldest first.
"""

from __future__ import annotations

from ..clock import parse_iso
from ..domain import campaigns as rules
from ..domain import endpoints as endpoint_rules
from ..protocol.errors import NotFound
from ..runtime.campaigns.audience import member
from ..runtime.campaigns.treatment import quiet_time_for, treatment_members
from ..store import apps as app_store
from ..store import campaigns as campaign_store
from ..store import endpoints as endpoint_store
from ..store import segments as segment_store
from . import operation
from .apps import require_app
from .templates import template_document

CAP_LIMITS = (("DailyCap", "Daily"), ("SessionCap", "Session"), ("TotalCap", "Total"))
NO_PRIORITY = float("inf")


@operation("GetInAppMessages")
def get_in_app_messages(ctx, application_id: str, endpoint_id: str) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        key = endpoint_rules.endpoint_key(endpoint_id)
        endpoint = endpoint_store.response(ctx.store, app_id, key)
        if endpoint is None:
            raise NotFound("Resource not found")
        if not _reachable(endpoint):
            return {"InAppMessageCampaigns": []}
        now = ctx.service.clock.now()
        app_settings = app_store.get_settings(conn, app_id) or {}
        entries = []
        for campaign in campaign_store.active(conn, app_id):
            entry = _entry(conn, campaign, endpoint, key, now, app_settings)
            if entry is not None:
                entries.append((campaign, entry))
    entries.sort(key=lambda pair: (_priority(pair[0]), pair[0]["CreationDate"], pair[0]["Id"]))
    return {"InAppMessageCampaigns": [entry for _, entry in entries]}


def _reachable(endpoint: dict) -> bool:
    return (endpoint.get("ChannelType") == "IN_APP" and endpoint.get("OptOut") != "ALL"
            and endpoint.get("EndpointStatus") != "INACTIVE")


def _entry(conn, campaign: dict, endpoint: dict, key: str, now, app_settings: dict) -> dict | None:
    if campaign.get("IsPaused"):
        return None
    treatment_id = rules.treatment_for(int(endpoint.get("CohortId") or 0), rules.treatment_ranges(campaign))
    if treatment_id == rules.HOLDOUT:
        return None
    members = treatment_members(campaign, treatment_id)
    schedule = members["Schedule"] or {}
    message = _message(conn, members)
    if message is None or not _running(schedule, campaign, now):
        return None
    if not _in_segment(conn, campaign, key, now):
        return None
    limits = campaign.get("Limits") or {}
    entry = {"CampaignId": campaign["Id"], "TreatmentId": treatment_id, "InAppMessage": message,
             "Schedule": _schedule(schedule, campaign, app_settings),
             **{cap: limits.get(limit) or 0 for cap, limit in CAP_LIMITS}}
    if campaign.get("Priority") is not None:
        entry["Priority"] = campaign["Priority"]
    return entry


def _message(conn, members: dict) -> dict | None:
    """The treatment's in-app content: its own InAppMessage, else its InAppTemplate's."""
    own = (members["MessageConfiguration"] or {}).get("InAppMessage")
    if own and (own.get("Content") or own.get("Layout")):
        return {name: own[name] for name in ("Content", "CustomConfig", "Layout") if own.get(name) is not None}
    template = (members["TemplateConfiguration"] or {}).get("InAppTemplate") or {}
    if not template.get("Name"):
        return None
    try:
        doc = template_document(conn, template["Name"], "INAPP", template.get("Version"))
    except NotFound:  # the template went away after the campaign was made: nothing to show
        return None
    return {name: doc[name] for name in ("Content", "CustomConfig", "Layout") if doc.get(name) is not None}


def _running(schedule: dict, campaign: dict, now) -> bool:
    start = schedule.get("StartTime")
    begins = parse_iso(campaign["CreationDate"]) if start in (None, "IMMEDIATE") else parse_iso(start)
    ends = parse_iso(schedule["EndTime"]) if schedule.get("EndTime") else None
    return begins <= now and (ends is None or now < ends)


def _in_segment(conn, campaign: dict, key: str, now) -> bool:
    app_id = campaign["ApplicationId"]
    segment = segment_store.get(conn, app_id, campaign["SegmentId"], campaign.get("SegmentVersion"))
    if segment is None:
        return False
    return member(conn, app_id, segment_store.plan_for(conn, app_id, segment, now), key) is not None


def _schedule(schedule: dict, campaign: dict, app_settings: dict) -> dict:
    out = {}
    if schedule.get("EndTime"):
        out["EndDate"] = schedule["EndTime"]
    if schedule.get("EventFilter"):
        out["EventFilter"] = schedule["EventFilter"]
    quiet = quiet_time_for(schedule, campaign, app_settings)  # the same precedence as runs
    if quiet:
        out["QuietTime"] = quiet
    return out


def _priority(campaign: dict) -> float:
    priority = campaign.get("Priority")
    return NO_PRIORITY if priority is None else priority
