"""Direct sends: SendMessages and SendUsersMessages; and the email-tracking extension setting.

SendMessages takes up to 100 recipients: raw `Addresses` (each with its ChannelType) and
`Endpoints` (ids of the app's endpoints, which supply the address, the channel and the message
variables). SendUsersMessages sends to every endpoint of each of up to 100 users. Both answer 200
with one result per recipient (per-recipient failures never fail the call), in Pinpoint's shapes:
`MessageResponse{ApplicationId, RequestId, Result{address: MessageResult},
EndpointResult{endpointId: EndpointMessageResult}}` and
`SendUsersMessageResponse{ApplicationId, RequestId, Result{userId: {endpointId: EndpointMessageResult}}}`.

Choices where Pinpoint's answer is undocumented (docs/decisions.md): an endpoint id the app does
not have gets `PERMANENT_FAILURE`, StatusCode 404, "Endpoint does not exist"; a user id with no
endpoints gets an empty map (nothing was sent to it); a request without recipients, with more
than 100, an address without a ChannelType, or an InAppTemplate is a 400.

The request's Context (and a recipient's own, which wins) and TraceId (`trace_id`) go into the
events of each message; for push, Context is added to `data.pinpoint` too.
"""

from __future__ import annotations

import functools

import orjson
from sqlalchemy import ARRAY, String, Text, any_, bindparam, cast, func, literal_column, select

from ..delivery import DeliveryItem, Sender
from ..delivery import tracking
from ..domain.endpoints import project
from ..protocol.errors import BadRequest
from ..protocol.extensions import extension
from ..store import apps as app_store
from ..store.schema import endpoints as endpoint_table
from ..store.schema import users as user_table
from . import operation
from .apps import require_app

MAX_RECIPIENTS = 100
OVERRIDES = ("BodyOverride", "TitleOverride", "RawContent")
UNKNOWN_ENDPOINT = {"DeliveryStatus": "PERMANENT_FAILURE", "StatusCode": 404,
                    "StatusMessage": "Endpoint does not exist"}
_E = endpoint_table.c
_U = user_table.c


@operation("SendMessages")
def send_messages(ctx, application_id: str, message_request: dict) -> dict:
    addresses = message_request.get("Addresses") or {}
    endpoint_ids = message_request.get("Endpoints") or {}
    _check_message(message_request, len(addresses) + len(endpoint_ids), "Addresses or Endpoints")
    for address, config in addresses.items():
        if not config.get("ChannelType"):
            raise BadRequest(f"ChannelType is required for the address '{address}'")
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
    found = endpoints_by_id(ctx.store, app_id, list(endpoint_ids))
    message = _Message(message_request)
    items = [message.item({"Address": a, "ChannelType": c["ChannelType"]}, c) for a, c in addresses.items()]
    known = [(eid, found[eid.lower()]) for eid in endpoint_ids if eid.lower() in found]
    items += [message.item(endpoint, endpoint_ids[eid]) for eid, endpoint in known]
    results = Sender(ctx.service).send(app_id, items)
    response = {"ApplicationId": app_id, "RequestId": ctx.request_id}
    if addresses:
        response["Result"] = {a: r.message_result() for a, r in zip(addresses, results)}
    if endpoint_ids:
        by_id = {eid: r.endpoint_result() for (eid, _), r in zip(known, results[len(addresses):])}
        response["EndpointResult"] = {eid: by_id.get(eid, UNKNOWN_ENDPOINT) for eid in endpoint_ids}
    return response


@operation("SendUsersMessages")
def send_users_messages(ctx, application_id: str, send_users_message_request: dict) -> dict:
    users = send_users_message_request.get("Users") or {}
    _check_message(send_users_message_request, len(users), "Users")
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
    found = endpoints_of_users(ctx.store, app_id, list(users))
    message = _Message(send_users_message_request)
    owners, items = [], []
    for user_id, config in users.items():
        for endpoint in found.get(user_id, ()):
            owners.append((user_id, endpoint["Id"]))
            items.append(message.item(endpoint, config))
    results = Sender(ctx.service).send(app_id, items)
    result: dict[str, dict] = {user_id: {} for user_id in users}
    for (user_id, endpoint_id), outcome in zip(owners, results):
        result[user_id][endpoint_id] = outcome.endpoint_result()
    return {"ApplicationId": app_id, "RequestId": ctx.request_id, "Result": result}


def _check_message(request: dict, recipients: int, what: str) -> None:
    if recipients == 0:
        raise BadRequest(f"The message has no recipients: give {what}")
    if recipients > MAX_RECIPIENTS:
        raise BadRequest(f"A message can have at most {MAX_RECIPIENTS} recipients; this one has {recipients}")
    if (request.get("TemplateConfiguration") or {}).get("InAppTemplate"):
        raise BadRequest("InAppTemplate is not supported for direct messages")


