"""Malformed requests to every operation, against a live server, all properly signed.

Generated from the model: missing required members (labels, query strings, payloads and members
at every depth), wrong JSON types, bad enum values, broken JSON, oversize bodies, unknown routes
and wrong methods. Each must get a modelled 4xx (never a 5xx, and never the 501 of an operation
not served yet: validation comes before dispatch) as JSON that boto3 reads (`Message`,
`RequestID`, `x-amzn-ErrorType`), whose message names the problem, and must change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from clarion.protocol import codec
from clarion.protocol.errors import BadRequest
from clarion.protocol.model import load
from clarion.store.schema import metadata

from .capture import capturing_client, wire_request
from .samples import operation_input, payload_member
from .wire import Wire, error_of

MODEL = load()
OPERATIONS = MODEL.operation_names
CAPTURE = capturing_client()
ENDPOINT_ID = "ep-1"  # seeded when UpdateEndpoint is served, so malformed writes to it would show
# A value of the wrong JSON type for each kind of member.
WRONG = {"structure": "not an object", "map": ["not", "an object"], "list": {"not": "a list"},
         "string": 12345, "boolean": "true", "integer": "7", "long": "7", "double": "1.5", "float": "1.5",
         "timestamp": [2024], "blob": 12345}
WRONG_QUERY = {"boolean": "maybe", "timestamp": "not-a-time"}
BAD_ENUM = "NOT_A_MODELLED_VALUE"


@dataclass(frozen=True)
class Case:
    what: str  # what is wrong, for failure messages
    method: str
    path: str
    query: str
    body: bytes
    statuses: tuple[int, ...] = (400,)
    error_types: tuple[str, ...] = ("BadRequestException",)
    mentions: str = ""  # the message must name this
    operation: str = ""
    within: frozenset[str] = frozenset()  # the shapes the mutated value sits in


@dataclass(frozen=True)
class Baseline:
    """A valid request (as botocore sends it) to mutate one thing at a time."""

    operation: str
    method: str
    path: str
    query: str
    body: dict | None  # the payload, wire form

    def case(self, what: str, *, path=None, query=None, body=None, **expect) -> Case:
        raw = self.body_bytes() if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        return Case(f"{self.operation}: {what}", self.method, self.path if path is None else path,
                    self.query if query is None else query, raw, operation=self.operation, **expect)

    def body_bytes(self) -> bytes:
        return b"" if self.body is None else orjson.dumps(self.body)


def baseline(operation: str, app_id: str = "0123456789abcdef0123456789abcdef") -> Baseline:
    op = MODEL.operation(operation)
    params = operation_input(op)
    for name, value in (("ApplicationId", app_id), ("EndpointId", ENDPOINT_ID)):
        if name in params:
            params[name] = value
    method, path, query, body = wire_request(CAPTURE, operation, params)
    return Baseline(operation, method, path, query, orjson.loads(body) if payload_member(op) else None)


# -- walking a wire-form payload ------------------------------------------------------------------

def positions(shape, value, path=()) -> Iterator[tuple[tuple, object, str]]:
    """(path, shape, how it is held: member | item | value) for everything inside `value`."""
    if shape.type_name == "structure":
        by_wire = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        for key, item in value.items():
            yield path + (key,), by_wire[key], "member"
            yield from positions(by_wire[key], item, path + (key,))
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            yield path + (i,), shape.member, "item"
            yield from positions(shape.member, item, path + (i,))
    elif shape.type_name == "map":
        for key, item in value.items():
            yield path + (key,), shape.value, "value"
            yield from positions(shape.value, item, path + (key,))


def required_positions(shape, value) -> Iterator[tuple]:
    """Paths of the required members present in `value`, at every depth."""
    holders = [((), shape)] + [(p, s) for p, s, _ in positions(shape, value) if s.type_name == "structure"]
    for path, holder in holders:
        for name in holder.required_members:
            yield path + (holder.members[name].serialization.get("name", name),)


def shapes_along(shape, path: tuple) -> frozenset[str]:
    """The names of the shapes met going down `path` from `shape`."""
    names = set()
    for key in path:
        if shape.type_name == "structure":
            shape = {m.serialization.get("name", n): m for n, m in shape.members.items()}[key]
        else:
            shape = shape.member if shape.type_name == "list" else shape.value
        names.add(shape.name)
    return frozenset(names)


def replaced(document, path: tuple, value=None, delete: bool = False):
    copy = orjson.loads(orjson.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


def _payload_shape(base: Baseline):
    op = MODEL.operation(base.operation)
    name = payload_member(op)
    return name, op.input_shape.members[name]


def _query_with(query: str, wire: str, value: str | None) -> str:
    pairs = [p for p in query.split("&") if p and p.partition("=")[0] != wire]
    return "&".join(pairs + ([f"{wire}={value}"] if value is not None else []))


# -- the generated cases --------------------------------------------------------------------------

def missing_required_cases(app_id: str) -> Iterator[Case]:
    for operation in OPERATIONS:
        base, shape = baseline(operation, app_id), MODEL.operation(operation).input_shape
        for name in shape.required_members:
            member = shape.members[name]
            wire, location = member.serialization.get("name", name), member.serialization.get("location")
            if location == "uri":
                template = MODEL.operation(operation).http["requestUri"].split("?")[0]
                path = _path_without_label(template, base.path, wire)
                yield base.case(f"empty label {wire}", path=path, statuses=(404, 405),
                                error_types=("NotFoundException", "MethodNotAllowedException"))
            elif location == "querystring":
                yield base.case(f"no {wire}", query=_query_with(base.query, wire, None), mentions=wire)
            else:
                yield base.case("no body", body=b"", mentions=name)
                yield base.case("null body", body=b"null", mentions=name)
        if base.body is not None:
            _, payload_shape = _payload_shape(base)
            for path in required_positions(payload_shape, base.body):
                yield base.case(f"no {'.'.join(map(str, path))}", body=replaced(base.body, path, delete=True),
                                mentions=str(path[-1]), within=shapes_along(payload_shape, path))


def _path_without_label(template: str, path: str, label: str) -> str:
    """`path` (a filled-in `template`) with the segment of `label` emptied."""
    segments, filled = template.split("/"), path.split("/")
    return "/".join("" if t == "{" + label + "}" else f for t, f in zip(segments, filled))


def wrong_type_cases(app_id: str) -> Iterator[Case]:
    for operation in OPERATIONS:
        base, shape = baseline(operation, app_id), MODEL.operation(operation).input_shape
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.serialization.get("location") == "querystring" and member.type_name in WRONG_QUERY:
                bad = WRONG_QUERY[member.type_name]
                yield base.case(f"{wire}={bad}", query=_query_with(base.query, wire, bad), mentions=bad)
        if base.body is None:
            continue
        name, payload_shape = _payload_shape(base)
        for bad in ([1, 2], '"text"', 42, True):
            yield base.case(f"payload {bad!r}", body=orjson.dumps(bad), mentions=name)
        for key, item in base.body.items():
            member = {m.serialization.get("name", n): m for n, m in payload_shape.members.items()}[key]
            yield base.case(f"{key} as {WRONG[member.type_name]!r}",
                            body=replaced(base.body, (key,), WRONG[member.type_name]), mentions=key,
                            within=frozenset({member.name}))


def bad_enum_cases(app_id: str) -> Iterator[Case]:
    for operation in OPERATIONS:
        base = baseline(operation, app_id)
        if base.body is None:
            continue
        _, payload_shape = _payload_shape(base)
        for path, shape, _ in positions(payload_shape, base.body):
            if shape.type_name == "string" and shape.enum:
                yield base.case(f"{'.'.join(map(str, path))}={BAD_ENUM}", body=replaced(base.body, path, BAD_ENUM),
                                mentions=BAD_ENUM, within=shapes_along(payload_shape, path))


def broken_json_cases(app_id: str) -> Iterator[Case]:
    for operation in OPERATIONS:
        base = baseline(operation, app_id)
        if base.body is not None:
            yield base.case("truncated JSON", body=base.body_bytes()[:-1], mentions="JSON")
            yield base.case("not JSON", body=b"Name=shop&x=1", mentions="JSON")


def unknown_route_cases(app_id: str) -> Iterator[Case]:
    paths = ["/v1", "/v1/", "/v1/no-such-resource", "/v2/apps", f"/v1/apps/{app_id}/no-such-resource",
             f"/v1/apps/{app_id}/campaigns/c1/no-such-resource", f"/v1/apps/{app_id}/endpoints/e/x/y",
             "/v1/templates/t/email/no-such-resource", "/v1/phone/number/validate/again"]
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE"):
            yield Case(f"{method} {path}", method, path, "", b"", (404,), ("NotFoundException",), "No operation")


def wrong_method_cases(app_id: str, server) -> Iterator[Case]:
    by_path: dict[str, Baseline] = {}
    for operation in OPERATIONS:
        base = baseline(operation, app_id)
        by_path.setdefault(base.path, base)
    for path, base in by_path.items():
        allowed = set(MODEL.allowed_methods(path)) | set(server.service.extensions.allowed_methods(path))
        for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - allowed):
            yield Case(f"{method} {path}", method, path, "", b"", (405,), ("MethodNotAllowedException",), method)


# -- running them ---------------------------------------------------------------------------------

def snapshot(server, client, app_id: str) -> tuple:
    """Everything a malformed request could have changed: the API's view and every stored row."""
    apps = client.get_apps()["ApplicationsResponse"]["Item"]
    app = client.get_app(ApplicationId=app_id)["ApplicationResponse"]
    try:
        endpoint = client.get_endpoint(ApplicationId=app_id, EndpointId=ENDPOINT_ID)["EndpointResponse"]
    except ClientError as error:  # not served yet, or not seeded
        endpoint = error.response["Error"]["Code"]
    with server.service.store.read() as conn:
        rows = {t.name: sorted(repr(tuple(r)) for r in conn.execute(select(t))) for t in metadata.sorted_tables}
    return apps, app, endpoint, rows


