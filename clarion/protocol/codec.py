"""Request bytes -> handler parameters, and handler results -> response bytes.

Parameters come from the operation's input shape: URI labels, query strings (strings,
booleans, timestamps, repeated lists) and the JSON payload member. Handlers receive them as
keyword arguments named after the members in snake_case (`ApplicationId` -> `application_id`).
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import orjson
from botocore.model import OperationModel, Shape
from botocore import xform_name
from botocore.utils import parse_timestamp

from .errors import BadRequest, ServiceError
from . import typed
from .validate import validate

JSON_HEADERS = [(b"content-type", b"application/json")]


def parse_request(operation: OperationModel, labels: dict[str, str], query: str, body: bytes,
                  items: frozenset[str] | None = None) -> dict:
    """Decode and validate one request into handler keyword arguments.

    `items` (shape names) marks a batch payload: it is decoded by the model's typed decoder
    (`typed`, one pass in C) and, when that refuses it, validated so that a bad item becomes an
    `ItemError` in place instead of failing the request.
    """
    return request_parser(operation, items)(labels, query, body)


class RequestParser:
    """`parse_request` for one operation, with what it reads from the input shape (member
    locations, wire and snake_case names, the payload member, required members and their
    messages) worked out once instead of on every request."""

    def __init__(self, operation: OperationModel, items: frozenset[str] | None = None):
        shape = operation.input_shape
        payload_name = shape.serialization.get("payload")
        self.items = items
        # (location, wire name, member name, member shape, snake_case name), in member order.
        self.members = []
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location in ("uri", "querystring") or name == payload_name:
                self.members.append((location, member.serialization.get("name", name), name, member, snake(name)))
        self.required = [
            (snake(name), f"Missing required request body {name}" if name == payload_name else
             f"Missing required parameter {shape.members[name].serialization.get('name', name)}")
            for name in shape.required_members]
        # Only path labels (GetApp, DeleteApp, ...): they always match, so nothing can be missing.
        self.labels_only = ([(wire, key) for location, wire, _, _, key in self.members]
                            if all(m[0] == "uri" for m in self.members) else None)

    def __call__(self, labels: dict[str, str], query: str, body: bytes) -> dict:
        if self.labels_only is not None:
            try:
                return {key: labels[wire] for wire, key in self.labels_only}
            except KeyError:
                pass  # a label missing: the general reading below names it
        params = {}
        query_values = _query_values(query) if query else {}
        for location, wire, name, member, key in self.members:
            if location == "uri":
                value = labels.get(wire)
            elif location == "querystring":
                value = _query_value(member, query_values.get(wire), name)
            else:
                if self.items is not None:
                    value = typed.decode(member, body)
                    if value is not typed.FAILED:
                        params[key] = value  # valid as a whole: nothing left to check
                        continue
                value = _json_body(body)
                if value is not None:
                    validate(member, value, name, self.items or frozenset())
            if value is not None:
                params[key] = value
        for key, message in self.required:
            if key not in params:
                raise BadRequest(message)
        return params


request_parser = functools.lru_cache(maxsize=1024)(RequestParser)  # one per (operation, items)


def snake(member_name: str) -> str:
    return xform_name(member_name)


def _query_values(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return values


def _query_value(member: Shape, values: list[str] | None, name: str):
    if not values:
        return None
    kind = member.type_name
    if kind == "list":
        return list(values)
    value = values[-1]
    if kind == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise BadRequest(f"Invalid value '{value}' for {name}: expected true or false")
        return lowered == "true"
    if kind == "timestamp":
        try:
            parsed = parse_timestamp(value)
        except (ValueError, TypeError):
            raise BadRequest(f"Invalid timestamp '{value}' for {name}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if kind in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"Invalid integer '{value}' for {name}") from None
    return value


def _json_body(body: bytes):
    if not body or not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None


def serialize_output(operation: OperationModel, result) -> tuple[int, bytes]:
    """Status and body for a handler's result (the output payload member's value)."""
    status = operation.http.get("responseCode", 200)
    if operation.output_shape is None or result is None:
        return status, b""
    return status, orjson.dumps(result, default=_json_default)


def serialize_error(error: ServiceError, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = JSON_HEADERS + [(b"x-amzn-errortype", error.error_type.encode())]
    return error.status, headers, orjson.dumps({"Message": error.message, "RequestID": request_id})


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")
