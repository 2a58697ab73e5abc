"""Firebase Cloud Messaging: HTTP v1 with service-account OAuth, or the legacy server key API.

HTTP v1 (`POST {base}/v1/projects/{project_id}/messages:send`): the service account's JSON
(the channel's ServiceJson) signs an RS256 JWT assertion (`iss` = client_email, `aud` =
token_uri, scope firebase.messaging, one hour), exchanged at its `token_uri` for an access
token that is reused until a minute before it expires. Legacy (`POST {base}/fcm/send`,
`Authorization: key=<ApiKey>`). The base URL defaults to `https://fcm.googleapis.com`.

Which one: the message's PreferredAuthenticationMethod (TOKEN = v1, KEY = legacy), else the
channel's DefaultAuthenticationMethod, else whichever credentials exist (v1 first).

Replies: success -> SUCCESSFUL with FCM's message name / id as MessageId; the legacy API's
canonical `registration_id` -> UpdatedToken. UNREGISTERED / NOT_FOUND / NotRegistered /
InvalidRegistration -> PERMANENT_FAILURE with reason `unregistered`; QUOTA_EXCEEDED / 429 /
*RateExceeded -> THROTTLED; UNAVAILABLE / INTERNAL / 5xx -> TEMPORARY_FAILURE; anything else
PERMANENT_FAILURE. A 401 on v1 renews the access token and tries once more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import jwt
import orjson

from .base import (PERMANENT_FAILURE, PROVIDER_ERROR, TEMPORARY_FAILURE, THROTTLED, THROTTLED_BY_PROVIDER,
                   UNREGISTERED, ConfigurationError, DeliveryResult, OutboundPush, delivered, failed)
from .http import bounded, by_status, json_or_none, make_client, unreachable
from .push_payload import fcm_legacy_body, fcm_v1_message

DEFAULT_BASE = "https://fcm.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
ASSERTION_LIFETIME = 3600
V1_UNREGISTERED = ("UNREGISTERED", "NOT_FOUND")
V1_THROTTLED = ("QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED")
V1_TEMPORARY = ("UNAVAILABLE", "INTERNAL")
LEGACY_UNREGISTERED = ("NotRegistered", "InvalidRegistration")
LEGACY_THROTTLED = ("DeviceMessageRateExceeded", "TopicsMessageRateExceeded")
LEGACY_TEMPORARY = ("Unavailable", "InternalServerError")


class FcmTransport:
    channel = "push"

    def __init__(self, credentials: dict, *, clock, default_method: str | None = None, base_url: str | None = None,
                 verify=True, concurrency: int = 64, timeout: float = 15.0):
        self.clock = clock
        self.base_url = (base_url or DEFAULT_BASE).rstrip("/")
        self.api_key = credentials.get("ApiKey")
        self.account = _service_account(credentials.get("ServiceJson"))
        if not (self.api_key or self.account):
            raise ConfigurationError("FCM needs ServiceJson (HTTP v1) or ApiKey (legacy)")
        self.default_method = default_method
        self.concurrency = concurrency
        self._client_options = dict(verify=verify, timeout=timeout, max_connections=concurrency)
        self._client: httpx.AsyncClient | None = None
        self._access: tuple[float, str] | None = None  # (expires at, token)
        self._access_lock: asyncio.Lock | None = None

    async def send_batch(self, messages: Sequence[OutboundPush]) -> list[DeliveryResult]:
        if self._client is None:
            self._client = make_client(**self._client_options)
            self._access_lock = asyncio.Lock()
        return await bounded(self.concurrency, messages, self._send)

    async def _send(self, message: OutboundPush) -> DeliveryResult:
        try:
            if self._method(message.auth_method) == "TOKEN":
                return await self._send_v1(message)
            return await self._send_legacy(message)
        except httpx.HTTPError as exc:
            return unreachable(exc, "FCM")
        except ValueError as exc:  # RawContent that is not JSON, a token endpoint that answers nonsense
            return failed(PERMANENT_FAILURE, 400, f"Cannot send: {exc}", PROVIDER_ERROR)

    def _method(self, preferred: str | None) -> str:
        for choice in (preferred, self.default_method, "TOKEN", "KEY"):
            if choice == "TOKEN" and self.account or choice == "KEY" and self.api_key:
                return choice
        raise AssertionError("checked in __init__")

    # -- HTTP v1 -------------------------------------------------------------------------------

    async def _send_v1(self, message: OutboundPush) -> DeliveryResult:
        url = f"{self.base_url}/v1/projects/{self.account['project_id']}/messages:send"
        body = orjson.dumps({"message": fcm_v1_message(message)})
        for attempt in (1, 2):
            token = await self.access_token()
            response = await self._client.post(url, content=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            if response.status_code == 401 and attempt == 1:
                self._access = None
                continue
            return _v1_result(response, message.message_id)
        raise AssertionError("unreachable")

    async def access_token(self) -> str:
        async with self._access_lock:  # one exchange at a time: the first fills the cache for the rest
            now = self.clock.now().timestamp()
            if self._access is None or now >= self._access[0]:
                self._access = await self._exchange(now)
            return self._access[1]

    async def _exchange(self, now: float) -> tuple[float, str]:
        account = self.account
        claims = {"iss": account["client_email"], "scope": SCOPE, "aud": account["token_uri"],
                  "iat": int(now), "exp": int(now) + ASSERTION_LIFETIME}
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        assertion = jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)
        response = await self._client.post(account["token_uri"], data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
        reply = json_or_none(response)
        if not response.is_success or not isinstance(reply, dict) or "access_token" not in reply:
            raise httpx.HTTPStatusError(f"OAuth token exchange failed ({response.status_code}): {response.text[:200]}",
                                        request=response.request, response=response)
        lifetime = int(reply.get("expires_in", 3600))
        return now + max(lifetime - 60, 0), reply["access_token"]

    # -- legacy server key ---------------------------------------------------------------------

    async def _send_legacy(self, message: OutboundPush) -> DeliveryResult:
        response = await self._client.post(f"{self.base_url}/fcm/send", content=orjson.dumps(fcm_legacy_body(message)),
                                           headers={"Authorization": f"key={self.api_key}",
                                                    "Content-Type": "application/json"})
        return _legacy_result(response, message.message_id)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _service_account(service_json) -> dict | None:
    if not service_json:
        return None
    try:
        account = orjson.loads(service_json) if isinstance(service_json, (str, bytes)) else dict(service_json)
    except ValueError:
        raise ConfigurationError("ServiceJson is not JSON") from None
    missing = [k for k in ("project_id", "client_email", "private_key") if not account.get(k)]
    if missing:
        raise ConfigurationError(f"ServiceJson lacks {', '.join(missing)}")
    account.setdefault("token_uri", GOOGLE_TOKEN_URI)
    return account


def _v1_result(response: httpx.Response, message_id: str) -> DeliveryResult:
    reply = json_or_none(response)
    if response.is_success and isinstance(reply, dict):
        return delivered(str(reply.get("name") or message_id))
    error = reply.get("error", {}) if isinstance(reply, dict) else {}
    error = error if isinstance(error, dict) else {}
    codes = {error.get("status")} | {d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict)}
    text = str(error.get("message") or response.reason_phrase or f"FCM replied {response.status_code}")
    code = response.status_code
    if codes & set(V1_UNREGISTERED):
        return failed(PERMANENT_FAILURE, code, text, UNREGISTERED)
    if codes & set(V1_THROTTLED) or code == 429:
        return failed(THROTTLED, code, text, THROTTLED_BY_PROVIDER)
    if codes & set(V1_TEMPORARY):
        return failed(TEMPORARY_FAILURE, code, text, PROVIDER_ERROR)
    return by_status(code, text)


def _legacy_result(response: httpx.Response, message_id: str) -> DeliveryResult:
    reply = json_or_none(response)
    results = reply.get("results") if isinstance(reply, dict) else None
    if not response.is_success or not results or not isinstance(results[0], dict):
        return by_status(response.status_code if not response.is_success else 502,
                         response.reason_phrase or "FCM legacy API: unexpected reply")
    first = results[0]
    if "message_id" in first:
        result = delivered(str(first["message_id"]))
        result.updated_token = first.get("registration_id")  # canonical id: the token to use from now on
        return result
    # The legacy API answers 200 with an error per result; StatusCode carries the HTTP status the
    # error stands for (410 gone, 429, 503, 400), which is what a reader of the result expects.
    error = str(first.get("error", "Unknown"))
    if error in LEGACY_UNREGISTERED:
        return failed(PERMANENT_FAILURE, 410, error, UNREGISTERED)
    if error in LEGACY_THROTTLED:
        return failed(THROTTLED, 429, error, THROTTLED_BY_PROVIDER)
    if error in LEGACY_TEMPORARY:
        return failed(TEMPORARY_FAILURE, 503, error, PROVIDER_ERROR)
    return failed(PERMANENT_FAILURE, 400, error, PROVIDER_ERROR)