def seed(client, app_id: str) -> None:
    """Give malformed writes something to damage, where the operations that make it are served."""
    try:
        client.update_endpoint(ApplicationId=app_id, EndpointId=ENDPOINT_ID,
                               EndpointRequest={"ChannelType": "EMAIL", "Address": "a@example.com"})
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotImplementedException":
            raise


def problem(case: Case, response) -> str | None:
    try:
        error_type, message = error_of(response)
    except (AssertionError, KeyError, ValueError) as exc:
        return f"{case.what}: {exc!r}"
    if response.status_code not in case.statuses or error_type not in case.error_types:
        return f"{case.what}: {response.status_code} {error_type} {message}"
    if case.mentions not in message:
        return f"{case.what}: message does not name {case.mentions!r}: {message}"
    return None


def answered_per_item(server, case: Case) -> bool:
    """Whether the case's bad value sits in an independent item of a batch (PutEvents' events):
    the handler answers such items one by one in its 2xx (tested with that handler)."""
    items = getattr(server.service.handlers.get(case.operation), "batch_items", frozenset())
    return bool(items & case.within)


def run(server, client, app_id: str, cases: list[Case]) -> None:
    cases = [case for case in cases if not answered_per_item(server, case)]
    assert cases
    seed(client, app_id)
    before = snapshot(server, client, app_id)
    wire = Wire(server)
    try:
        failures = [p for case in cases
                    if (p := problem(case, wire.request(case.method, case.path, case.query, case.body)))]
    finally:
        wire.close()
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures[:40])
    assert snapshot(server, client, app_id) == before


