"""Check decoded request values against the model's input shapes.

Required members, JSON types, enums and any modelled ranges. Unknown members are ignored, as
the real service ignores them. Every failure is a `BadRequestException` naming the member path.
"""

from __future__ import annotations

from datetime import datetime

from botocore.model import Shape

from .errors import BadRequest

_JSON_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "blob": (str,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}
_TYPE_WORDS = {"structure": "an object", "map": "an object", "list": "a list", "boolean": "a boolean",
               "integer": "an integer", "long": "an integer", "double": "a number", "float": "a number",
               "string": "a string", "blob": "a string", "timestamp": "a timestamp"}


class ItemError:
    """Stands in for one item of a batch that failed validation, with the reason.

    `validate(..., items=...)` puts it in place of a bad value whose shape is one of `items` (the
    independent items of a batch, like PutEvents' events) instead of refusing the request, so
    the handler can answer that item on its own and keep the others.
    """

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"ItemError({self.message!r})"


def validate(shape: Shape, value, path: str, items: frozenset[str] = frozenset()) -> None:
    """Raise BadRequest if `value` does not fit `shape`; `path` names it in the message."""
    kind = shape.type_name
    if kind == "timestamp":
        if not isinstance(value, (str, int, float, datetime)) or isinstance(value, bool):
            _wrong_type(path, kind, value)
        return
    if not isinstance(value, _JSON_TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        _wrong_type(path, kind, value)
    if kind == "string":
        enum = shape.enum
        if enum and value not in enum:
            raise BadRequest(f"Invalid value '{value}' for {path}: expected one of {', '.join(enum)}")
    _check_range(shape, value, path)
    if kind == "structure":
        _validate_structure(shape, value, path, items)
    elif kind == "list":
        member = shape.member
        for i, item in enumerate(value):
            if item is not None:
                _validate_child(member, value, i, f"{path}[{i}]", items)
    elif kind == "map":
        key_shape, value_shape = shape.key, shape.value
        for k, v in value.items():
            validate(key_shape, k, f"{path} key")
            if v is not None:
                _validate_child(value_shape, value, k, f"{path}.{k}", items)


def _validate_child(shape: Shape, container, key, path: str, items: frozenset[str]) -> None:
    """Validate container[key]; an invalid batch item is replaced by its ItemError."""
    if shape.name not in items:
        validate(shape, container[key], path, items)
        return
    try:
        validate(shape, container[key], path, items)
    except BadRequest as error:
        container[key] = ItemError(error.message)


def _validate_structure(shape: Shape, value: dict, path: str, items: frozenset[str]) -> None:
    members = shape.members
    for name in shape.required_members:
        wire = members[name].serialization.get("name", name)
        if value.get(wire) is None:
            raise BadRequest(f"Missing required member {path}.{wire}")
    for name, member in members.items():
        # JSON keys are wire names, which differ from member names in a few shapes
        # (SimpleCondition.SegmentDimensions travels as "segmentDimensions").
        wire = member.serialization.get("name", name)
        item = value.get(wire)
        if item is not None:
            _validate_child(member, value, wire, f"{path}.{wire}", items)


def _check_range(shape: Shape, value, path: str) -> None:
    meta = shape.metadata
    if "min" not in meta and "max" not in meta:
        return
    size = value if isinstance(value, (int, float)) else len(value)
    if "min" in meta and size < meta["min"]:
        raise BadRequest(f"{path} is below its minimum of {meta['min']}")
    if "max" in meta and size > meta["max"]:
        raise BadRequest(f"{path} is above its maximum of {meta['max']}")


def _wrong_type(path: str, kind: str, value) -> None:
    got = type(value).__name__ if value is not None else "null"
    raise BadRequest(f"Invalid type for {path}: expected {_TYPE_WORDS[kind]}, got {got}")
