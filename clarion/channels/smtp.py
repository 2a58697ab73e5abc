"""Email through any SMTP server: a pool of persistent connections, STARTTLS or implicit TLS,
AUTH, one message per recipient built from a precompiled MIME skeleton (`mime.py`).

URL (`CLARION_EMAIL_TRANSPORT`):

    smtp://[user:pass@]host[:port][?tls=starttls|ssl|none][&pool=8][&timeout=30][&verify=false]
          [&cafile=/path/ca.pem][&helo=name]
    smtps://...   (= tls=ssl, port 465)

Without `tls`, the connection is upgraded with STARTTLS when the server offers it. `pool` is
the number of connections kept open (default 8: one connection waits on round trips, several
keep the server busy). User and password are URL-decoded.

Replies map to Pinpoint's DeliveryStatus: 2xx SUCCESSFUL; a refused recipient (RCPT) is
PERMANENT_FAILURE on 5xx (hard bounce) and TEMPORARY_FAILURE on 4xx (soft bounce); a refused
message (MAIL FROM or DATA) is PERMANENT_FAILURE on 5xx (rejected) and TEMPORARY_FAILURE on
4xx. A dropped connection is reopened and the message tried once more (at-least-once: a server
that dropped us after accepting DATA may get it twice); if that fails too, TEMPORARY_FAILURE.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from .base import (CONNECTION_FAILED, MESSAGE_REFUSED, PERMANENT_FAILURE, RECIPIENT_REFUSED, TEMPORARY_FAILURE,
                   ConfigurationError, DeliveryResult, OutboundEmail, delivered, failed)
from .mime import MimeSkeleton, envelope_address

log = logging.getLogger(__name__)
TLS_MODES = ("auto", "none", "starttls", "ssl")
_ENVELOPE = re.compile(r"[^\s<>@]+@[^\s<>@]+|[^\s<>@]*")  # MAIL FROM may be empty (a bounce)
DEFAULT_POOL = 8  # measured: 4 -> 8 connections nearly doubles throughput into a local relay
CONNECTION_STATUS = 421  # "service not available": the StatusCode when no reply code exists


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "auto"
    pool: int = DEFAULT_POOL
    timeout: float = 30.0
    verify: bool = True
    cafile: str | None = None
    helo: str | None = None

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError(f"not an SMTP URL: {_redact(url)} (smtp://[user:pass@]host:port[?tls=...])")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls = query.pop("tls", "ssl" if parts.scheme == "smtps" else "auto").lower()
        if tls not in TLS_MODES:
            raise ConfigurationError(f"tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        try:
            config = cls(
                host=parts.hostname, port=parts.port or (465 if tls == "ssl" else 25),
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                tls=tls, pool=int(query.pop("pool", DEFAULT_POOL)), timeout=float(query.pop("timeout", 30)),
                verify=query.pop("verify", "true").lower() not in ("false", "0", "no"),
                cafile=query.pop("cafile", None), helo=query.pop("helo", None))
        except ValueError as exc:
            raise ConfigurationError(f"bad SMTP URL {_redact(url)}: {exc}") from None
        if query:
            raise ConfigurationError(f"unknown SMTP URL option(s): {', '.join(sorted(query))}")
        if config.pool < 1:
            raise ConfigurationError("pool must be at least 1")
        return config

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host, port=self.port, username=self.username, password=self.password,
            use_tls=self.tls == "ssl", start_tls={"auto": None, "starttls": True}.get(self.tls, False),
            validate_certs=self.verify, cert_bundle=self.cafile, timeout=self.timeout,
            local_hostname=self.helo)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


class SmtpTransport:
    """`pool` persistent connections shared by every batch. Like every transport, an instance
    lives on one event loop (registry.Channels runs them all on its loop thread)."""

    channel = "email"

    def __init__(self, config: SmtpConfig, clock):
        self.config = config
        self.clock = clock
        self.skeleton = MimeSkeleton()
        self._clients = [config.client() for _ in range(config.pool)]
        self._idle: asyncio.Queue | None = None

    @classmethod
    def from_url(cls, url: str, clock) -> "SmtpTransport":
        return cls(SmtpConfig.from_url(url), clock)

    async def send_batch(self, messages: Sequence[OutboundEmail]) -> list[DeliveryResult]:
        if self._idle is None:  # created here, inside the loop that will use it
            self._idle = asyncio.Queue()
            for client in self._clients:
                self._idle.put_nowait(client)
        return list(await asyncio.gather(*(self._send(m) for m in messages)))

    async def _send(self, message: OutboundEmail) -> DeliveryResult:
        try:
            sender = _envelope(message.envelope_from or message.from_address)
            recipient = _envelope(message.to)
            data = self.build(message, sender)
        except (ValueError, UnicodeError) as exc:
            return failed(PERMANENT_FAILURE, 400, f"Invalid message: {exc}", MESSAGE_REFUSED)
        client = await self._idle.get()
        try:
            return await self._deliver(client, message.message_id, sender, recipient, data)
        finally:
            self._idle.put_nowait(client)

    def build(self, message: OutboundEmail, sender: str | None = None) -> bytes:
        if message.raw is not None:
            return message.raw
        headers = list(message.headers)
        if message.list_unsubscribe:
            headers.append(("List-Unsubscribe", message.list_unsubscribe))
            if message.list_unsubscribe_one_click:
                headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        author = sender if sender and message.envelope_from is None else envelope_address(message.from_address)
        domain = author.rpartition("@")[2] or "clarion.invalid"
        return self.skeleton.build(
            from_address=message.from_address, to=message.to, subject=message.subject,
            message_id=f"{message.message_id}@{domain}", timestamp=self.clock.now().timestamp(),
            text=message.text, html=message.html, reply_to=message.reply_to, headers=headers)

    async def _deliver(self, client: aiosmtplib.SMTP, message_id: str, sender: str, recipient: str,
                       data: bytes) -> DeliveryResult:
        for attempt in (1, 2):
            try:
                if not client.is_connected:
                    await client.connect()
                # One deadline for the whole transaction: cheaper than aiosmtplib's per-command
                # wait_for (a task per command), which cost more than building the message.
                async with asyncio.timeout(self.config.timeout * 2):
                    await _transaction(client, sender, recipient, data)
                return delivered(message_id)
            except ssl.SSLError as exc:  # before ValueError: a certificate error is both
                _drop(client)
                return failed(TEMPORARY_FAILURE, CONNECTION_STATUS, f"SMTP TLS failed: {exc}", CONNECTION_FAILED)
            except aiosmtplib.SMTPNotSupported as exc:
                return failed(PERMANENT_FAILURE, 553, f"Cannot send to this address: {exc}", RECIPIENT_REFUSED)
            except aiosmtplib.SMTPRecipientRefused as exc:
                return _refused(exc.code, exc.message, RECIPIENT_REFUSED)
            except aiosmtplib.SMTPAuthenticationError as exc:
                _drop(client)
                return failed(TEMPORARY_FAILURE, exc.code, f"SMTP authentication failed: {exc.message}",
                              CONNECTION_FAILED)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421 or not client.is_connected:  # the server is closing the connection
                    _drop(client)
                    if attempt == 1:
                        continue
                return _refused(exc.code, exc.message, MESSAGE_REFUSED)
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                _drop(client)
                if attempt == 2:
                    log.warning("SMTP %s:%s unreachable: %s", self.config.host, self.config.port, exc)
                    return failed(TEMPORARY_FAILURE, CONNECTION_STATUS, f"SMTP server unreachable: {exc}",
                                  CONNECTION_FAILED)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        for client in self._clients:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                    client.close()


async def _transaction(client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """MAIL, RCPT, DATA. (aiosmtplib's `sendmail` parses every address twice more with the
    stdlib parser, ~60 us a message; ours are parsed and checked already.)"""
    if client.is_ehlo_or_helo_needed:  # connect() greets only when it needs to (STARTTLS, AUTH)
        await _greet(client)
    utf8 = not (sender.isascii() and recipient.isascii())  # an internationalised mailbox: RFC 6531
    if utf8 and not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("the server does not offer SMTPUTF8")
    encoding = "utf-8" if utf8 else "ascii"
    options = [f"SIZE={len(data)}".encode()] if client.supports_extension("size") else []
    options += [b"SMTPUTF8"] if utf8 else []
    reply = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *options,
                                         timeout=None)
    if reply.code != 250:
        await _reset(client)
        raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
    reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode(encoding) + b">", timeout=None)
    if reply.code not in (250, 251):
        await _reset(client)
        raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
    try:
        await client.data(data, timeout=None)
    except aiosmtplib.SMTPResponseException:
        await _reset(client)
        raise


async def _greet(client: aiosmtplib.SMTP) -> None:
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()  # a server without ESMTP


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the connection can carry the next message."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        _drop(client)


def _envelope(value: str) -> str:
    address = envelope_address(value)
    if not _ENVELOPE.fullmatch(address):
        raise ValueError(f"invalid address {value!r}")
    return address


def _drop(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()


def _refused(code: int, message: str, reason: str) -> DeliveryResult:
    status = PERMANENT_FAILURE if code >= 500 else TEMPORARY_FAILURE
    return failed(status, code, f"{code} {message}".strip(), reason)
