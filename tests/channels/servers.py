"""Local stand-ins for the outside world: a self-signed certificate authority, an SMTP server
(aiosmtpd) and HTTP servers (hypercorn: HTTP/1.1 and HTTP/2 over TLS) on loopback, each in a
thread, recording what they receive."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port


# -- certificates --------------------------------------------------------------------------

@dataclass
class Certificate:
    cert_pem: str
    key_pem: str
    cert_path: Path
    key_path: Path


def make_certificate(directory: Path, name: str = "localhost", *, client: bool = False) -> Certificate:
    """A self-signed certificate for `name` and 127.0.0.1 (usable as its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if not client:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_text(cert_pem)
    key_path.write_text(key_pem)
    return Certificate(cert_pem, key_pem, cert_path, key_path)


# -- SMTP ----------------------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated_as: str | None = None
    tls: bool = False


class SmtpSink:
    """Accepts mail and records each envelope. `refuse_rcpt` / `refuse_data` map an address (or
    a marker in the data) to the reply to give instead."""

    def __init__(self):
        self.received: list[Received] = []
        self.refuse_rcpt: dict[str, str] = {}
        self.refuse_mail: dict[str, str] = {}
        self.refuse_data: dict[bytes, str] = {}
        self.sessions = 0  # EHLOs seen: one per connection
        self.pipelining = False  # advertise PIPELINING (aiosmtpd reads pipelined commands in turn)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address in self.refuse_mail:
            return self.refuse_mail[address]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for marker, reply in self.refuse_data.items():
            if marker in envelope.original_content:
                return reply
        login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      login, session.ssl is not None))
        return "250 2.0.0 queued"


class SmtpServer:
    def __init__(self, *, tls_context: ssl.SSLContext | None = None, users: dict[str, str] | None = None,
                 sink: SmtpSink | None = None, **options):
        self.sink = sink or SmtpSink()
        self.port = free_port()
        kwargs = dict(options)  # more aiosmtpd SMTP options (enable_SMTPUTF8, auth_exclude_mechanism, ...)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=_authenticator(users), auth_required=True,
                          auth_require_tls=tls_context is not None)
        self.kwargs = kwargs
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """Stop and start again on the same port: every client connection is dropped."""
        self.controller.stop()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()


def _authenticator(users: dict[str, str]):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return authenticate


# -- HTTP ----------------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    http_version: str


@dataclass
class HttpServer:
    """Records requests and answers them with `respond(request) -> (status, headers, body)`."""

    respond: Callable[[Request], tuple[int, dict, bytes]]
    certificate: Certificate | None = None
    client_ca: Path | None = None  # require a client certificate signed by this CA
    requests: list[Request] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://127.0.0.1:{self.port}"

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = Request(scope["method"], scope["path"], scope["query_string"].decode(), headers, body,
                          scope["http_version"])
        self.requests.append(request)
        status, reply_headers, payload = self.respond(request)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in reply_headers.items()]})
        await send({"type": "http.response.body", "body": payload})

    def __enter__(self) -> "HttpServer":
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.loglevel = "WARNING"
        config.accesslog = None
        if self.certificate:
            config.certfile, config.keyfile = str(self.certificate.cert_path), str(self.certificate.key_path)
        if self.client_ca:
            config.ca_certs = str(self.client_ca)
            config.verify_mode = ssl.CERT_REQUIRED
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve(self.app, config, shutdown_trigger=self._stop.wait))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        _wait_for_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def json_reply(status: int, value, headers: dict | None = None) -> tuple[int, dict, bytes]:
    import orjson

    return status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(value)
