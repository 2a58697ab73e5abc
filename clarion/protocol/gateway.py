"""The ASGI entry point: auth -> route -> parse -> validate -> handler -> serialize.

A plain ASGI callable rather than a framework router: the route table comes from the model,
and every microsecond here is paid by every request. What can be worked out once per
operation (its handler's marks, how its input shape is read) is kept in a `RoutePlan`.
Handlers are synchronous (the store is synchronous) and run in a worker thread so a slow one
never stalls the event loop, except those marked `inline` (see `operations.operation`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import anyio.to_thread
import orjson

from ..store import Contended
from . import codec
from .access_log import AccessLog
from .errors import (BadRequest, InternalServerError, MethodNotAllowed, NotFound, NotImplementedYet,
                     PayloadTooLarge, ServiceError)

errors_log = logging.getLogger("clarion.errors")
UNCONTENDED = "uncontended"  # an `operation(inline=...)` mode: see `operations.operation`
UNCONTENDED_TRIES = 3

# Browsers (the AWS SDK for JavaScript, Amplify) call the API cross-origin: every response says
# who may read it; only the preflight (OPTIONS) answer needs the methods and headers allowed.
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"x-amzn-RequestId, x-amzn-ErrorType"),
]
PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"600"),
]

# An extra route outside the model (extensions, health): async fn(request) -> (status, headers, body).
Mount = Callable[["Request"], Awaitable[tuple[int, list, bytes]]]


class Request:
    """The parts of an HTTP request the gateway needs, decoded once."""

    __slots__ = ("method", "raw_path", "query", "headers", "body", "request_id")

    def __init__(self, scope: dict, body: bytes, request_id: str, headers: dict[str, str] | None = None):
        self.method = scope["method"]
        raw = scope.get("raw_path")
        self.raw_path = raw.decode("latin-1").partition("?")[0] if raw else quote(scope["path"])
        self.query = scope.get("query_string", b"").decode("latin-1")
        self.headers = decode_headers(scope["headers"]) if headers is None else headers
        self.body = body
        self.request_id = request_id


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header name -> value (ASGI names are lower-case already)."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) < len(raw):  # a repeated header is signed as its values joined by commas (SigV4's rule)
        headers = {}
        for name, value in raw:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = headers[key] + "," + text if key in headers else text
    return headers


class RoutePlan:
    """What the gateway needs to run one model operation, worked out once (see `Gateway.plan`)."""

    __slots__ = ("operation", "handler", "parse", "body_limit", "inline", "inline_per_request", "uncontended")

    def __init__(self, operation, handler):
        self.operation, self.handler = operation, handler
        self.parse = codec.RequestParser(operation, getattr(handler, "batch_items", None))
        self.body_limit = getattr(handler, "max_body_bytes", None)  # a per-operation quota (PutEvents: 4 MB)
        inline = handler.inline if handler is not None else False
        self.uncontended = inline == UNCONTENDED  # inline unless its write would wait
        self.inline = False if self.uncontended else inline  # a bool, or a predicate over params
        self.inline_per_request = callable(self.inline)


class Gateway:
    def __init__(self, service, mounts: dict[str, Mount] | None = None):
        self.service = service
        self.model = service.model
        self.handlers = service.handlers
        self.mounts = mounts or {}  # path prefix -> Mount, for paths outside /v1
        self._mount_prefixes = tuple(self.mounts)
        self.access_log = AccessLog()
        self._plans: dict[str, RoutePlan] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        started = time.perf_counter()
        request_id = self.service.ids.request_id()
        caller_key = "-"
        try:
            received, limit = decode_headers(scope["headers"]), self.service.settings.max_body_bytes
            if "content-length" in received:
                _check_declared_length(scope["headers"], limit)
            request = Request(scope, await _read_body(receive, limit), request_id, received)
            mount = self._mount_for(request.raw_path)
            if request.method == "OPTIONS":
                status, headers, payload = 200, PREFLIGHT_HEADERS, b""
            elif mount is not None:
                status, headers, payload = await mount(request)
            else:
                caller, status, headers, payload = await self._api(request)
                caller_key = caller.access_key_id if caller else "-"
        except ServiceError as error:
            status, headers, payload = codec.serialize_error(error, request_id)
        except Exception:  # a bug of ours: log it, answer a modelled 500, never an HTML page
            errors_log.exception("unhandled error in request %s", request_id)
            status, headers, payload = codec.serialize_error(
                InternalServerError("Internal server error"), request_id)
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, *CORS_HEADERS, (b"x-amzn-requestid", request_id.encode()),
                                (b"content-length", b"%d" % len(payload))]})
        await send({"type": "http.response.body", "body": payload})
        # Method, path, status, time, key id and request id only: never headers or bodies.
        self.access_log.record(scope["method"], scope["path"], status, (time.perf_counter() - started) * 1000,
                               caller_key, request_id)

    def _mount_for(self, raw_path: str) -> Mount | None:
        if not raw_path.startswith(self._mount_prefixes):  # one C call for the common case
            return None
        for prefix, mount in self.mounts.items():
            if raw_path == prefix or raw_path.startswith(prefix.rstrip("/") + "/"):
                return mount
        return None

    def plan(self, route) -> RoutePlan:
        """The route's plan, made on first use: its handler and the handler's marks, and the
        request parser with the input shape already read."""
        plan = self._plans.get(route.name)
        if plan is None:
            plan = self._plans[route.name] = RoutePlan(route.operation, self.handlers.get(route.name))
        return plan

    async def _api(self, request: Request):
        caller = self.service.authenticate(request)
        resolved = self.model.resolve(request.method, request.raw_path)
        if resolved is None:
            return caller, *await self._outside_model(caller, request)
        route, labels = resolved
        plan = self.plan(route)
        body_limit = plan.body_limit
        if body_limit is not None and len(request.body) > body_limit:
            raise PayloadTooLarge(f"Request body of {len(request.body)} bytes exceeds the limit of "
                                  f"{body_limit} bytes for {route.name}")
        # Validate first: a malformed request gets its 400 whether or not the operation is served.
        params = plan.parse(labels, request.query, request.body)
        handler = plan.handler
        if handler is None:
            raise NotImplementedYet(f"The operation {route.name} is not implemented in Clarion yet")
        inline = plan.inline(params) if plan.inline_per_request else plan.inline
        if inline:
            result = self.service.run_operation(handler, caller, request.request_id, params)
        elif plan.uncontended and self.service.store.writes_without_waiting:
            result = await self._run_uncontended(
                lambda: self.service.run_operation(handler, caller, request.request_id, params))
        else:
            result = await anyio.to_thread.run_sync(
                lambda: self.service.run_operation(handler, caller, request.request_id, params))
        status, payload = codec.serialize_output(plan.operation, result)
        return caller, status, codec.JSON_HEADERS if payload else (), payload

    async def _run_uncontended(self, run):
        """Run a write handler on the event loop, its store write not waiting (`Contended` comes
        before anything is written). Another writer busy: wait for it in a thread, then try
        again on the loop. Handing the whole handler to a thread instead would make the next
        requests meet that thread's write and follow it there, one after the other."""
        store = self.service.store
        for _ in range(UNCONTENDED_TRIES):
            try:
                with store.without_waiting():
                    return run()
            except Contended:
                await anyio.to_thread.run_sync(store.wait_for_writers)
        return await anyio.to_thread.run_sync(run)  # another process keeps writing: wait in a thread

    async def _outside_model(self, caller, request: Request) -> tuple[int, list, bytes]:
        """An extension route, else the 405 or 404 answer."""
        extension = self.service.extensions.resolve(request.method, request.raw_path)
        if extension is not None:
            handler, labels = extension
            status, payload = await anyio.to_thread.run_sync(
                lambda: self.service.run_extension(handler, caller, request, labels))
            return status, codec.JSON_HEADERS, payload
        allowed = self.model.allowed_methods(request.raw_path) + \
            self.service.extensions.allowed_methods(request.raw_path)
        if allowed:
            raise MethodNotAllowed(f"Method {request.method} is not allowed on {request.raw_path}; "
                                   f"use {', '.join(allowed)}")
        raise NotFound(f"No operation matches {request.method} {request.raw_path}")

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.access_log.start()
                self.service.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.service.close()
                self.access_log.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _check_declared_length(raw_headers: list[tuple[bytes, bytes]], limit: int) -> None:
    for name, value in raw_headers:
        if name.lower() == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise BadRequest("Invalid Content-Length header") from None
            if declared > limit:
                raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the limit of {limit} bytes")


async def _read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def json_response(status: int, value) -> tuple[int, list, bytes]:
    return status, list(codec.JSON_HEADERS), orjson.dumps(value)
