"""EVENT campaigns: matching incoming events to the campaigns they start (reference §4.5).

The service calls `on_events` after a batch of events is durable: PutEvents' events with
FilterType ENDPOINT, the events Clarion writes itself (`_email.delivered`, `_SMS.SUCCESS`,
`_campaign.send`, ...) with SYSTEM. The work on that path is one dictionary lookup when the app
has no EVENT campaign: each app's active EVENT campaigns are cached, indexed by the event
types that can start them, and the cache is dropped whenever a campaign changes (and after
CACHE_SECONDS, for changes made by other processes).

A match (the event's type, attributes and metrics pass the filter, and its arrival is within
the campaign's StartTime and EndTime) enqueues one durable `campaign_event` job, keyed by
campaign, endpoint and event id, so a client resending the same events does not trigger twice.
The job (`event_run`) checks that the endpoint is in the campaign's segment and sends within
seconds, or drops the message once 5 minutes have passed since the event.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import select

from ...clock import iso, parse_iso
from ...domain import campaigns as rules
from ...events.ingest import SERVICE_EVENT_PREFIXES, SERVICE_EVENT_TYPES
from ...store.schema import campaigns as campaigns_table
from . import event_filter

log = logging.getLogger("clarion.campaigns.triggers")
CACHE_SECONDS = 5.0
JOB_KIND = "campaign_event"


@dataclass(frozen=True)
class Trigger:
    campaign_id: str
    version: int
    filter_type: str  # SYSTEM | ENDPOINT
    dimensions: dict
    start: datetime
    end: datetime | None


@dataclass
class AppTriggers:
    by_type: dict[str, list[Trigger]] = field(default_factory=dict)  # EventType INCLUSIVE
    any_type: list[Trigger] = field(default_factory=list)  # no EventType, or EXCLUSIVE
    filter_types: set[str] = field(default_factory=set)  # SYSTEM and/or ENDPOINT
    loaded: float = 0.0

    def candidates(self, event_type: str) -> list[Trigger]:
        listed = self.by_type.get(event_type)
        return listed + self.any_type if listed else self.any_type


def trigger_id(event_id: str) -> str:
    return hashlib.blake2b(event_id.encode(), digest_size=12).hexdigest()


class TriggerIndex:
    def __init__(self, service):
        self.service = service
        self._apps: dict[str, AppTriggers] = {}
        self._system: tuple[bool, float] | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._apps = {}
            self._system = None

    def for_app(self, app_id: str) -> AppTriggers:
        found = self._apps.get(app_id)
        if found is not None and time.monotonic() - found.loaded < CACHE_SECONDS:
            return found
        found = self._load(app_id)
        with self._lock:
            self._apps[app_id] = found
        return found

    def _load(self, app_id: str) -> AppTriggers:
        triggers = AppTriggers(loaded=time.monotonic())
        c = campaigns_table.c
        with self.service.store.read() as conn:
            docs = conn.execute(select(c.doc).where(c.app_id == app_id, c.state.in_(rules.ACTIVE_STATES))).scalars()
            for doc in docs:
                trigger = _trigger(doc)
                if trigger is None:
                    continue
                triggers.filter_types.add(trigger.filter_type)
                types = event_filter.event_types(trigger.dimensions)
                if types is not None and types[0] == "INCLUSIVE":
                    for event_type in types[1]:
                        triggers.by_type.setdefault(event_type, []).append(trigger)
                else:
                    triggers.any_type.append(trigger)
        return triggers

    # -- listening -------------------------------------------------------------------------

    def on_events(self, filter_type: str, app_id: str | None, events) -> None:
        """ENDPOINT: `events` is (PutEvents BatchItem, its per-event results); SYSTEM: the
        `events.rows.Encoded` lines just stored. Never raises: the events are stored already,
        and whoever stored them must not fail for a trigger."""
        try:
            self._on_events(filter_type, app_id, events)
        except Exception:  # noqa: BLE001
            log.exception("could not match events to EVENT campaigns (app %s)", app_id)

    def _on_events(self, filter_type: str, app_id: str | None, events) -> None:
        if filter_type == "ENDPOINT":
            if "ENDPOINT" in self.for_app(app_id).filter_types:
                self._enqueue(self._match(app_id, "ENDPOINT", _endpoint_events(*events)))
            return
        if not self._any_system():
            return
        matched = []
        for line in events.lines.split(b"\n"):
            if line:
                item = orjson.loads(line)
                if "SYSTEM" in self.for_app(item["a"]).filter_types:
                    matched += self._match(item["a"], "SYSTEM", _system_events(item))
        self._enqueue(matched)

    def on_stored(self, encoded) -> None:
        """The event store's listener: events made durable, of which Clarion's own (SYSTEM)."""
        self.on_events("SYSTEM", None, encoded)

    def _any_system(self) -> bool:
        """Whether any app has an active SYSTEM-filtered EVENT campaign (cached like the rest)."""
        cached = self._system
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        c = campaigns_table.c
        with self.service.store.read() as conn:
            docs = conn.execute(select(c.doc).where(c.state.in_(rules.ACTIVE_STATES))).scalars()
            found = any((t := _trigger(doc)) is not None and t.filter_type == "SYSTEM" for doc in docs)
        self._system = (found, time.monotonic())
        return found

    def _match(self, app_id: str, filter_type: str, events) -> list[tuple]:
        index, now = self.for_app(app_id), self.service.clock.now()
        matched = []
        for endpoint_id, event_id, event_type, attributes, metrics, source_campaign in events:
            for trigger in index.candidates(event_type):
                if (trigger.filter_type != filter_type or trigger.campaign_id == source_campaign
                        or now < trigger.start or (trigger.end is not None and now > trigger.end)):
                    continue
                if event_filter.matches(trigger.dimensions, event_type, attributes, metrics):
                    matched.append((app_id, trigger, endpoint_id, event_id))
        return matched

    def _enqueue(self, matched: list[tuple]) -> None:
        if not matched:
            return
        service, arrival = self.service, iso(self.service.clock.now())
        with service.store.write() as conn:
            for app_id, trigger, endpoint_id, event_id in matched:
                key = endpoint_id.lower()
                payload = {"app_id": app_id, "campaign_id": trigger.campaign_id, "version": trigger.version,
                           "endpoint_key": key, "trigger_id": trigger_id(event_id), "arrival": arrival}
                service.queue.enqueue(conn, JOB_KIND, payload, app_id=app_id, max_attempts=3,
                                      unique_key=f"{JOB_KIND}:{trigger.campaign_id}:{key}:{payload['trigger_id']}")
        service.queue.notify()


def _trigger(doc: dict) -> Trigger | None:
    schedule = doc.get("Schedule") or {}
    # IN_APP_EVENT campaigns are matched on the device (GetInAppMessages hands the app the
    # filter): the server sends nothing for them.
    if (schedule.get("Frequency") or "ONCE") != "EVENT" or doc.get("IsPaused"):
        return None
    event_filter_doc = schedule.get("EventFilter") or {}
    start = parse_iso(doc["CreationDate"]) if schedule.get("StartTime") in (None, "IMMEDIATE") \
        else parse_iso(schedule["StartTime"])
    return Trigger(doc["Id"], doc["Version"], event_filter_doc.get("FilterType") or "ENDPOINT",
                   event_filter_doc.get("Dimensions") or {}, start,
                   parse_iso(schedule["EndTime"]) if schedule.get("EndTime") else None)


def _endpoint_events(batches: dict, results: dict):
    """(endpoint id, event id, type, attributes, metrics, None) of PutEvents' accepted events."""
    for endpoint_id, batch in batches.items():
        responses = (results.get(endpoint_id) or {}).get("EventsItemResponse") or {}
        if not isinstance(batch, dict):
            continue
        for event_id, event in (batch.get("Events") or {}).items():
            if isinstance(event, dict) and (responses.get(event_id) or {}).get("StatusCode") == 202:
                yield endpoint_id, event_id, event["EventType"], event.get("Attributes"), event.get("Metrics"), None


def _system_events(item: dict):
    """The service's own events in one event-store line (`events.rows`): PutEvents cannot send
    those types, so they are what Clarion recorded itself."""
    for event in item["ev"]:
        body = event["e"]
        event_type = body.get("EventType") or ""
        if event_type in SERVICE_EVENT_TYPES or event_type.startswith(SERVICE_EVENT_PREFIXES):
            attributes = body.get("Attributes") or {}
            yield (item["ep"], event.get("id") or "", event_type, attributes, body.get("Metrics"),
                   attributes.get("campaign_id"))
