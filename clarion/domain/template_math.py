"""Pinpoint's math and encoding template helpers (see `template_helpers` for the conventions).

Arithmetic is decimal, so `{{add 5 2.3}}` is 7.3 and `{{multiply 5 2.3}}` is 11.5 as the user
guide shows; `divide` keeps 8 decimal places (`{{divide 5 2.3}}` is 2.17391304) and drops
trailing zeros. A missing operand renders empty text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from .template_helpers import HelperError, missing, number, text

DIVIDE_PLACES = Decimal("0.00000001")


def _plain(amount: Decimal) -> str:
    """A decimal in plain notation (never 1E+1)."""
    return format(amount, "f")


def _binary(name: str, operate):
    def helper(this, *params, **_):
        if len(params) != 2:
            raise HelperError(name, f"needs two numbers, got {len(params)}")
        if missing(params[0]) or missing(params[1]):
            return ""
        a, b = number(params[0], name), number(params[1], name)
        try:
            return _plain(operate(a, b))
        except (ZeroDivisionError, InvalidOperation):
            raise HelperError(name, f"cannot divide {_plain(a)} by zero") from None

    helper.__name__ = name
    return helper


def _half_up(amount: Decimal) -> Decimal:
    """Java's Math.round: halves go up, towards positive infinity (-2.5 is -2)."""
    return (amount + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)


def _unary(name: str, rounding):
    def helper(this, *params, **_):
        if len(params) != 1:
            raise HelperError(name, f"needs one number, got {len(params)}")
        if missing(params[0]):
            return ""
        return _plain(rounding(number(params[0], name)))

    helper.__name__ = name
    return helper


def _divide(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise ZeroDivisionError
    quotient = (a / b).quantize(DIVIDE_PLACES, rounding=ROUND_HALF_UP)
    return quotient.normalize() if quotient != quotient.to_integral_value() else quotient.to_integral_value()


def _modulo(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise ZeroDivisionError
    return a % b  # the sign follows the dividend, as Java's % does


def _string_function(name: str, transform):
    def helper(this, *params, **_):
        if len(params) != 1:
            raise HelperError(name, f"needs one value, got {len(params)}")
        if missing(params[0]):
            return ""
        return transform(text(params[0]))

    helper.__name__ = name
    return helper


def _decode64(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise HelperError("decode64", f"'{value[:40]}' is not Base64-encoded UTF-8 text") from None


def uuid(this, *params, **_):
    if params:
        raise HelperError("uuid", "takes no values")
    return this.root.new_id()


HELPERS = {
    "add": _binary("add", lambda a, b: a + b),
    "subtract": _binary("subtract", lambda a, b: a - b),
    "multiply": _binary("multiply", lambda a, b: a * b),
    "divide": _binary("divide", _divide),
    "modulo": _binary("modulo", _modulo),
    "ceiling": _unary("ceiling", lambda a: a.to_integral_value(rounding=ROUND_CEILING)),
    "floor": _unary("floor", lambda a: a.to_integral_value(rounding=ROUND_FLOOR)),
    "round": _unary("round", _half_up),
    "encode64": _string_function("encode64", lambda v: base64.b64encode(v.encode("utf-8")).decode("ascii")),
    "decode64": _string_function("decode64", _decode64),
    "md5": _string_function("md5", lambda v: hashlib.md5(v.encode("utf-8")).hexdigest()),
    "sha256": _string_function("sha256", lambda v: hashlib.sha256(v.encode("utf-8")).hexdigest()),
    "sha512": _string_function("sha512", lambda v: hashlib.sha512(v.encode("utf-8")).hexdigest()),
    "uuid": uuid,
}
