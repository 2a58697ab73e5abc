"""Platform payloads built from an `OutboundPush`, following Pinpoint's conventions (reference
§12.3), so apps written against the AWS Amplify / Pinpoint SDKs read them unchanged.

APNs: `{"aps": {...}, "data": {"pinpoint": {"deeplink", "campaign": {...}, "jsonBody": Data,
<Context>...}, "media-url"}}`. FCM: a data-only message whose string map holds
`pinpoint.notification.{title,body,silentPush,imageUrl,imageIconUrl,imageSmallIconUrl,sound}`,
`pinpoint.url` | `pinpoint.deeplink` | `pinpoint.openApp`, `pinpoint.campaign.<key>`,
`pinpoint.jsonBody` (Data as a JSON string), `pinpoint.<Context key>`, plus the Data keys
themselves (the SDKs render the notification from these keys).

RawContent replaces the built payload: for APNs it is the payload itself; for FCM it is the
legacy GCM JSON (`data`, `notification`, `priority`, `time_to_live`, ...), translated to HTTP v1.
"""

from __future__ import annotations

import orjson

from .base import OutboundPush

VOIP_PLATFORMS = ("APNS_VOIP", "APNS_VOIP_SANDBOX")


# -- APNs ----------------------------------------------------------------------------------

def apns_payload(message: OutboundPush) -> dict:
    if message.raw_content:
        return orjson.loads(message.raw_content)
    aps: dict = {}
    if message.silent:
        aps["content-available"] = 1
    else:
        alert = {k: v for k, v in (("title", message.title), ("body", message.body)) if v}
        if alert:
            aps["alert"] = alert
        if message.sound:
            aps["sound"] = message.sound
        if message.badge is not None:
            aps["badge"] = message.badge
        if message.image_url:
            aps["mutable-content"] = 1  # lets the notification service extension fetch the media
    if message.category:
        aps["category"] = message.category
    if message.thread_id:
        aps["thread-id"] = message.thread_id
    payload: dict = {"aps": aps}
    pinpoint = _pinpoint_block(message)
    data: dict = {"pinpoint": pinpoint} if pinpoint else {}
    if message.image_url:
        data["media-url"] = message.image_url
    if data:
        payload["data"] = data
    return payload


def _pinpoint_block(message: OutboundPush) -> dict:
    block: dict = dict(message.context or {})
    if message.action in ("URL", "DEEP_LINK") and message.url:
        block["deeplink"] = message.url
    if message.campaign:
        block["campaign"] = dict(message.campaign)
    if message.data:
        block["jsonBody"] = dict(message.data)
    return block


def apns_push_type(message: OutboundPush) -> str:
    if message.apns_push_type:
        return message.apns_push_type
    if message.platform in VOIP_PLATFORMS:
        return "voip"
    return "background" if message.silent else "alert"


def apns_priority(message: OutboundPush, push_type: str) -> str:
    """10 = immediately, 5 = power-considerate; Apple requires 5 for background pushes."""
    if push_type == "background" or message.priority == "normal":
        return "5"
    return "10"


# -- FCM -----------------------------------------------------------------------------------

def fcm_data(message: OutboundPush) -> dict[str, str]:
    data: dict[str, str] = {str(k): _string(v) for k, v in (message.data or {}).items()}
    notification = (("title", message.title), ("body", message.body), ("imageUrl", message.image_url),
                    ("imageIconUrl", message.icon_url), ("imageSmallIconUrl", message.small_icon_url),
                    ("sound", message.sound))
    for key, value in notification:
        if value:
            data[f"pinpoint.notification.{key}"] = value
    data["pinpoint.notification.silentPush"] = "1" if message.silent else "0"
    if message.action == "URL" and message.url:
        data["pinpoint.url"] = message.url
    elif message.action == "DEEP_LINK" and message.url:
        data["pinpoint.deeplink"] = message.url
    elif not message.silent:
        data["pinpoint.openApp"] = "true"
    for key, value in (message.campaign or {}).items():
        data[f"pinpoint.campaign.{key}"] = _string(value)
    if message.data:
        data["pinpoint.jsonBody"] = orjson.dumps(message.data).decode()
    for key, value in (message.context or {}).items():
        data[f"pinpoint.{key}"] = _string(value)
    return data


def fcm_v1_message(message: OutboundPush) -> dict:
    """The `message` member of an FCM HTTP v1 send request."""
    if message.raw_content:
        return _v1_from_legacy(message.token, orjson.loads(message.raw_content))
    android: dict = {}
    if message.priority:
        android["priority"] = "HIGH" if message.priority == "high" else "NORMAL"
    if message.ttl is not None:
        android["ttl"] = f"{message.ttl}s"
    if message.collapse_id:
        android["collapse_key"] = message.collapse_id
    if message.restricted_package_name:
        android["restricted_package_name"] = message.restricted_package_name
    body = {"token": message.token, "data": fcm_data(message)}
    if android:
        body["android"] = android
    return body


def fcm_legacy_body(message: OutboundPush) -> dict:
    """The body of a legacy `POST /fcm/send` (server key API)."""
    if message.raw_content:
        body = orjson.loads(message.raw_content)
        body["to"] = message.token
        return body
    body = {"to": message.token, "data": fcm_data(message)}
    if message.priority:
        body["priority"] = "high" if message.priority == "high" else "normal"
    if message.ttl is not None:
        body["time_to_live"] = message.ttl
    if message.collapse_id:
        body["collapse_key"] = message.collapse_id
    if message.restricted_package_name:
        body["restricted_package_name"] = message.restricted_package_name
    return body


def _v1_from_legacy(token: str, raw: dict) -> dict:
    body: dict = {"token": token}
    if isinstance(raw.get("data"), dict):
        body["data"] = {str(k): _string(v) for k, v in raw["data"].items()}
    if isinstance(raw.get("notification"), dict):
        notification = raw["notification"]
        body["notification"] = {k: str(notification[k]) for k in ("title", "body", "image") if k in notification}
    android = dict(raw["android"]) if isinstance(raw.get("android"), dict) else {}
    if raw.get("priority") in ("high", "normal"):
        android.setdefault("priority", raw["priority"].upper())
    if isinstance(raw.get("time_to_live"), int):
        android.setdefault("ttl", f"{raw['time_to_live']}s")
    if raw.get("collapse_key"):
        android.setdefault("collapse_key", str(raw["collapse_key"]))
    if android:
        body["android"] = android
    return body


def _string(value) -> str:
    """FCM data values must be strings; structured values travel as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def platform_payload(message: OutboundPush) -> dict:
    """What would go on the wire for this message (the sandbox records it)."""
    if message.platform.startswith("APNS"):
        return apns_payload(message)
    return fcm_v1_message(message)
