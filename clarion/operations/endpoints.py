"""Endpoints: UpdateEndpoint, UpdateEndpointsBatch, GetEndpoint, DeleteEndpoint, RemoveAttributes.

`upsert_endpoints` is the one write path for endpoint data: the API handlers here, PutEvents
and import jobs all call it inside their own write transaction. It loads every row the items
can touch in a few locked statements, plays the items through the domain rules in memory
(`domain.endpoints.Workspace`), and writes the result with a few batched statements.

A batch with an invalid item is rejected whole (400, nothing changed): the real service
documents no per-item results for UpdateEndpointsBatch, so a partial write would be invisible
to the caller.
"""

from __future__ import annotations

import contextlib
import functools

from sqlalchemy.exc import DBAPIError, IntegrityError

from ..domain import endpoints as rules
from ..protocol.errors import BadRequest, NotFound
from ..protocol.validate import ItemError
from ..store import endpoints as endpoint_store
from . import operation
from .apps import require_app

ATTRIBUTE_TYPES = {"endpoint-custom-attributes": "custom", "endpoint-metric-attributes": "metric",
                   "endpoint-user-attributes": "user"}
_ATTEMPTS = 4  # a concurrent insert of the same endpoint/user, a deadlock, or new attribute names: retry


class _RegistryMoved(Exception):
    """Another writer added attribute names while this one was counting them."""


def upsert_endpoints(ctx, conn, app_id: str, items: list[tuple[str, dict]], *,
                     partial: bool = False) -> dict[int, str]:
    """Create or update endpoints from (endpoint id, EndpointRequest-shaped dict) pairs, in the
    caller's write transaction, with Pinpoint's merge semantics and limits. `app_id` must exist.

    An invalid item raises BadRequest and nothing is written; with `partial=True` invalid
    items are skipped instead and their messages returned as {position in items: message}."""
    lock_app = False
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with _attempt(conn):
                return _upsert_once(ctx, conn, app_id, items, partial, lock_app)
        except rules.Invalid as exc:
            raise BadRequest(str(exc)) from None
        except _RegistryMoved:
            lock_app = True
        except DBAPIError as exc:
            if attempt == _ATTEMPTS or not _is_conflict(exc):
                raise
    raise RuntimeError("unreachable")  # pragma: no cover


def _attempt(conn):
    """A savepoint to retry from on PostgreSQL, where concurrent writers can race. SQLite runs
    one writer at a time and nothing is written before every check passed: no savepoint."""
    return conn.begin_nested() if conn.dialect.name == "postgresql" else contextlib.nullcontext()


def _is_conflict(exc: DBAPIError) -> bool:
    """A unique-key race with a concurrent writer, or a deadlock PostgreSQL broke up."""
    return isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", None) == "40P01"


def _upsert_once(ctx, conn, app_id, items, partial, lock_app) -> dict[int, str]:
    keys = {i.lower() for i, _ in items if isinstance(i, str)}  # as rules.endpoint_key keys them
    stored = {s.key: s for s in endpoint_store.lock_by_keys(conn, app_id, keys)} if keys else {}
    addresses, user_ids = _related_values(items, stored.values())
    for s in endpoint_store.lock_related(conn, app_id, addresses, user_ids, set(stored)):
        stored.setdefault(s.key, s)
    users = endpoint_store.lock_users(conn, app_id, user_ids | {s.user_id for s in stored.values() if s.user_id})
    if lock_app:
        endpoint_store.lock_app(conn, app_id)
    registry = endpoint_store.registry(conn, app_id)
    work = rules.Workspace(app_id=app_id, now=ctx.now(), request_id=ctx.request_id,
                           default_opt_out=ctx.settings.default_opt_out, new_cohort=ctx.ids.cohort,
                           endpoints=stored, users=users, registry=dict(registry),
                           channel_types=_channel_types(ctx.service.model.service))
    errors = work.apply_all(items, partial)
    if work.new_names and not lock_app:
        endpoint_store.lock_app(conn, app_id)
        if endpoint_store.registry(conn, app_id) != registry:
            raise _RegistryMoved()
    _write(conn, app_id, work)
    return errors


@functools.lru_cache(maxsize=4)
def _channel_types(service_model) -> frozenset[str]:
    """The model's ChannelType enum (looked up once: botocore builds a new shape per lookup)."""
    return frozenset(service_model.shape_for("ChannelType").enum)