class _Message:
    """What every recipient of one request shares."""

    def __init__(self, request: dict):
        self.configuration = request.get("MessageConfiguration") or {}
        self.templates = request.get("TemplateConfiguration")
        self.context = request.get("Context") or {}
        self.trace_id = request.get("TraceId")
        # Recipients without a Context of their own share one attributes dict, so the send
        # path prepares their events' attributes once (see DeliveryItem).
        self.attributes = self._attributes({})

    def _attributes(self, own: dict) -> dict:
        attributes = {**self.context, **own}
        if self.trace_id:
            attributes["trace_id"] = self.trace_id
        return attributes

    def item(self, endpoint: dict, config: dict) -> DeliveryItem:
        attributes, overrides, substitutions = self.attributes, None, {}
        if config:  # (most recipients come with an empty map)
            own = config.get("Context")
            if own:
                attributes = self._attributes(own)
            overrides = {k: config[k] for k in OVERRIDES if config.get(k) is not None} or None
            substitutions = config.get("Substitutions") or {}
        return DeliveryItem(endpoint=endpoint, channel_type=endpoint.get("ChannelType") or "",
                            message_configuration=self.configuration, template_configuration=self.templates,
                            substitutions=substitutions, event_attributes=attributes, overrides=overrides)


# -- endpoints --------------------------------------------------------------------------------
# A send only reads its recipients' endpoints: one statement (endpoints with their users'
# attributes, the ids bound as one list) run straight on the driver by `Store.all`, outside a
# transaction (one statement is its own snapshot) and without row locks.

def endpoints_by_id(store, app_id: str, endpoint_ids: list[str]) -> dict[str, dict]:
    """{lower-cased id: EndpointResponse} of the ids the app has."""
    if not endpoint_ids:
        return {}
    rows = _recipients(store, "by_key", app_id, {e.lower() for e in endpoint_ids})
    return {key: project(doc, attributes) for key, _, doc, attributes in rows}


def endpoints_of_users(store, app_id: str, user_ids: list[str]) -> dict[str, list[dict]]:
    """{user id: the user's EndpointResponses, by id} for the users that have endpoints."""
    if not user_ids:
        return {}
    by_user: dict[str, list[dict]] = {}
    for _, user_id, doc, attributes in _recipients(store, "by_user", app_id, set(user_ids)):
        by_user.setdefault(user_id, []).append(project(doc, attributes))
    return by_user


def _recipients(store, kind: str, app_id: str, values: set[str]) -> list[tuple]:
    """(endpoint key, user id, doc, user attributes or None) rows, in key order."""
    values = sorted(values)
    listed = values if store.dialect == "postgresql" else orjson.dumps(values).decode()
    rows = store.all(_recipients_query(store.dialect, kind), {"app": app_id, "values": listed})
    loads = orjson.loads  # (both columns come as JSON text: they are cast to text)
    return [(key, user_id, loads(doc), loads(attributes) if attributes else None)
            for key, user_id, doc, attributes in rows]


@functools.cache
def _recipients_query(dialect: str, kind: str):
    """Built once per dialect and kind: `Store.all` compiles a statement once (by identity)."""
    column = _E.endpoint_key if kind == "by_key" else _E.user_id
    if dialect == "postgresql":
        listed = column == any_(bindparam("values", type_=ARRAY(String)))
    else:  # the list as one JSON array: SQLAlchemy's per-value IN costs more than the query
        listed = column.in_(select(literal_column("value")).select_from(func.json_each(bindparam("values"))))
    joined = endpoint_table.outerjoin(user_table, (_U.app_id == _E.app_id) & (_U.user_id == _E.user_id))
    return (select(_E.endpoint_key, _E.user_id, cast(_E.doc, Text), cast(_U.attributes, Text))
            .select_from(joined).where(_E.app_id == bindparam("app"), listed).order_by(_E.endpoint_key))


# -- extension: email open/click tracking (delivery/tracking.py) --------------------------------

@extension("GET", "/v1/apps/{application-id}/email-tracking")
def get_email_tracking(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: whether the app's HTML emails carry open and click tracking."""
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        settings = tracking.settings_of(app_store.get_settings(conn, app_id))
    return _tracking_answer(ctx, app_id, settings)


@extension("PUT", "/v1/apps/{application-id}/email-tracking")
def put_email_tracking(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: turn tracking on or off: `{"Enabled": true, "BaseUrl": "https://..."}`."""
    if not isinstance(body, dict) or not isinstance(body.get("Enabled"), bool):
        raise BadRequest('Send {"Enabled": true|false, "BaseUrl": "https://..." (optional)}')
    base = body.get("BaseUrl")
    if base is not None and (not isinstance(base, str) or not base.startswith(("https://", "http://"))):
        raise BadRequest("BaseUrl must be an http:// or https:// URL that recipients can reach")
    unknown = sorted(set(body) - {"Enabled", "BaseUrl"})
    if unknown:
        raise BadRequest(f"Unknown member(s): {', '.join(unknown)}")
    settings = {"Enabled": body["Enabled"], **({"BaseUrl": base} if base else {})}
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        stored = app_store.get_settings(conn, app_id) or {}
        app_store.put_settings(conn, app_id, {**stored, tracking.SETTINGS_KEY: settings})
    return _tracking_answer(ctx, app_id, settings)


def _tracking_answer(ctx, app_id: str, settings: dict) -> dict:
    return {"ApplicationId": app_id, "Enabled": bool(settings.get("Enabled")),
            "BaseUrl": tracking.base_url(settings, ctx.settings)}
