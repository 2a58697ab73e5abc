"""Product analytics: the pieces every query shares, and the definitions they all use.

Definitions (docs/extensions.md repeats them for users):

- **Actor.** Each endpoint (device) counts on its own, as Pinpoint counts. With `by_user=True`
  the actor is the event's user id instead; events without a user id count for their endpoint.
- **Activity.** An actor is active on a day when it reported any event that day, except the
  events the service itself records about messages it sent (`_email.*`, `_SMS.*`, `_sms.*`,
  `_voice.*`, `_custom.*`, `_push.*`, `_campaign.send`, `_journey.send`): Pinpoint
  counts endpoints that used the app, and an e-mail sent to someone is not a use of the app.
- **Days.** Days are UTC days unless `tz` names an IANA time zone (e.g. `Europe/Paris`): then
  every event falls on its local day in that zone (one zone for the whole query, the project's
  reporting zone, as in PostHog), and `start`/`end` are local days too. Both ends are inclusive.
- **First seen.** An actor's first-use day is the first day it was active in the retained history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

# What Clarion records about the messages it sends (clarion/delivery/events.py). Client-reported
# engagement (`_campaign.opened_notification`, `_inapp.message_displayed`, ...) is app use.
SERVICE_EVENT_PREFIXES = ("_email.", "_SMS.", "_sms.", "_voice.", "_custom.", "_push.")
SERVICE_EVENT_TYPES = ("_campaign.send", "_journey.send")

# Activity predicate: everything but the service's own message events (see the module doc).
ACTIVE = "NOT (" + " OR ".join(
    [f"starts_with(event_type, '{p}')" for p in SERVICE_EVENT_PREFIXES]
    + [f"event_type IN ({', '.join(repr(t) for t in SERVICE_EVENT_TYPES)})"]) + ")"


@contextlib.contextmanager
def reading(source) -> Iterator:
    """The seam between queries and storage: a DuckDB cursor on the table `events`.

    `source` is the event store (its `read()` gives a cursor), or a DuckDB connection (tests,
    benchmarks, the CLI reading a data directory). A cursor is DuckDB's per-thread handle, so
    concurrent requests never share one.
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        cur = source.cursor()
        try:
            yield cur
        finally:
            cur.close()
    else:
        with source.read() as cur:
            yield cur


def query(source, sql: str, params: list | dict | None = None) -> list[dict]:
    """Run `sql` on the source's events and return its rows as dicts."""
    with reading(source) as cur:
        result = cur.execute(sql, params or [])
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]


