"""The campaign scheduler: turns due campaign runs into activities and durable run jobs.

Each tick takes the campaigns whose `next_due` has passed, and for every due scheduled start
and treatment inserts an activity keyed by (campaign, treatment, scheduled start) and
enqueues a `campaign_run` job keyed by that activity, in one transaction. A second tick, or a
second scheduler in another process, finds the key taken and adds nothing.

Treatments follow the campaign's schedule (its runs are bookmarked by the campaign's
`last_run`), except a treatment with a Schedule of its own, which gets its own runs
(bookmarked by its latest activity). A tick also restarts the runs a pause stopped, once the
campaign is unpaused (UpdateCampaign makes it due at once), and completes an EVENT campaign
when its EndTime passes.
"""

from __future__ import annotations

import logging
import threading

from ..clock import iso, parse_iso
from ..domain import campaigns as rules
from ..domain import schedule as sched
from ..operations.campaigns import next_due, treatment_schedules
from ..store import campaign_runs
from ..store import campaigns as campaign_store
from .campaigns import lifecycle

log = logging.getLogger("clarion.scheduler")
TICK_SECONDS = 1.0


def activity_doc(campaign: dict, activity_id: str, treatment_id: str, start: str) -> dict:
    return {"ApplicationId": campaign["ApplicationId"], "CampaignId": campaign["Id"], "Id": activity_id,
            "TreatmentId": treatment_id, "ScheduledStart": start, "State": "PENDING",
            "TotalEndpointCount": 0, "SuccessfulEndpointCount": 0, "TimezonesTotalCount": 0,
            "TimezonesCompletedCount": 0, "ExecutionMetrics": {}}


def treatment_ids(campaign: dict) -> list[str]:
    return ["0"] + [t["Id"] for t in campaign.get("AdditionalTreatments") or []]


def tick(service) -> int:
    """Start every due run (and restart runs a pause stopped); returns how many activities
    were created."""
    now = service.clock.now()
    created = 0
    with service.store.write() as conn:
        for row in campaign_store.due(conn, iso(now)):
            created += _start_due_runs(service, conn, row, now)
    if created:
        service.queue.notify()
    return created


def _start_due_runs(service, conn, row, now) -> int:
    doc = row.doc
    if (doc["Schedule"].get("Frequency") or "ONCE") in sched.EVENT_FREQUENCIES:
        return _event_campaign_due(conn, row, now)
    if doc.get("IsPaused"):  # paused while a run was executing: no new run until it is resumed
        campaign_store.save(conn, doc, next_due=None)
        return 0
    created_at = parse_iso(doc["CreationDate"])
    last_run = parse_iso(row.last_run) if row.last_run else None
    own_last = {t: parse_iso(s) for t, s in campaign_runs.last_starts(conn, doc["ApplicationId"], doc["Id"]).items()}
    created = 0
    shared = [t for t, _, own in treatment_schedules(doc) if not own]
    for start in sched.runs_due(doc["Schedule"], created_at, last_run, now):
        created += sum(_start_run(service, conn, doc, t, start) for t in shared)
        last_run = start
    for treatment_id, schedule, own in treatment_schedules(doc):
        if own:  # a treatment with a schedule of its own has its own runs
            for start in sched.runs_due(schedule, created_at, own_last.get(treatment_id), now):
                created += _start_run(service, conn, doc, treatment_id, start)
                own_last[treatment_id] = start
    resumed = lifecycle.resume_paused(service, conn, doc)
    if created or resumed:
        doc = {**doc, "State": {"CampaignStatus": "EXECUTING"}, "DefaultState": {"CampaignStatus": "EXECUTING"}}
    upcoming = next_due(doc, last_run, own_last) if doc["State"]["CampaignStatus"] in rules.ACTIVE_STATES else None
    campaign_store.save(conn, doc, next_due=upcoming, last_run=iso(last_run) if last_run else None)
    return created + resumed


def _start_run(service, conn, doc: dict, treatment_id: str, start) -> int:
    activity = activity_doc(doc, service.ids.resource_id(), treatment_id, iso(start))
    if not campaign_store.insert_activity(conn, activity):
        return 0
    service.queue.enqueue(conn, "campaign_run", {"app_id": doc["ApplicationId"], "campaign_id": doc["Id"],
                                                 "activity_id": activity["Id"], "version": doc["Version"]},
                          app_id=doc["ApplicationId"], unique_key=f"campaign_run:{activity['Id']}")
    return 1


def _event_campaign_due(conn, row, now) -> int:
    """An EVENT campaign is looked at when its EndTime passes: it is complete then."""
    end = sched.parse_end(row.doc["Schedule"])
    if end is not None and now >= end:
        doc = {**row.doc, "State": {"CampaignStatus": "COMPLETED"}, "DefaultState": {"CampaignStatus": "COMPLETED"}}
        campaign_store.save(conn, doc, next_due=None)
    else:
        campaign_store.save(conn, row.doc, next_due=next_due(row.doc, None))
    return 0


class Scheduler:
    """A thread that ticks every second, or sooner when a campaign changes."""

    def __init__(self, service):
        self.service = service
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="clarion-scheduler", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread:
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                tick(self.service)
            except Exception:
                log.exception("scheduler tick failed")
            self.wake.wait(TICK_SECONDS)
            self.wake.clear()
