"""A run's audience: the segment's endpoints in the treatment's cohorts, read page by page,
and (IsLocalTime) which of them each pass owns.

Pages are keyset-ordered by endpoint key and each is its own short read, so a run holds no
transaction open between pages and resumes after the last key it finished. The plan is the
segment's (evaluated once per run start, so recency dimensions are stable across pages) with
the treatment's CohortIds added; the segment's members in other cohorts are counted once as
TREATMENT_HOLDOUT.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select

from ...clock import iso, parse_iso
from ...domain import segments as seg
from ...store import campaigns as campaign_store
from ...store import segments as segment_store
from ...store.schema import endpoints, users
from ...store.segment_sql import audience_from
from . import screening, tally
from .tally import Tally
from .treatment import RunSettings

PAGE_SIZE = 1000


def last_key(page: list[dict]) -> str:
    return screening.endpoint_key(page[-1])


def cohort_filter(first: int, end: int):
    return seg.FieldIn(("CohortId",), tuple(str(c) for c in range(first, end)))


def member(conn, app_id: str, plan, key: str) -> dict | None:
    """The endpoint (with its user's attributes) if it is in the segment, else None."""
    where = and_(segment_store.condition(conn, app_id, plan), endpoints.c.endpoint_key == key)
    row = conn.execute(select(endpoints.c.doc, users.c.attributes).select_from(audience_from()).where(where)).first()
    if row is None:
        return None
    doc, attributes = row
    if attributes and doc.get("User"):
        doc = {**doc, "User": {**doc["User"], "UserAttributes": attributes}}
    return doc


class Reader:
    def __init__(self, service, settings: RunSettings, segment: dict, page_size: int | None = None):
        self.service, self.settings, self.segment = service, settings, segment
        self.page_size = page_size or PAGE_SIZE
        with service.store.read() as conn:
            self.segment_plan = segment_store.plan_for(conn, settings.app_id, segment, service.clock.now())
        first, end = settings.cohorts
        self.everyone = (first, end) == (0, 100)
        self.plan = self.segment_plan if self.everyone else seg.All((self.segment_plan, cohort_filter(first, end)))

    def holdout_tally(self) -> Tally:
        """The segment's members this treatment leaves to the holdout and the other treatments."""
        counts = Tally()
        if self.everyone:
            return counts
        first, end = self.settings.cohorts
        others = seg.All((self.segment_plan, seg.Not(cohort_filter(first, end))))
        with self.service.store.read() as conn:
            held = segment_store.size(conn, self.settings.app_id, others)["Total"]
        counts.skip(tally.PRODUCED, held)
        counts.skip(tally.HOLDOUT, held)
        return counts

    def next_page(self, after: str | None) -> tuple[list[dict], str | None]:
        """The next page, or ([], why the run must stop) when its campaign is paused, deleted or
        gone, or its segment was deleted."""
        s = self.settings
        with self.service.store.read() as conn:
            row = campaign_store.row(conn, s.app_id, s.campaign_id)
            if row is None:
                return [], "gone"
            if row.doc.get("IsPaused") or row.doc["State"]["CampaignStatus"] == "PAUSED":
                return [], "paused"
            if segment_store.get(conn, s.app_id, self.segment["Id"]) is None:
                return [], "segment"
            pages = segment_store.endpoint_pages(conn, s.app_id, self.plan, after=after, page_size=self.page_size)
            return next(pages, []), None



class LocalWindow:
    """Which endpoints of a page the current pass sends to, with when each was due.

    Without IsLocalTime: all of them, due at the run's start. With it, a pass started at
    `pass_now` owns the endpoints whose local start time is in (done_until, pass_now]; later
    ones wait for a later pass (`wake_at`: the earliest of them), earlier ones were handled
    already. Endpoints without a valid zone belong to the first pass (due None: counted as
    ENDPOINT_MISSING_TIMEZONE). The zones seen give TimezonesTotalCount/CompletedCount.
    """

    def __init__(self, state: dict, settings: RunSettings, now: datetime):
        self.state, self.settings = state, settings
        self.local = settings.local_time
        if self.local:
            state.setdefault("pass_now", iso(now))
            state.setdefault("zones", [])
        self.pass_now = parse_iso(state["pass_now"]) if self.local else None
        self.done_until = parse_iso(state["done_until"]) if state.get("done_until") else None
        self.first = not state.get("passes")
        self.zones = set(state.get("zones") or [])
        self.wake_at = parse_iso(state["wake"]) if state.get("wake") else None

    @classmethod
    def of(cls, state: dict, settings: RunSettings, now: datetime) -> "LocalWindow":
        return cls(state, settings, now)

    def owned(self, page: list[dict]) -> list[tuple[dict, datetime | None]]:
        start = self.settings.scheduled_start
        if not self.local:
            return [(endpoint, start) for endpoint in page]
        owned = []
        for endpoint in page:
            due = screening.local_due(endpoint, start)
            if due is None:
                if self.first:
                    owned.append((endpoint, None))
                continue
            self.zones.add(iso(due))
            if self.done_until is not None and due <= self.done_until:
                continue
            if due > self.pass_now:
                self.wake_at = due if self.wake_at is None else min(self.wake_at, due)
                continue
            owned.append((endpoint, due))
        return owned

    def show(self, run) -> None:
        """Keep the zone bookkeeping in the run state and on the activity."""
        if not self.local:
            return
        self.state["zones"] = sorted(self.zones)
        if self.wake_at is not None:
            self.state["wake"] = iso(self.wake_at)
        done = iso(self.done_until) if self.done_until else ""
        run.doc["TimezonesTotalCount"] = len(self.zones)
        run.doc["TimezonesCompletedCount"] = sum(1 for z in self.zones if z <= done)

    def next_pass(self, run) -> bool:
        """The pass is over: True (and the state set for it) when another must follow, at
        `wake_at`."""
        if not self.local:
            return False
        self.done_until = self.pass_now
        self.show(run)
        self.state.update(done_until=iso(self.pass_now), passes=self.state.get("passes", 0) + 1, after=None)
        self.state.pop("pass_now", None)
        self.state.pop("wake", None)
        return self.wake_at is not None
