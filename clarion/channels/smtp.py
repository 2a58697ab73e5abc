"""Email through any SMTP server: a pool of persistent connections, STARTTLS or implicit TLS,
AUTH, PIPELINING when the server offers it, one message per recipient built from a
precompiled MIME skeleton (`mime.py`) and sent by a lean client (`smtp_wire.py` opens
connections, `smtp_transaction.py` carries the messages).

URL (`CLARION_EMAIL_TRANSPORT`):

    smtp://[user:pass@]host[:port][?tls=starttls|ssl|none][&pool=8][&timeout=30][&verify=false]
          [&cafile=/path/ca.pem][&helo=name]
    smtps://...   (= tls=ssl, port 465)

Without `tls`, the connection is upgraded with STARTTLS when the server offers it. `pool` is
the number of connections kept open (default 8: one connection waits on round trips, several
keep the server busy). `timeout` bounds opening a connection and waiting for each reply. User
and password are URL-decoded.

Every batch's messages go into one queue shared by the pool: up to `pool` workers, each on its
own connection, take messages from it until it is empty (so concurrent batches share the
connections, and a connection carries message after message without a task per message).

Replies map to Pinpoint's DeliveryStatus: 2xx SUCCESSFUL; a refused recipient (RCPT) is
PERMANENT_FAILURE on 5xx (hard bounce) and TEMPORARY_FAILURE on 4xx (soft bounce); a refused
message (MAIL FROM or DATA) is PERMANENT_FAILURE on 5xx (rejected) and TEMPORARY_FAILURE on
4xx. A dropped connection (or a 421 reply, or a reply later than `timeout`) is reopened and
the message tried once more (at-least-once: a server that dropped us after accepting DATA may
get it twice); if that fails too, TEMPORARY_FAILURE.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from .base import (CONNECTION_FAILED, MESSAGE_REFUSED, PERMANENT_FAILURE, RECIPIENT_REFUSED, TEMPORARY_FAILURE,
                   ConfigurationError, DeliveryResult, OutboundEmail, delivered, failed)
from .mime import MimeSkeleton, envelope_address
from .smtp_transaction import Broken, Job, Refused, Transaction, wire_data
from .smtp_wire import AuthFailed, SmtpConnection, SmtpError

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

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


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
        self._jobs: deque[Job] = deque()
        self._idle: list[SmtpConnection | None] = [None] * config.pool  # a slot per worker; None: not open
        self._workers: set[asyncio.Task] = set()
        self._tls: ssl.SSLContext | None = None
        self._hostname = config.helo

    @classmethod
    def from_url(cls, url: str, clock) -> "SmtpTransport":
        return cls(SmtpConfig.from_url(url), clock)

    async def send_batch(self, messages: Sequence[OutboundEmail]) -> list[DeliveryResult]:
        batch = _Batch(messages, self.clock.now().timestamp())
        for index in range(len(messages)):
            try:
                job = self.job(batch, index)
            except (ValueError, UnicodeError) as exc:
                batch.results[index] = failed(PERMANENT_FAILURE, 400, f"Invalid message: {exc}", MESSAGE_REFUSED)
                continue
            self._jobs.append(job)
            batch.pending += 1
        if batch.pending:
            batch.done = asyncio.get_running_loop().create_future()
            self._start_workers()
            try:
                await batch.done
            except asyncio.CancelledError:
                batch.cancelled = True  # its messages still queued are skipped
                raise
        return batch.results

    def job(self, batch: "_Batch", index: int) -> Job:
        """A message in its wire form. (The whole batch is built before it is queued: building
        each message as a connection takes it was measured to cost more loop CPU, not less.)"""
        message = batch.messages[index]
        author = message.envelope_from or message.from_address
        senders = batch.senders  # the batch's messages mostly share one sender: parse it once
        sender = senders.get(author) or senders.setdefault(author, _envelope(author))
        recipient = _envelope(message.to)
        if message.raw is not None:
            return Job(sender, recipient, wire_data(message.raw), len(message.raw), batch, index)
        data = self.skeleton.build_data(**self._fields(message, sender, batch.timestamp))
        # SIZE= (RFC 1870) without the end-of-data line; a doubled dot still counts: a few octets over at most.
        return Job(sender, recipient, data, len(data) - 3, batch, index)

    @staticmethod
    def _fields(message: OutboundEmail, sender: str, timestamp: float) -> dict:
        """The skeleton's keywords for the message."""
        headers = message.headers
        if message.list_unsubscribe:
            headers = [*headers, ("List-Unsubscribe", message.list_unsubscribe)]
            if message.list_unsubscribe_one_click:
                headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        author = sender if message.envelope_from is None else envelope_address(message.from_address)
        domain = author.rpartition("@")[2] or "clarion.invalid"
        return dict(from_address=message.from_address, to=message.to, subject=message.subject,
                    message_id=f"{message.message_id}@{domain}", timestamp=timestamp, text=message.text,
                    html=message.html, reply_to=message.reply_to, headers=headers)

    # -- the pool ----------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(min(len(self._idle), len(self._jobs))):
            task = loop.create_task(self._work(self._idle.pop()))
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def _take(self) -> Job | None:
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            if not job.owner.cancelled:
                return job
        return None

    async def _work(self, connection: SmtpConnection | None) -> None:
        """Send queued messages over one connection until the queue is empty; open the
        connection again when it drops, and try the message in flight once more."""
        job = transaction = None
        try:
            while job is not None or (job := self._take()) is not None:
                try:
                    if connection is None or not connection.usable:
                        connection = _close(connection)
                        async with asyncio.timeout(self.config.timeout):
                            connection = await self._open()
                    transaction = Transaction(connection, self._take, _report)
                    first, job = job, None  # the transaction has it now (see abandon())
                    await transaction.start(first)
                except Broken as exc:
                    connection = None
                    if exc.waiting is not None:  # its message was never sent: first in the queue
                        self._jobs.appendleft(exc.waiting)
                    job = self._again(exc.job, exc.cause)
                except (SmtpError, OSError) as exc:  # opening failed (OSError covers TimeoutError)
                    connection = _close(connection)
                    job = self._again(job, exc)
        except asyncio.CancelledError:
            in_flight = transaction.abandon() if transaction is not None else ()
            for unfinished in {id(j): j for j in (job, *in_flight) if j is not None}.values():
                unfinished.owner.finish(unfinished.index, _closed())
            raise
        finally:
            self._idle.append(connection)

    def _again(self, job: Job | None, cause: BaseException) -> Job | None:
        """The job to try once more after `cause`, or None when it has its result."""
        if job is None or job.owner.cancelled:
            return None
        outcome = _failure(cause)
        if outcome is None:
            job.tries += 1
            if job.tries < 2:
                return job
            log.warning("SMTP %s:%s unreachable: %s", self.config.host, self.config.port, cause)
            outcome = failed(TEMPORARY_FAILURE, CONNECTION_STATUS,
                             f"SMTP server unreachable: {cause or type(cause).__name__}", CONNECTION_FAILED)
        job.owner.finish(job.index, outcome)
        return None

    async def _open(self) -> SmtpConnection:
        config = self.config
        if self._hostname is None:
            self._hostname = socket.getfqdn()  # once (it may ask DNS)
        if self._tls is None and config.tls != "none":
            self._tls = config.ssl_context()
        return await SmtpConnection.open(config.host, config.port, tls=config.tls, local_hostname=self._hostname,
                                         ssl_context=self._tls, username=config.username, password=config.password,
                                         timeout=config.timeout)

    async def close(self) -> None:
        """Stop the workers (their messages fail as TEMPORARY_FAILURE), QUIT every connection."""
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        while self._jobs:
            job = self._jobs.popleft()
            job.owner.finish(job.index, _closed())
        connections = [c for c in self._idle if c is not None]
        self._idle = [None] * self.config.pool
        await asyncio.gather(*(_quit(c, self.config.timeout) for c in connections))


