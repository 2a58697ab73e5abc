"""Channels: Get/Update/Delete for the ten channel kinds, and GetChannels.

One generic implementation; the thirty handlers are built from a table read from the model
(`channel_kinds()`): each `Update<X>Channel` operation names the channel's URI, its request
shape and its response shape. Request members that the response shape does not have (API keys,
certificates, private keys, APNs token key and ids, ...) are write-only credentials: they are
sealed by the vault in `channels.credentials` and never returned. Everything else is echoed.

Update is a merge: members not sent keep their stored value, credentials are kept unless
replaced. A channel is enabled unless `Enabled: false` is sent. `Version` counts writes from 1;
`Id` is the channel's URI name (`email`, `apns_sandbox`), as Pinpoint's deprecated `Id` is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..domain import channels as channel_rules
from ..protocol import codec
from ..protocol.errors import NotFound
from ..protocol.model import load as load_model
from ..store import channels as channel_store
from . import operation
from .apps import require_app

# Response members the request cannot set. Pinpoint reports the account's provider quotas here;
# Clarion reports the providers' usual defaults (SES production rate, SMS 20/s). Actual pacing
# comes from campaign/journey limits and the transport.
REPORTED_RATES = {
    "EMAIL": {"MessagesPerSecond": 14},
    "SMS": {"PromotionalMessagesPerSecond": 20, "TransactionalMessagesPerSecond": 20},
}


@dataclass(frozen=True)
class ChannelKind:
    """One channel as the model describes it."""

    family: str  # the operations' infix: Get<family>Channel, e.g. "ApnsSandbox"
    name: str  # the URI segment and the channel's Id: "apns_sandbox"
    platform: str  # "APNS_SANDBOX": the Platform member and the GetChannels key
    request_param: str  # the Update handler's keyword for the payload: "apns_sandbox_channel_request"
    settings: frozenset[str]  # request members echoed in the response
    credentials: frozenset[str]  # request members never returned
    response: frozenset[str]  # the response shape's members


@functools.cache
def channel_kinds() -> tuple[ChannelKind, ...]:
    """The channel table, read from the model's Update<X>Channel operations."""
    model = load_model()
    kinds = []
    for op_name in model.operation_names:
        matched = re.fullmatch(r"Update(\w+)Channel", op_name)
        if matched is None:
            continue
        operation_model = model.operation(op_name)
        payload = operation_model.input_shape.serialization["payload"]
        request = set(operation_model.input_shape.members[payload].members)
        output = operation_model.output_shape
        response = set(output.members[output.serialization["payload"]].members)
        name = operation_model.http["requestUri"].rsplit("/", 1)[1]
        kinds.append(ChannelKind(matched.group(1), name, name.upper(), codec.snake(payload),
                                 frozenset(request & response), frozenset(request - response), frozenset(response)))
    return tuple(kinds)


def generated_handlers() -> list[Callable]:
    """The Get/Update/Delete handlers of every channel kind (collected by `operations.registry`)."""
    handlers = []
    for kind in channel_kinds():
        handlers += [_bind(f"Get{kind.family}Channel", get_channel, kind),
                     _bind(f"Update{kind.family}Channel", update_channel, kind),
                     _bind(f"Delete{kind.family}Channel", delete_channel, kind)]
    return handlers


def _bind(op_name: str, implementation: Callable, kind: ChannelKind) -> Callable:
    def handler(ctx, application_id: str, **payload):
        return implementation(ctx, kind, application_id, **payload)

    handler.__name__ = handler.__qualname__ = codec.snake(op_name)
    return operation(op_name)(handler)


# -- The generic implementation -----------------------------------------------------------------

def get_channel(ctx, kind: ChannelKind, application_id: str) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        return _require_channel(conn, kind, app_id).doc


def delete_channel(ctx, kind: ChannelKind, application_id: str) -> dict:
    """Remove the channel and its credentials; the answer is the channel as it was."""
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        doc = _require_channel(conn, kind, app_id).doc
        channel_store.remove(conn, app_id, kind.name)
    return doc


def update_channel(ctx, kind: ChannelKind, application_id: str, **payload) -> dict:
    request = payload[kind.request_param]
    sent = {k: v for k, v in request.items() if v is not None and k in kind.settings | kind.credentials}
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        row = channel_store.get(conn, app_id, kind.name, for_update=True)
        old = row.doc if row else {}
        credentials = ctx.vault.open_sealed(row.credentials) if row and row.credentials else {}
        credentials.update(_pick(sent, kind.credentials))
        settings = {"Enabled": True, **_pick(old, kind.settings), **_pick(sent, kind.settings)}
        derived = channel_rules.check(kind.platform, sent, settings, credentials, ctx.service.clock.now())
        doc = _document(ctx, kind, app_id, old, {**settings, **derived}, credentials)
        channel_store.put(conn, ctx.vault, app_id, kind.name, doc, credentials)
    return doc


def _document(ctx, kind: ChannelKind, app_id: str, old: dict, settings: dict, credentials: dict) -> dict:
    """The channel's response document; only members of the response shape survive."""
    now = ctx.now()
    doc = {
        **REPORTED_RATES.get(kind.platform, {}),
        **settings,
        "ApplicationId": app_id,
        "CreationDate": old.get("CreationDate", now),
        "HasCredential": bool(credentials),
        "HasFcmServiceCredentials": bool(credentials.get("ServiceJson")),
        "HasTokenKey": bool(credentials.get("TokenKey")),
        "Id": kind.name,
        "IsArchived": False,
        "LastModifiedBy": ctx.caller.access_key_id,
        "LastModifiedDate": now,
        "Platform": kind.platform,
        "Version": old.get("Version", 0) + 1,
    }
    return {k: v for k, v in sorted(doc.items()) if k in kind.response}


def _require_channel(conn, kind: ChannelKind, app_id: str):
    row = channel_store.get(conn, app_id, kind.name)
    if row is None:
        raise NotFound(f"Resource not found: the application has no {kind.platform} channel")
    return row


def _pick(values: dict, members: frozenset[str]) -> dict:
    return {k: v for k, v in values.items() if k in members}


# -- All channels ---------------------------------------------------------------------------------

@operation("GetChannels")
def get_channels(ctx, application_id: str) -> dict:
    """`ChannelsResponse`: a `ChannelResponse` summary of each configured channel, by platform."""
    summary = set(load_model().shape("ChannelResponse").members)
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        docs = channel_store.all_docs(conn, app_id)
    return {"Channels": {doc["Platform"]: _pick(doc, summary) for doc in docs}}
