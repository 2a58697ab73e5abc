"""One SMTP client connection (RFC 5321): opening it, once, as coroutines.

`SmtpConnection.open()` connects (plain or implicit TLS), reads the greeting, says EHLO (HELO
for a server without ESMTP), upgrades with STARTTLS (RFC 3207) and logs in with AUTH
(CRAM-MD5, PLAIN or LOGIN, RFC 4954). Messages then go out through `smtp_transaction`, which
takes the replies straight from `_Protocol.data_received` (no coroutine per command).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ssl
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

CRLF = b"\r\n"
MAX_REPLY_BYTES = 64 * 1024  # a reply line longer than this is not SMTP (RFC 5321 allows 512)
AUTH_PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")


class Reply(NamedTuple):
    code: int
    message: str  # the text after the code; lines of a multi-line reply joined with "\n"


class SmtpError(Exception):
    """The conversation cannot go on (a bad greeting, a missing extension, garbage, a 421);
    the base of the outcomes in `smtp_transaction` too."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class AuthFailed(SmtpError):
    """The server refused the login."""


class _Protocol(asyncio.Protocol):
    """Splits what the server sends into replies. While opening, `read()` waits for them; while
    sending, each reply goes straight to `on_reply` (and a lost connection to `on_lost`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.replies: deque[Reply] = deque()
        self.on_reply: Callable[[Reply], None] | None = None
        self.on_lost: Callable[[BaseException], None] | None = None
        self._buffer = b""
        self._lines: list[str] = []  # the continuation lines of the reply being read
        self._waiter: asyncio.Future | None = None
        self._wanted = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if (data[3:4] == b" " and data.find(b"\n") == len(data) - 1 and not self._buffer and not self._lines
                and data[:3].isdigit()):
            reply = Reply(int(data[:3]), data[4:].rstrip(b"\r\n").decode("utf-8", "replace"))  # the usual case
            if self.on_reply is not None:
                return self.on_reply(reply)
            self.replies.append(reply)
            data = b""
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0 and self.lost is None:
            self._line(buffer[start:end].rstrip(b"\r"))
            start = end + 1
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_REPLY_BYTES:
            self.fail(SmtpError("the server sent a reply line without end"))
        waiter = self._waiter
        if waiter is not None and len(self.replies) >= self._wanted and not waiter.done():
            waiter.set_result(None)

    def _line(self, line: bytes) -> None:
        separator = line[3:4]
        if not line[:3].isdigit() or separator not in (b"", b" ", b"-"):
            self.fail(SmtpError(f"not an SMTP reply: {line[:80]!r}"))
            return
        self._lines.append(line[4:].decode("utf-8", "replace"))
        if separator == b"-":
            return
        reply = Reply(int(line[:3]), "\n".join(self._lines))
        self._lines = []
        if self.on_reply is not None:
            self.on_reply(reply)
        else:
            self.replies.append(reply)

    def fail(self, exc: BaseException) -> None:
        """Give up on the connection: abort it and tell whoever waits."""
        if self.lost is None:
            self.lost = exc
            if self.transport is not None:
                self.transport.abort()
            self._tell(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = ConnectionResetError(f"the server closed the connection{f': {exc}' if exc else ''}")
            self._tell(self.lost)

    def _tell(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self.on_lost is not None:
            self.on_lost(exc)

    async def read(self, count: int = 1) -> list[Reply]:
        if len(self.replies) < count:
            if self.lost is not None:
                raise self.lost
            self._waiter, self._wanted = self.loop.create_future(), count
            try:
                await self._waiter
            finally:
                self._waiter = None
        return [self.replies.popleft() for _ in range(count)]


class SmtpConnection:
    def __init__(self, protocol: _Protocol, timeout: float):
        self.protocol = protocol
        self.timeout = timeout  # seconds a reply may take, once the connection is open
        self.extensions: dict[str, str] = {}  # EHLO keywords, lower case -> parameters

    # -- opening (once per connection) -----------------------------------------------------------

    @classmethod
    async def open(cls, host: str, port: int, *, tls: str, local_hostname: str, ssl_context: ssl.SSLContext | None,
                   username: str | None = None, password: str | None = None, timeout: float = 30) -> "SmtpConnection":
        """`tls`: "ssl" (implicit TLS), "starttls" (required), "auto" (when offered) or "none".
        The caller bounds the time it takes."""
        loop = asyncio.get_running_loop()
        implicit = tls == "ssl"
        _, protocol = await loop.create_connection(
            lambda: _Protocol(loop), host, port, ssl=ssl_context if implicit else None,
            server_hostname=host if implicit else None)
        connection = cls(protocol, timeout)
        try:
            await connection._start(host, tls, local_hostname, ssl_context, username, password)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _start(self, host, tls, local_hostname, ssl_context, username, password) -> None:
        greeting = await self._reply()
        if greeting.code != 220:
            raise SmtpError(f"the server greeted with {greeting.code} {greeting.message}", greeting.code)
        await self._hello(local_hostname)
        if tls in ("auto", "starttls") and "starttls" in self.extensions:
            await self._expect(b"STARTTLS", 220)
            protocol = self.protocol
            protocol.transport = await protocol.loop.start_tls(protocol.transport, protocol, ssl_context,
                                                               server_hostname=host)
            await self._hello(local_hostname)  # RFC 3207: forget what was said before TLS
        elif tls == "starttls":
            raise SmtpError("the server does not offer STARTTLS")
        if username is not None:
            await self._login(username, password or "")

    async def _hello(self, local_hostname: str) -> None:
        reply = await self._command(b"EHLO " + local_hostname.encode("idna"))
        if reply.code == 250:
            self.extensions = {}
            for line in reply.message.split("\n")[1:]:
                keyword, _, parameters = line.strip().partition(" ")
                if keyword.upper().startswith("AUTH="):  # the old form of AUTH (`AUTH=LOGIN PLAIN`)
                    keyword, parameters = "AUTH", f"{keyword[5:]} {parameters}"
                if keyword:
                    self.extensions.setdefault(keyword.lower(), parameters)
            return
        self.extensions = {}
        await self._expect(b"HELO " + local_hostname.encode("idna"), 250)  # a server without ESMTP

    async def _login(self, username: str, password: str) -> None:
        offered = self.extensions.get("auth", "").upper().split()
        mechanism = next((m for m in AUTH_PREFERENCE if m in offered), None)
        if mechanism is None:
            raise SmtpError("the server offers no AUTH mechanism Clarion speaks (CRAM-MD5, PLAIN, LOGIN)")
        user, secret = username.encode("utf-8"), password.encode("utf-8")
        if mechanism == "PLAIN":
            reply = await self._command(b"AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + secret))
        elif mechanism == "LOGIN":
            reply = await self._command(b"AUTH LOGIN")
            for answer in (user, secret):  # the server asks for each in turn (334)
                if reply.code == 334:
                    reply = await self._command(base64.b64encode(answer))
        else:
            reply = await self._command(b"AUTH CRAM-MD5")
            if reply.code == 334:
                challenge = base64.b64decode(reply.message.strip())
                digest = hmac.new(secret, challenge, "md5").hexdigest().encode()
                reply = await self._command(base64.b64encode(user + b" " + digest))
        if reply.code != 235:
            raise AuthFailed(f"{reply.code} {reply.message}".strip(), reply.code)

    async def _command(self, line: bytes) -> Reply:
        self.protocol.transport.write(line + CRLF)
        return await self._reply()

    async def _reply(self) -> Reply:
        [reply] = await self.protocol.read(1)
        return reply

    async def _expect(self, line: bytes, code: int) -> Reply:
        reply = await self._command(line)
        if reply.code != code:
            raise SmtpError(f"{line.split()[0].decode()}: {reply.code} {reply.message}", reply.code)
        return reply

    # -- using it -------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Still open, and the server said nothing out of turn (a 421 before it hangs up)."""
        protocol = self.protocol
        return protocol.lost is None and not protocol.replies and not protocol.transport.is_closing()

    async def quit(self) -> None:
        try:
            if self.usable:
                await self._command(b"QUIT")
        finally:
            self.close()

    def close(self) -> None:
        transport = self.protocol.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
