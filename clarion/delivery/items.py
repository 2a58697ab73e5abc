"""What the send path takes (one `DeliveryItem` per recipient) and gives back (one
`DeliveryResult` per item, in the same order).

A `DeliveryResult` is Pinpoint's `MessageResult` / `EndpointMessageResult` plus what callers
need to record the send (`reason`, `channel_type`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..channels.base import DUPLICATE, OPT_OUT, PERMANENT_FAILURE
from ..channels.base import wire_result

# event_attributes keys that say which campaign or journey a message belongs to. They go into
# every event and, for push, into `data.pinpoint.campaign`; any other key is the request's
# Context (push: `data.pinpoint.<key>`).
CAMPAIGN_KEYS = ("campaign_id", "campaign_activity_id", "treatment_id", "journey_id", "journey_activity_id")
TRACE_KEY = "trace_id"


@dataclass(slots=True)
class DeliveryItem:
    """One recipient of one message.

    `endpoint` is an EndpointResponse-shaped dict (for a raw address, `{"Address", "ChannelType"}`).
    `message_configuration` is Pinpoint's DirectMessageConfiguration (SendMessages) or a campaign's
    MessageConfiguration; for a CUSTOM item it also carries `CustomDeliveryConfiguration{DeliveryUri}`.
    `substitutions` are the recipient's own (they win over the message's). `overrides` holds the
    recipient's `BodyOverride`, `TitleOverride` and `RawContent` (SendMessages' per-address and
    per-endpoint settings). Items that share one message should share the same
    `message_configuration` and `template_configuration` objects: the content is prepared once
    per distinct pair (and items that share `event_attributes` should share that object too).
    `also_record` is the caller's own event for the message (a campaign run's `_campaign.send`),
    written in the same line and append as the channel's events: `fn(item, result, message id,
    epoch µs) -> event` in the event store's line form (`events.rows`); called only for a
    message handed to a transport.
    """

    endpoint: dict
    channel_type: str
    message_configuration: dict | None = None
    template_configuration: dict | None = None
    substitutions: dict = field(default_factory=dict)
    event_attributes: dict = field(default_factory=dict)
    message_id: str | None = None
    overrides: dict | None = None
    also_record: Callable[["DeliveryItem", "DeliveryResult", str, int], dict] | None = None

    @property
    def address(self) -> str | None:
        return self.endpoint.get("Address")

    @property
    def endpoint_id(self) -> str | None:
        return self.endpoint.get("Id")


@dataclass(slots=True)
class DeliveryResult:
    status: str  # DeliveryStatus
    status_code: int
    status_message: str
    message_id: str | None = None
    updated_token: str | None = None
    address: str | None = None
    channel_type: str | None = None
    reason: str | None = None  # clarion.channels.base reason constants, or one of the send path's own

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESSFUL"

    def message_result(self) -> dict:
        """Pinpoint's `MessageResult` (SendMessages' `Result`, keyed by address)."""
        return wire_result(self)

    def endpoint_result(self) -> dict:
        """Pinpoint's `EndpointMessageResult` (keyed by endpoint id): the same plus `Address`."""
        wire = self.message_result()
        if self.address is not None:
            wire["Address"] = self.address
        return wire


# -- results decided before any transport ----------------------------------------------------------

NOT_SENT = "not_sent"  # the send path's own reason: the item never reached a transport


def not_sent(status: str, code: int, message: str, item: DeliveryItem) -> DeliveryResult:
    return DeliveryResult(status, code, message, address=item.address, channel_type=item.channel_type,
                          reason=NOT_SENT)


def opted_out(item: DeliveryItem) -> DeliveryResult:
    return not_sent(OPT_OUT, 400, "The endpoint is opted out of all messages (OptOut: ALL)", item)


def inactive(item: DeliveryItem) -> DeliveryResult:
    return not_sent(PERMANENT_FAILURE, 400, "The endpoint is INACTIVE", item)


def duplicate(item: DeliveryItem) -> DeliveryResult:
    return not_sent(DUPLICATE, 400, "The address duplicates another recipient of this request", item)


def failure(item: DeliveryItem, message: str, code: int = 400) -> DeliveryResult:
    return not_sent(PERMANENT_FAILURE, code, message, item)
