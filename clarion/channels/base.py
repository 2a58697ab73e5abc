"""The one interface every transport implements, and the messages it carries.

A send operation renders each recipient's content, builds one outbound message per recipient
(`OutboundEmail`, `OutboundSms`, `OutboundPush`, `OutboundVoice`, `OutboundCustom`), hands a
batch to the channel's `Transport`, and gets back one `DeliveryResult` per message, in the same
order. Results carry Pinpoint's per-recipient fields (`DeliveryStatus`, `StatusCode`,
`StatusMessage`, `MessageId`, `UpdatedToken`) plus a short `reason` the caller turns into events
(`_email.hardbounce` vs `_email.softbounce` vs `_email.rejected`) and endpoint changes (a push
token the platform no longer knows).

Transports are asyncio-native: `send_batch` sends a batch concurrently over the transport's
connection pool. Callers outside an event loop use `registry.Channels.send`, which runs it on
the channels' own loop thread.

Message ids come from the caller (injected ids, so tests can predict them). Transports never
raise for a recipient's failure: every failure becomes a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

# Pinpoint's DeliveryStatus enum. The model is the source of truth; tests/channels check that
# these names equal the model's enum. Code needs them as names, hence the constants.
SUCCESSFUL = "SUCCESSFUL"
THROTTLED = "THROTTLED"
TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
PERMANENT_FAILURE = "PERMANENT_FAILURE"
UNKNOWN_FAILURE = "UNKNOWN_FAILURE"
OPT_OUT = "OPT_OUT"
DUPLICATE = "DUPLICATE"
DELIVERY_STATUSES = (SUCCESSFUL, THROTTLED, TEMPORARY_FAILURE, PERMANENT_FAILURE, UNKNOWN_FAILURE, OPT_OUT,
                     DUPLICATE)

# `DeliveryResult.reason`: why a message failed, for events and endpoint upkeep.
RECIPIENT_REFUSED = "recipient_refused"  # SMTP RCPT refused: 5xx = hardbounce, 4xx = softbounce
MESSAGE_REFUSED = "message_refused"  # SMTP MAIL/DATA refused: the message was rejected
CONNECTION_FAILED = "connection_failed"  # could not reach the provider (or it dropped us twice)
UNREGISTERED = "unregistered"  # the push token is no longer valid: deactivate the endpoint
OPTED_OUT = "opted_out"  # the provider says the recipient unsubscribed
THROTTLED_BY_PROVIDER = "throttled"
PROVIDER_ERROR = "provider_error"  # anything else the provider refused


def wire_result(result) -> dict:
    """Pinpoint's `MessageResult` members (without `Address`) of any result carrying status,
    status_code, status_message, message_id and updated_token."""
    wire = {"DeliveryStatus": result.status, "StatusCode": result.status_code, "StatusMessage": result.status_message}
    if result.message_id is not None:
        wire["MessageId"] = result.message_id
    if result.updated_token is not None:
        wire["UpdatedToken"] = result.updated_token
    return wire


@dataclass(slots=True)
class DeliveryResult:
    """One recipient's outcome: Pinpoint's `MessageResult` plus what the caller needs for events."""

    status: str  # one of DELIVERY_STATUSES
    status_code: int  # the downstream code: SMTP reply code, provider HTTP status; 200 on success
    status_message: str
    message_id: str | None = None  # the provider's id (apns-id, FCM name, Twilio SID) or ours
    updated_token: str | None = None  # FCM canonical registration id: the endpoint's new address
    reason: str | None = None  # one of the reason constants above, for failures
    response: Any = None  # transport-specific decoded reply (custom channel: the webhook/Lambda body)

    @property
    def ok(self) -> bool:
        return self.status == SUCCESSFUL

    def to_wire(self) -> dict:
        """The `MessageResult` / `EndpointMessageResult` members (without `Address`)."""
        return wire_result(self)


def delivered(message_id: str, status_code: int = 200) -> DeliveryResult:
    """A success in Pinpoint's shape: `StatusMessage "MessageId: <id>"`."""
    return DeliveryResult(SUCCESSFUL, status_code, f"MessageId: {message_id}", message_id)


def failed(status: str, status_code: int, message: str, reason: str | None = None, **extra) -> DeliveryResult:
    return DeliveryResult(status, status_code, message, reason=reason, **extra)


def email_event_type(result: DeliveryResult) -> str:
    """The `_email.*` event a send's outcome stands for (after `_email.send`): delivered; a
    temporary failure is a soft bounce; a refused recipient a hard bounce; anything else
    (message refused, invalid message) a rejection."""
    if result.status == SUCCESSFUL:
        return "_email.delivered"
    if result.status in (TEMPORARY_FAILURE, THROTTLED):
        return "_email.softbounce"
    if result.reason == RECIPIENT_REFUSED:
        return "_email.hardbounce"
    return "_email.rejected"


# -- outbound messages: one per recipient, content already rendered ------------------------------

