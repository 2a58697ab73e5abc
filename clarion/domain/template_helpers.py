"""Pinpoint's template helpers (user guide, "Using message template helpers"), for pybars3.

pybars3 calls an inline helper as `fn(this, *params, **hash)` and a block helper as
`fn(this, options, *params, **hash)`; `this.root` is the render's `RenderContext`, which gives
the clock and the id maker. A helper that cannot use its arguments raises `HelperError`; the
renderer turns it into a 400 naming the template and the place.

Behaviour follows the Handlebars.java helpers Pinpoint's set comes from (jknack's
StringHelpers/ConditionalHelpers), except where the user guide documents otherwise.
Documented choices where the two differ or both are silent:
- A missing value (no attribute, empty list) renders empty text in every helper (the guide's
  rule for variables) instead of failing; `yesno` gives its `maybe` word for it.
- Custom attributes are lists: a one-item list is used as its item, so `{{upper Attributes.X}}`
  works like `{{upper Attributes.X.[0]}}`; a longer list is written as "a, b".
- Comparisons (`eq`, `gt`, ...) compare numerically when both sides read as numbers (the
  guide compares ages with "17"), else as text.
- Math uses decimal arithmetic, as the guide's examples do (`{{multiply 5 2.3}}` is 11.5);
  `divide` keeps 8 decimal places (2.17391304) without trailing zeros; `round` rounds halves up.
- `slugify` keeps letters, digits, `_` and `-` (the guide's description), `substring` clamps
  out-of-range offsets, `ljust`/`rjust`/`center` take the width as a parameter or `size=`.
- `inflect` words and `tz=` values may be written unquoted (`{{inflect 3 apple apples}}`,
  `tz=America/Los_Angeles`), as in the guide's examples; see `template_compiler`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pybars._compiler import _each, _lookup, _with, strlist

EACH_LIMIT = 15  # Pinpoint: "The maximum list size is 15 items."


class HelperError(ValueError):
    """A helper given arguments it cannot use."""

    def __init__(self, helper: str, reason: str):
        super().__init__(f"{helper}: {reason}")
        self.helper = helper


# -- values -------------------------------------------------------------------------------------

def scalar(value):
    """A one-item list as its item, an empty list as missing; other values unchanged."""
    if isinstance(value, (list, tuple)) and not isinstance(value, strlist):
        if not value:
            return None
        if len(value) == 1:
            return value[0]
    return value


def text(value) -> str:
    """How a value is written into a message."""
    value = scalar(value)
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and not isinstance(value, strlist):
        return ", ".join(text(v) for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def missing(value) -> bool:
    value = scalar(value)
    return value is None or value == ""


def empty(value) -> bool:
    """Handlebars.java's isEmpty: the falsy values of conditionals."""
    value = scalar(value)
    if value is None or value is False or value == "":
        return True
    if isinstance(value, (list, tuple, dict, strlist)):
        return len(value) == 0
    if isinstance(value, (int, float, Decimal)):
        return value == 0
    return False


def number(value, helper: str) -> Decimal:
    value = scalar(value)
    if isinstance(value, bool):
        raise HelperError(helper, f"expected a number, got {text(value)}")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise HelperError(helper, f"expected a number, got '{text(value)}'") from None


def whole(value, helper: str, what: str) -> int:
    amount = number(value, helper)
    if amount != amount.to_integral_value() or amount < 0:
        raise HelperError(helper, f"{what} must be a whole number, not negative; got '{text(value)}'")
    return int(amount)


def _is_options(value) -> bool:
    return isinstance(value, dict) and "fn" in value and "inverse" in value and "root" in value


def _split(args: tuple) -> tuple[dict | None, tuple]:
    """(options, params) whether pybars called the helper as a block or inline."""
    if args and _is_options(args[0]):
        return args[0], args[1:]
    return None, args


# -- conditionals -------------------------------------------------------------------------------

