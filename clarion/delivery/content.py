"""A message's content for one channel, merged from everything that can supply it.

Pinpoint lets a message's content come from several places. For one channel they are laid one
over the other, field by field, lowest first (reference §6.4 and the model's docstrings):

1. `DefaultMessage` (the body for every channel; in a campaign, a push `Message`);
2. `DefaultPushNotificationMessage` (push channels only);
3. the channel's template (`TemplateConfiguration`), its active version or the pinned one;
4. the channel's own message (`EmailMessage`, `SMSMessage`, `VoiceMessage`, `APNSMessage`,
   `GCMMessage`, `BaiduMessage`, `ADMMessage`, or a campaign's `CampaignEmailMessage`, ...);
5. the recipient's `TitleOverride` / `BodyOverride` / `RawContent` (applied per recipient by
   `outbound`).

So a template gives the content and a channel message may still set the sender, the message
type, or replace a part. Message variables (`Substitutions`) stack the same way: the
recipient's over the channel message's over `DefaultPushNotificationMessage`'s over
`DefaultMessage`'s, all above the endpoint's own data and the template's DefaultSubstitutions.

`prepare()` builds, once per message and channel, the document `TemplateEngine.render_message`
renders per recipient (`doc`), plus the fields that are not rendered (`settings`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import orjson

from ..domain.templates import PUSH_TEXT_FIELDS
from ..protocol.errors import BadRequest

PUSH_CHANNELS = ("GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "ADM")
FAMILY = {"EMAIL": "EMAIL", "SMS": "SMS", "VOICE": "VOICE", "CUSTOM": "CUSTOM", "IN_APP": "IN_APP",
          **{c: "PUSH" for c in PUSH_CHANNELS}}
TEMPLATE_MEMBER = {"EMAIL": "EmailTemplate", "SMS": "SMSTemplate", "VOICE": "VoiceTemplate", "PUSH": "PushTemplate"}
PLATFORM_MESSAGE = {"GCM": "GCMMessage", "APNS": "APNSMessage", "APNS_SANDBOX": "APNSMessage",
                    "APNS_VOIP": "APNSMessage", "APNS_VOIP_SANDBOX": "APNSMessage", "BAIDU": "BaiduMessage",
                    "ADM": "ADMMessage"}
# The template's push part for a channel (its own fields over Default's).
TEMPLATE_PLATFORM = {"GCM": "GCM", "APNS": "APNS", "APNS_SANDBOX": "APNS", "APNS_VOIP": "APNS",
                     "APNS_VOIP_SANDBOX": "APNS", "BAIDU": "Baidu", "ADM": "ADM"}

# Source member (dotted path) -> content field, per layer kind.
_EMAIL_MESSAGE = {"Body": "TextPart", "SimpleEmail.Subject.Data": "Subject", "SimpleEmail.TextPart.Data": "TextPart",
                  "SimpleEmail.HtmlPart.Data": "HtmlPart", "SimpleEmail.Headers": "Headers",
                  "Title": "Subject", "HtmlBody": "HtmlPart", "Headers": "Headers",  # CampaignEmailMessage
                  "FromAddress": "FromAddress", "ReplyToAddresses": "ReplyToAddresses", "RawEmail.Data": "RawEmail",
                  "FeedbackForwardingAddress": "FeedbackForwardingAddress"}
_EMAIL_TEMPLATE = {"Subject": "Subject", "TextPart": "TextPart", "HtmlPart": "HtmlPart", "Headers": "Headers"}
_SMS_MESSAGE = {k: k for k in ("Body", "Keyword", "MediaUrl", "MessageType", "OriginationNumber", "SenderId",
                               "EntityId", "TemplateId")}
_VOICE_MESSAGE = {k: k for k in ("Body", "LanguageCode", "OriginationNumber", "VoiceId")}
_VOICE_TEMPLATE = {k: k for k in ("Body", "LanguageCode", "VoiceId")}
_PUSH_MESSAGE = {k: k for k in (
    "Action", "Body", "Title", "Url", "Data", "SilentPush", "RawContent", "Sound", "ImageUrl", "ImageIconUrl",
    "SmallImageIconUrl", "MediaUrl", "Badge", "Category", "ThreadId", "CollapseId", "Priority", "TimeToLive",
    "APNSPushType", "PreferredAuthenticationMethod", "RestrictedPackageName", "IconReference")}
_PUSH_MESSAGE.update({"JsonBody": "Data", "ImageSmallIconUrl": "SmallImageIconUrl", "CollapseKey": "CollapseId"})
_DEFAULT_BODY = {"Body": "Body"}

# The fields the engine renders per recipient (the rest are settings).
RENDERED = {"EMAIL": ("Subject", "TextPart", "HtmlPart", "Headers"), "SMS": ("Body",), "VOICE": ("Body",),
            "PUSH": PUSH_TEXT_FIELDS}


@dataclass
class Content:
    """One channel's content for one message: `doc` is rendered per recipient by the template
    engine (shaped like a template of `doc["TemplateType"]`), `settings` are used as they are."""

    family: str
    channel_type: str
    doc: dict
    settings: dict = field(default_factory=dict)
    substitutions: dict = field(default_factory=dict)  # message-level variables


def prepare(channel_type: str, message_configuration: dict | None, template: dict | None) -> Content:
    """The merged content of one channel. `template` is the template version's document (or None)."""
    family = FAMILY[channel_type]
    config = message_configuration or {}
    merged: dict = {}
    substitutions: dict = {}
    for source, mapping in _layers(family, channel_type, config, template):
        if source:
            _lay(merged, source, mapping)
            if source is not template:
                substitutions.update(source.get("Substitutions") or {})
    if family == "PUSH" and isinstance(merged.get("Data"), str):
        merged["Data"] = _json_body(merged["Data"])
    if "RawEmail" in merged:
        merged["RawEmail"] = _raw_email(merged["RawEmail"])
    rendered = {k: merged.pop(k) for k in RENDERED.get(family, ()) if merged.get(k) is not None}
    doc = _engine_doc(family, rendered, template)
    return Content(family, channel_type, doc, merged, substitutions)


