"""What the HTTP transports share: the client, bounded concurrency, and the mapping of HTTP
statuses and transport errors to DeliveryStatus."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import httpx

from .base import (CONNECTION_FAILED, PERMANENT_FAILURE, PROVIDER_ERROR, TEMPORARY_FAILURE, THROTTLED,
                   THROTTLED_BY_PROVIDER, DeliveryResult, failed)

T = TypeVar("T")
UNREACHABLE_STATUS = 503  # the StatusCode when the provider could not be reached at all


def make_client(*, verify=True, http2: bool = False, timeout: float = 15.0,
                max_connections: int = 32) -> httpx.AsyncClient:
    """An AsyncClient; `http2=True` speaks only HTTP/2 (APNs): ALPN over TLS, prior knowledge
    over plain http (local stand-ins)."""
    if isinstance(verify, str):  # a CA bundle path: httpx wants an SSLContext for that
        verify = ssl_context(verify)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(verify=verify, http1=not http2, http2=http2, timeout=timeout, limits=limits)


def ssl_context(verify=True) -> ssl.SSLContext:
    """A client context honouring `verify`: True (system CAs), False, or a CA bundle path."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, ssl.SSLContext):
        return verify
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


async def bounded(limit: int, items: Sequence[T], send: Callable[[T], Awaitable[DeliveryResult]]
                  ) -> list[DeliveryResult]:
    """`send` every item with at most `limit` in flight; results in item order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> DeliveryResult:
        async with gate:
            return await send(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def unreachable(exc: Exception, what: str) -> DeliveryResult:
    return failed(TEMPORARY_FAILURE, UNREACHABLE_STATUS, f"{what} unreachable: {type(exc).__name__}: {exc}",
                  CONNECTION_FAILED)


def by_status(status_code: int, message: str) -> DeliveryResult:
    """A non-2xx reply without a more precise mapping: 429 throttled, 5xx temporary, else permanent."""
    if status_code == 429:
        return failed(THROTTLED, status_code, message, THROTTLED_BY_PROVIDER)
    if status_code >= 500:
        return failed(TEMPORARY_FAILURE, status_code, message, PROVIDER_ERROR)
    return failed(PERMANENT_FAILURE, status_code, message, PROVIDER_ERROR)


def json_or_none(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None