class UnknownTimeZone(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    """What every query is about: an app, a range of days, who counts, and whose days."""

    app_id: str
    start: date
    end: date
    by_user: bool = False
    tz: str | None = None

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("end is before start")
        if self.tz is not None:
            zone(self.tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def instant(self, day: date) -> datetime:
        """The UTC instant (naive, as stored) at which local `day` begins."""
        if self.tz is None:
            return datetime(day.year, day.month, day.day)
        local = datetime(day.year, day.month, day.day, tzinfo=zone(self.tz))
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    def bounds(self, before: int = 0, after: int = 0) -> tuple[datetime, datetime]:
        """[lo, hi) in UTC covering the days start-`before` .. end+`after`."""
        return (self.instant(self.start - timedelta(days=before)),
                self.instant(self.end + timedelta(days=after + 1)))

    def in_range(self) -> str:
        """SQL: the event falls within the scope's days."""
        lo, hi = self.bounds()
        return f"event_time >= {ts(lo)} AND event_time < {ts(hi)}"

    def day(self, column: str = "event_time", before: int = 40, after: int = 40) -> str:
        """SQL for the (local) day of a UTC timestamp column.

        DuckDB's ICU conversion costs about 0.5 µs a row; a time zone's offset is constant between
        its transitions, so this adds the right offset per span instead. The spans are exact from
        `before` days ahead of `start` to `after` days past `end`; outside them the nearest span's
        offset is used, which moves an event by at most an hour or so: such far events only ever
        count as "before the range" or "after it", and stay so.
        """
        if self.tz is None:
            return f"CAST({column} AS DATE)"
        lo, hi = self.bounds(before, after)
        spans = offset_spans(self.tz, lo, hi)
        offset = f"{spans[-1][1] * 60_000_000}"
        if len(spans) > 1:  # integer microseconds: cheaper than adding intervals to timestamps
            cases = " ".join(f"WHEN {column} < TIMESTAMP '{until.isoformat(sep=' ')}' THEN {minutes * 60_000_000}"
                             for until, minutes in spans[:-1])
            offset = f"CASE {cases} ELSE {offset} END"
        return f"(DATE '1970-01-01' + ((epoch_us({column}) + {offset}) // 86400000000)::INTEGER)"

    def actor(self) -> str:
        """SQL for the actor of an event (see the module doc), as a 64-bit hash of its id: grouping,
        sorting and joining integers costs about half what the ids' strings cost. Two different
        ids share a hash with probability about n²/2^65 (one in a billion for 200,000 actors)."""
        if not self.by_user:
            return "hash(endpoint_id)"
        # The flipped bit keeps a user id apart from an endpoint id that is the same string.
        return "CASE WHEN user_id IS NULL THEN hash(endpoint_id) ELSE xor(hash(user_id), 1::UBIGINT) END"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris") from None


def offset_spans(tz: str, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """[(until, offset minutes)]: the zone's UTC offset in force before each `until` (UTC, naive),
    between lo and hi; the last span runs on past hi."""
    tzinfo = zone(tz)

    def offset(moment: datetime) -> int:
        return int(moment.replace(tzinfo=timezone.utc).astimezone(tzinfo).utcoffset().total_seconds() // 60)

    spans, current, moment = [], offset(lo), lo
    while moment < hi:
        step = min(moment + timedelta(hours=6), hi)
        if offset(step) != current:
            change = _transition(offset, moment, step)
            spans.append((change, current))
            current = offset(change)
        moment = step
    spans.append((hi, current))
    return spans


def _transition(offset, before: datetime, after: datetime) -> datetime:
    """The first minute at which `offset` changes, between two moments (binary search)."""
    first = offset(before)
    while after - before > timedelta(minutes=1):
        middle = before + (after - before) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= before:
            break
        if offset(middle) == first:
            before = middle
        else:
            after = middle
    return after


def day_series(scope: Scope) -> str:
    """SQL for a one-column table `day` holding every day of the scope."""
    return (f"(SELECT CAST(d AS DATE) AS day FROM generate_series(DATE '{scope.start.isoformat()}', "
            f"DATE '{scope.end.isoformat()}', INTERVAL 1 DAY) t(d))")


def ratio(numerator, denominator) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


def iso_day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def ts(moment: datetime) -> str:
    """A SQL TIMESTAMP literal (UTC, naive, as stored)."""
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def activity(scope: Scope, lo: datetime | None, hi: datetime) -> str:
    """SQL for the distinct (actor, day) pairs of activity with event_time in [lo, hi) (lo None:
    from the beginning). `$app` is the app id parameter."""
    where = f"app_id = $app AND event_time < {ts(hi)} AND {ACTIVE}"
    if lo is not None:
        where += f" AND event_time >= {ts(lo)}"
    return f"SELECT DISTINCT {scope.actor()} AS actor, {scope.day()} AS day FROM events WHERE {where}"


def active_ctes(scope: Scope, lo: datetime, hi: datetime) -> str:
    """CTEs `act` (activity pairs) and `active` (day, active): actors active per day, plus a row
    with day NULL for the distinct actors of the whole [lo, hi)."""
    return f"""act AS MATERIALIZED ({activity(scope, lo, hi)}),
        active AS (SELECT day, count(*) AS active FROM act GROUP BY day
                   UNION ALL SELECT NULL, count(DISTINCT actor) FROM act)"""
