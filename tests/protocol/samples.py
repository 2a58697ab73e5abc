"""Representative values for the model's shapes, built from the model alone (test helper).

`Sampler` fills every member of a shape (all kinds: strings, enums, booleans, integers, longs,
doubles, timestamps, blobs, nested structures, lists, maps), cycling through enum values and
booleans so the whole suite sees many of them. Recursive shapes stop at the first repeat.
Values are in the *user's* form (member names, datetimes, bytes), as a boto3 caller writes them;
`to_wire` turns them into the JSON document that travels (wire names, ISO strings, base64).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from botocore import xform_name
from botocore.model import OperationModel, Shape

from clarion.clock import iso

STAMP = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
STAMP_MS = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
BLOB = b"raw \x00\xff bytes"
ARN = "arn:aws:mobiletargeting:us-east-1:000000000000:apps/0123456789abcdef0123456789abcdef/campaigns/c1"
# Label values that need percent-encoding: ':' and '/' in an ARN, spaces, '+', '%', non-ASCII.
LABELS = {"ResourceArn": ARN, "UserId": "user one+two"}


def label_value(name: str) -> str:
    return LABELS.get(name, f"{name} 1:2/3+4%5 é")


class Sampler:
    """Deterministic representative values for shapes."""

    def __init__(self):
        self.count = 0

    def _next(self) -> int:
        self.count += 1
        return self.count

    def value(self, shape: Shape, name: str, stack: tuple[str, ...] = ()):
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, stack + (shape.name,))
        if kind == "list":
            items = 1 if _is_container(shape.member) else 2
            return [self.value(shape.member, name, stack) for _ in range(items)]
        if kind == "map":
            entries = 1 if _is_container(shape.value) else 2
            return {self.value(shape.key, f"{name} key", stack): self.value(shape.value, name, stack)
                    for _ in range(entries)}
        return self.scalar(shape, name)

    def structure(self, shape: Shape, stack: tuple[str, ...], required_only: bool = False) -> dict:
        result = {}
        for member_name, member in shape.members.items():
            if member.serialization.get("location"):
                continue  # labels, query strings: see operation_input
            if required_only and member_name not in shape.required_members:
                continue
            if _recursive(member, stack):
                assert member_name not in shape.required_members, f"{shape.name}.{member_name} is required and recursive"
                continue
            result[member_name] = self.value(member, member_name, stack)
        return result

    def scalar(self, shape: Shape, name: str):
        n = self._next()
        kind = shape.type_name
        if kind == "string":
            if shape.enum:
                return shape.enum[n % len(shape.enum)]
            return f"{name} value {n} é ✓"
        if kind == "boolean":
            return n % 2 == 0
        if kind == "integer":
            return 7 + n
        if kind == "long":
            return 2**40 + n
        if kind in ("double", "float"):
            return 1.5 + n
        if kind == "timestamp":
            return STAMP
        if kind == "blob":
            return BLOB
        raise AssertionError(f"no sample for {kind}")


def _is_container(shape: Shape) -> bool:
    return shape.type_name in ("structure", "list", "map")


def _recursive(shape: Shape, stack: tuple[str, ...]) -> bool:
    while shape.type_name in ("list", "map"):
        shape = shape.member if shape.type_name == "list" else shape.value
    return shape.type_name == "structure" and shape.name in stack


def query_value(member: Shape, name: str, sampler: Sampler):
    kind = member.type_name
    if kind == "timestamp":
        return STAMP if name == "StartTime" else STAMP_MS
    if kind == "list":
        return ["team", "cost center", "a&b=c+d/é"]  # repeated keys that need encoding
    if kind == "boolean":
        return sampler.scalar(member, name)
    if member.enum:
        return sampler.scalar(member, name)
    return f"{name} v&x=y+z/é"


def operation_input(op: OperationModel, required_only: bool = False) -> dict:
    """Every member of the operation's input (or only the required ones), as boto3 takes them."""
    shape = op.input_shape
    sampler = Sampler()
    params = {}
    for name, member in shape.members.items():
        if required_only and name not in shape.required_members:
            continue
        location = member.serialization.get("location")
        if location == "uri":
            params[name] = label_value(name)
        elif location == "querystring":
            params[name] = query_value(member, name, sampler)
        elif member.type_name == "structure":
            params[name] = sampler.structure(member, (member.name,), required_only)
        else:
            raise AssertionError(f"{op.name}.{name}: unexpected location {location}")
    return params


def payload_member(op: OperationModel) -> str | None:
    return op.input_shape.serialization.get("payload")


def request_timestamp(moment: datetime) -> str:
    """How botocore writes an ISO-8601 timestamp into a JSON body."""
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_wire(shape: Shape, value, timestamp=iso):
    """The JSON form of a user-form value: wire member names, timestamps as strings, base64 blobs."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {members[k].serialization.get("name", k): to_wire(members[k], v, timestamp) for k, v in value.items()}
    if kind == "list":
        return [to_wire(shape.member, v, timestamp) for v in value]
    if kind == "map":
        return {k: to_wire(shape.value, v, timestamp) for k, v in value.items()}
    if kind == "timestamp":
        return timestamp(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value


def expected_params(op: OperationModel, params: dict) -> dict:
    """What the codec must hand the handler for `params`: snake_case names, the payload in wire form."""
    members = op.input_shape.members
    expected = {}
    for name, value in params.items():
        member = members[name]
        if member.serialization.get("location") is None:
            value = to_wire(member, value, request_timestamp)
        expected[xform_name(name)] = value
    return expected

