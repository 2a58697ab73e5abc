"""The generic SMS provider: POST each message as JSON to your URL, signed with HMAC-SHA256
(`signing.py`), and let your gateway deliver it.

Request body (UTF-8 JSON):
    {"message_id", "to", "from", "body", "message_type", "sender_id", "keyword",
     "entity_id", "template_id", "media_urls", "app_id"}        (absent values are null)

Reply: any 2xx means accepted. An optional JSON body `{"message_id": "<your id>",
"status": "<DeliveryStatus>", "status_message": "..."}` sets the result's MessageId, or reports a
non-delivery (e.g. `{"status": "OPT_OUT"}`) on any status code. Without one: 429 THROTTLED,
5xx TEMPORARY_FAILURE, other codes PERMANENT_FAILURE.
"""

from __future__ import annotations

import httpx
import orjson

from .base import (DELIVERY_STATUSES, OPT_OUT, OPTED_OUT, PROVIDER_ERROR, SUCCESSFUL, THROTTLED,
                   THROTTLED_BY_PROVIDER, DeliveryResult, OutboundSms, delivered, failed)
from .http import by_status, json_or_none
from .signing import HEADER, sign


class WebhookSmsProvider:
    name = "webhook"

    def __init__(self, url: str, secret: str, clock):
        self.url = url
        self.secret = secret
        self.clock = clock

    def body(self, message: OutboundSms) -> bytes:
        return orjson.dumps({
            "message_id": message.message_id, "to": message.destination, "from": message.origination,
            "body": message.body, "message_type": message.message_type, "sender_id": message.sender_id,
            "keyword": message.keyword, "entity_id": message.entity_id, "template_id": message.template_id,
            "media_urls": list(message.media_urls), "app_id": message.app_id or None,
        })

    async def send(self, client: httpx.AsyncClient, message: OutboundSms) -> DeliveryResult:
        body = self.body(message)
        headers = {"Content-Type": "application/json",
                   HEADER: sign(self.secret, body, int(self.clock.now().timestamp()))}
        response = await client.post(self.url, content=body, headers=headers)
        return _result(response, message.message_id)


def _result(response: httpx.Response, message_id: str) -> DeliveryResult:
    reply = json_or_none(response)
    reply = reply if isinstance(reply, dict) else {}
    status = reply.get("status")
    provider_id = str(reply.get("message_id") or message_id)
    if status not in DELIVERY_STATUSES:
        status = None
    if response.is_success and status in (None, SUCCESSFUL):
        return delivered(provider_id)
    text = str(reply.get("status_message") or response.reason_phrase or "refused by the SMS webhook")
    if status is None:
        return by_status(response.status_code, text)
    code = response.status_code if not response.is_success else 400
    reason = {OPT_OUT: OPTED_OUT, THROTTLED: THROTTLED_BY_PROVIDER}.get(status, PROVIDER_ERROR)
    return failed(status, code, text, reason, message_id=provider_id)
