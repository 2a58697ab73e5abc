"""One recipient's message: the content rendered for them, built into the transport's form
(`OutboundEmail`, `OutboundSms`, `OutboundVoice`, `OutboundPush`).

A recipient whose message cannot be built (no sender address, no body, a variable a helper
cannot use) raises `Undeliverable`, which the sender turns into that recipient's
PERMANENT_FAILURE; the other recipients are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..channels.base import OutboundEmail, OutboundPush, OutboundSms, OutboundVoice
from ..domain.templates import TemplateEngine, TemplateError
from .content import Content, with_overrides
from .items import CAMPAIGN_KEYS, TRACE_KEY, DeliveryItem

_APNS_PRIORITY = {"10": "high", "5": "normal"}


class Undeliverable(Exception):
    """This recipient's message cannot be built: the reason is the result's StatusMessage."""


def render(engine: TemplateEngine, content: Content, item: DeliveryItem, now: datetime,
           new_id: Callable[[], str] | None = None) -> dict:
    """The rendered content members for this recipient. `new_id` makes the ids a template asks
    for (pass the service's: without one, the engine seeds a generator per message)."""
    doc = with_overrides(content, item.overrides) if item.overrides else content.doc
    substitutions = content.substitutions
    if item.substitutions:
        substitutions = {**substitutions, **item.substitutions} if substitutions else item.substitutions
    try:
        return engine.render_message(doc, item.endpoint, substitutions, now=now, new_id=new_id)
    except TemplateError as exc:
        raise Undeliverable(exc.message) from None


def build(content: Content, rendered: dict, item: DeliveryItem, message_id: str, app_id: str,
          channel_doc: dict, track: Callable[[str], str] | None = None):
    family = content.family
    if family == "EMAIL":
        return email(content, rendered, item, message_id, app_id, channel_doc, track)
    if family == "SMS":
        return sms(content, rendered, item, message_id, app_id, channel_doc)
    if family == "VOICE":
        return voice(content, rendered, item, message_id, app_id)
    return push(content, rendered, item, message_id, app_id)


def email(content: Content, rendered: dict, item: DeliveryItem, message_id: str, app_id: str, channel_doc: dict,
          track: Callable[[str], str] | None) -> OutboundEmail:
    settings = content.settings
    from_address = settings.get("FromAddress") or channel_doc.get("FromAddress")
    if not from_address:
        raise Undeliverable("No sender: set FromAddress on the email channel or in EmailMessage")
    html, text, raw = rendered.get("HtmlPart"), rendered.get("TextPart"), settings.get("RawEmail")
    if html is None and text is None and raw is None:
        raise Undeliverable("The email has no content: give a template, SimpleEmail parts, RawEmail or a body")
    if html and track is not None:
        html = track(html)
    headers = [(h.get("Name") or "", h.get("Value") or "") for h in rendered.get("Headers") or ()]
    return OutboundEmail(message_id=message_id, to=item.address, from_address=from_address,
                         subject=rendered.get("Subject") or "", html=html, text=text, headers=headers,
                         reply_to=tuple(settings.get("ReplyToAddresses") or ()), raw=raw, app_id=app_id)


def sms(content: Content, rendered: dict, item: DeliveryItem, message_id: str, app_id: str,
        channel_doc: dict) -> OutboundSms:
    settings = content.settings
    body = rendered.get("Body")
    if not body:
        raise Undeliverable("The SMS message has no body")
    media = settings.get("MediaUrl")
    return OutboundSms(message_id=message_id, destination=item.address, body=body,
                       origination=settings.get("OriginationNumber") or channel_doc.get("ShortCode"),
                       message_type=settings.get("MessageType") or "TRANSACTIONAL",
                       sender_id=settings.get("SenderId") or channel_doc.get("SenderId"),
                       keyword=settings.get("Keyword"), entity_id=settings.get("EntityId"),
                       template_id=settings.get("TemplateId"), media_urls=(media,) if media else (), app_id=app_id)


def voice(content: Content, rendered: dict, item: DeliveryItem, message_id: str, app_id: str) -> OutboundVoice:
    settings = content.settings
    body = rendered.get("Body")
    if not body:
        raise Undeliverable("The voice message has no body")
    return OutboundVoice(message_id=message_id, destination=item.address, body=body,
                         origination=settings.get("OriginationNumber"),
                         language_code=settings.get("LanguageCode") or rendered.get("LanguageCode"),
                         voice_id=settings.get("VoiceId") or rendered.get("VoiceId"), app_id=app_id)


def push(content: Content, rendered: dict, item: DeliveryItem, message_id: str, app_id: str) -> OutboundPush:
    fields = {**content.settings, **(rendered.get("Default") or {})}
    if not any(fields.get(k) for k in ("Title", "Body", "RawContent", "Data")) and not fields.get("SilentPush"):
        raise Undeliverable("The push notification has no content")
    campaign, context = split_attributes(item.event_attributes)
    priority = fields.get("Priority")
    if priority is not None:
        priority = _APNS_PRIORITY.get(str(priority), str(priority).lower())
    ttl = fields.get("TimeToLive")
    return OutboundPush(
        message_id=message_id, platform=content.channel_type, token=item.address, title=fields.get("Title"),
        body=fields.get("Body"), data=fields.get("Data"), silent=bool(fields.get("SilentPush")), priority=priority,
        ttl=int(ttl) if ttl is not None else None, action=fields.get("Action"), url=fields.get("Url"),
        sound=fields.get("Sound"), badge=fields.get("Badge"),
        image_url=fields.get("ImageUrl") or fields.get("MediaUrl"), icon_url=fields.get("ImageIconUrl"),
        small_icon_url=fields.get("SmallImageIconUrl"), category=fields.get("Category"),
        thread_id=fields.get("ThreadId"), collapse_id=fields.get("CollapseId"),
        apns_push_type=fields.get("APNSPushType"), restricted_package_name=fields.get("RestrictedPackageName"),
        context=context or None, campaign=campaign or None, raw_content=fields.get("RawContent"),
        auth_method=fields.get("PreferredAuthenticationMethod"), app_id=app_id)


def split_attributes(attributes: dict) -> tuple[dict, dict]:
    """(campaign/journey keys, the request's Context) of an item's event attributes."""
    campaign, context = {}, {}
    for key, value in attributes.items():
        if key in CAMPAIGN_KEYS:
            campaign[key] = str(value)
        elif key != TRACE_KEY:
            context[key] = value
    return campaign, context
