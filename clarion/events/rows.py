"""How event rows travel from ingestion to the event store: newline-delimited JSON, built once.

Encoding a whole request with one `orjson.dumps` per endpoint batch is far cheaper than building
a 29-column row per event in Python, and the store's bulk loader (DuckDB's JSON reader) does the
per-value work in C. One line holds one endpoint batch:

    {"a": app id, "arr": arrival µs, "ep": endpoint id (lower-cased),
     "ctx": {user_id, channel_type, platform, platform_version, make, model, app_version,
             country, region, city, locale, timezone, endpoint_attributes},
     "ev": [{"id": event id, "t": event µs, "ss": session start µs, "sp": session stop µs,
             "e": the Pinpoint `Event` as received (EventType, Attributes, Metrics,
                  Session{Id, Duration}, AppPackageName, AppTitle, AppVersionCode, SdkName,
                  ClientSdkVersion; other members are ignored)}]}

Times are integers: microseconds since the epoch, UTC. `encode_rows` turns rows shaped like the
`events` table (the messaging runtime's events, tests) into the same lines.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

CONTEXT_COLUMNS = ("user_id", "channel_type", "platform", "platform_version", "make", "model", "app_version",
                   "country", "region", "city", "locale", "timezone", "endpoint_attributes")
_EVENT_MEMBERS = {"event_type": "EventType", "attributes": "Attributes", "metrics": "Metrics",
                  "app_package": "AppPackageName", "app_title": "AppTitle", "sdk_name": "SdkName",
                  "client_sdk_version": "ClientSdkVersion"}


@dataclass
class Encoded:
    """Lines for the store plus what it must remember with them."""

    lines: bytes = b""
    count: int = 0  # events
    new_names: list[tuple[str, str, str]] = field(default_factory=list)  # (app id, kind, name)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // _MICROSECOND


@functools.lru_cache(maxsize=4096)
def parse_micros(text: str) -> int:
    """An ISO 8601 time (`2024-05-01T12:00:00.123Z`, any offset) as epoch microseconds.
    Raises ValueError for anything else. Cached: a batch repeats its session start and often
    its timestamps."""
    return micros(datetime.fromisoformat(text))


def _as_micros(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return micros(value)
    if isinstance(value, (int, float)):
        return int(value)
    return parse_micros(value)


def encode_rows(rows: Iterable[dict]) -> Encoded:
    """Rows keyed by `events` column names (times as datetimes, ISO strings or epoch µs)."""
    lines, count = [], 0
    for row in rows:
        event = {member: row.get(column) for column, member in _EVENT_MEMBERS.items()}
        if row.get("session_id") is not None:
            event["Session"] = {"Id": row["session_id"], "Duration": row.get("session_duration")}
        item = {"id": row.get("event_id"), "t": _as_micros(row.get("event_time")),
                "ss": _as_micros(row.get("session_start")), "sp": _as_micros(row.get("session_stop")), "e": event}
        line = {"a": row["app_id"], "arr": _as_micros(row.get("arrival_time") or row.get("event_time")),
                "ep": row.get("endpoint_id"), "ctx": {c: row.get(c) for c in CONTEXT_COLUMNS}, "ev": [item]}
        lines.append(orjson.dumps(line))
        count += 1
    return Encoded(b"\n".join(lines) + b"\n" if lines else b"", count)
