"""One page of a run's audience, from endpoints to messages handed to the channels.

`prepare` (the run's thread, one page at a time, in order) decides each endpoint's fate:
already recorded in this run (counted as recorded; a PENDING one, whose send was cut short by
a crash, is sent again with the same message id), screened out (`screening`), a duplicate
address, removed by the hook, capped, expired (MaximumDuration), or in quiet time. It records
every targeted endpoint in `campaign_deliveries` (PENDING, QUIET_TIME or EXPIRED) *before*
anything is sent, so whatever happens next, a restarted run never sends it a second message.

`deliver` (a pool thread) paces the page (MessagesPerSecond), hands it to the Sender in
batches (which writes each message's `_campaign.send` with its channel events) and records
each outcome.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ...channels.base import CONNECTION_FAILED
from ...clock import iso
from ...delivery.items import DeliveryItem
from ...store import campaign_deliveries as deliveries
from . import screening, send_events, tally
from .tally import Tally
from .treatment import CUSTOM, RunSettings

# Items per Sender call: the most a crash can leave sent but unrecorded, per thread (they are
# sent again, with the same message ids). The Sender hands them to the channel in chunks,
# rendering the next while one is on the wire, so one call per page keeps the channel fed and
# writes the page's statuses in one statement: into SMTP, 216 us of server CPU per message
# against 225 with calls of 200, and no slower (bench/campaign.py).
SEND_BATCH = 1000
DAY = timedelta(days=1)


@dataclass(slots=True)
class Target:
    key: str
    endpoint: dict
    channel: str
    address: str | None
    due: datetime  # when it was meant to go (the run's start, or its local time)


@dataclass
class Prepared:
    tally: Tally = field(default_factory=Tally)
    targets: list[Target] = field(default_factory=list)


@dataclass
class Delivered:
    tally: Tally = field(default_factory=Tally)
    unreachable: list[str] = field(default_factory=list)  # keys whose transport could not be reached
    reached: bool = False  # some result came back from a reachable transport


def message_id(settings: RunSettings, key: str, trigger_id: str) -> str:
    """The same message id however often a crashed run retries it: receivers can drop copies."""
    digest = hashlib.blake2b(f"{settings.activity_id}/{key}/{trigger_id}".encode(), digest_size=16)
    return digest.hexdigest()


class Pipeline:
    def __init__(self, service, settings: RunSettings, sender, *, limiter=None, hook=None, trigger_id: str = ""):
        self.service, self.settings, self.sender = service, settings, sender
        self.limiter, self.hook, self.trigger_id = limiter, hook, trigger_id
        self.attributes = settings.event_attributes()
        self._also_record = self._campaign_event  # one bound method for every item
        self.heartbeat = None  # called between hook calls, which can be slow

    # -- deciding ----------------------------------------------------------------------------

    def prepare(self, entries: list[tuple[dict, datetime]], now: datetime) -> Prepared:
        """entries: (endpoint, when it was due; None for a local-time run's endpoint without a
        valid time zone) for the page's endpoints this pass owns."""
        out = Prepared()
        out.tally.skip(tally.PRODUCED, len(entries))
        candidates = []
        for endpoint, due in entries:
            reason, channel = screening.screen(endpoint, self.settings)
            if reason:
                out.tally.skip(reason)
            elif due is None:
                out.tally.skip(tally.MISSING_TIMEZONE)
            else:
                key = screening.endpoint_key(endpoint)
                candidates.append(Target(key, endpoint, channel, screening.address_key(endpoint, channel), due))
        if not candidates:
            return out
        with self.service.store.read() as conn:
            seen, used = deliveries.recorded(conn, self.settings.activity_id, self.trigger_id,
                                             [t.key for t in candidates], [t.address for t in candidates if t.address])
        fresh = self._unrecorded(candidates, seen, used, out)
        fresh = self._hooked(fresh, out)
        fresh = self._capped(fresh, now, out)
        self._record(fresh, now, out)
        return out

    def _unrecorded(self, candidates: list[Target], seen: dict, used: set, out: Prepared) -> list[Target]:
        """Count what this run already recorded; keep the rest, less duplicate addresses (an
        address the run has recorded for any endpoint, or an earlier one of this page)."""
        fresh, claimed = [], set(used)
        for target in candidates:
            status = seen.get(target.key)
            if status == deliveries.PENDING:
                self._again(target, out)  # cut short by a crash: send again, same message id
            elif status is not None:
                _count_recorded(out.tally, status)
            elif target.address is not None and target.address in claimed:
                out.tally.skip(tally.DUPLICATE)
            else:
                claimed.add(target.address)
                fresh.append(target)
        return fresh

    def _again(self, target: Target, out: Prepared) -> None:
        now = self.service.clock.now()
        if not screening.expired(target.due, self.settings.maximum_duration, now):
            out.targets.append(target)
            return
        out.tally.skip(tally.EXPIRED)
        with self.service.store.write() as conn:
            deliveries.set_statuses(conn, self.settings.activity_id, self.trigger_id, {target.key: deliveries.EXPIRED})
        self._write_events([(target, "EXPIRED", None)], now)

    def _hooked(self, targets: list[Target], out: Prepared) -> list[Target]:
        if self.hook is None or not targets:
            return targets
        by_id = {t.endpoint["Id"]: t for t in targets}
        kept, failed = self.hook.filter(self.settings, {i: t.endpoint for i, t in by_id.items()}, self.heartbeat)
        out.tally.skip(tally.HOOK_FAILURE, len(failed))
        out.tally.skip(tally.FILTERED_BY_HOOK, len(by_id) - len(failed) - len(kept))
        result = []
        for endpoint_id, endpoint in kept.items():
            target = by_id[endpoint_id]
            target.endpoint = endpoint
            result.append(target)
        return result

    def _capped(self, targets: list[Target], now: datetime, out: Prepared) -> list[Target]:
        s = self.settings
        if not s.has_caps or not targets:
            return targets
        with self.service.store.read() as conn:
            counts = deliveries.cap_counts(conn, s.app_id, s.campaign_id, [t.key for t in targets], iso(now - DAY))
        kept = []
        for target in targets:
            total, daily, app_daily = counts.get(target.key, (0, 0, 0))
            if s.total and total >= s.total:
                out.tally.skip(tally.TOTAL_CAP)
            elif (s.daily and daily >= s.daily) or (s.app_daily and app_daily >= s.app_daily):
                out.tally.skip(tally.DAILY_CAP)
            else:
                kept.append(target)
        return kept

    def _record(self, targets: list[Target], now: datetime, out: Prepared) -> None:
        s, stamp = self.settings, iso(now)
        rows, expired = [], []
        for target in targets:
            if screening.expired(target.due, s.maximum_duration, now):
                status = deliveries.EXPIRED
                out.tally.skip(tally.EXPIRED)
                expired.append(target)
            elif screening.in_quiet_time(target.endpoint, s.quiet_time, now):
                status = deliveries.QUIET_TIME  # targeted (it counts for the caps), not sent
                out.tally.skip(tally.QUIET_TIME)
            else:
                status = deliveries.PENDING
                out.targets.append(target)
            rows.append((s.activity_id, target.key, self.trigger_id, s.app_id, s.campaign_id, target.address, status,
                         stamp))  # deliveries.COLUMNS
        if rows:
            with self.service.store.write() as conn:
                deliveries.insert(conn, rows)
        if expired:
            self._write_events([(t, "EXPIRED", None) for t in expired], now)

    # -- sending -----------------------------------------------------------------------------

    def deliver(self, prepared: Prepared) -> Delivered:
        """Send the page; returns once its outcomes and its events are durable (the Sender
        writes each message's `_campaign.send` with its channel events)."""
        out = Delivered()
        targets = prepared.targets
        size = self.limiter.batch_size(SEND_BATCH) if self.limiter else SEND_BATCH
        for start in range(0, len(targets), size):
            batch = targets[start:start + size]
            if self.limiter:
                self.limiter.acquire(len(batch))
            self._send(batch, out)
        return out

    def _send(self, batch: list[Target], out: Delivered) -> None:
        s = self.settings
        items = [DeliveryItem(endpoint=t.endpoint, channel_type=t.channel,
                              message_configuration=s.custom_configuration if t.channel == CUSTOM
                              else s.message_configuration,
                              template_configuration=s.template_configuration, event_attributes=self.attributes,
                              message_id=message_id(s, t.key, self.trigger_id), also_record=self._also_record)
                 for t in batch]
        results = self.sender.send(s.app_id, items)
        statuses = {}
        for target, result in zip(batch, results):
            statuses[target.key] = result.status
            out.tally.attempt(result.status)
            if _unreachable(result):
                out.unreachable.append(target.key)
            else:
                out.reached = True
        with self.service.store.write() as conn:
            deliveries.set_statuses(conn, s.activity_id, self.trigger_id, statuses)

    def _campaign_event(self, item: DeliveryItem, result, sent_id: str, moment: int) -> dict:
        """`_campaign.send` for a message handed to its channel (the items' `also_record`)."""
        status = "SUCCESS" if result.ok else result.status
        return send_events.event(self.attributes, item.channel_type, status, sent_id,
                                 screening.endpoint_key(item.endpoint), moment)

    def _write_events(self, sends: list[tuple[Target, str, str | None]], now: datetime) -> None:
        """`_campaign.send` lines of their own (EXPIRED endpoints)."""
        rows = [(t.key, t.endpoint, t.channel, status, sent_id or message_id(self.settings, t.key, self.trigger_id))
                for t, status, sent_id in sends]
        self.service.events.append_encoded(send_events.encode(self.settings.app_id, self.attributes, rows, now))


def _unreachable(result) -> bool:
    return result.reason == CONNECTION_FAILED


def _count_recorded(counts: Tally, status: str) -> None:
    if status == deliveries.QUIET_TIME:
        counts.skip(tally.QUIET_TIME)
    elif status == deliveries.EXPIRED:
        counts.skip(tally.EXPIRED)
    else:
        counts.attempt(status)