@dataclass(slots=True, kw_only=True)
class OutboundEmail:
    message_id: str
    to: str  # one recipient: `a@example.com` or `Name <a@example.com>`
    from_address: str  # `Name <sender@example.com>` allowed; non-ASCII names are RFC 2047-encoded
    subject: str = ""
    html: str | None = None
    text: str | None = None
    headers: Sequence[tuple[str, str]] = ()  # extra headers (Pinpoint's MessageHeader Name/Value pairs)
    reply_to: Sequence[str] = ()
    list_unsubscribe: str | None = None  # `<mailto:...>, <https://...>` (RFC 2369)
    list_unsubscribe_one_click: bool = False  # adds `List-Unsubscribe-Post` (RFC 8058)
    envelope_from: str | None = None  # MAIL FROM (bounce address); defaults to from_address
    raw: bytes | None = None  # Pinpoint RawEmail: a complete MIME message sent as is
    app_id: str = ""
    channel = "email"

    @property
    def address(self) -> str:
        return self.to


@dataclass(slots=True, kw_only=True)
class OutboundSms:
    message_id: str
    destination: str  # E.164
    body: str
    origination: str | None = None  # OriginationNumber (long code, short code, or a provider sender)
    message_type: str = "TRANSACTIONAL"  # TRANSACTIONAL | PROMOTIONAL
    sender_id: str | None = None
    keyword: str | None = None
    entity_id: str | None = None  # India DLT registration
    template_id: str | None = None
    media_urls: Sequence[str] = ()
    app_id: str = ""
    channel = "sms"

    @property
    def address(self) -> str:
        return self.destination


@dataclass(slots=True, kw_only=True)
class OutboundPush:
    """A push notification, platform-neutral; the APNs and FCM transports build their payloads
    from it (reference §12.3: `pinpoint.*` data keys). `raw_content` (Pinpoint's RawContent)
    replaces the built payload entirely."""

    message_id: str
    platform: str  # Pinpoint ChannelType: APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX, GCM, BAIDU, ADM
    token: str
    title: str | None = None
    body: str | None = None
    data: dict[str, str] | None = None
    silent: bool = False
    priority: str | None = None  # "high" | "normal" (APNs 10 | 5); None: platform default
    ttl: int | None = None  # seconds; 0 = deliver now or never; None: platform default
    action: str | None = None  # OPEN_APP | DEEP_LINK | URL
    url: str | None = None
    sound: str | None = None
    badge: int | None = None
    image_url: str | None = None
    icon_url: str | None = None
    small_icon_url: str | None = None
    category: str | None = None
    thread_id: str | None = None
    collapse_id: str | None = None  # apns-collapse-id / FCM collapse_key
    apns_topic: str | None = None  # defaults to the channel's BundleId (+ ".voip" for VoIP)
    apns_push_type: str | None = None  # alert | background | voip | ...; derived when None
    restricted_package_name: str | None = None
    context: dict[str, str] | None = None  # SendMessages Context: merged into data.pinpoint
    campaign: dict[str, str] | None = None  # campaign_id, campaign_activity_id, treatment_id
    raw_content: str | None = None
    auth_method: str | None = None  # PreferredAuthenticationMethod: CERTIFICATE|TOKEN (APNs), KEY|TOKEN (FCM)
    app_id: str = ""
    channel = "push"

    @property
    def address(self) -> str:
        return self.token


@dataclass(slots=True, kw_only=True)
class OutboundVoice:
    message_id: str
    destination: str
    body: str  # the script: plain text or SSML (`<speak>...</speak>`)
    origination: str | None = None
    language_code: str | None = None
    voice_id: str | None = None
    app_id: str = ""
    channel = "voice"

    @property
    def address(self) -> str:
        return self.destination


@dataclass(slots=True, kw_only=True)
class OutboundCustom:
    """One call of a custom channel: up to 50 endpoints with Pinpoint's payload members
    (reference §4.8). One result covers every endpoint in the call."""

    message_id: str
    delivery_uri: str  # https URL, or a Lambda function ARN / name
    endpoints: dict[str, dict]  # endpoint id -> EndpointResponse document
    data: str | None = None  # CustomMessage.Data
    campaign_id: str | None = None
    treatment_id: str | None = None
    activity_id: str | None = None
    journey_id: str | None = None
    scheduled_time: str | None = None
    app_id: str = ""
    channel = "custom"

    @property
    def address(self) -> str:
        return self.delivery_uri

    def payload(self) -> dict:
        """Pinpoint's custom-channel event: `{Message, Data, ApplicationId, CampaignId, ...}`."""
        body = {"Message": {}, "Data": self.data, "ApplicationId": self.app_id, "Endpoints": self.endpoints}
        optional = {"CampaignId": self.campaign_id, "TreatmentId": self.treatment_id, "ActivityId": self.activity_id,
                    "JourneyId": self.journey_id, "ScheduledTime": self.scheduled_time}
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


Outbound = OutboundEmail | OutboundSms | OutboundPush | OutboundVoice | OutboundCustom
M = TypeVar("M", contravariant=True)


@runtime_checkable
class Transport(Protocol[M]):
    """Sends batches of one channel's messages. One result per message, in order; a failure
    for one recipient never raises. `close()` releases connections (idempotent)."""

    channel: str

    async def send_batch(self, messages: Sequence[M]) -> list[DeliveryResult]: ...

    async def close(self) -> None: ...


class ConfigurationError(ValueError):
    """A transport URL or credential set that cannot work; raised when the transport is built."""