def _answer(this, options, result: bool, kwargs: dict):
    if options is not None:
        return options["fn"](this) if result else options["inverse"](this)
    return kwargs.get("yes", True) if result else kwargs.get("no", False)


def _compare(a, b) -> int | None:
    a, b = scalar(a), scalar(b)
    if a is None or b is None:
        return None
    try:
        x, y = number(a, ""), number(b, "")
    except HelperError:
        x, y = text(a), text(b)
    return (x > y) - (x < y)


def _comparison(name: str, test):
    def helper(this, *args, **kwargs):
        options, params = _split(args)
        if len(params) != 2:
            raise HelperError(name, f"needs two values, got {len(params)}")
        order = _compare(*params)
        return _answer(this, options, order is not None and test(order), kwargs)

    helper.__name__ = name
    return helper


def _eq_order(a, b) -> int | None:
    if scalar(a) is None and scalar(b) is None:
        return 0
    return _compare(a, b)


def eq(this, *args, **kwargs):
    options, params = _split(args)
    if len(params) != 2:
        raise HelperError("eq", f"needs two values, got {len(params)}")
    return _answer(this, options, _eq_order(*params) == 0, kwargs)


def neq(this, *args, **kwargs):
    options, params = _split(args)
    if len(params) != 2:
        raise HelperError("neq", f"needs two values, got {len(params)}")
    return _answer(this, options, _eq_order(*params) != 0, kwargs)


def and_(this, *args, **kwargs):
    options, params = _split(args)
    if len(params) < 2:
        raise HelperError("and", "needs at least two values")
    return _answer(this, options, not any(empty(p) for p in params), kwargs)


def or_(this, *args, **kwargs):
    options, params = _split(args)
    if len(params) < 2:
        raise HelperError("or", "needs at least two values")
    return _answer(this, options, not all(empty(p) for p in params), kwargs)


def not_(this, *args, **kwargs):
    options, params = _split(args)
    if len(params) != 1:
        raise HelperError("not", f"needs one value, got {len(params)}")
    return _answer(this, options, empty(params[0]), kwargs)


def if_(this, options, *params, **kwargs):
    """Handlebars' if, with Handlebars.java's idea of empty (so `[""]` and 0 are false)."""
    if len(params) != 1:
        raise HelperError("if", f"needs one value, got {len(params)}")
    return options["fn"](this) if not empty(params[0]) else options["inverse"](this)


def unless(this, options, *params, **kwargs):
    if len(params) != 1:
        raise HelperError("unless", f"needs one value, got {len(params)}")
    return options["fn"](this) if empty(params[0]) else options["inverse"](this)


def each(this, options, *params, **kwargs):
    """Handlebars' each over at most the first 15 items of a list (or 15 keys of an object)."""
    if len(params) != 1:
        raise HelperError("each", f"needs one list, got {len(params)} values")
    items = params[0]
    if isinstance(items, dict):
        items = dict(list(items.items())[:EACH_LIMIT])
    elif isinstance(items, (list, tuple)):
        items = items[:EACH_LIMIT]
    elif isinstance(items, (str, int, float, Decimal)) and not isinstance(items, bool):
        items = [items]  # a plain value (a default or substitution) is a one-item list
    else:
        items = None
    return _each(this, options, items)


def with_(this, options, *params, **kwargs):
    if len(params) != 1:
        raise HelperError("with", f"needs one value, got {len(params)}")
    return _with(this, options, params[0])


def lookup(this, *params, **kwargs):
    if len(params) != 2:
        raise HelperError("lookup", f"needs an object and a key, got {len(params)} values")
    return _lookup(this, *params)


HELPERS = {
    "if": if_, "unless": unless, "each": each, "with": with_, "lookup": lookup,
    "eq": eq, "neq": neq, "gt": _comparison("gt", lambda o: o > 0), "gte": _comparison("gte", lambda o: o >= 0),
    "lt": _comparison("lt", lambda o: o < 0), "lte": _comparison("lte", lambda o: o <= 0),
    "and": and_, "or": or_, "not": not_,
}
