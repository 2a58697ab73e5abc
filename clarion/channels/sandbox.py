"""The sandbox transport: delivers nothing outside, records every message in the outbox (the
store's `outbox` table) so a new user, the console, the tests and `clarion outbox` can see
exactly what would have been sent: channel, address, rendered content, headers, time, id.

A batch is one executemany in one transaction, committed before `send_batch` returns, so a
recorded message survives a crash the moment its result is SUCCESSFUL.

Like Amazon SES's mailbox simulator, mail to `bounce@simulator.amazonses.com` (or any
`bounce@simulator.clarion`) is recorded and reported as a hard bounce (PERMANENT_FAILURE,
550), so bounce handling can be tried without a mail server.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import fields

from ..clock import iso
from . import outbox
from .base import (PERMANENT_FAILURE, PROVIDER_ERROR, RECIPIENT_REFUSED, DeliveryResult, Outbound, OutboundEmail,
                   OutboundPush, delivered, failed)
from .mime import envelope_address
from .push_payload import platform_payload

BOUNCE_ADDRESSES = ("bounce@simulator.amazonses.com", "bounce@simulator.clarion")
_SKIP = ("message_id", "app_id")


class SandboxTransport:
    def __init__(self, store, clock, channel: str):
        self.store = store
        self.clock = clock
        self.channel = channel

    async def send_batch(self, messages: Sequence[Outbound]) -> list[DeliveryResult]:
        created = iso(self.clock.now())
        rows, results = [], []
        for message in messages:
            content, result = _record(message)
            rows.append((message.app_id.lower() or None, self.channel, message.address, message.message_id, created,
                         outbox.encode(content)))
            results.append(result)
        await asyncio.to_thread(self._write, rows)
        return results

    def _write(self, rows: list[tuple]) -> None:
        with self.store.write() as conn:
            outbox.append(conn, rows)

    async def close(self) -> None:
        pass


def _record(message: Outbound) -> tuple[dict, DeliveryResult]:
    """What the outbox keeps for a message (its non-empty fields), and the simulated result."""
    content = {}
    for name in _recorded_fields(type(message)):
        value = getattr(message, name)
        if value is not None and value != ():
            content[name] = value
    if isinstance(message, OutboundEmail):
        return _email(message, content)
    if isinstance(message, OutboundPush):
        try:
            content["payload"] = platform_payload(message)
        except ValueError as exc:
            return content, failed(PERMANENT_FAILURE, 400, f"RawContent is not valid JSON: {exc}", PROVIDER_ERROR)
    return content, delivered(message.message_id)


@functools.cache
def _recorded_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind) if f.name not in _SKIP)


def _email(message: OutboundEmail, content: dict) -> tuple[dict, DeliveryResult]:
    headers = [list(h) for h in message.headers]
    if message.list_unsubscribe:
        headers.append(["List-Unsubscribe", message.list_unsubscribe])
        if message.list_unsubscribe_one_click:
            headers.append(["List-Unsubscribe-Post", "List-Unsubscribe=One-Click"])
    content["headers"] = headers
    if message.raw is not None:
        content["raw"] = message.raw.decode("utf-8", "replace")
    if "@simulator." in message.to and _bare(message.to) in BOUNCE_ADDRESSES:
        return content, failed(PERMANENT_FAILURE, 550, "550 5.1.1 Recipient address rejected (simulated bounce)",
                               RECIPIENT_REFUSED)
    return content, delivered(message.message_id)


def _bare(address: str) -> str:
    try:
        return envelope_address(address).lower()
    except UnicodeError:
        return address
