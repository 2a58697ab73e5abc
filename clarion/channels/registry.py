"""Builds each channel's transport from the configuration, and runs them all on one event loop.

- email: `CLARION_EMAIL_TRANSPORT` (`sandbox` or `smtp://...`, see smtp.py);
- sms: `CLARION_SMS_TRANSPORT` (`sandbox`, `webhook+https://...`, `twilio://...`, see sms.py);
- voice: the sandbox (no voice provider yet);
- push: per app, from the app's channel settings and credentials
  (`clarion.store.channels.load(conn, vault, app_id, "apns")`): APNs for the four APNS*
  platforms, FCM for GCM; BAIDU and ADM are recorded in the sandbox. `push="sandbox"` records
  every push instead of sending it;
- custom: webhooks and Lambda functions (custom.py), signed with the server's webhook secret.

Transports keep connections open (SMTP pool, HTTP/2 to APNs), so they live on one long-lived
loop (uvloop when installed) in a background thread, started on first use. Synchronous callers (operation handlers run
in worker threads) use `send()`; coroutines on another loop use `send_async()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path

import orjson

from . import sms
from .apns import ApnsTransport
from .base import ConfigurationError, DeliveryResult, Transport
from .custom import CustomTransport
from .fcm import FcmTransport
from .sandbox import SandboxTransport
from .smtp import SmtpTransport

SANDBOX = "sandbox"
APNS_PLATFORMS = {"APNS": False, "APNS_VOIP": False, "APNS_SANDBOX": True, "APNS_VOIP_SANDBOX": True}
SANDBOX_PLATFORMS = ("BAIDU", "ADM")
WEBHOOK_SECRET_FILE = "webhook.secret"


def email_transport(url: str, store, clock) -> Transport:
    if url == SANDBOX:
        return SandboxTransport(store, clock, "email")
    if url.startswith(("smtp://", "smtps://")):
        return SmtpTransport.from_url(url, clock)
    raise ConfigurationError(f"unknown email transport {url.split('://')[0]!r}: use sandbox or smtp://...")


def sms_transport(url: str, store, clock) -> Transport:
    if url == SANDBOX:
        return SandboxTransport(store, clock, "sms")
    return sms.from_url(url, clock)


def load_webhook_secret(data_dir: Path) -> str:
    """The key that signs outbound webhooks: `<data-dir>/webhook.secret`, created on first use."""
    path = Path(data_dir) / WEBHOOK_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard], which serves the API too): each
    SMTP round trip costs about a quarter less CPU on it than on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Channels:
    def __init__(self, settings, store, clock, *, push: str = "live", apns_base_url: str | None = None,
                 fcm_base_url: str | None = None, verify=True, webhook_secret: str | None = None):
        self.store = store
        self.clock = clock
        self.email = email_transport(settings.email_transport, store, clock)
        self.sms = sms_transport(settings.sms_transport, store, clock)
        self.voice = SandboxTransport(store, clock, "voice")
        self.custom = CustomTransport(secret=webhook_secret or load_webhook_secret(settings.data_dir), clock=clock,
                                      region=settings.region, verify=verify)
        self.push_mode = push
        self._push_options = dict(apns_base_url=apns_base_url, fcm_base_url=fcm_base_url, verify=verify)
        self._push: dict[tuple[str, str], tuple[str, Transport]] = {}
        self._push_sandbox = SandboxTransport(store, clock, "push")
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def transport(self, channel: str) -> Transport:
        """The transport of `email`, `sms`, `voice` or `custom`."""
        if channel not in ("email", "sms", "voice", "custom"):
            raise KeyError(channel)
        return getattr(self, channel)

    def push_transport(self, app_id: str, platform: str, doc: dict, credentials: dict) -> Transport:
        """The transport for an app's push channel (`platform` is the ChannelType: APNS, GCM...),
        reused while its credentials stay the same."""
        if self.push_mode == SANDBOX or platform in SANDBOX_PLATFORMS:
            return self._push_sandbox
        fingerprint = hashlib.sha256(orjson.dumps([credentials, doc.get("DefaultAuthenticationMethod")],
                                                  option=orjson.OPT_SORT_KEYS)).hexdigest()
        key = (app_id.lower(), platform)
        with self._lock:
            cached = self._push.get(key)
            if cached and cached[0] == fingerprint:
                return cached[1]
            transport = self._build_push(platform, doc, credentials)
            self._push[key] = (fingerprint, transport)
        if cached:  # the channel's credentials changed: let the old connections go
            self._submit(cached[1].close())
        return transport

    def _build_push(self, platform: str, doc: dict, credentials: dict) -> Transport:
        method = doc.get("DefaultAuthenticationMethod")
        options = self._push_options
        if platform in APNS_PLATFORMS:
            return ApnsTransport(credentials, sandbox=APNS_PLATFORMS[platform], clock=self.clock, default_method=method,
                                 base_url=options["apns_base_url"], verify=options["verify"])
        if platform == "GCM":
            return FcmTransport(credentials, clock=self.clock, default_method=method,
                                base_url=options["fcm_base_url"], verify=options["verify"])
        raise ConfigurationError(f"no push transport for {platform}")

    # -- running ---------------------------------------------------------------------------

    def send(self, transport: Transport, messages: Sequence) -> list[DeliveryResult]:
        """Send a batch from synchronous code (not from the channels' own loop)."""
        if self._loop is not None and threading.current_thread() is self._thread:
            raise RuntimeError("Channels.send() called from the channels' loop: await send_batch() instead")
        return self._submit(transport.send_batch(messages)).result()

    def submit(self, transport: Transport, messages: Sequence):
        """Start sending a batch from synchronous code and return at once: a
        `concurrent.futures.Future` of the results (the caller prepares the next batch meanwhile)."""
        return self._submit(transport.send_batch(messages))

    async def send_async(self, transport: Transport, messages: Sequence) -> list[DeliveryResult]:
        """Send a batch from a coroutine running on any loop."""
        if self._thread is not None and threading.current_thread() is self._thread:
            return await transport.send_batch(messages)
        return await asyncio.wrap_future(self._submit(transport.send_batch(messages)))

    def _submit(self, coroutine: Coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="clarion-channels", daemon=True)
                self._thread.start()
            return self._loop

    def close(self) -> None:
        """Close every transport's connections and stop the loop (idempotent)."""
        if self._loop is None:
            return
        transports = [self.email, self.sms, self.voice, self.custom, self._push_sandbox]
        transports += [t for _, t in self._push.values()]
        self._push.clear()

        async def close_all():
            await asyncio.gather(*(t.close() for t in transports), return_exceptions=True)

        self._submit(close_all()).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = None
