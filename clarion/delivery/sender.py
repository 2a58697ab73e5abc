"""The send path: `Sender(service).send(app_id, items) -> results`, used by SendMessages,
SendUsersMessages, SendOTPMessage and campaign runs alike.

For a batch of items (one per recipient) it:
1. reads, once, the app's channel settings and credentials for the channels in the batch, the
   templates named (the pinned version, else the version active now) and the tracking setting;
2. screens each item: OptOut ALL -> OPT_OUT; INACTIVE -> not sent (PERMANENT_FAILURE); a channel
   missing or disabled -> PERMANENT_FAILURE; an address seen earlier in the batch -> DUPLICATE;
3. renders each recipient's message (content merged once per distinct message, see `content`;
   compiled templates cached by the service's engine) and builds the transport's message;
4. hands each transport its messages in chunks of 200 on the transports' long-lived event loop
   (`service.channels`, started once and shared by every sender), rendering the next chunk
   while one is on its way;
5. writes the channel events of the whole batch in one append (`events`), and keeps endpoints
   up to date (a push token FCM replaced; INACTIVE for a token the platform no longer knows);
6. returns one `DeliveryResult` per item, in order.

It writes channel events only: `_campaign.send` / `_journey.send` are the campaign and journey
runtimes' to write (they have the results). A message that cannot be rendered for one
recipient fails for that recipient only; content that cannot compile at all, or a template that
does not exist, raises (TemplateError / NotFound) before anything is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..channels.base import (UNKNOWN_FAILURE, UNREGISTERED, ConfigurationError,
                             DeliveryResult as TransportResult, OutboundCustom, Transport)
from ..domain.templates import TemplateError
from ..events.rows import micros
from ..operations.templates import template_document
from ..store import apps as app_store
from ..store import channels as channel_store
from ..store import endpoints as endpoint_store
from . import tracking
from .content import FAMILY, TEMPLATE_MEMBER, Content, prepare
from .events import EventLines, event_endpoint, message_events, stringified
from .items import CAMPAIGN_KEYS, DeliveryItem, DeliveryResult, duplicate, failure, inactive, opted_out
from .outbound import Undeliverable, build, render

log = logging.getLogger("clarion.delivery")
CUSTOM_BATCH = 50  # endpoints per custom-channel call, as in Pinpoint
CHUNK = 200  # messages handed to a transport at a time while the next ones render


@dataclass
class Plan:
    """How one message goes out on one channel: its content, transport and channel settings."""

    content: Content | None
    transport: Transport | None = None
    channel_doc: dict | None = None
    error: str | None = None
    render: Callable[..., dict] | None = None  # the content's `TemplateEngine.message_renderer`


class Sender:
    def __init__(self, service):
        self.service = service

    def send(self, app_id: str, items: list[DeliveryItem]) -> list[DeliveryResult]:
        if not items:
            return []
        return _Batch(self.service, app_id, items).run()


class _Batch:
    def __init__(self, service, app_id: str, items: list[DeliveryItem]):
        self.service = service
        self.app_id = app_id
        self.items = items
        self.now = service.clock.now()
        self.moment = micros(self.now)
        self.new_id = IdBlock(service.ids.request_id)
        self.plans: dict[tuple, Plan] = {}
        self.attributes: dict[int, dict] = {}  # id(item.event_attributes) -> stringified (the items keep them alive)
        self._load()

    def _load(self) -> None:
        service = self.service
        channel_types = {item.channel_type for item in self.items}
        with service.store.read() as conn:
            self.channel_rows = {ct: channel_store.load(conn, service.vault, self.app_id, ct.lower())
                                 for ct in channel_types if FAMILY.get(ct) not in (None, "CUSTOM", "IN_APP")}
            self.templates = {}
            for item in self.items:
                for key in self._template_keys(item):
                    if key not in self.templates:
                        self.templates[key] = template_document(conn, *key)
            tracking_settings = tracking.settings_of(app_store.get_settings(conn, self.app_id))
        self.track = None
        if tracking_settings.get("Enabled"):
            self.track = (tracking.LinkSigner(service.vault.derive_key("email-tracking")),
                          tracking.base_url(tracking_settings, service.settings))

    @staticmethod
    def _template_keys(item: DeliveryItem) -> list[tuple]:
        family = FAMILY.get(item.channel_type)
        member = TEMPLATE_MEMBER.get(family)
        template = (item.template_configuration or {}).get(member) if member else None
        if not template or not template.get("Name"):
            return []
        return [(template["Name"], family, template.get("Version"))]

    # -- per item -------------------------------------------------------------------------------

    def run(self) -> list[DeliveryResult]:
        results: list[DeliveryResult | None] = [None] * len(self.items)
        ready, custom = self._screen_all(results)
        lines = EventLines()
        self._deliver(ready, results, lines)
        self._deliver_custom(custom, results, lines)
        self._record(lines)
        self._upkeep(results)
        return results

    def _screen_all(self, results: list) -> tuple[list, list]:
        """First pass: each item's early result, or its plan. Every plan (and so every content
        compile error) is known before anything is sent."""
        ready, custom = [], []
        seen: set[tuple[str, str]] = set()
        for index, item in enumerate(self.items):
            result = self._screen(item)
            if result is None:
                plan = self._plan(item)
                result = failure(item, plan.error) if plan.error else self._unique(item, seen)
            if result is not None:
                results[index] = result
            elif plan.content.family == "CUSTOM":
                custom.append((index, plan))
            else:
                ready.append((index, plan))
        return ready, custom

    def _screen(self, item: DeliveryItem) -> DeliveryResult | None:
        endpoint = item.endpoint
        if endpoint.get("OptOut") == "ALL":
            return opted_out(item)
        if endpoint.get("EndpointStatus") == "INACTIVE":
            return inactive(item)
        if item.channel_type not in FAMILY:
            return failure(item, f"Unknown channel type {item.channel_type}")
        if not item.address and item.channel_type != "CUSTOM":
            return failure(item, "Missing Address")
        return None

    def _unique(self, item: DeliveryItem, seen: set) -> DeliveryResult | None:
        if item.channel_type == "CUSTOM":
            return None
        address = item.address.lower() if item.channel_type == "EMAIL" else item.address
        key = (item.channel_type, address)
        if key in seen:
            return duplicate(item)
        seen.add(key)
        return None

    def _prepare(self, index: int, item: DeliveryItem, plan: Plan):
        """(message id, transport message) for the item, or its failure."""
        message_id = item.message_id or self.new_id()
        track = None
        if self.track is not None and plan.content.family == "EMAIL":
            campaign = {k: str(v) for k, v in item.event_attributes.items() if k in CAMPAIGN_KEYS}
            track = tracking.tracker(*self.track, self.app_id, message_id, event_endpoint(item), campaign)
        try:
            rendered = self._render(plan, item)
            return message_id, build(plan.content, rendered, item, message_id, self.app_id, plan.channel_doc or {},
                                     track)
        except Undeliverable as exc:
            return failure(item, str(exc))

    def _render(self, plan: Plan, item: DeliveryItem) -> dict:
        """`outbound.render`, through the plan's renderer (parts found and compiled once per
        batch) unless the recipient overrides the content."""
        if item.overrides:
            return render(self.service.templates, plan.content, item, self.now, self.service.ids.request_id)
        substitutions = plan.content.substitutions
        if item.substitutions:
            substitutions = {**substitutions, **item.substitutions} if substitutions else item.substitutions
        try:
            return plan.render(item.endpoint, substitutions, self.now, self.service.ids.request_id)
        except TemplateError as exc:
            raise Undeliverable(exc.message) from None

    # -- plans: one per (channel, message, template) ---------------------------------------------

    def _plan(self, item: DeliveryItem) -> Plan:
        key = (item.channel_type, id(item.message_configuration), id(item.template_configuration))
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._new_plan(item)
            if plan.content is not None:
                plan.render = self.service.templates.message_renderer(plan.content.doc)
        return plan

    def _new_plan(self, item: DeliveryItem) -> Plan:
        channel_type = item.channel_type
        family = FAMILY[channel_type]
        if family == "IN_APP":
            return Plan(None, error="In-app messages are not sent: the app fetches them with GetInAppMessages")
        keys = self._template_keys(item)
        content = prepare(channel_type, item.message_configuration, self.templates[keys[0]] if keys else None)
        channels = self.service.channels
        if family == "CUSTOM":
            return Plan(content, channels.custom)
        row = self.channel_rows.get(channel_type)
        if row is None:
            return Plan(content, error=f"The {channel_type} channel is not configured for this application")
        doc, credentials = row
        if doc.get("Enabled") is False:
            return Plan(content, error=f"The {channel_type} channel is disabled for this application")
        if family != "PUSH":
            return Plan(content, channels.transport(family.lower()), doc)
        try:
            return Plan(content, channels.push_transport(self.app_id, channel_type, doc, credentials), doc)
        except ConfigurationError as exc:
            return Plan(content, error=f"The {channel_type} channel cannot send: {exc}")

    # -- transports --------------------------------------------------------------------------------

    def _deliver(self, ready: list[tuple[int, Plan]], results: list, lines: EventLines) -> None:
        """Render and hand over in chunks: a full chunk goes to its transport at once (on the
        transports' loop) while the next one renders."""
        pending: dict[int, list] = {}
        sent: list[tuple[list, object]] = []
        for index, plan in ready:
            prepared = self._prepare(index, self.items[index], plan)
            if isinstance(prepared, DeliveryResult):
                results[index] = prepared
                continue
            chunk = pending.setdefault(id(plan.transport), [])
            chunk.append((index, plan, *prepared))
            if len(chunk) >= CHUNK:
                sent.append((chunk, self._submit(plan.transport, chunk)))
                pending[id(plan.transport)] = []
        sent += [(chunk, self._submit(chunk[0][1].transport, chunk)) for chunk in pending.values() if chunk]
        for chunk, future in sent:
            for (index, plan, message_id, outbound), outcome in zip(chunk, self._outcomes(future, len(chunk))):
                item = self.items[index]
                result = results[index] = _result(item, outcome)
                lines.add(message_events(self.app_id, plan.content.family, item, outbound, result, message_id,
                                         self.moment, self.new_id, self._attributes(item)))

    def _attributes(self, item: DeliveryItem) -> dict:
        """The item's event attributes as events carry them, once per distinct dict (a
        campaign's items share one)."""
        key = id(item.event_attributes)
        found = self.attributes.get(key)
        if found is None:
            found = self.attributes[key] = stringified(item.event_attributes)
        return found

    def _submit(self, transport: Transport, chunk: list):
        return self.service.channels.submit(transport, [entry[3] for entry in chunk])

    @staticmethod
    def _outcomes(future, count: int) -> list[TransportResult]:
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - a transport bug must not lose the other results
            log.exception("a transport failed on a batch of %d messages", count)
            return [TransportResult(UNKNOWN_FAILURE, 500, f"Transport error: {type(exc).__name__}")
                    for _ in range(count)]

    def _deliver_custom(self, custom: list[tuple[int, Plan]], results: list, lines: EventLines) -> None:
        """Custom channel: up to 50 endpoints per call (the calls run concurrently), one call's
        result for each of its endpoints."""
        groups: dict[tuple, list[int]] = {}
        for index, plan in custom:
            uri = plan.content.settings.get("DeliveryUri")
            if not uri:
                results[index] = failure(self.items[index], "A custom message needs a DeliveryUri")
                continue
            groups.setdefault((uri, plan.content.settings.get("Data"), id(plan)), []).append(index)
        calls = [self._custom_call(uri, data, indexes[start:start + CUSTOM_BATCH])
                 for (uri, data, _), indexes in groups.items() for start in range(0, len(indexes), CUSTOM_BATCH)]
        for indexes, message, future in calls:
            outcome = self._outcomes(future, 1)[0]
            for index in indexes:
                item = self.items[index]
                result = results[index] = _result(item, outcome)
                lines.add(message_events(self.app_id, "CUSTOM", item, message, result, message.message_id,
                                         self.moment, self.new_id, self._attributes(item)))

    def _custom_call(self, uri: str, data, indexes: list[int]) -> tuple[list[int], OutboundCustom, object]:
        items = [self.items[i] for i in indexes]
        attributes = items[0].event_attributes
        message = OutboundCustom(
            message_id=self.new_id(), delivery_uri=uri, data=data, app_id=self.app_id,
            endpoints={item.endpoint_id or str(i): item.endpoint for i, item in zip(indexes, items)},
            campaign_id=attributes.get("campaign_id"), treatment_id=attributes.get("treatment_id"),
            activity_id=attributes.get("campaign_activity_id") or attributes.get("journey_activity_id"),
            journey_id=attributes.get("journey_id"))
        channels = self.service.channels
        return indexes, message, channels.submit(channels.custom, [message])

    # -- after the send ----------------------------------------------------------------------------

    def _record(self, lines: EventLines) -> None:
        if not lines:
            return
        try:
            self.service.events.append_encoded(lines.encoded())
        except Exception:  # noqa: BLE001 - the messages are gone already: report them, log the loss
            log.exception("could not record the delivery events of %d messages for app %s", len(lines), self.app_id)

    def _upkeep(self, results: list[DeliveryResult]) -> None:
        """A token FCM replaced becomes the endpoint's address; a token the platform no longer
        knows makes the endpoint INACTIVE (so later sends skip it)."""
        changes = {}
        for item, result in zip(self.items, results):
            if item.endpoint_id and (result.updated_token or result.reason == UNREGISTERED):
                changes[item.endpoint_id.lower()] = result
        if not changes:
            return
        with self.service.store.write() as conn:
            rows = endpoint_store.lock_by_keys(conn, self.app_id, changes)
            for row in rows:
                result = changes[row.key]
                row.doc = dict(row.doc)
                if result.updated_token:
                    row.doc["Address"] = result.updated_token
                if result.reason == UNREGISTERED:
                    row.doc["EndpointStatus"] = "INACTIVE"
            endpoint_store.update_endpoints(conn, self.app_id, rows)


class IdBlock:
    """Unique ids for one batch, cheaply: a random 80-bit prefix from the service's ids, then a
    counter, in the UUID form (about ten times faster than a uuid4 each). Ids that are not
    UUIDs (a test's predictable ids) are used one by one."""

    def __init__(self, new_id: Callable[[], str]):
        self._new_id = new_id
        first = new_id().replace("-", "")
        self._prefix = None
        if len(first) == 32 and all(c in "0123456789abcdef" for c in first):
            p = first[:20]
            self._prefix = f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-"
            self._counter = int(first[20:], 16)

    def __call__(self) -> str:
        if self._prefix is None:
            return self._new_id()
        self._counter = (self._counter + 1) & 0xFFFFFFFFFFFF
        return f"{self._prefix}{self._counter:012x}"


def _result(item: DeliveryItem, outcome: TransportResult) -> DeliveryResult:
    return DeliveryResult(outcome.status, outcome.status_code, outcome.status_message, outcome.message_id,
                          outcome.updated_token, item.address, item.channel_type, outcome.reason)