@pytest.mark.parametrize("generate", [missing_required_cases, wrong_type_cases, bad_enum_cases,
                                      broken_json_cases, unknown_route_cases])
def test_malformed_requests_get_a_clear_4xx_and_change_nothing(server, client, app_id, generate):
    run(server, client, app_id, list(generate(app_id)))


def test_wrong_methods_are_405(server, client, app_id):
    run(server, client, app_id, list(wrong_method_cases(app_id, server)))


def test_oversize_bodies_are_413(server, client, app_id):
    limit = server.service.settings.max_body_bytes
    assert limit == 7 * 1024 * 1024  # Pinpoint's published maximum request size
    cases = []
    for operation in ("CreateApp", "PutEvents", "UpdateEndpointsBatch", "SendMessages"):
        base = baseline(operation, app_id)
        body = b'{"Padding": "' + b"x" * limit + b'"}'
        cases.append(base.case("body over 7 MB", body=body, statuses=(413,),
                               error_types=("PayloadTooLargeException",), mentions="limit"))
    run(server, client, app_id, cases)


def test_oversize_chunked_bodies_are_413(server, client, app_id):
    """Without a Content-Length the limit is enforced while reading."""
    wire = Wire(server)
    prepared = wire.prepare("POST", "/v1/apps", body=b"x" * (8 * 1024 * 1024))
    prepared.headers.pop("Content-Length", None)
    chunks = (prepared.body[i:i + 1024 * 1024] for i in range(0, len(prepared.body), 1024 * 1024))
    try:
        response = wire.http.request("POST", prepared.url, headers=prepared.headers, content=chunks)
    finally:
        wire.close()
    assert error_of(response)[0] == "PayloadTooLargeException" and response.status_code == 413


def test_every_operation_gets_missing_and_wrong_type_cases():
    """Coverage of the generated suite itself: all 122 input shapes get a missing-member case, and
    every one with a member that can have a wrong type (all but string labels and string query
    parameters) gets a wrong-type case."""
    missing = {c.what.split(":")[0] for c in missing_required_cases("app")}
    wrong = {c.what.split(":")[0] for c in wrong_type_cases("app")}
    typed = {name for name in OPERATIONS
             if payload_member(MODEL.operation(name))
             or any(m.type_name in WRONG_QUERY for m in MODEL.operation(name).input_shape.members.values())}
    assert len(OPERATIONS) == 122
    assert missing == set(OPERATIONS) - {n for n in OPERATIONS if not MODEL.operation(n).input_shape.required_members}
    assert wrong == typed


@pytest.mark.parametrize("operation", [n for n in OPERATIONS if payload_member(MODEL.operation(n))])
def test_wrong_types_at_every_depth_are_refused(operation):
    """In-process, for speed: every member at every depth of the payload, given a wrong type, is
    refused with a message naming it (the live suite above covers the top level)."""
    base = baseline(operation)
    op = MODEL.operation(operation)
    route, labels = MODEL.resolve(base.method, base.path)
    _, payload_shape = _payload_shape(base)
    unnoticed = []
    for path, shape, held in positions(payload_shape, base.body):
        if held != "member":
            continue
        body = orjson.dumps(replaced(base.body, path, WRONG[shape.type_name]))
        try:
            codec.parse_request(op, labels, base.query, body)
            unnoticed.append(".".join(map(str, path)))
        except BadRequest as error:
            if str(path[-1]) not in error.message:
                unnoticed.append(f"{'.'.join(map(str, path))}: {error.message}")
    assert not unnoticed, unnoticed
