"""Product analytics, as Clarion's extension API: `/v1/apps/{application-id}/analytics/...`.

Seven read-only JSON routes over the event store (docs/extensions.md documents each, with its
parameters, definitions and an example): active-users, sessions, retention, demographics,
events, funnel (GET with `step=` parameters or POST with a JSON body of steps) and revenue. They
take the same SigV4 authentication and app scoping as the Pinpoint routes; an unknown app is
Pinpoint's 404 and a bad parameter a 400 `BadRequestException` naming it. Answers use
Pinpoint's PascalCase member names. The queries themselves are in `clarion.events.analytics`.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from ..events import analytics
from ..protocol.errors import BadRequest
from ..protocol.extensions import extension
from .apps import require_app

PREFIX = "/v1/apps/{application-id}/analytics"
MAX_DAYS = 366
COMMON = {"start", "end", "by-user", "tz"}
# Members whose JSON name is not the plain PascalCase of the query layer's key.
NAMES = {"dau": "DailyActive", "wau": "WeeklyActive", "mau": "MonthlyActive", "sticky": "StickyFactor"}
DATA_KEYS = {"attributes"}  # dicts whose keys are the user's data, never renamed


def pascal(value):
    """The query layer's snake_case keys as Pinpoint-style PascalCase member names."""
    if isinstance(value, list):
        return [pascal(v) for v in value]
    if isinstance(value, dict):
        return {NAMES.get(k) or "".join(p[:1].upper() + p[1:] for p in k.split("_")):
                (v if k in DATA_KEYS else pascal(v)) for k, v in value.items()}
    return value


# -- parameters ----------------------------------------------------------------------------------

def _one(query: dict, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"Parameter '{name}' is given {len(values)} times; give it once")
    return values[0]


def _check_names(query: dict, allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(unknown)}; this route takes "
                         f"{', '.join(sorted(allowed))}")


def _date(query: dict, name: str) -> date | None:
    text = _one(query, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"Invalid {name} '{text}': expected a date as YYYY-MM-DD") from None


def _flag(query: dict, name: str) -> bool:
    text = _one(query, name)
    if text is None or text.lower() in ("false", "0"):
        return False
    if text.lower() in ("true", "1"):
        return True
    raise BadRequest(f"Invalid {name} '{text}': expected true or false")


