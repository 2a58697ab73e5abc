"""GetApplicationDateRangeKpi: an application KPI over a date range, from the event store.

Pinpoint's rules: the range is inclusive and spans at most 31 calendar days, its start must be
less than 90 days ago, and without `start-time`/`end-time` it covers the preceding 31 calendar
days. Paging is not supported for these metrics: every row comes in one page. The names and the
queries are in `events.kpis`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from ..clock import iso
from ..events import kpis
from ..protocol.errors import BadRequest
from . import operation
from .apps import require_app

MAX_DAYS = 31
MAX_AGE_DAYS = 90


def date_range(now: datetime, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The range to query (UTC), with Pinpoint's defaults, or BadRequest."""
    if end is None:
        end = now if start is None else min(now, _day_start(start) + timedelta(days=MAX_DAYS) - timedelta(microseconds=1))
    if start is None:
        start = _day_start(end) - timedelta(days=MAX_DAYS - 1)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if start > end:
        raise BadRequest(f"start-time {iso(start)} is after end-time {iso(end)}")
    if (end.date() - start.date()).days + 1 > MAX_DAYS:
        raise BadRequest(f"The date range from {iso(start)} to {iso(end)} spans more than {MAX_DAYS} days; "
                         f"query at most {MAX_DAYS} calendar days at a time")
    if now - start >= timedelta(days=MAX_AGE_DAYS):
        raise BadRequest(f"start-time {iso(start)} must be less than {MAX_AGE_DAYS} days ago")
    return start, end


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)


def kpi_response(ctx, application_id: str, kpi_name: str, start_time, end_time, catalog: dict,
                 **filters) -> dict:
    """The DateRangeKpiResponse members shared by applications, campaigns and journeys."""
    parsed = kpis.parse_name(kpi_name, catalog)
    if parsed is None:
        raise BadRequest(f"Invalid kpi-name '{kpi_name}'. Valid names: {', '.join(kpis.kpi_names(catalog))}")
    start, end = date_range(ctx.service.clock.now(), start_time, end_time)
    rows = kpis.compute(ctx.service.events, application_id, *parsed, _naive(start), _naive(end), **filters)
    return {"ApplicationId": application_id, "KpiName": kpi_name, "StartTime": iso(start), "EndTime": iso(end),
            "KpiResult": {"Rows": rows}}


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)  # the store keeps naive UTC


@operation("GetApplicationDateRangeKpi")
def get_application_date_range_kpi(ctx, application_id: str, kpi_name: str, start_time: datetime | None = None,
                                   end_time: datetime | None = None, next_token: str | None = None,
                                   page_size: str | None = None) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
    return kpi_response(ctx, app_id, kpi_name, start_time, end_time, kpis.APPLICATION_KPIS)
