"""The events a send writes into the event store, in Pinpoint's types and attributes
(reference §12.2), so the KPIs and analytics read them like any other event:

| channel | events |
|---|---|
| email | `_email.send`, then `_email.delivered`, `_email.softbounce`, `_email.hardbounce` or |
| | `_email.rejected` (later `_email.open`, `_email.click` from tracking) |
| SMS | `_SMS.SUCCESS` or `_SMS.FAILURE` (with `record_status`) |
| push | `_push.send` or `_push.failure` |
| voice | `_voice.send` or `_voice.failure` |
| custom | `_custom.send` or `_custom.failure` |

Every event carries `message_id` and the item's event attributes (campaign/journey ids, the
request's Context keys, `trace_id`). Email events add `from_address`, `destination` and, after
the send, `feedback` (the event kind, or the clicked URL); SMS events add
`destination_phone_number`, `origination_phone_number`, `iso_country_code`,
`number_of_message_parts`, `message_type`, `record_status` and `sender_request_id`. Failures add
`delivery_status`, `status_code` and `status_message`. Messages that were never handed to a
transport (opted out, inactive, duplicate, no channel) write no event.

An event's endpoint is the recipient's endpoint id; a raw address (SendMessages `Addresses`)
uses the address itself, so per-recipient counts (unique opens) still work.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import datetime

import orjson
import phonenumbers

from ..channels.base import (CONNECTION_FAILED, OPTED_OUT, THROTTLED_BY_PROVIDER, TEMPORARY_FAILURE,
                             email_event_type)
from ..events.context import context as endpoint_columns
from ..events.rows import Encoded
from .items import DeliveryItem, DeliveryResult

_OUTCOME = {"PUSH": ("_push.send", "_push.failure"), "VOICE": ("_voice.send", "_voice.failure"),
            "CUSTOM": ("_custom.send", "_custom.failure")}

_GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def message_events(app_id: str, family: str, item: DeliveryItem, outbound, result: DeliveryResult,
                   message_id: str, moment: int, new_id: Callable[[], str], base: dict | None = None) -> dict:
    """One line of the event store's format (`events.rows`) with the message's events: the
    recipient's endpoint context once, then each event, then the caller's own (`also_record`).
    `moment` is epoch microseconds; `base` is `stringified(item.event_attributes)` when the
    caller has it already (a batch's items share their attributes)."""
    attributes = {"message_id": result.message_id or message_id}
    attributes.update(stringified(item.event_attributes) if base is None else base)
    if not result.ok:
        attributes.update(delivery_status=result.status, status_code=str(result.status_code),
                          status_message=result.status_message[:200])
    if family == "EMAIL":
        attributes.update(from_address=outbound.from_address, destination=outbound.to)
        outcome = email_event_type(result)
        events = [_event(new_id(), moment, "_email.send", attributes),
                  _event(new_id(), moment, outcome, {**attributes, "feedback": outcome.partition(".")[2]})]
    elif family == "SMS":
        attributes.update(sms_attributes(outbound, result, message_id))
        events = [_event(new_id(), moment, "_SMS.SUCCESS" if result.ok else "_SMS.FAILURE", attributes)]
    else:
        sent, failed = _OUTCOME[family]
        attributes["channel_type"] = item.channel_type
        events = [_event(new_id(), moment, sent if result.ok else failed, attributes)]
    if item.also_record is not None:
        events.append(item.also_record(item, result, attributes["message_id"], moment))
    return {"a": app_id, "arr": moment, "ep": event_endpoint(item), "ctx": endpoint_columns(item.endpoint, None),
            "ev": events}


def _event(event_id: str, moment: int, event_type: str, attributes: dict) -> dict:
    return {"id": event_id, "t": moment, "e": {"EventType": event_type, "Attributes": attributes}}


class EventLines:
    """A batch's lines as the event store appends them (one `append_encoded` per batch), each
    encoded as it is added: its dicts are freed at once instead of piling up for the garbage
    collector to walk until the batch ends."""

    def __init__(self):
        self.lines: list[bytes] = []
        self.count = 0  # events

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, line: dict) -> None:
        self.lines.append(orjson.dumps(line))
        self.count += len(line["ev"])

    def encoded(self) -> Encoded:
        if not self.lines:
            return Encoded()
        return Encoded(b"\n".join(self.lines) + b"\n", self.count)


def event_endpoint(item: DeliveryItem) -> str | None:
    endpoint_id = item.endpoint_id
    if endpoint_id:
        return endpoint_id.lower()
    address = item.address
    return address.lower() if address and item.channel_type == "EMAIL" else address


def stringified(attributes: dict) -> dict:
    return {str(k): v if isinstance(v, str) else str(v) for k, v in attributes.items() if v is not None}


def sms_attributes(outbound, result: DeliveryResult, message_id: str) -> dict:
    attributes = {"destination_phone_number": outbound.destination, "record_status": record_status(result),
                  "number_of_message_parts": str(message_parts(outbound.body)),
                  "message_type": outbound.message_type, "sender_request_id": message_id}
    if outbound.origination:
        attributes["origination_phone_number"] = outbound.origination
    country = country_code(outbound.destination)
    if country:
        attributes["iso_country_code"] = country
    return attributes


def record_status(result: DeliveryResult) -> str:
    """Pinpoint's SMS `record_status` for a transport outcome."""
    if result.ok:
        return "SUCCESSFUL"
    if result.reason == OPTED_OUT or result.status == "OPT_OUT":
        return "OPTED_OUT"
    if result.reason == THROTTLED_BY_PROVIDER or result.status == "THROTTLED":
        return "RATE_EXCEEDED"
    if result.reason == CONNECTION_FAILED:
        return "UNREACHABLE"
    return "UNKNOWN" if result.status == TEMPORARY_FAILURE else "INVALID"


@functools.lru_cache(maxsize=4096)
def country_code(number: str) -> str | None:
    """The destination's country (ISO alpha-2); for a number outside any assigned range, the
    main country of its calling code."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code)
    return region if region and region != "ZZ" else None


def message_parts(body: str) -> int:
    """SMS parts: 160 GSM-7 characters in one part or 153 per part of a longer message (an
    extended character such as `€` takes two); otherwise UCS-2, 70 in one part or 67 per part."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = len(body) + sum(1 for c in body if c in _GSM7_EXTENDED)
        single, per_part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, per_part = 70, 67
    return 1 if units <= single else math.ceil(units / per_part)


def engagement_event(app_id: str, kind: str, endpoint_id: str | None, message_id: str, attributes: dict,
                     now: datetime, event_id: str, url: str | None = None) -> dict:
    """`_email.open` / `_email.click` (from the tracking routes)."""
    attributes = {**stringified(attributes), "message_id": message_id, "feedback": url or kind}
    return {"app_id": app_id, "event_id": event_id, "event_type": f"_email.{kind}", "event_time": now,
            "arrival_time": now, "endpoint_id": endpoint_id, "channel_type": "EMAIL", "attributes": attributes}
