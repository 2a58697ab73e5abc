"""The composition root: builds the whole service from settings, explicitly.

Tests build a fresh `Service` each time (`build(settings, clock=..., ids=...)`); nothing is
kept in module globals.
"""

from __future__ import annotations

import gc

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .channels.registry import Channels
from .clock import Clock, Ids, iso
from .domain.templates import TemplateEngine
from .config import Settings
from .events.activity import ActivityTracker
from .events.store import EventStore, open_event_store
from .operations import Caller, Context, extension_handlers, registry
from .protocol import model as protocol_model
from .protocol import sigv4
from .protocol.errors import UnrecognizedClient
from .protocol.extensions import ExtensionRoutes
from .protocol.gateway import Gateway, json_response
from .runtime import job_handlers
from .runtime.queue import Queue
from .runtime.campaigns import CampaignRuntime
from .runtime.scheduler import Scheduler
from .runtime.worker import Workers
from .store import Store
from .store import keys as key_store
from .store.secrets import Vault

KEY_CACHE_SECONDS = 2.0  # how long a key lookup is reused: a revocation takes effect within this


@dataclass
class Service:
    settings: Settings
    store: Store
    vault: Vault
    clock: Clock
    ids: Ids
    model: protocol_model.Model
    handlers: dict[str, Callable]
    extensions: ExtensionRoutes
    root_credentials: tuple[str, str] | None = None
    # Signatures are checked against real time even when tests inject a fixed domain clock.
    wall_clock: Clock = field(default_factory=Clock)
    app_deleted_hooks: list[Callable[[str], None]] = field(default_factory=list)
    templates: TemplateEngine = field(default_factory=TemplateEngine)  # compiled message templates, cached
    queue: Queue | None = None
    workers: Workers | None = None
    scheduler: Scheduler | None = None
    events: EventStore | None = None  # the event store (DuckDB by default), opened on first use
    activity: ActivityTracker | None = None  # endpoint last-active times refreshed by events
    channels: Channels | None = None  # every channel's transport, on one long-lived event loop
    campaigns: CampaignRuntime | None = None  # campaign runs: their Sender, rate limiters, event triggers
    # Called once a batch of events is durable: fn(filter_type, app_id, events), filter_type
    # "ENDPOINT" for PutEvents (events: the request's BatchItem map and its per-event results;
    # clarion/operations/events.py). Listeners must be cheap when they have nothing to do (EVENT
    # campaigns: runtime/campaigns/triggers.py, which also hears the event store's `listeners`
    # for the events Clarion writes itself, FilterType SYSTEM).
    event_listeners: list[Callable[[str, str | None, object], None]] = field(default_factory=list)
    campaign_change_hooks: list[Callable[[], None]] = field(default_factory=list)  # after any campaign change
    _key_cache: dict = field(default_factory=dict)
    _started: bool = False

    # -- authentication -------------------------------------------------------------------

    def authenticate(self, request) -> Caller:
        signed = sigv4.parse_authorization(request.headers)
        sigv4.check_date(signed, self.wall_clock.now())
        secret, apps = self._lookup_key(signed.access_key_id)
        sigv4.verify(signed, secret, request.method, request.raw_path, request.query, request.headers, request.body)
        return Caller(signed.access_key_id, apps)

    def _lookup_key(self, key_id: str):
        cached = self._key_cache.get(key_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        with self.store.read() as conn:
            row = key_store.get(conn, key_id)
        if row is None:
            self._key_cache.pop(key_id, None)
            raise UnrecognizedClient("The security token included in the request is invalid.")
        value = (self.vault.open_sealed(row.secret), frozenset(row.apps) if row.apps is not None else None)
        if len(self._key_cache) > 10_000:
            self._key_cache.clear()
        self._key_cache[key_id] = (now + KEY_CACHE_SECONDS, value)
        return value

    def forget_keys(self) -> None:
        self._key_cache.clear()

    def on_app_deleted(self, app_id: str) -> None:
        """Let the parts outside the store (event store, runtime) drop the app's data."""
        self.forget_keys()
        for hook in self.app_deleted_hooks:
            hook(app_id)

    # -- dispatch ---------------------------------------------------------------------------

    def run_operation(self, handler: Callable, caller: Caller, request_id: str, params: dict):
        if "application_id" in params:
            caller.require_app(params["application_id"])
        return handler(Context(self, caller, request_id), **params)

    def run_extension(self, handler: Callable, caller: Caller, request, labels: dict) -> tuple[int, bytes]:
        from .protocol import codec

        if "application_id" in labels:
            caller.require_app(labels["application_id"])
        query = codec._query_values(request.query) if request.query else {}
        body = codec._json_body(request.body)
        result = handler(Context(self, caller, request.request_id), query=query, body=body, **labels)
        status, _, payload = json_response(200, result)
        return status, payload

    def asgi(self) -> Gateway:
        from .delivery.tracking import PREFIX, TrackingRoutes

        return Gateway(self, mounts={"/healthz": self._healthz, PREFIX: TrackingRoutes(self)})

    async def _healthz(self, request):
        return json_response(200, {"status": "ok"})

    def on_campaigns_changed(self) -> None:
        """A campaign was created, changed or deleted: let the scheduler look now."""
        if self.scheduler is not None:
            self.scheduler.wake.set()
        for hook in self.campaign_change_hooks:
            hook()

    def start(self) -> None:
        """Start the background runtime (job workers). Idempotent."""
        if not self._started:
            self._started = True
            self.workers.start()
            self.scheduler.start()
            self.events.start()

    def close(self) -> None:
        """Stop the runtime and release everything. Idempotent."""
        if self._started:
            self._started = False
            self.scheduler.stop()
            self.workers.stop()
        self.channels.close()
        self.activity.close()
        self.events.close()
        self.store.close()


def freeze_startup_heap() -> None:
    """Keep what start-up built out of every later garbage collection: it lives as long as the
    process, and walking it costs each collection tens of milliseconds (about 20 us per row of
    an import). The template grammar, tens of thousands of objects, is built first to be
    frozen too. `clarion serve` and `clarion worker` call this once the service is built; it
    also makes young-generation collections rarer (`runtime.memory.tune_collector`)."""
    from .domain.template_compiler import parse
    from .runtime.memory import tune_collector

    parse("{{warm}}")
    gc.collect()
    gc.freeze()
    tune_collector()


def build(settings: Settings, *, clock: Clock | None = None, ids: Ids | None = None) -> Service:
    """Build and start-up the service: migrate the store, ensure root credentials."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    store.migrate()
    extensions = ExtensionRoutes()
    for fn in extension_handlers():
        extensions.add(*fn.extension_route, fn)
    service = Service(
        settings=settings,
        store=store,
        vault=Vault.open(settings.data_dir, settings.master_key),
        clock=clock or Clock(),
        ids=ids or Ids(),
        model=protocol_model.load(),
        handlers=registry(),
        extensions=extensions,
    )
    service.queue = Queue(store, service.clock, service.ids)
    service.events = open_event_store(settings.events_store_url, service.clock, settings.events_retention_days,
                                      settings.events_memory_limit)
    service.activity = ActivityTracker(store)
    service.channels = Channels(settings, store, service.clock, push=settings.push_transport,
                                webhook_secret=settings.webhook_secret)
    service.app_deleted_hooks += [service.events.delete_app, service.activity.forget]
    service.scheduler = Scheduler(service)
    service.campaigns = CampaignRuntime(service)
    service.campaigns.attach()
    service.workers = Workers(service, service.queue, job_handlers(), threads=settings.worker_threads)
    service.root_credentials = ensure_root_credentials(service)
    return service


def ensure_root_credentials(service: Service) -> tuple[str, str]:
    """The root key: from the environment, else the stored one, else a new one written to
    `<data-dir>/credentials` (AWS shared-credentials format, profile `clarion`)."""
    settings = service.settings
    now = iso(service.clock.now())
    with service.store.write() as conn:
        if settings.access_key_id and settings.secret_access_key:
            row = key_store.get(conn, settings.access_key_id)
            if row is None or service.vault.open_sealed(row.secret) != settings.secret_access_key:
                if row is not None:
                    key_store.revoke(conn, settings.access_key_id, now)
                    conn.execute(key_store.keys.delete().where(
                        key_store.keys.c.access_key_id == settings.access_key_id))
                key_store.insert(conn, service.vault, settings.access_key_id, settings.secret_access_key,
                                 apps=None, description="root (environment)", root=True, created=now)
            return settings.access_key_id, settings.secret_access_key
        row = key_store.root_key(conn)
        if row is not None:
            pair = (row.access_key_id, service.vault.open_sealed(row.secret))
        else:
            pair = key_store.new_key_pair()
            key_store.insert(conn, service.vault, *pair, apps=None, description="root", root=True, created=now)
    write_credentials_file(settings.data_dir / "credentials", *pair)
    return pair


def write_credentials_file(path: Path, key_id: str, secret: str) -> None:
    text = f"[clarion]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    if path.exists() and path.read_text() == text:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
