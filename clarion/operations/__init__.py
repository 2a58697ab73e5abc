"""Operation handlers: one module per resource family.

A handler is a plain function marked with `@operation("CreateApp")`. It takes the request
`Context` and the operation's input members as snake_case keyword arguments (see
`protocol.codec`), and returns the output payload as a wire-shaped dict. It never sees HTTP.
`registry()` collects the marked functions of the modules listed in `MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..clock import iso
from ..protocol.errors import Forbidden

if TYPE_CHECKING:
    from ..service import Service

MODULES = [
    "apps",
    "settings",
    "tags",
    "channels",
    "endpoints",
    "users",
    "phone",
    "segments",
    "templates",
    "jobs",
    "campaigns",
    "campaign_kpis",
    "inapp",
    "events",
    "kpis",
    "messages",
    "otp",
    "analytics",
]


def operation(name: str, *, inline: bool | str | Callable[[dict], bool] = False,
              batch_items: tuple[str, ...] = (), max_body_bytes: int | None = None) -> Callable:
    """Mark a function as the handler of the model's operation `name`.

    Handlers run in a worker thread, so a slow one never stalls the server. `inline=True` runs
    it on the event loop instead, which saves the thread hop (about half the cost of a small
    request): only for handlers that do a few indexed store calls and never wait on anything.
    It may also be a predicate over the request's params, to run only some requests inline.
    `inline="uncontended"` runs it on the event loop unless its store write would wait for
    another writer, and then in a thread (`Store.without_waiting`): only for handlers whose
    first effect is their one short `store.write()`, since they may be started twice.
    `batch_items` names the shapes of a batch's independent items (PutEvents' events): the
    payload gets the typed fast decoder, and a bad item reaches the handler as an
    `ItemError` instead of failing the request (see `protocol.codec`). `max_body_bytes`
    lowers the request size limit for this operation.
    """

    def mark(fn: Callable) -> Callable:
        fn.operation_name = name
        fn.inline = inline
        if batch_items:
            fn.batch_items = frozenset(batch_items)
        if max_body_bytes is not None:
            fn.max_body_bytes = max_body_bytes
        return fn

    return mark


def _marked(modules: list[str], attribute: str) -> list[Callable]:
    found = []
    for module_name in modules:
        module = importlib.import_module(f"{__name__}.{module_name}")
        found += [v for v in vars(module).values() if callable(v) and getattr(v, attribute, None)
                  and getattr(v, "__module__", None) == module.__name__]
        # A table-driven module (channels) builds its marked handlers from the model on request.
        generated = getattr(module, "generated_handlers", None)
        if generated is not None:
            found += [fn for fn in generated() if getattr(fn, attribute, None)]
    return found


def registry(modules: list[str] = MODULES) -> dict[str, Callable]:
    """Model operation name -> handler."""
    handlers: dict[str, Callable] = {}
    for fn in _marked(modules, "operation_name"):
        if fn.operation_name in handlers:
            raise RuntimeError(f"two handlers for {fn.operation_name}")
        handlers[fn.operation_name] = fn
    return handlers


def extension_handlers(modules: list[str] = MODULES) -> list[Callable]:
    """Handlers of the extension API (`protocol.extensions`), each with its `extension_route`."""
    return _marked(modules, "extension_route")


class Caller(NamedTuple):
    """Who signed the request: a key, and the apps it may use (None: all of them).
    Immutable; a named tuple, as every request makes one."""

    access_key_id: str
    apps: frozenset[str] | None = None

    @property
    def scoped(self) -> bool:
        return self.apps is not None

    def can_use(self, app_id: str) -> bool:
        return self.apps is None or app_id.lower() in self.apps

    def require_app(self, app_id: str) -> None:
        if not self.can_use(app_id):
            raise Forbidden(f"The access key {self.access_key_id} is not allowed to use application {app_id}")


@dataclass
class Context:
    """What a handler may use: the service's parts, the caller, and this request's id."""

    service: "Service"
    caller: Caller
    request_id: str

    @property
    def store(self):
        return self.service.store

    @property
    def settings(self):
        return self.service.settings

    @property
    def ids(self):
        return self.service.ids

    @property
    def vault(self):
        return self.service.vault

    def now(self) -> str:
        """The current time in Pinpoint's ISO form."""
        return iso(self.service.clock.now())

    def arn(self, resource: str) -> str:
        s = self.service.settings
        return f"arn:aws:mobiletargeting:{s.region}:{s.account_id}:{resource}"

    def accepted(self) -> dict:
        """The MessageBody of 202 'Accepted' answers."""
        return {"Message": "Accepted", "RequestID": self.request_id}