class _Batch:
    """One `send_batch` call's results, filled in as its messages are sent."""

    __slots__ = ("messages", "results", "pending", "done", "cancelled", "timestamp", "senders")

    def __init__(self, messages: Sequence[OutboundEmail], timestamp: float):
        self.messages = messages
        self.results: list[DeliveryResult | None] = [None] * len(messages)
        self.pending = 0
        self.done: asyncio.Future | None = None
        self.cancelled = False
        self.timestamp = timestamp  # the messages' Date
        self.senders: dict[str, str] = {}  # From -> envelope sender

    def finish(self, index: int, result: DeliveryResult) -> None:
        self.results[index] = result
        self.pending -= 1
        if self.pending == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


def _report(job: Job, outcome: SmtpError | None) -> None:
    """A message's outcome on an open connection, as its result."""
    batch = job.owner
    if outcome is None:
        batch.finish(job.index, delivered(batch.messages[job.index].message_id))
    elif isinstance(outcome, Refused):
        reason = RECIPIENT_REFUSED if outcome.stage == "rcpt" else MESSAGE_REFUSED
        batch.finish(job.index, _refused(outcome.reply.code, outcome.reply.message, reason))
    else:  # Unsupported: an internationalised address and a server without SMTPUTF8
        batch.finish(job.index, failed(PERMANENT_FAILURE, 553, f"Cannot send to this address: {outcome}",
                                       RECIPIENT_REFUSED))


def _failure(cause: BaseException) -> DeliveryResult | None:
    """The final result of a connection failure that trying again cannot fix, else None."""
    if isinstance(cause, ssl.SSLError):
        return failed(TEMPORARY_FAILURE, CONNECTION_STATUS, f"SMTP TLS failed: {cause}", CONNECTION_FAILED)
    if isinstance(cause, AuthFailed):
        return failed(TEMPORARY_FAILURE, cause.code, f"SMTP authentication failed: {cause}", CONNECTION_FAILED)
    return None


async def _quit(connection: SmtpConnection, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await connection.quit()
    except (SmtpError, OSError):
        connection.close()


def _envelope(value: str) -> str:
    address = envelope_address(value)
    if not _ENVELOPE.fullmatch(address):
        raise ValueError(f"invalid address {value!r}")
    return address


def _close(connection: SmtpConnection | None) -> None:
    """Close a connection that cannot go on; returns None (the slot's new value)."""
    if connection is not None:
        connection.close()


def _closed() -> DeliveryResult:
    return failed(TEMPORARY_FAILURE, CONNECTION_STATUS, "The SMTP transport closed before sending", CONNECTION_FAILED)


def _refused(code: int, message: str, reason: str) -> DeliveryResult:
    status = PERMANENT_FAILURE if code >= 500 else TEMPORARY_FAILURE
    return failed(status, code, f"{code} {message}".strip(), reason)
