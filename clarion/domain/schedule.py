"""Campaign schedules: run times, local time and quiet time (pure; the clock is passed in).

Reference §4.2-§4.3. Times on the wire are ISO-8601 strings (or "IMMEDIATE"). A recurring
campaign runs at StartTime, then every HOURLY/DAILY/WEEKLY/MONTHLY step after it, while the
run is before EndTime. With IsLocalTime, a run's StartTime is a wall-clock time applied in
each endpoint's own time zone, so one run is a wave of per-zone sub-runs: the first zone to
reach the time (UTC+14) starts first and the last (UTC-12) a day later.
"""

from __future__ import annotations

import calendar
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clock import parse_iso

RECURRING = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")
EVENT_FREQUENCIES = ("EVENT", "IN_APP_EVENT")
# The earliest and latest UTC offsets in use: a local-time run spans this window.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=-12)


class ScheduleError(ValueError):
    """A schedule that cannot be accepted; the message is for the API caller."""


def parse_start(schedule: dict, now: datetime) -> datetime:
    start = schedule.get("StartTime")
    if start == "IMMEDIATE":
        return now
    try:
        return parse_iso(start)
    except (TypeError, ValueError):
        raise ScheduleError(f"Invalid StartTime '{start}': use IMMEDIATE or an ISO-8601 date-time") from None


def parse_end(schedule: dict) -> datetime | None:
    end = schedule.get("EndTime")
    if not end:
        return None
    try:
        return parse_iso(end)
    except ValueError:
        raise ScheduleError(f"Invalid EndTime '{end}': use an ISO-8601 date-time") from None


def validate(schedule: dict, now: datetime, *, new: bool) -> None:
    """Pinpoint's checks, with its messages where they are known (reference §4.2)."""
    frequency = schedule.get("Frequency") or "ONCE"
    start = parse_start(schedule, now)
    end = parse_end(schedule)
    # Checked against UTC, ignoring Timezone; a minute of grace for the caller's clock.
    if new and schedule.get("StartTime") != "IMMEDIATE" and start < now - timedelta(minutes=1):
        raise ScheduleError("StartTime must be at least current time.")
    if end is not None and end <= start:
        raise ScheduleError("EndTime must be after StartTime.")
    if frequency in RECURRING + EVENT_FREQUENCIES and end is None:
        raise ScheduleError(f"EndTime is required for a {frequency} campaign.")
    if frequency in EVENT_FREQUENCIES and not schedule.get("EventFilter"):
        raise ScheduleError(f"A {frequency} campaign needs Schedule.EventFilter.")
    if frequency in EVENT_FREQUENCIES and schedule.get("IsLocalTime"):
        raise ScheduleError("An event-triggered campaign cannot use IsLocalTime.")
    quiet = schedule.get("QuietTime") or {}
    for key in ("Start", "End"):
        if quiet.get(key):
            parse_clock(quiet[key], f"QuietTime.{key}")


def step(moment: datetime, frequency: str, count: int) -> datetime:
    """`moment` moved forward by `count` periods of `frequency`."""
    if frequency == "HOURLY":
        return moment + timedelta(hours=count)
    if frequency == "DAILY":
        return moment + timedelta(days=count)
    if frequency == "WEEKLY":
        return moment + timedelta(weeks=count)
    month = moment.month - 1 + count  # MONTHLY: the same day, clamped to the month's length
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def runs_due(schedule: dict, created: datetime, last_run: datetime | None, now: datetime) -> list[datetime]:
    """Scheduled starts (nominal, in UTC) that are due by `now` and not yet run, oldest first.

    A local-time run is due as soon as its first zone reaches it. A scheduler that was down
    does not replay a backlog of recurring runs: only the latest missed one is returned.
    """
    frequency = schedule.get("Frequency") or "ONCE"
    if frequency in EVENT_FREQUENCIES:
        return []
    start = parse_start(schedule, created)
    end = parse_end(schedule)
    lead = EARLIEST_OFFSET if schedule.get("IsLocalTime") else timedelta(0)
    if frequency == "ONCE":
        return [start] if last_run is None and start - lead <= now else []
    due, n = None, 0
    while True:
        run = step(start, frequency, n)
        if run - lead > now or (end is not None and run >= end):
            break
        if last_run is None or run > last_run:
            due = run
        n += 1
        if n > 100_000:  # HOURLY over eleven years: stop rather than spin
            break
    return [due] if due else []


def next_run(schedule: dict, created: datetime, last_run: datetime | None) -> datetime | None:
    """The next scheduled start after `last_run` (None when the campaign has no more runs)."""
    frequency = schedule.get("Frequency") or "ONCE"
    if frequency in EVENT_FREQUENCIES:
        return None
    start = parse_start(schedule, created)
    if last_run is None:
        return start
    if frequency == "ONCE":
        return None
    end = parse_end(schedule)
    n = 1
    while (run := step(start, frequency, n)) <= last_run:
        n += 1
    return None if end is not None and run >= end else run


def zone(name: str | None) -> ZoneInfo | None:
    """The endpoint's IANA time zone, or None when missing or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_send_time(nominal: datetime, tz: ZoneInfo) -> datetime:
    """For IsLocalTime: the instant the nominal wall-clock time happens in zone `tz`."""
    wall = nominal.astimezone(timezone.utc).replace(tzinfo=None)
    return wall.replace(tzinfo=tz).astimezone(timezone.utc)


def parse_clock(text: str, what: str) -> time:
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(text)
        return time(int(hours), int(minutes))
    except ValueError:
        raise ScheduleError(f"{what} must be HH:MM in 24-hour time, got '{text}'") from None


def in_quiet_time(quiet: dict | None, tz: ZoneInfo | None, now: datetime) -> bool:
    """Reference §4.3: only endpoints with a valid time zone can be in quiet time; bounds are
    inclusive and a window like 21:00-07:00 wraps past midnight."""
    if not quiet or not quiet.get("Start") or not quiet.get("End") or tz is None:
        return False
    start, end = parse_clock(quiet["Start"], "QuietTime.Start"), parse_clock(quiet["End"], "QuietTime.End")
    local = now.astimezone(tz).time().replace(second=0, microsecond=0)
    if start <= end:
        return start <= local <= end
    return local >= start or local <= end

