"""Dates for the `dateFormat` and `now` template helpers: Java `SimpleDateFormat` patterns.

Pinpoint's helpers take Java date patterns (`MM/dd/yyyy`, `EEEE, MMMM d, yyyy`) and the named
styles `full`, `long`, `medium`, `short` of Java's US-English date formats. This module formats
and parses those patterns with the standard library, in English.

Choices (Pinpoint's exact output is not documented beyond its examples):
- `medium` is Java's US form `Sep 19, 2020`; the user guide's example spells it `Sept`, which
  only some non-US English locales produce.
- A date read without a time zone is taken to be in the helper's `tz` (UTC by default), so the
  day a user typed is the day the message shows.
- `z` (zone name) prints the zone's abbreviation (`PDT`) for any number of letters: the
  standard library has no long zone names.
- Without `inputFormat`, a date is read as ISO 8601 (`2020-09-19`, `2020-09-19T10:00:00Z`)
  or as epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
STYLES = {"full": "EEEE, MMMM d, yyyy", "long": "MMMM d, yyyy", "medium": "MMM d, yyyy", "short": "M/d/yy"}

_LETTERS = "GyYMLwWDdFEuaHkKhmsSzZX"
_TOKEN = re.compile(r"'((?:[^']|'')*)'|([A-Za-z])\2*|([^A-Za-z']+)")


class DatePatternError(ValueError):
    """A pattern, zone or date the helpers cannot use; the message says which."""


def zone(name) -> timezone | ZoneInfo:
    """A tz database zone (`America/Los_Angeles`), `UTC`/`GMT`, or an offset like `GMT+02:00`."""
    if name is None or name == "":
        return timezone.utc
    text = str(name).strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    offset = re.fullmatch(r"(?:GMT|UTC)?([+-])(\d{1,2}):?(\d{2})?", text)
    if offset:
        sign = -1 if offset[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3] or 0)))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise DatePatternError(f"unknown time zone '{text}'") from None


def tokens(pattern: str) -> list[tuple[str, str]]:
    """The pattern as (kind, text) pairs: kind is a field letter, or '' for literal text."""
    out, pos = [], 0
    for m in _TOKEN.finditer(pattern):
        if m.start() != pos:
            raise DatePatternError(f"unterminated quote in date pattern '{pattern}'")
        pos = m.end()
        if m.group(1) is not None:
            out.append(("", m.group(1).replace("''", "'") if m.group(1) else "'"))
        elif m.group(2):
            if m.group(2) not in _LETTERS:
                raise DatePatternError(f"illegal pattern character '{m.group(2)}' in date pattern '{pattern}'")
            out.append((m.group(2), m.group(0)))
        else:
            out.append(("", m.group(0)))
    if pos != len(pattern):
        raise DatePatternError(f"unterminated quote in date pattern '{pattern}'")
    return out


def format_date(moment: datetime, pattern: str) -> str:
    """`moment` (already in the wanted zone) written with a style name or a Java pattern."""
    pattern = STYLES.get(pattern, pattern)
    return "".join(text if not kind else _field(moment, kind, len(text)) for kind, text in tokens(pattern))


def _field(m: datetime, kind: str, n: int) -> str:
    if kind in "yY":
        return f"{m.year % 100:02d}" if n == 2 else str(m.year).zfill(n)
    if kind in "ML":
        return MONTHS[m.month - 1] if n >= 4 else MONTHS[m.month - 1][:3] if n == 3 else str(m.month).zfill(n)
    if kind == "E":
        return DAYS[m.weekday()] if n >= 4 else DAYS[m.weekday()][:3]
    if kind == "a":
        return "AM" if m.hour < 12 else "PM"
    if kind == "G":
        return "AD"
    if kind in "zZX":
        return _zone_field(m, kind, n)
    return str(_number(m, kind)).zfill(n)


def _number(m: datetime, kind: str) -> int:
    numbers = {
        "d": m.day, "D": m.timetuple().tm_yday, "H": m.hour, "k": m.hour or 24, "K": m.hour % 12,
        "h": m.hour % 12 or 12, "m": m.minute, "s": m.second, "S": m.microsecond // 1000,
        "u": m.isoweekday(), "F": (m.day - 1) // 7 + 1, "w": m.isocalendar()[1],
        "W": (m.day + date(m.year, m.month, 1).weekday()) // 7 + 1,
    }
    return numbers[kind]


def _zone_field(m: datetime, kind: str, n: int) -> str:
    offset = m.utcoffset() or timedelta(0)
    if kind == "z":
        return m.tzname() or "UTC"
    if kind == "X" and offset == timedelta(0):
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    if kind == "X" and n == 1:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{':' if kind == 'X' and n >= 3 else ''}{rest:02d}"


# -- reading dates ----------------------------------------------------------------------------

def parse_date(value, pattern: str | None, tz) -> datetime:
    """A date value from a template (string or epoch milliseconds) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    text = str(value).strip()
    if pattern:
        return _parse_with(text, STYLES.get(pattern, pattern), tz)
    if re.fullmatch(r"-?\d{9,}", text):
        return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DatePatternError(f"'{text}' is not an ISO 8601 date; give inputFormat to read it") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _parse_with(text: str, pattern: str, tz) -> datetime:
    parts = tokens(pattern)
    regex, fields = [], []
    for i, (kind, token) in enumerate(parts):
        if not kind:
            regex.append(re.escape(token))
            continue
        next_numeric = i + 1 < len(parts) and parts[i + 1][0] and _is_numeric(parts[i + 1])
        regex.append(_field_regex(kind, len(token), next_numeric))
        fields.append((kind, len(token)))
    matched = re.fullmatch("".join(regex), text, re.IGNORECASE)
    if matched is None:
        raise DatePatternError(f"'{text}' does not match the date pattern '{pattern}'")
    return _assemble(dict(zip(fields, matched.groups())), tz, text, pattern)


