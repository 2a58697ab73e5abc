"""Pinpoint's string and date template helpers (see `template_helpers` for the conventions).

Every helper renders empty text when its main value is missing.
"""

from __future__ import annotations

import re

from . import template_dates as dates
from .template_helpers import HelperError, missing, number, scalar, text, whole

_TAG = re.compile(r"<[^>]*>", re.DOTALL)


def _one(name: str, params: tuple, least: int = 1, most: int = 1) -> None:
    if not least <= len(params) <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise HelperError(name, f"takes {wanted} value(s), got {len(params)}")


def _string_helper(name: str, transform, least: int = 1, most: int = 1):
    """A helper whose first parameter is the text it works on."""

    def helper(this, *params, **kwargs):
        _one(name, params, least, most)
        if missing(params[0]):
            return ""
        return transform(text(params[0]), *params[1:], **kwargs)

    helper.__name__ = name
    return helper


def _abbreviate(value: str, width=None, **_) -> str:
    limit = whole(width, "abbreviate", "the width")
    if limit < 4:
        raise HelperError("abbreviate", f"the width must be at least 4, got {limit}")
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _capitalize(value: str, fully=False, **_) -> str:
    if fully is True or str(fully).lower() == "true":
        value = value.lower()
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), value)


def _pad(value: str, size: int, pad) -> str:
    pad = text(pad) or " "
    missing_chars = size - len(value)
    return (pad * (missing_chars // len(pad) + 1))[:missing_chars] if missing_chars > 0 else ""


def _width(name: str, params: tuple, kwargs: dict) -> int:
    size = params[0] if params else kwargs.get("size")
    if size is None:
        raise HelperError(name, "needs a width (a number, or size=N)")
    return whole(size, name, "the width")


def _center(value: str, *params, pad=" ", **kwargs) -> str:
    size = _width("center", params, kwargs)
    if size <= len(value):
        return value
    left = _pad(value, len(value) + (size - len(value)) // 2, pad)
    value = left + value
    return value + _pad(value, size, pad)


def _ljust(value: str, *params, pad=" ", **kwargs) -> str:
    return value + _pad(value, _width("ljust", params, kwargs), pad)


def _rjust(value: str, *params, pad=" ", **kwargs) -> str:
    return _pad(value, _width("rjust", params, kwargs), pad) + value


def _cut(value: str, strip=" ", **_) -> str:
    return value.replace(text(strip), "") if text(strip) else value


def _replace(value: str, target, replacement, **_) -> str:
    return value.replace(text(target), text(replacement)) if text(target) else value


def _slugify(value: str, **_) -> str:
    value = re.sub(r"[^\w\s-]", "", value.strip().lower())
    return re.sub(r"[-\s]+", "-", value).strip("-")


def _substring(value: str, start, end=None, **_) -> str:
    first = whole(start, "substring", "the start offset")
    last = len(value) if end is None else whole(end, "substring", "the end offset")
    return value[first:last]


def _ordinalize(value: str, **_) -> str:
    amount = number(value, "ordinalize")
    if amount != amount.to_integral_value():
        raise HelperError("ordinalize", f"expected a whole number, got '{value}'")
    n = int(amount)
    suffix = "th" if abs(n) % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")
    return f"{n}{suffix}"


def join(this, *params, prefix="", suffix="", **_):
    _one("join", params, 2, 99)
    values, separator = params[:-1], params[-1]
    if len(values) == 1:
        if missing(values[0]):
            return ""
        items = values[0] if isinstance(values[0], (list, tuple)) else [values[0]]
    else:
        items = values
    return text(prefix) + text(separator).join(text(v) for v in items) + text(suffix)


def inflect(this, *params, includeCount=False, **_):
    _one("inflect", params, 3, 3)
    count, singular, plural = params
    if missing(count):
        return ""
    word = text(singular) if number(count, "inflect") == 1 else text(plural)
    include = includeCount is True or str(includeCount).lower() == "true"
    return f"{text(count)} {word}" if include else word


def yesno(this, *params, yes="yes", no="no", maybe="maybe", **_):
    _one("yesno", params)
    value = scalar(params[0])
    if value is None or value == "":
        return maybe
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise HelperError("yesno", f"expected true, false or nothing, got '{text(value)}'")
    return yes if value else no


def date_format(this, *params, inputFormat=None, outputFormat=None, format=None, tz=None, **_):
    _one("dateFormat", params, 1, 2)
    if missing(params[0]):
        return ""
    pattern = outputFormat or format or (text(params[1]) if len(params) > 1 else None) or "medium"
    try:
        where = dates.zone(scalar(tz))
        moment = dates.parse_date(scalar(params[0]), text(inputFormat) or None, where)
        return dates.format_date(moment.astimezone(where), text(pattern))
    except dates.DatePatternError as exc:
        raise HelperError("dateFormat", str(exc)) from None


def now(this, *params, format=None, outputFormat=None, tz=None, **_):
    _one("now", params, 0, 1)
    pattern = (text(params[0]) if params else None) or format or outputFormat or "medium"
    try:
        where = dates.zone(scalar(tz))
        return dates.format_date(this.root.now.astimezone(where), text(pattern))
    except dates.DatePatternError as exc:
        raise HelperError("now", str(exc)) from None


def strip_tags(value: str, **_) -> str:
    return _TAG.sub("", value)


HELPERS = {
    "abbreviate": _string_helper("abbreviate", _abbreviate, 2, 2),
    "capitalize": _string_helper("capitalize", _capitalize),
    "capitalizeFirst": _string_helper("capitalizeFirst", lambda v, **_: v[:1].upper() + v[1:]),
    "center": _string_helper("center", _center, 1, 2),
    "cut": _string_helper("cut", _cut, 1, 2),
    "dateFormat": date_format,
    "inflect": inflect,
    "join": join,
    "ljust": _string_helper("ljust", _ljust, 1, 2),
    "lower": _string_helper("lower", lambda v, **_: v.lower()),
    "now": now,
    "ordinalize": _string_helper("ordinalize", _ordinalize),
    "replace": _string_helper("replace", _replace, 3, 3),
    "rjust": _string_helper("rjust", _rjust, 1, 2),
    "slugify": _string_helper("slugify", _slugify),
    "stripTags": _string_helper("stripTags", strip_tags),
    "substring": _string_helper("substring", _substring, 2, 3),
    "upper": _string_helper("upper", lambda v, **_: v.upper()),
    "yesno": yesno,
}
