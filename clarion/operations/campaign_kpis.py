"""GetCampaignDateRangeKpi: a campaign's KPI over a date range, over all of its runs
(reference §7.4), from the events its runs wrote (`_campaign.send`, and the channel events
carrying its `campaign_id`).

The rules (range, defaults, result shape) and the queries are the application KPIs' (`kpis`,
`events.kpis`), filtered by the campaign id; `-grouped-by-campaign-activity` groups by
`campaign_activity_id` (GroupedBys key `CampaignActivityId`).
"""

from __future__ import annotations

from datetime import datetime

from . import operation
from .apps import require_app
from .campaigns import require_campaign
from .kpis import kpi_response

# kpi-name base -> the groupings it comes in (None = ungrouped), as Pinpoint lists them.
CAMPAIGN_KPIS: dict[str, tuple[str | None, ...]] = {
    "hard-bounce-rate": (None, "campaign-activity"),
    "successful-delivery-rate": (None, "campaign-activity", "date"),
    "email-open-rate": (None, "campaign-activity"),
    "direct-email-opens": ("campaign-activity",),
    "unique-deliveries": (None, "campaign-activity", "date"),
    "clicks": ("campaign-activity",),
    "successful-deliveries": ("campaign-activity",),
    "attempted-deliveries": ("campaign-activity",),
    "push-open-rate": (None, "campaign-activity"),
    "direct-push-opens": ("campaign-activity",),
}


@operation("GetCampaignDateRangeKpi")
def get_campaign_date_range_kpi(ctx, application_id: str, campaign_id: str, kpi_name: str,
                                start_time: datetime | None = None, end_time: datetime | None = None,
                                next_token: str | None = None, page_size: str | None = None) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        campaign = require_campaign(conn, app_id, campaign_id)
    result = kpi_response(ctx, app_id, kpi_name, start_time, end_time, CAMPAIGN_KPIS, campaign_id=campaign["Id"])
    return {**result, "CampaignId": campaign["Id"]}