def _is_numeric(part: tuple[str, str]) -> bool:
    kind, token = part
    return kind not in "EaGzZX" and not (kind in "ML" and len(token) >= 3)


def _field_regex(kind: str, n: int, fixed_width: bool) -> str:
    if kind in "ML" and n >= 3:
        return "(" + "|".join(MONTHS if n >= 4 else [m[:3] for m in MONTHS]) + ")"
    if kind == "E":
        return "(" + "|".join(DAYS + [d[:3] for d in DAYS]) + ")"
    if kind == "a":
        return "(AM|PM)"
    if kind == "G":
        return "(AD|BC)"
    if kind in "zZX":
        return r"(Z|[A-Za-z]{1,5}|[+-]\d{2}:?(?:\d{2})?)"
    return rf"(\d{{{n}}})" if fixed_width else r"(\d+)"


def _assemble(values: dict, tz, text: str, pattern: str) -> datetime:
    parts = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "ms": 0}
    pm, zone_text = None, None
    for (kind, n), raw in values.items():
        if kind in "yY":
            parts["year"] = int(raw) + (2000 if n == 2 and len(raw) == 2 else 0)
        elif kind in "ML":
            parts["month"] = int(raw) if raw.isdigit() else [m[:3].lower() for m in MONTHS].index(raw[:3].lower()) + 1
        elif kind == "d":
            parts["day"] = int(raw)
        elif kind in "HkKh":
            parts["hour"] = int(raw) % (24 if kind in "Hk" else 12)
        elif kind in "ms":
            parts["minute" if kind == "m" else "second"] = int(raw)
        elif kind == "S":
            parts["ms"] = int(raw)
        elif kind == "a":
            pm = raw.upper() == "PM"
        elif kind in "zZX":
            zone_text = raw
    if pm is not None and parts["hour"] < 12 and pm:
        parts["hour"] += 12
    try:
        moment = datetime(parts["year"], parts["month"], parts["day"], parts["hour"], parts["minute"],
                          parts["second"], parts["ms"] * 1000)
    except ValueError as exc:
        raise DatePatternError(f"'{text}' is not a valid date for the pattern '{pattern}': {exc}") from None
    return moment.replace(tzinfo=zone(zone_text) if zone_text else tz)
