"""PutEvents semantics: each event checked on its own, Pinpoint's quotas, per-item results, and
the rows to store (see `rows` for their form).

Per event: a non-empty `EventType` that is not one the service generates itself, an ISO 8601
`Timestamp` (and session times), at most 40 attributes and metrics, attribute values of at
most 200 characters (a longer one drops the event), names of at most 50 characters, and the
app's quotas on distinct names (`names`). A bad event gets a 400 item with the reason; the
others in the request are stored. The per-event work is kept to a few dict and set lookups:
the typed decoder (`protocol.typed`) has already checked every type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ..protocol.errors import BadRequest
from ..protocol.validate import ItemError
from .names import NameRegistry
from .rows import Encoded, parse_micros

MAX_EVENTS_PER_REQUEST = 100
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_KEYS_PER_EVENT = 40
MAX_NAME_LENGTH = 50
MAX_VALUE_LENGTH = 200
_MAX_BIGINT = 2**63 - 1

# Events the service records itself (message delivery, campaign and journey sends): accepting
# them from clients would let anyone forge delivery metrics. Other `_` events (`_session.*`,
# `_userauth.*`, `_monetization.purchase`, push engagement `_campaign.opened_notification`, ...)
# are sent by the SDKs and accepted.
SERVICE_EVENT_PREFIXES = ("_email.", "_SMS.", "_sms.", "_voice.")
SERVICE_EVENT_TYPES = frozenset({"_campaign.send", "_journey.send"})

ACCEPTED = {"StatusCode": 202, "Message": "Accepted"}  # shared: results are serialized, never changed


def rejected(message: str) -> dict:
    return {"StatusCode": 400, "Message": message}


@dataclass
class Ingested:
    encoded: Encoded
    results: dict  # EventsResponse.Results
    active: list[str] = field(default_factory=list)  # endpoint keys with at least one stored event


def check_size(batches: dict) -> None:
    """The whole request is refused beyond 100 events."""
    count = sum(len(b.get("Events") or ()) for b in batches.values() if isinstance(b, dict))
    if count > MAX_EVENTS_PER_REQUEST:
        raise BadRequest(f"A PutEvents request can carry at most {MAX_EVENTS_PER_REQUEST} events; "
                         f"this one has {count}")


def ingest(app_id: str, batches: dict, contexts: dict, endpoint_results: dict, registry: NameRegistry,
           arrival: int) -> Ingested:
    """Check every event of `batches` (BatchItem) and encode the good ones for the store.
    `contexts`: endpoint id -> endpoint columns; `endpoint_results`: endpoint id ->
    EndpointItemResponse for endpoints whose update was refused; `arrival`: epoch µs."""
    known = registry.known(app_id)
    encoded = Encoded()
    results, active, lines = {}, [], []
    for endpoint_id, batch in batches.items():
        if isinstance(batch, ItemError):
            results[endpoint_id] = {"EndpointItemResponse": rejected(batch.message), "EventsItemResponse": {}}
            continue
        responses, accepted = {}, []
        for event_id, event in batch["Events"].items():
            if isinstance(event, ItemError):
                responses[event_id] = rejected(event.message)
                continue
            item, problem = _prepare(app_id, event_id, event, known, registry, encoded.new_names)
            if problem is None:
                accepted.append(item)
                responses[event_id] = ACCEPTED
            else:
                responses[event_id] = rejected(problem)
        results[endpoint_id] = {"EndpointItemResponse": endpoint_results.get(endpoint_id, ACCEPTED),
                                "EventsItemResponse": responses}
        if accepted:
            key = endpoint_id.lower()
            line = {"a": app_id, "arr": arrival, "ep": key, "ctx": contexts[endpoint_id], "ev": accepted}
            lines.append(_dump(line, responses))
            encoded.count += len(line["ev"])
            active.append(key)
    encoded.lines = b"".join(lines)
    return Ingested(encoded, results, active)


def _dump(line: dict, responses: dict) -> bytes:
    try:
        return orjson.dumps(line) + b"\n"
    except orjson.JSONEncodeError:  # text JSON cannot carry (a lone surrogate): find the events
        good = []
        for item in line["ev"]:
            try:
                orjson.dumps(item)
                good.append(item)
            except orjson.JSONEncodeError:
                responses[item["id"]] = rejected("The event contains text that is not valid Unicode")
        line["ev"] = good
        return orjson.dumps(line) + b"\n" if good else b""


def _prepare(app_id: str, event_id: str, event: dict, known: dict, registry: NameRegistry,
             admitted: list) -> tuple[dict | None, str | None]:
    """The row item for a good event, or the reason it is refused. Written for speed: this runs
    for every event, and the common case (known names, no problem) takes no extra calls."""
    event_type = event["EventType"]
    if not event_type:
        return None, "EventType must not be empty"
    if event_type[0] == "_" and (event_type in SERVICE_EVENT_TYPES or event_type.startswith(SERVICE_EVENT_PREFIXES)):
        return None, (f"Event type '{event_type}' is reserved for events the service records itself "
                      "and cannot be sent with PutEvents")
    try:
        moment = parse_micros(event["Timestamp"])
    except ValueError:
        return None, _bad_time("Timestamp", event["Timestamp"])
    attributes, metrics = event.get("Attributes"), event.get("Metrics")
    if attributes or metrics:
        problem = _check_maps(attributes or {}, metrics or {})
        if problem:
            return None, problem
    start = stop = None
    session = event.get("Session")
    if session:
        start, stop, problem = _session_times(session)
        if problem:
            return None, problem
    if not (event_type in known["event_type"] and (not attributes or known["attribute"].issuperset(attributes))
            and (not metrics or known["metric"].issuperset(metrics))):
        problem = _admit_names(app_id, event_type, attributes, metrics, known, registry, admitted)
        if problem:
            return None, problem
    return {"id": event_id, "t": moment, "ss": start, "sp": stop, "e": event}, None


def _bad_time(member: str, value) -> str:
    return (f"Invalid {member} '{value}': expected an ISO 8601 date and time, "
            "for example 2024-05-01T12:00:00.000Z")


def _check_maps(attributes: dict, metrics: dict) -> str | None:
    if len(attributes) + len(metrics) > MAX_KEYS_PER_EVENT:
        return (f"The event has {len(attributes) + len(metrics)} attributes and metrics; "
                f"at most {MAX_KEYS_PER_EVENT} are allowed per event")
    if attributes:
        try:
            longest = max(map(len, attributes.values()))
        except TypeError:  # null values
            longest = max((len(v) for v in attributes.values() if v is not None), default=0)
        if longest > MAX_VALUE_LENGTH:
            name = next(k for k, v in attributes.items() if v is not None and len(v) == longest)
            return (f"The value of attribute '{name}' is {longest} characters long; attribute values are "
                    f"limited to {MAX_VALUE_LENGTH} characters, so the event was dropped")
    return None


def _session_times(session: dict) -> tuple[int | None, int | None, str | None]:
    try:
        start = parse_micros(session["StartTimestamp"])
    except ValueError:
        return None, None, _bad_time("Session.StartTimestamp", session["StartTimestamp"])
    stop = session.get("StopTimestamp")
    if stop:
        try:
            stop = parse_micros(stop)
        except ValueError:
            return None, None, _bad_time("Session.StopTimestamp", stop)
    duration = session.get("Duration")
    if duration is not None and not 0 <= duration <= _MAX_BIGINT:
        return None, None, f"Invalid Session.Duration {duration}: expected a number of milliseconds, 0 or more"
    return start, stop or None, None


def _admit_names(app_id: str, event_type: str, attributes: dict | None, metrics: dict | None, known: dict,
                 registry: NameRegistry, admitted: list) -> str | None:
    if event_type not in known["event_type"]:
        problem = registry.admit(app_id, "event_type", event_type, admitted)
        if problem:
            return problem
    for kind, values, word in (("attribute", attributes, "Attribute"), ("metric", metrics, "Metric")):
        if values and not known[kind].issuperset(values):
            for name in values:
                if name in known[kind]:
                    continue
                if not name or len(name) > MAX_NAME_LENGTH:
                    return f"{word} name '{name}' must be 1 to {MAX_NAME_LENGTH} characters long"
                problem = registry.admit(app_id, kind, name, admitted)
                if problem:
                    return problem
    return None