def _related_values(items, rows) -> tuple[set[str], set[str]]:
    """Addresses and user ids whose other endpoints the items may change (same-address INACTIVE,
    the per-user limit)."""
    addresses = {s.doc["Address"] for s in rows if s.doc.get("Address")}
    user_ids = set()
    for _, request in items:
        if type(request) is dict:
            address, user = request.get("Address"), request.get("User")
            if address and type(address) is str:
                addresses.add(address)
            if user and type(user) is dict:
                user_id = user.get("UserId")
                if user_id and type(user_id) is str:
                    user_ids.add(user_id)
    return addresses, user_ids


def _write(conn, app_id: str, work: rules.Workspace) -> None:
    endpoint_store.add_names(conn, app_id, work.new_names)
    endpoint_store.save_users(conn, app_id, {u: work.users[u] for u in work.new_users},
                              {u: work.users[u] for u in work.changed_users - work.new_users})
    created, updated = [], []
    for s in work.endpoints.values():
        if s.changed:
            (created if s.created else updated).append(s)
    endpoint_store.insert_endpoints(conn, app_id, created)
    endpoint_store.update_endpoints(conn, app_id, updated)
    endpoint_store.delete_users_without_endpoints(conn, app_id, work.left_users)


# -- handlers --------------------------------------------------------------------------------

def _require_app_id(conn, application_id: str) -> str:
    """The app's id, or Pinpoint's 404 (as `require_app`, without loading the app)."""
    app_id = endpoint_store.app_id_of(conn, application_id)
    if app_id is None:
        raise NotFound("Application not found")
    return app_id


@operation("UpdateEndpoint", inline="uncontended")
def update_endpoint(ctx, application_id: str, endpoint_id: str, endpoint_request: dict) -> dict:
    with ctx.store.write() as conn:
        app_id = _require_app_id(conn, application_id)
        upsert_endpoints(ctx, conn, app_id, [(endpoint_id, endpoint_request)])
    return ctx.accepted()


# The items get the model's typed decoder (one pass in C instead of a validation walk in
# Python); an item that does not fit the model still rejects the whole batch, below.
@operation("UpdateEndpointsBatch", inline="uncontended", batch_items=("EndpointBatchItem",))
def update_endpoints_batch(ctx, application_id: str, endpoint_batch_request: dict) -> dict:
    items = endpoint_batch_request["Item"]
    if len(items) > rules.MAX_BATCH_ITEMS:
        raise BadRequest(f"Too many items: {len(items)}; UpdateEndpointsBatch takes at most "
                         f"{rules.MAX_BATCH_ITEMS}")
    for item in items:
        if isinstance(item, ItemError):
            raise BadRequest(item.message)
    pairs = [(item.get("Id"), item) for item in items]
    with ctx.store.write() as conn:
        app_id = _require_app_id(conn, application_id)
        upsert_endpoints(ctx, conn, app_id, pairs)
    return ctx.accepted()


def _require_endpoint(conn, app_id: str, endpoint_id: str, lock: bool = False) -> rules.Stored:
    stored = endpoint_store.get(conn, app_id, rules.endpoint_key(endpoint_id), lock=lock)
    if stored is None:
        raise NotFound("Resource not found")
    return stored


@operation("GetEndpoint", inline=True)
def get_endpoint(ctx, application_id: str, endpoint_id: str) -> dict:
    """Inline: one indexed read. The app is looked up only to tell which 404 it is."""
    response = endpoint_store.response(ctx.store, application_id.lower(), rules.endpoint_key(endpoint_id))
    if response is None:
        with ctx.store.read() as conn:
            require_app(conn, application_id)
        raise NotFound("Resource not found")
    return response


@operation("DeleteEndpoint")
def delete_endpoint(ctx, application_id: str, endpoint_id: str) -> dict:
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        stored = _require_endpoint(conn, app_id, endpoint_id, lock=True)
        response = endpoint_store.responses(conn, app_id, [stored])[0]
        endpoint_store.delete_endpoints(conn, app_id, [stored.key])
        if stored.user_id:
            endpoint_store.delete_users_without_endpoints(conn, app_id, {stored.user_id})
    return response


@operation("RemoveAttributes")
def remove_attributes(ctx, application_id: str, attribute_type: str, update_attributes_request: dict) -> dict:
    kind = ATTRIBUTE_TYPES.get(attribute_type)
    if kind is None:
        raise BadRequest(f"Invalid attribute-type '{attribute_type}': expected one of "
                         f"{', '.join(ATTRIBUTE_TYPES)}")
    patterns = [p for p in update_attributes_request.get("Blacklist") or [] if p]
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        removed = endpoint_store.remove_names(conn, app_id, kind, patterns)
    return {"ApplicationId": app_id, "AttributeType": attribute_type, "Attributes": removed}
