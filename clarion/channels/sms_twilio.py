"""A Twilio-compatible SMS provider: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
form-encoded, HTTP basic auth with the account SID and auth token. The base URL is
configurable, so a self-hosted Twilio-compatible gateway (or a test's stand-in) works too.

The sender is the message's OriginationNumber (an `MG...` value is a Messaging Service SID),
else its SenderId (alphanumeric sender), else the URL's `from=` / `messaging_service_sid=`.
MessageId is Twilio's SID (`SM...`). Twilio error codes that Pinpoint distinguishes:
21610 (recipient replied STOP) -> OPT_OUT; 20429 or HTTP 429 -> THROTTLED; 5xx ->
TEMPORARY_FAILURE; other errors (invalid number 21211, not a mobile 21614, region not enabled
21408, bad sender 21606, auth 20003...) -> PERMANENT_FAILURE.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from .base import (OPT_OUT, OPTED_OUT, PROVIDER_ERROR, THROTTLED, THROTTLED_BY_PROVIDER, UNKNOWN_FAILURE,
                   DeliveryResult, OutboundSms, delivered, failed)
from .http import by_status, json_or_none

UNSUBSCRIBED = 21610
TOO_MANY_REQUESTS = 20429
OPTED_OUT_MESSAGE = "Destination phone number opted out"  # Pinpoint's StatusMessage for it


class TwilioProvider:
    name = "twilio"

    def __init__(self, *, base_url: str, account_sid: str, auth_token: str, default_from: str | None = None,
                 messaging_service_sid: str | None = None):
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.default_from = default_from
        self.messaging_service_sid = messaging_service_sid

    def form(self, message: OutboundSms) -> list[tuple[str, str]]:
        form = [("To", message.destination), ("Body", message.body)]
        sender = message.origination or message.sender_id or self.default_from
        if sender and sender.startswith("MG"):
            form.append(("MessagingServiceSid", sender))
        elif sender:
            form.append(("From", sender))
        elif self.messaging_service_sid:
            form.append(("MessagingServiceSid", self.messaging_service_sid))
        form += [("MediaUrl", url) for url in message.media_urls]
        return form

    async def send(self, client: httpx.AsyncClient, message: OutboundSms) -> DeliveryResult:
        response = await client.post(self.url, content=urlencode(self.form(message)).encode(), auth=self.auth,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        reply = json_or_none(response)
        reply = reply if isinstance(reply, dict) else {}
        if response.is_success and reply.get("sid"):
            return delivered(reply["sid"])
        return _error(response.status_code, reply)


def _error(status_code: int, reply: dict) -> DeliveryResult:
    code = reply.get("code")
    text = str(reply.get("message") or f"Twilio replied {status_code}")
    if code is not None:
        text = f"{text} (Twilio error {code})"
    if code == UNSUBSCRIBED:
        return failed(OPT_OUT, 400, OPTED_OUT_MESSAGE, OPTED_OUT)
    if code == TOO_MANY_REQUESTS:
        return failed(THROTTLED, 429, text, THROTTLED_BY_PROVIDER)
    if 200 <= status_code < 300:  # a 2xx without a message SID: not something Twilio does
        return failed(UNKNOWN_FAILURE, status_code, "Twilio accepted the request but returned no message SID",
                      PROVIDER_ERROR)
    return by_status(status_code, text)
