"""How a run moves its activity and its campaign through their states (reference §4.10-4.11).

Activity: PENDING (scheduled) -> INITIALIZING (the run opened) -> RUNNING -> COMPLETED (Result
SUCCESS, or FAIL when nothing it attempted was accepted or its job failed every attempt), or PAUSED (the campaign was paused,
or the channel stayed unreachable: resumed by the scheduler on unpause), or CANCELLED (its
segment was deleted: the campaign becomes DELETED).

Campaign: when the last treatment of a scheduled start completes, the campaign goes to
PENDING_NEXT_RUN or COMPLETED (`domain.campaigns.state_after_run`), unless a later run has
already started.
"""

from __future__ import annotations

from datetime import datetime

from ...clock import iso, parse_iso
from ...domain import campaigns as rules
from ...domain import schedule as sched
from ...operations.campaigns import treatment_schedules
from ...store import campaign_runs
from ...store import campaigns as campaign_store
from ...store.campaign_runs import Run

FINISHED = ("COMPLETED", "CANCELLED")


def start(run: Run, now: datetime) -> None:
    if run.doc["State"] == "PENDING":
        run.doc["State"] = "INITIALIZING"
    run.doc.setdefault("Start", iso(now))


def finish(conn, run: Run, now: datetime, result: str | None = None) -> None:
    """The run is over: complete the activity and, if it was the last of its start, move the
    campaign on. `result` FAIL: it gave up; by default, FAIL when nothing it attempted was
    accepted."""
    doc = run.doc
    if result is None:
        result = "FAIL" if doc["TotalEndpointCount"] and not doc["SuccessfulEndpointCount"] else "SUCCESS"
    doc.update(State="COMPLETED", End=iso(now), Result=result)
    run.state["finished"] = True
    campaign_runs.save(conn, run)
    campaign_after_run(conn, doc["ApplicationId"], doc["CampaignId"], doc["ScheduledStart"])


def campaign_after_run(conn, app_id: str, campaign_id: str, scheduled_start: str) -> None:
    row = campaign_store.row(conn, app_id, campaign_id, lock=True)
    if row is None or row.doc["State"]["CampaignStatus"] != "EXECUTING":
        return
    siblings = campaign_runs.of_start(conn, app_id, campaign_id, scheduled_start)
    if any(a["State"] not in FINISHED for a in siblings) or campaign_runs.unfinished(conn, app_id, campaign_id):
        return
    doc = row.doc
    upcoming = _next_run(doc, row.last_run, campaign_runs.last_starts(conn, app_id, campaign_id))
    state = rules.state_after_run(doc, upcoming)
    _set_state(conn, row, state)


def _next_run(doc: dict, last_run: str | None, last_starts: dict[str, str]) -> datetime | None:
    created = parse_iso(doc["CreationDate"])
    runs = []
    for treatment_id, schedule, own in treatment_schedules(doc):
        last = last_starts.get(treatment_id) if own else last_run
        upcoming = sched.next_run(schedule, created, parse_iso(last) if last else None)
        if upcoming is not None:
            runs.append(upcoming)
    return min(runs) if runs else None


def _set_state(conn, row, state: str, **changes) -> None:
    doc = {**row.doc, **changes, "State": {"CampaignStatus": state}, "DefaultState": {"CampaignStatus": state}}
    doc["AdditionalTreatments"] = [{**t, "State": {"CampaignStatus": state}} for t in doc.get("AdditionalTreatments") or []]
    next_due = row.next_due if state in rules.ACTIVE_STATES else None
    campaign_store.save(conn, doc, next_due=next_due)


def pause(conn, run: Run, *, unreachable: bool = False) -> None:
    """Stop the run where it is. `unreachable`: the channel failed again and again, so the
    campaign itself is paused (IsPaused) until someone resumes it."""
    run.doc["State"] = "PAUSED"
    campaign_runs.save(conn, run)
    row = campaign_store.row(conn, run.doc["ApplicationId"], run.doc["CampaignId"], lock=True)
    if row is None or row.doc["State"]["CampaignStatus"] in ("COMPLETED", "DELETED", "INVALID"):
        return
    if unreachable or row.doc.get("IsPaused"):
        _set_state(conn, row, "PAUSED", IsPaused=True)


def cancel(conn, run: Run, now: datetime, campaign_state: str | None = None) -> None:
    """The run cannot go on (its segment is gone: the campaign becomes DELETED)."""
    run.doc.update(State="CANCELLED", End=iso(now), Result="FAIL")
    run.state["finished"] = True
    campaign_runs.save(conn, run)
    if campaign_state:
        row = campaign_store.row(conn, run.doc["ApplicationId"], run.doc["CampaignId"], lock=True)
        if row is not None:
            _set_state(conn, row, campaign_state)


def resume_paused(service, conn, doc: dict) -> int:
    """Restart the runs a pause stopped (the campaign is no longer paused); returns how many."""
    resumed = 0
    for run in campaign_runs.paused(conn, doc["ApplicationId"], doc["Id"]):
        run.doc["State"] = "RUNNING"
        enqueue_continuation(service, conn, run, None)
        resumed += 1
    return resumed


def enqueue_continuation(service, conn, run: Run, run_after: datetime | None) -> None:
    """Save the run and queue the job that carries it on (after a pause, or for the next
    local-time zone), under a key of its own so it is queued once."""
    run.state["jobs"] = run.state.get("jobs", 0) + 1
    campaign_runs.save(conn, run)
    doc = run.doc
    payload = {"app_id": doc["ApplicationId"], "campaign_id": doc["CampaignId"], "activity_id": doc["Id"],
               "version": run.state["version"]}
    service.queue.enqueue(conn, "campaign_run", payload, app_id=doc["ApplicationId"], run_after=run_after,
                          unique_key=f"campaign_run:{doc['Id']}:{run.state['jobs']}")
