"""The `campaign_run` job: one treatment's run of a campaign, i.e. one activity.

    payload {app_id, campaign_id, activity_id, version}

The run reads the campaign version it was scheduled with, resolves the segment, and streams
the segment's endpoints in this treatment's cohorts in keyset pages (`audience`). Each page
goes through the `pipeline`: decided and recorded in the run's thread, then sent by a small
pool while the next page is read, at most IN_FLIGHT pages ahead. After each page, in order,
the run state (cursor and counters) is saved with the activity, so a run that is stopped or
killed resumes at its last page, and the deliveries table keeps it from sending twice.

Between pages the run looks at its campaign: paused, deleted or gone, it stops (PAUSED: the
scheduler resumes it when the campaign is unpaused). A message whose channel could not be
reached is not final: its record is dropped and its page sent again after a short wait; after
MAX_UNREACHABLE such failures in a row the campaign is paused (as listmonk does), and the
messages go when it is resumed.

IsLocalTime runs come in passes: each pass sends to the endpoints whose local start time has
come since the previous pass (`audience.LocalWindow`), then queues the next pass for the
next time zone's start. Endpoints without a valid time zone are counted once, in the first.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from ...store import apps as app_store
from ...store import campaign_deliveries
from ...store import campaign_runs
from ...store import campaigns as campaign_store
from ...store import segments as segment_store
from . import audience, lifecycle, treatment
from .hook import Hook
from .pipeline import Pipeline
from .tally import Tally

log = logging.getLogger("clarion.campaigns")
IN_FLIGHT = 2
MAX_UNREACHABLE = 100
HEARTBEAT_SECONDS = 5.0
BEAT_SECONDS = 1.0  # the lease (30 s) is renewed at most this often between pages
RETRY_PAUSE_SECONDS = 0.05  # times the failures in a row, before a page is sent again


def run_campaign(service, job, progress) -> None:
    run = CampaignRun.open(service, job)
    if run is not None:
        run.execute(progress)


def run_died(service, job, error: str) -> None:
    """The run's job failed its last attempt: the activity completes as FAIL and the campaign
    moves on, rather than showing a run in progress for ever."""
    with service.store.write() as conn:
        run = campaign_runs.load(conn, job.payload["activity_id"], lock=True)
        if run is not None and not run.state.get("finished"):
            lifecycle.finish(conn, run, service.clock.now(), result="FAIL")
    log.error("campaign %s: its run %s gave up after %d attempts: %s", job.payload["campaign_id"],
              job.payload["activity_id"], job.attempts, error)


run_campaign.on_dead = run_died


@dataclass
class Page:
    last_key: str
    tally: Tally
    future: object


class CampaignRun:
    def __init__(self, service, job, run, settings, segment, window):
        self.service, self.job, self.run = service, job, run
        self.settings, self.segment, self.window = settings, segment, window
        self.tally = Tally(run.state.get("tally"))
        runtime = service.campaigns
        self.pipeline = Pipeline(service, settings, runtime.sender,
                                 limiter=runtime.limiters.get(settings.campaign_id, settings.messages_per_second),
                                 hook=Hook(settings.hook, service.settings.region) if settings.hook else None)
        self.stop_reason: str | None = None
        self._next_beat = 0.0  # time.monotonic() of the next lease renewal

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, service, job) -> "CampaignRun | None":
        payload, now = job.payload, service.clock.now()
        with service.store.write() as conn:
            run = campaign_runs.load(conn, payload["activity_id"], lock=True)
            if run is None or run.state.get("finished"):
                return None  # the campaign was deleted, or this run is done already
            campaign = campaign_store.get(conn, payload["app_id"], payload["campaign_id"], payload["version"])
            current = campaign_store.row(conn, payload["app_id"], payload["campaign_id"])
            if campaign is None or current is None:
                return None
            run.state.setdefault("version", payload["version"])
            segment = segment_store.get(conn, payload["app_id"], campaign["SegmentId"], campaign.get("SegmentVersion"))
            if segment is None:
                lifecycle.cancel(conn, run, now, "DELETED")
                return None
            if current.doc["State"]["CampaignStatus"] in ("DELETED", "INVALID", "COMPLETED"):
                lifecycle.cancel(conn, run, now)
                return None
            if current.doc.get("IsPaused") or current.doc["State"]["CampaignStatus"] == "PAUSED":
                lifecycle.pause(conn, run)
                return None
            settings = treatment.build(campaign, run.doc, app_store.get_settings(conn, payload["app_id"]))
            lifecycle.start(run, now)
            window = audience.LocalWindow.of(run.state, settings, now)
            campaign_runs.save(conn, run)
        return cls(service, job, run, settings, segment, window)

    # -- running -----------------------------------------------------------------------------

    def execute(self, progress) -> None:
        self.pipeline.heartbeat = lambda: self._heartbeat(progress)  # a slow hook must not lose the lease
        reader = audience.Reader(self.service, self.settings, self.segment)
        if not self.run.state.get("holdout_counted"):
            self.tally.merge(reader.holdout_tally())
            self.run.state["holdout_counted"] = True
        with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="clarion-campaign") as pool:
            while self.stop_reason is None and not self._pages(reader, pool, progress):
                pass  # a channel could not be reached: read again from the last saved page
        self._conclude(progress)

    def _pages(self, reader, pool, progress) -> bool:
        """Prepare and send the pages from the last saved one on; False when they must be read
        again."""
        inflight: deque[Page] = deque()
        after = self.run.state.get("after")
        while self.stop_reason is None:
            page, self.stop_reason = reader.next_page(after)
            if not page:
                break
            prepared = self.pipeline.prepare(self.window.owned(page), self.service.clock.now())
            inflight.append(Page(audience.last_key(page), prepared.tally, pool.submit(self.pipeline.deliver, prepared)))
            after = inflight[-1].last_key
            if not self._settle(inflight, progress, keep=IN_FLIGHT - 1):
                return False
        return self._settle(inflight, progress, keep=0)

    def _settle(self, inflight: deque, progress, keep: int) -> bool:
        """Take in the pages whose sends are done, oldest first, saving the run after each.
        False when a channel could not be reached: those messages are forgotten, the pages
        dropped (they are read again from the last saved one) and, after MAX_UNREACHABLE
        failures in a row, the run stops (the campaign is paused)."""
        while inflight and (len(inflight) > keep or inflight[0].future.done()):
            page = inflight[0]
            while not wait([page.future], timeout=HEARTBEAT_SECONDS).done:
                self._heartbeat(progress)
            delivered = page.future.result()
            if delivered.unreachable:
                self._unreachable(inflight, delivered)
                return False
            if delivered.reached:
                self.run.state["streak"] = 0
            inflight.popleft()
            self.tally.merge(page.tally)
            self.tally.merge(delivered.tally)
            self.run.state["after"] = page.last_key
            if self.stop_reason != "lost":  # another worker owns the run now: write nothing
                self._save()
                self._beat(progress)
        return True

    def _unreachable(self, inflight: deque, delivered) -> None:
        failed = list(delivered.unreachable)
        inflight.popleft()
        while inflight:  # the later pages are read again too
            failed += inflight.popleft().future.result().unreachable
        with self.service.store.write() as conn:
            campaign_deliveries.forget(conn, self.settings.activity_id, "", failed)
        streak = self.run.state.get("streak", 0) + len(failed)
        self.run.state["streak"] = streak
        if streak >= MAX_UNREACHABLE:
            self.stop_reason = "unreachable"
        else:
            time.sleep(min(RETRY_PAUSE_SECONDS * streak, 5.0))

    def _beat(self, progress) -> None:
        """After a page: renew the lease when it is time (a write of its own per page costs a
        few percent of a big campaign's sends), and at once when the worker is stopping."""
        if time.monotonic() >= self._next_beat or progress.stopping.is_set():
            self._heartbeat(progress)

    def _heartbeat(self, progress) -> None:
        self._next_beat = time.monotonic() + BEAT_SECONDS
        if not progress.save({"after": self.run.state.get("after")}) and self.stop_reason is None:
            self.stop_reason = "lost"  # the lease was lost, or the worker is stopping

    def _save(self) -> None:
        self.tally.apply(self.run.doc)
        self.run.state["tally"] = self.tally.state()
        if self.run.doc["State"] == "INITIALIZING":
            self.run.doc["State"] = "RUNNING"
        self.window.show(self.run)
        with self.service.store.write() as conn:
            if not campaign_runs.save(conn, self.run):
                self.stop_reason = "deleted"

    def _conclude(self, progress) -> None:
        reason, service = self.stop_reason, self.service
        if reason in ("lost", "deleted", "gone"):
            return  # someone else carries on (or nothing is left to do)
        self.tally.apply(self.run.doc)
        self.run.state["tally"] = self.tally.state()
        with service.store.write() as conn:
            if reason in ("paused", "unreachable"):
                lifecycle.pause(conn, self.run, unreachable=reason == "unreachable")
            elif reason == "segment":
                lifecycle.cancel(conn, self.run, service.clock.now(), "DELETED")
            elif self.window.next_pass(self.run):
                lifecycle.enqueue_continuation(service, conn, self.run, self.window.wake_at)
            else:
                self.window.show(self.run)
                lifecycle.finish(conn, self.run, service.clock.now())
            service.queue.complete(self.job, conn)
        if reason == "unreachable":
            log.warning("campaign %s paused: its channel could not be reached %d times in a row",
                        self.settings.campaign_id, MAX_UNREACHABLE)
