"""The `campaign_event` job: an EVENT campaign's message to the endpoint whose event matched.

    payload {app_id, campaign_id, version, endpoint_key, trigger_id, arrival}

The endpoint must still be in the campaign's segment (else FILTERED_OUT_BY_SEGMENT); its
CohortId picks the treatment (the holdout gets nothing: TREATMENT_HOLDOUT). Then it goes
through the same pipeline as a scheduled run (screening, caps, quiet time, hook), with the
event's arrival as its due time and at most 5 minutes (or the campaign's MaximumDuration, if
shorter) to go: later, it is dropped as EXPIRED, not retried.

Sends are gathered in one activity per treatment and UTC day (ScheduledStart: the day's
midnight), whose counters add up every trigger of the day; a delivery is recorded per
(activity, endpoint, triggering event).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timezone

from ...clock import iso, parse_iso
from ...domain import campaigns as rules
from ...store import apps as app_store
from ...store import campaign_runs
from ...store import campaigns as campaign_store
from ...store import segments as segment_store
from ..scheduler import activity_doc
from . import audience, tally, treatment
from .hook import Hook
from .pipeline import Pipeline
from .tally import Tally

DEADLINE_SECONDS = 300
FILTERED_BY_SEGMENT = "FILTERED_OUT_BY_SEGMENT"


def run_trigger(service, job, progress) -> None:
    payload, now = job.payload, service.clock.now()
    arrival = parse_iso(payload["arrival"])
    with service.store.read() as conn:
        current = campaign_store.row(conn, payload["app_id"], payload["campaign_id"])
        campaign = campaign_store.get(conn, payload["app_id"], payload["campaign_id"], payload["version"])
        if current is None or campaign is None or current.doc.get("IsPaused") \
                or current.doc["State"]["CampaignStatus"] not in rules.ACTIVE_STATES:
            return
        segment = segment_store.get(conn, payload["app_id"], campaign["SegmentId"], campaign.get("SegmentVersion"))
        plan = segment_store.plan_for(conn, payload["app_id"], segment, now) if segment else None
        endpoint = audience.member(conn, payload["app_id"], plan, payload["endpoint_key"]) if plan else None
        app_settings = app_store.get_settings(conn, payload["app_id"])
    treatment_id = _treatment(campaign, endpoint)
    run = _activity(service, campaign, treatment_id, arrival)
    counts = Tally()
    if endpoint is None:
        counts.skip(tally.PRODUCED)
        counts.skip(FILTERED_BY_SEGMENT)
    elif treatment_id == rules.HOLDOUT:
        counts.skip(tally.PRODUCED)
        counts.skip(tally.HOLDOUT)
    else:
        counts = _send(service, campaign, run.doc, app_settings, endpoint, payload["trigger_id"], arrival, now)
    _add(service, run.doc["Id"], counts)


def _treatment(campaign: dict, endpoint: dict | None) -> str:
    if endpoint is None:
        return "0"
    return rules.treatment_for(int(endpoint.get("CohortId") or 0), rules.treatment_ranges(campaign))


def _send(service, campaign, activity, app_settings, endpoint, trigger, arrival: datetime, now: datetime) -> Tally:
    settings = treatment.build(campaign, activity, app_settings)
    deadline = min(settings.maximum_duration or DEADLINE_SECONDS, DEADLINE_SECONDS)
    settings = replace(settings, maximum_duration=deadline)
    runtime = service.campaigns
    pipeline = Pipeline(service, settings, runtime.sender, trigger_id=trigger,
                        limiter=runtime.limiters.get(settings.campaign_id, settings.messages_per_second),
                        hook=Hook(settings.hook, service.settings.region) if settings.hook else None)
    prepared = pipeline.prepare([(endpoint, arrival)], now)
    delivered = pipeline.deliver(prepared)
    prepared.tally.merge(delivered.tally)
    return prepared.tally


def _activity(service, campaign: dict, treatment_id: str, arrival: datetime):
    """The day's activity of the treatment (holdout: the default treatment's), created once."""
    treatment_id = "0" if treatment_id == rules.HOLDOUT else treatment_id
    day = iso(datetime.combine(arrival.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc))
    with service.store.write() as conn:
        for doc in campaign_runs.of_start(conn, campaign["ApplicationId"], campaign["Id"], day):
            if doc["TreatmentId"] == treatment_id:
                return campaign_runs.load(conn, doc["Id"])
        doc = activity_doc(campaign, service.ids.resource_id(), treatment_id, day)
        doc.update(State="RUNNING", Start=iso(service.clock.now()))
        campaign_store.insert_activity(conn, doc)
        for found in campaign_runs.of_start(conn, campaign["ApplicationId"], campaign["Id"], day):
            if found["TreatmentId"] == treatment_id:
                return campaign_runs.load(conn, found["Id"])
    raise RuntimeError("the day's activity could not be created")


def _add(service, activity_id: str, counts: Tally) -> None:
    with service.store.write() as conn:
        run = campaign_runs.load(conn, activity_id, lock=True)
        if run is None:
            return
        total = Tally(run.state.get("tally"))
        total.merge(counts)
        total.apply(run.doc)
        run.state["tally"] = total.state()
        run.doc.update(State="COMPLETED", End=iso(service.clock.now()),
                       Result="FAIL" if total.total and not total.successful else "SUCCESS")
        campaign_runs.save(conn, run)