def _whole(query: dict, name: str, default: int, low: int, high: int) -> int:
    text = _one(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"Invalid {name} '{text}': expected a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"Invalid {name} {value}: expected {low} to {high}")
    return value


class Common:
    """The parameters every analytics route takes: the app, the days, who counts, which zone."""

    def __init__(self, ctx, application_id: str, query: dict, allowed: set[str] = frozenset()):
        _check_names(query, COMMON | allowed)
        with ctx.store.read() as conn:
            self.app_id = require_app(conn, application_id)["Id"]
        self.source = ctx.service.events
        self.tz = _one(query, "tz")
        if self.tz is not None:
            try:
                ZoneInfo(self.tz)
            except (ValueError, KeyError, OSError):
                raise BadRequest(f"Unknown time zone '{self.tz}': use an IANA name such as Europe/Paris") from None
        self.today = ctx.service.clock.now().astimezone(ZoneInfo(self.tz or "UTC")).date()
        self.end = _date(query, "end") or self.today
        self.start = _date(query, "start") or self.end - timedelta(days=29)
        if self.end < self.start:
            raise BadRequest(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise BadRequest(f"The range covers {(self.end - self.start).days + 1} days; "
                             f"at most {MAX_DAYS} are allowed")
        self.by_user = _flag(query, "by-user")

    @property
    def kwargs(self) -> dict:
        return {"by_user": self.by_user, "tz": self.tz}

    def answer(self, result: dict, **extra) -> dict:
        return pascal({"application_id": self.app_id, "start": self.start.isoformat(), "end": self.end.isoformat(),
                       "by_user": self.by_user, "timezone": self.tz or "UTC", **extra, **result})


def _query_error(fn, *args, **kwargs):
    """Run a query; its ValueErrors are the caller's bad parameters."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


# -- routes --------------------------------------------------------------------------------------

@extension("GET", f"{PREFIX}/active-users")
def get_active_users(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: daily, weekly and monthly active endpoints or users, stickiness, new ones."""
    c = Common(ctx, application_id, query)
    return c.answer(analytics.active_users(c.source, c.app_id, c.start, c.end, **c.kwargs))


@extension("GET", f"{PREFIX}/sessions")
def get_sessions(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: sessions per day, per active endpoint or user, and their durations."""
    c = Common(ctx, application_id, query)
    return c.answer(analytics.sessions(c.source, c.app_id, c.start, c.end, **c.kwargs))


@extension("GET", f"{PREFIX}/retention")
def get_retention(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: cohorts by first-use day and who came back on each of the next days."""
    c = Common(ctx, application_id, query, {"days", "as-of"})
    days = _whole(query, "days", 30, 1, 90)
    as_of = _date(query, "as-of") or min(c.end + timedelta(days=days), c.today)
    if as_of < c.end:
        raise BadRequest(f"as-of {as_of} is before end {c.end}")
    result = analytics.retention(c.source, c.app_id, c.start, c.end, days=days, as_of=as_of, **c.kwargs)
    return c.answer(result, days=days)


@extension("GET", f"{PREFIX}/demographics")
def get_demographics(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: active endpoints or users by platform, model, version, country, locale, attribute."""
    c = Common(ctx, application_id, query, {"dimension", "limit"})
    dimension = _one(query, "dimension")
    if not dimension:
        raise BadRequest("Parameter 'dimension' is required: one of "
                         f"{', '.join(sorted(analytics.DIMENSIONS))} or {analytics.ENDPOINT_ATTRIBUTE}<key>")
    limit = _whole(query, "limit", 100, 1, 1000)
    return c.answer(_query_error(analytics.demographics, c.source, c.app_id, c.start, c.end, _dimension(dimension),
                                 limit=limit, **c.kwargs))


def _dimension(text: str | None) -> str | None:
    """Dimension names take dashes or underscores (`app-version`, `endpoint-attribute:plan`); the
    key after a colon is the user's and kept as given."""
    if text is None:
        return None
    name, colon, key = text.partition(":")
    return name.replace("-", "_") + colon + key


def _attribute_filters(values: list[str], name: str) -> dict[str, list[str]]:
    """`key:value` parameters as {key: [values]} (a key given twice matches either value)."""
    filters: dict[str, list[str]] = {}
    for text in values:
        key, sep, value = text.partition(":")
        if not sep or not key:
            raise BadRequest(f"Invalid {name} '{text}': expected KEY:VALUE")
        filters.setdefault(key, []).append(value)
    return filters


@extension("GET", f"{PREFIX}/events")
def get_events(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: counts and unique endpoints or users per event type, per day, with metrics."""
    c = Common(ctx, application_id, query, {"event-type", "attribute", "metric"})
    event_type, metric = _one(query, "event-type"), _one(query, "metric")
    if event_type == "" or metric == "":
        raise BadRequest("event-type and metric must not be empty")
    attributes = _attribute_filters(query.get("attribute", []), "attribute")
    result = analytics.events(c.source, c.app_id, c.start, c.end, event_type=event_type, attributes=attributes,
                              metric=metric, **c.kwargs)
    return c.answer(result, event_type=event_type, metric=metric)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _window(text: str | None) -> timedelta:
    if text is None:
        return timedelta(days=7)
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise BadRequest(f"Invalid window '{text}': expected seconds, or a number followed by s, m, h or d "
                         "(for example 30m or 7d)") from None
    if not 0 < seconds <= MAX_DAYS * 86400:
        raise BadRequest(f"Invalid window '{text}': expected more than 0 and at most {MAX_DAYS} days")
    return timedelta(seconds=seconds)


def _steps_from_query(values: list[str]) -> list[dict]:
    """`step=EVENT_TYPE[;KEY=VALUE...]` parameters as funnel steps."""
    steps = []
    for text in values:
        event_type, *filters = text.split(";")
        attributes: dict[str, list[str]] = {}
        for f in filters:
            key, sep, value = f.partition("=")
            if not sep or not key:
                raise BadRequest(f"Invalid step '{text}': expected EVENT_TYPE;KEY=VALUE;...")
            attributes.setdefault(key, []).append(value)
        steps.append({"event_type": event_type, "attributes": attributes})
    return steps


def _steps_from_body(body) -> list[dict]:
    if not isinstance(body, dict) or set(body) != {"Steps"} or not isinstance(body["Steps"], list):
        raise BadRequest('Send {"Steps": [{"EventType": "...", "Attributes": {"key": ["value", ...]}}, ...]} '
                         "(other parameters go in the query string)")
    steps = []
    for i, step in enumerate(body["Steps"], 1):
        if isinstance(step, str):
            step = {"EventType": step}
        if not isinstance(step, dict) or set(step) - {"EventType", "Attributes"}:
            raise BadRequest(f"Step {i} must be an event type or an object with EventType and Attributes")
        steps.append({"event_type": step.get("EventType"), "attributes": step.get("Attributes")})
    return steps


def _funnel(ctx, application_id: str, query: dict, steps: list[dict] | None) -> dict:
    c = Common(ctx, application_id, query, {"step", "window", "breakdown"} if steps is None else
               {"window", "breakdown"})
    steps = _steps_from_query(query.get("step", [])) if steps is None else steps
    window, breakdown = _window(_one(query, "window")), _dimension(_one(query, "breakdown"))
    return c.answer(_query_error(analytics.funnel, c.source, c.app_id, c.start, c.end, steps, window=window,
                                 breakdown=breakdown, **c.kwargs))


@extension("GET", f"{PREFIX}/funnel")
def get_funnel(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: conversion through ordered steps (`step=` parameters) within a window."""
    return _funnel(ctx, application_id, query, None)


@extension("POST", f"{PREFIX}/funnel")
def post_funnel(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: conversion through ordered steps (a JSON body of steps) within a window."""
    return _funnel(ctx, application_id, query, _steps_from_body(body))


@extension("GET", f"{PREFIX}/revenue")
def get_revenue(ctx, application_id: str, query: dict, body=None) -> dict:
    """Clarion extension: revenue from purchases per day, paying endpoints or users, revenue per active."""
    c = Common(ctx, application_id, query, {"currency"})
    currency = _one(query, "currency")
    return c.answer(analytics.revenue(c.source, c.app_id, c.start, c.end, currency=currency, **c.kwargs),
                    currency=currency)
