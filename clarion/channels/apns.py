"""Apple Push Notification service over HTTP/2 (`POST /3/device/<token>`).

Token authentication: an ES256 JWT (`kid` = TokenKeyId, `iss` = TeamId, `iat`) signed with the
.p8 TokenKey, reused for 50 minutes (Apple refuses tokens older than an hour and throttles
refreshes more often than every 20 minutes). Certificate authentication: the channel's
Certificate and PrivateKey (PEM) as the TLS client certificate. Hosts: `api.push.apple.com`
(APNS, APNS_VOIP) and `api.sandbox.push.apple.com` (APNS_SANDBOX, APNS_VOIP_SANDBOX); a
`base_url` replaces both (tests, proxies).

Headers: apns-topic (BundleId, `.voip` appended for VoIP), apns-push-type (alert, background
for SilentPush, voip), apns-priority (10, or 5 for background / normal priority),
apns-expiration (now + TimeToLive; 0 = deliver now or never), apns-collapse-id, apns-id (ours,
when it is a UUID). Replies: 200 SUCCESSFUL with the apns-id as MessageId; 410, `Unregistered`
and `BadDeviceToken` PERMANENT_FAILURE with reason `unregistered` (the caller deactivates the
endpoint; Pinpoint's UpdatedToken is FCM-only, so it stays empty); 429 THROTTLED; 5xx
TEMPORARY_FAILURE; other 4xx PERMANENT_FAILURE. An expired provider token is renewed and the
message tried once more.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import uuid
from collections.abc import Sequence

import httpx
import jwt
import orjson

from .base import (PERMANENT_FAILURE, PROVIDER_ERROR, UNREGISTERED, ConfigurationError, DeliveryResult,
                   OutboundPush, delivered, failed)
from .http import by_status, bounded, json_or_none, make_client, ssl_context, unreachable
from .push_payload import apns_payload, apns_priority, apns_push_type

PRODUCTION = "https://api.push.apple.com"
SANDBOX = "https://api.sandbox.push.apple.com"
TOKEN_LIFETIME = 50 * 60
UNREGISTERED_REASONS = ("Unregistered", "BadDeviceToken")
RENEW_REASONS = ("ExpiredProviderToken",)


class ApnsTransport:
    channel = "push"

    def __init__(self, credentials: dict, *, sandbox: bool, clock, default_method: str | None = None,
                 base_url: str | None = None, verify=True, concurrency: int = 64, timeout: float = 15.0):
        self.credentials = credentials
        self.clock = clock
        self.base_url = (base_url or (SANDBOX if sandbox else PRODUCTION)).rstrip("/")
        self.has_token = all(credentials.get(k) for k in ("TokenKey", "TokenKeyId", "TeamId"))
        self.has_certificate = all(credentials.get(k) for k in ("Certificate", "PrivateKey"))
        if not (self.has_token or self.has_certificate):
            raise ConfigurationError("APNs needs TokenKey, TokenKeyId and TeamId, or Certificate and PrivateKey")
        self.default_method = default_method
        self.verify = verify
        self.concurrency = concurrency
        self.timeout = timeout
        self._jwt: tuple[float, str] | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def send_batch(self, messages: Sequence[OutboundPush]) -> list[DeliveryResult]:
        return await bounded(self.concurrency, messages, self._send)

    async def _send(self, message: OutboundPush) -> DeliveryResult:
        try:
            body = orjson.dumps(apns_payload(message))
        except ValueError as exc:
            return failed(PERMANENT_FAILURE, 400, f"RawContent is not valid JSON: {exc}", PROVIDER_ERROR)
        method = self._method(message.auth_method)
        for attempt in (1, 2):
            headers = self.headers(message, method)
            try:
                response = await self._client(method).post(f"{self.base_url}/3/device/{message.token}",
                                                           content=body, headers=headers)
            except httpx.HTTPError as exc:
                return unreachable(exc, "APNs")
            reason = _reason(response)
            if attempt == 1 and response.status_code == 403 and reason in RENEW_REASONS:
                self._jwt = None
                continue
            return _result(response, reason, message.message_id)
        raise AssertionError("unreachable")

    def headers(self, message: OutboundPush, method: str) -> dict[str, str]:
        push_type = apns_push_type(message)
        headers = {"apns-push-type": push_type, "apns-priority": apns_priority(message, push_type)}
        topic = self._topic(message, push_type)
        if topic:
            headers["apns-topic"] = topic
        if message.ttl is not None:
            headers["apns-expiration"] = "0" if message.ttl <= 0 else str(int(self.clock.now().timestamp())
                                                                          + message.ttl)
        if message.collapse_id:
            headers["apns-collapse-id"] = message.collapse_id
        if _is_uuid(message.message_id):
            headers["apns-id"] = message.message_id
        if method == "TOKEN":
            headers["authorization"] = f"bearer {self.provider_token()}"
        return headers

    def _topic(self, message: OutboundPush, push_type: str) -> str | None:
        topic = message.apns_topic or self.credentials.get("BundleId")
        if topic and push_type == "voip" and not topic.endswith(".voip"):
            topic += ".voip"
        return topic

    def _method(self, preferred: str | None) -> str:
        """TOKEN or CERTIFICATE: the message's preference, else the channel's, else what is there."""
        for choice in (preferred, self.default_method, "TOKEN", "CERTIFICATE"):
            if choice == "TOKEN" and self.has_token or choice == "CERTIFICATE" and self.has_certificate:
                return choice
        raise AssertionError("checked in __init__")

    def provider_token(self) -> str:
        now = self.clock.now().timestamp()
        if self._jwt is None or now - self._jwt[0] >= TOKEN_LIFETIME:
            token = jwt.encode({"iss": self.credentials["TeamId"], "iat": int(now)}, self.credentials["TokenKey"],
                               algorithm="ES256", headers={"kid": self.credentials["TokenKeyId"]})
            self._jwt = (now, token)
        return self._jwt[1]

    def _client(self, method: str) -> httpx.AsyncClient:
        client = self._clients.get(method)
        if client is None:
            verify = self._certificate_context() if method == "CERTIFICATE" else self.verify
            client = make_client(verify=verify, http2=True, timeout=self.timeout, max_connections=4)
            self._clients[method] = client
        return client

    def _certificate_context(self) -> ssl.SSLContext:
        """A TLS context presenting the channel's certificate. `load_cert_chain` reads files
        only: the PEMs are written to a private temporary file and removed at once."""
        context = ssl_context(self.verify)  # a new context unless `verify` is one already
        pem = self.credentials["Certificate"].strip() + "\n" + self.credentials["PrivateKey"].strip() + "\n"
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(pem)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
        return context

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _reason(response: httpx.Response) -> str | None:
    if response.status_code == 200:
        return None
    reply = json_or_none(response)
    return reply.get("reason") if isinstance(reply, dict) else None


def _result(response: httpx.Response, reason: str | None, message_id: str) -> DeliveryResult:
    if response.status_code == 200:
        return delivered(response.headers.get("apns-id", message_id))
    text = reason or response.reason_phrase or f"APNs replied {response.status_code}"
    if response.status_code == 410 or reason in UNREGISTERED_REASONS:
        return failed(PERMANENT_FAILURE, response.status_code, text, UNREGISTERED)
    return by_status(response.status_code, text)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False