def _layers(family: str, channel_type: str, config: dict, template: dict | None) -> list[tuple[dict | None, dict]]:
    default = config.get("DefaultMessage")
    if family == "EMAIL":
        return [(default, {"Body": "TextPart"}), (template, _EMAIL_TEMPLATE),
                (config.get("EmailMessage"), _EMAIL_MESSAGE)]
    if family == "SMS":
        return [(default, _DEFAULT_BODY), (template, _DEFAULT_BODY), (config.get("SMSMessage"), _SMS_MESSAGE)]
    if family == "VOICE":
        return [(default, _DEFAULT_BODY), (template, _VOICE_TEMPLATE), (config.get("VoiceMessage"), _VOICE_MESSAGE)]
    if family == "PUSH":
        platform_template = None
        if template:
            platform_template = {**(template.get("Default") or {}),
                                 **(template.get(TEMPLATE_PLATFORM[channel_type]) or {})}
        return [(default, _PUSH_MESSAGE), (config.get("DefaultPushNotificationMessage"), _PUSH_MESSAGE),
                (platform_template, _PUSH_MESSAGE), (config.get(PLATFORM_MESSAGE[channel_type]), _PUSH_MESSAGE)]
    if family == "CUSTOM":
        return [(config.get("CustomMessage"), {"Data": "Data"}),
                (config.get("CustomDeliveryConfiguration"), {"DeliveryUri": "DeliveryUri"})]
    return []


def _lay(merged: dict, source: dict, mapping: dict) -> None:
    for path, target in mapping.items():
        value = source
        for step in path.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None:
            merged[target] = value


def _json_body(text: str) -> dict:
    """A campaign's push `JsonBody` (a JSON object in a string) as the Data map."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"JsonBody is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("JsonBody must be a JSON object")
    return value


def _raw_email(data) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("RawEmail.Data must be the base64-encoded MIME message") from None


def _engine_doc(family: str, rendered: dict, template: dict | None) -> dict:
    doc = {"TemplateType": family, "TemplateName": template.get("TemplateName", "?") if template else "message",
           "DefaultSubstitutions": (template or {}).get("DefaultSubstitutions")}
    if family == "PUSH":
        doc["Default"] = rendered
    else:
        doc.update(rendered)
    return doc


def with_overrides(content: Content, overrides: dict) -> dict:
    """The engine document with a recipient's TitleOverride / BodyOverride / RawContent laid over.

    Email: the title is the subject; a body override (or RawContent) becomes the text body and
    drops the HTML body. SMS and voice: the body. Push: title, body, and RawContent as the
    platform payload."""
    doc = dict(content.doc)
    title, body, raw = overrides.get("TitleOverride"), overrides.get("BodyOverride"), overrides.get("RawContent")
    if content.family == "PUSH":
        push = dict(doc["Default"])
        for name, value in (("Title", title), ("Body", body), ("RawContent", raw)):
            if value is not None:
                push[name] = value
        doc["Default"] = push
    elif content.family == "EMAIL":
        if title is not None:
            doc["Subject"] = title
        if (raw if raw is not None else body) is not None:
            doc["TextPart"] = raw if raw is not None else body
            doc.pop("HtmlPart", None)
    elif content.family in ("SMS", "VOICE") and (raw if raw is not None else body) is not None:
        doc["Body"] = raw if raw is not None else body
    return doc
