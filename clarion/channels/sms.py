"""SMS through a provider: a small provider interface, the transport that drives it, and the
URL forms of `CLARION_SMS_TRANSPORT`:

    sandbox                                   record in the outbox (the default)
    webhook+https://host/path?secret=S        POST JSON to the URL, signed (sms_webhook.py)
    webhook+http://127.0.0.1:9000/sms?secret=S   the same over plain http (loopback / private networks)
    twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com[?from=+15550100|messaging_service_sid=MG...]
    twilio+http://SID:TOKEN@127.0.0.1:9000    a Twilio-compatible stand-in over plain http

Common options: `concurrency=N` requests in flight (default 16), `timeout=S` seconds (15),
`verify=false` (skip TLS verification) or `cafile=/path/ca.pem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx

from .base import ConfigurationError, DeliveryResult, OutboundSms
from .http import bounded, make_client, unreachable


class SmsProvider(Protocol):
    """Sends one SMS with the transport's shared HTTP client."""

    name: str

    async def send(self, client: httpx.AsyncClient, message: OutboundSms) -> DeliveryResult: ...


class SmsTransport:
    channel = "sms"

    def __init__(self, provider: SmsProvider, *, concurrency: int = 16, timeout: float = 15.0, verify=True):
        self.provider = provider
        self.concurrency = concurrency
        self._client_options = dict(verify=verify, timeout=timeout, max_connections=concurrency)
        self._client: httpx.AsyncClient | None = None

    async def send_batch(self, messages: Sequence[OutboundSms]) -> list[DeliveryResult]:
        if self._client is None:
            self._client = make_client(**self._client_options)
        return await bounded(self.concurrency, messages, self._send)

    async def _send(self, message: OutboundSms) -> DeliveryResult:
        try:
            return await self.provider.send(self._client, message)
        except httpx.HTTPError as exc:
            return unreachable(exc, f"SMS provider {self.provider.name}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def from_url(url: str, clock) -> SmsTransport:
    """The transport for a provider URL (not `sandbox`: the registry handles that)."""
    from .sms_twilio import TwilioProvider
    from .sms_webhook import WebhookSmsProvider

    parts = urlsplit(url)
    scheme, _, inner = parts.scheme.partition("+")
    options = dict(parse_qsl(parts.query))
    common = _common_options(options)
    if scheme == "webhook" and inner in ("http", "https"):
        secret = options.pop("secret", None)
        if not secret:
            raise ConfigurationError("the SMS webhook URL needs ?secret=... (the HMAC signing key)")
        target = urlunsplit((inner, parts.netloc, parts.path, urlencode(options), ""))
        return SmsTransport(WebhookSmsProvider(target, secret, clock), **common)
    if scheme == "twilio" and inner in ("", "http", "https"):
        if not parts.username or not parts.password or not parts.hostname:
            raise ConfigurationError("Twilio URL form: twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        provider = TwilioProvider(base_url=f"{inner or 'https'}://{host}", account_sid=unquote(parts.username),
                                  auth_token=unquote(parts.password), default_from=options.pop("from", None),
                                  messaging_service_sid=options.pop("messaging_service_sid", None))
        if options:
            raise ConfigurationError(f"unknown Twilio URL option(s): {', '.join(sorted(options))}")
        return SmsTransport(provider, **common)
    raise ConfigurationError(f"unknown SMS transport {parts.scheme}:// (sandbox, webhook+https://, twilio://)")


def _common_options(options: dict) -> dict:
    """Pop the options every provider understands."""
    try:
        common = {"concurrency": int(options.pop("concurrency", 16)), "timeout": float(options.pop("timeout", 15))}
    except ValueError as exc:
        raise ConfigurationError(f"bad SMS transport option: {exc}") from None
    verify = options.pop("verify", "true").lower() not in ("false", "0", "no")
    cafile = options.pop("cafile", None)
    common["verify"] = cafile or verify
    return common
