"""The campaign scheduler: turns due campaign runs into activities and durable run jobs.

Each tick takes the campaigns whose `next_due` has passed, and for every due scheduled start
and treatment inserts an activity keyed by (campaign, treatment, scheduled start) and
enqueues a `campaign_run` job keyed by that activity, in one transaction. A second tick, or a
second scheduler in another process, finds the key taken and adds nothing.
"""

from __future__ import annotations

import logging
import threading

from ..clock import iso, parse_iso
from ..domain import campaigns as rules
from ..domain import schedule as sched
from ..operations.campaigns import next_due
from ..store import campaigns as campaign_store

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
    """Start every due run; returns how many activities were created."""
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
    last_run = parse_iso(row.last_run) if row.last_run else None
    starts = sched.runs_due(doc["Schedule"], parse_iso(doc["CreationDate"]), last_run, now)
    created = 0
    for start in starts:
        for treatment_id in treatment_ids(doc):
            activity = activity_doc(doc, service.ids.resource_id(), treatment_id, iso(start))
            if campaign_store.insert_activity(conn, activity):
                service.queue.enqueue(conn, "campaign_run", {"app_id": doc["ApplicationId"],
                                                             "campaign_id": doc["Id"],
                                                             "activity_id": activity["Id"],
                                                             "version": doc["Version"]},
                                      app_id=doc["ApplicationId"], unique_key=f"campaign_run:{activity['Id']}")
                created += 1
        last_run = start
    if starts:
        doc = {**doc, "State": {"CampaignStatus": "EXECUTING"}, "DefaultState": {"CampaignStatus": "EXECUTING"}}
    upcoming = next_due(doc, last_run) if doc["State"]["CampaignStatus"] in rules.ACTIVE_STATES else None
    campaign_store.save(conn, doc, next_due=upcoming, last_run=iso(last_run) if last_run else None)
    return created


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
