"""Pinpoint's date-range KPIs, computed from the message events in the event store.

The events these queries read (the contract with the messaging and campaign runtime):

- a campaign message: one `_campaign.send` per endpoint and run, with attributes `campaign_id`,
  `campaign_activity_id`, `treatment_id`, `delivery_type` (the channel: EMAIL, SMS, GCM, APNS, ...,
  CUSTOM) and `campaign_send_status` (`SUCCESS` when the channel accepted it); push opens come
  back from the SDKs as `_campaign.opened_notification` with the same attributes;
- email: `_email.send`, `_email.delivered`, `_email.hardbounce`, `_email.softbounce`,
  `_email.rejected`, `_email.complaint`, `_email.open`, `_email.click`, `_email.unsubscribe`;
- SMS: `_SMS.BUFFERED` (handed to the carrier), `_SMS.SUCCESS` (delivered), `_SMS.FAILURE`
  (`record_status` says why), `_SMS.OPTOUT`; attributes `iso_country_code`,
  `number_of_message_parts`, metric `price_in_millicents_usd` (thousandths of a US cent);
- messages sent by a campaign or journey carry `campaign_id` / `journey_id` (and the activity
  ids); messages without either are transactional (the `txn-*` KPIs).

Counting: the events of one message are grouped first. A message is `endpoint_id` plus the
campaign or journey activity id when there is one, else the `message_id` attribute, else the event
itself. "Opened" counts messages opened at least once, "unique" counts endpoints, clicks count
every click. Results follow Pinpoint: values are strings of doubles ("12.0"), rates are
fractions (0 to 1), no data gives no row, and `-grouped-by-date` groups by UTC calendar day.

The queries take optional `campaign_id` / `journey_id` filters, so GetCampaignDateRangeKpi and
GetJourneyDateRangeKpi can reuse them with their own catalogs of names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PUSH_CHANNELS = ("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU")
_IN_PUSH = "(" + ", ".join(f"'{c}'" for c in PUSH_CHANNELS) + ")"

# Where each family's events come from, and the scope of the whole family.
_FAMILIES = {
    "campaign": ("event_type IN ('_campaign.send', '_campaign.opened_notification', '_email.delivered', "
                 "'_email.open', '_email.click', '_email.hardbounce', '_SMS.SUCCESS') "
                 "AND attributes['campaign_id'] IS NOT NULL"),
    "email": "event_type LIKE '\\_email.%' ESCAPE '\\' AND {transactional}",
    "sms": "upper(event_type) IN ('_SMS.BUFFERED', '_SMS.SUCCESS', '_SMS.FAILURE', '_SMS.SEND') AND {transactional}",
    "sms-failure": "upper(event_type) = '_SMS.FAILURE' AND {transactional}",
}
_TRANSACTIONAL = "attributes['campaign_id'] IS NULL AND attributes['journey_id'] IS NULL"

# Per message (see the module docstring), computed from its events.
_MESSAGE_COLUMNS = f"""
    count_if(event_type = '_campaign.send') AS sends,
    count_if(event_type = '_campaign.send' AND coalesce(attributes['campaign_send_status'], 'SUCCESS') = 'SUCCESS'
             AND coalesce(attributes['delivery_type'], '') NOT IN ('EMAIL', 'SMS')) AS other_delivered,
    count_if(event_type = '_campaign.send' AND coalesce(attributes['campaign_send_status'], 'SUCCESS') = 'SUCCESS'
             AND attributes['delivery_type'] IN {_IN_PUSH}) AS push_delivered,
    count_if(event_type = '_campaign.opened_notification') AS push_opens,
    count_if(event_type = '_email.send') AS email_sends,
    count_if(event_type = '_email.delivered') AS email_delivered,
    count_if(event_type = '_email.hardbounce') AS hard_bounces,
    count_if(event_type = '_email.softbounce') AS soft_bounces,
    count_if(event_type = '_email.rejected') AS rejects,
    count_if(event_type = '_email.complaint') AS complaints,
    count_if(event_type = '_email.open') AS opens,
    count_if(event_type = '_email.click') AS clicks,
    count_if(upper(event_type) IN ('_SMS.BUFFERED', '_SMS.SUCCESS', '_SMS.FAILURE', '_SMS.SEND')) AS sms_events,
    count_if(upper(event_type) = '_SMS.SUCCESS') AS sms_delivered,
    count_if(upper(event_type) = '_SMS.FAILURE') AS sms_failed,
    coalesce(max(TRY_CAST(attributes['number_of_message_parts'] AS BIGINT)), 1) AS parts,
    max(metrics['price_in_millicents_usd']) AS price"""

_DELIVERED = "(email_delivered > 0 OR sms_delivered > 0 OR other_delivered > 0)"


@dataclass(frozen=True)
class Measure:
    family: str  # key of _FAMILIES: the events it reads
    value: str  # aggregate over the per-message rows; NULL when it is undefined (a rate over nothing)
    group: str | None = None  # a grouping the KPI always has (the SMS error distribution)


MEASURES: dict[str, Measure] = {
    # Campaigns (all of the app's campaigns, or one with `campaign_id`)
    "successful-delivery-rate": Measure("campaign", f"count_if({_DELIVERED}) / nullif(count_if(sends > 0), 0)"),
    "email-open-rate": Measure("campaign", "count_if(opens > 0) / nullif(count_if(email_delivered > 0), 0)"),
    "unique-deliveries": Measure("campaign", f"count(DISTINCT endpoint_id) FILTER (WHERE {_DELIVERED})"),
    "successful-deliveries": Measure("campaign", "greatest(count_if(sends > 0) - count_if(hard_bounces > 0), 0)"),
    "push-open-rate": Measure("campaign", "count_if(push_opens > 0) / nullif(count_if(push_delivered > 0), 0)"),
    # ... only per campaign (GetCampaignDateRangeKpi, reference §7.4)
    "hard-bounce-rate": Measure("campaign", "count_if(hard_bounces > 0) / nullif(count_if(sends > 0), 0)"),
    "direct-email-opens": Measure("campaign", "count_if(opens > 0)"),
    "clicks": Measure("campaign", "sum(clicks)"),
    "attempted-deliveries": Measure("campaign", "count_if(sends > 0)"),
    "direct-push-opens": Measure("campaign", "count_if(push_opens > 0)"),
    # Transactional email
    "txn-emails-sent": Measure("email", "sum(email_sends)"),
    "txn-emails-delivered": Measure("email", "greatest(sum(email_sends) - sum(hard_bounces) - sum(soft_bounces)"
                                             " - sum(rejects), 0)"),
    "txn-emails-delivery-rate": Measure("email", "greatest(sum(email_sends) - sum(hard_bounces) - sum(soft_bounces)"
                                                 " - sum(rejects), 0) / nullif(sum(email_sends), 0)"),
    "txn-emails-opened": Measure("email", "count_if(opens > 0)"),
    "txn-emails-unique-opens": Measure("email", "count(DISTINCT endpoint_id) FILTER (WHERE opens > 0)"),
    "txn-emails-clicked": Measure("email", "sum(clicks)"),
    "txn-emails-unique-clicks": Measure("email", "count(DISTINCT endpoint_id) FILTER (WHERE clicks > 0)"),
    "txn-emails-hard-bounced": Measure("email", "sum(hard_bounces)"),
    "txn-emails-soft-bounced": Measure("email", "sum(soft_bounces)"),
    "txn-emails-with-complaints": Measure("email", "count_if(complaints > 0)"),
    "txn-emails-complaint-rate": Measure("email", "count_if(complaints > 0) / nullif(sum(email_sends), 0)"),
    # Transactional SMS
    "txn-sms-sent": Measure("sms", "count_if(sms_events > 0)"),
    "txn-sms-delivered": Measure("sms", "count_if(sms_delivered > 0)"),
    "txn-sms-delivery-rate": Measure("sms", "count_if(sms_delivered > 0) / nullif(count_if(sms_events > 0), 0)"),
    "txn-sms-sent-by-parts": Measure("sms", "sum(parts) FILTER (WHERE sms_events > 0)"),
    "txn-sms-delivered-by-parts": Measure("sms", "sum(parts) FILTER (WHERE sms_delivered > 0)"),
    "txn-sms-error-distribution": Measure("sms-failure", "count(*)", group="error"),
    "txn-sms-average-price": Measure("sms", "sum(price) / nullif(count_if(sms_events > 0), 0)"),
    "txn-sms-average-price-by-parts": Measure("sms", "sum(price) / nullif(sum(parts) FILTER (WHERE price IS NOT NULL), 0)"),
    "txn-sms-total-price": Measure("sms", "sum(price)"),
}

# grouping -> (GroupedBys.Key, expression over one event)
GROUPINGS = {
    "date": ("Date", "strftime(event_time, '%Y-%m-%d')"),
    "campaign": ("CampaignId", "attributes['campaign_id']"),
    "campaign-activity": ("CampaignActivityId", "attributes['campaign_activity_id']"),
    "journey-activity": ("JourneyActivityId", "attributes['journey_activity_id']"),
    "country": ("CountryCode", "coalesce(attributes['iso_country_code'], country)"),
    "error": ("ErrorCode", "attributes['record_status']"),
}

_EMAIL_TXN = ("sent", "delivered", "delivery-rate", "opened", "unique-opens", "clicked", "unique-clicks",
              "hard-bounced", "soft-bounced", "with-complaints", "complaint-rate")

# GetApplicationDateRangeKpi's kpi-names: base name -> the groupings it comes in (None = ungrouped).
APPLICATION_KPIS: dict[str, tuple[str | None, ...]] = {
    "successful-delivery-rate": (None, "date"),
    "email-open-rate": (None, "campaign"),
    "unique-deliveries": (None, "campaign", "date"),
    "successful-deliveries": ("campaign",),
    "push-open-rate": (None, "campaign"),
    **{f"txn-emails-{name}": (None, "date") for name in _EMAIL_TXN},
    "txn-sms-sent": (None, "country", "date"),
    "txn-sms-delivered": (None, "country", "date"),
    "txn-sms-delivery-rate": (None, "date"),
    "txn-sms-sent-by-parts": (None, "country"),
    "txn-sms-delivered-by-parts": (None, "country"),
    "txn-sms-error-distribution": (None,),
    "txn-sms-average-price": ("country",),
    "txn-sms-average-price-by-parts": ("country",),
    "txn-sms-total-price": ("country",),
}


def kpi_names(catalog: dict[str, tuple[str | None, ...]]) -> list[str]:
    """Every kpi-name of a catalog, as clients spell them."""
    return sorted(base if group is None else f"{base}-grouped-by-{group}"
                  for base, groups in catalog.items() for group in groups)


def parse_name(name: str, catalog: dict[str, tuple[str | None, ...]]) -> tuple[str, str | None] | None:
    """(base, grouping) of a kpi-name the catalog knows, else None."""
    base, _, group = name.partition("-grouped-by-")
    grouping = group or None
    if base in catalog and grouping in catalog[base]:
        return base, grouping
    return None


def value_key(base: str) -> str:
    """Values.Key: the base kpi-name in PascalCase (`txn-sms-sent` -> `TxnSmsSent`)."""
    return "".join(part.capitalize() for part in base.split("-"))


def compute(store, app_id: str, base: str, grouping: str | None, start: datetime, end: datetime,
            campaign_id: str | None = None, journey_id: str | None = None) -> list[dict]:
    """KpiResult.Rows for one KPI over [start, end] (naive UTC datetimes, inclusive)."""
    measure = MEASURES[base]
    grouping = measure.group or grouping
    sql, params = _query(measure, grouping, app_id, start, end, campaign_id, journey_id)
    key = value_key(base)
    rows = []
    for group_value, value in store.query(sql, params):
        if value is None or (grouping and group_value is None):
            continue  # Pinpoint leaves out groups with no result
        row = {"Values": [{"Key": key, "Type": "Double", "Value": repr(float(value))}]}
        if grouping:
            row["GroupedBys"] = [{"Key": GROUPINGS[grouping][0], "Type": "String", "Value": str(group_value)}]
        rows.append(row)
    return rows


def _query(measure: Measure, grouping: str | None, app_id: str, start: datetime, end: datetime,
           campaign_id: str | None, journey_id: str | None) -> tuple[str, dict]:
    filters = ["app_id = $app", "event_time >= $start", "event_time <= $end",
               _FAMILIES[measure.family].format(transactional=_TRANSACTIONAL)]
    params = {"app": app_id, "start": start, "end": end}
    if campaign_id is not None:
        filters.append("attributes['campaign_id'] = $campaign")
        params["campaign"] = campaign_id
    if journey_id is not None:
        filters.append("attributes['journey_id'] = $journey")
        params["journey"] = journey_id
    group = GROUPINGS[grouping][1] if grouping else "NULL"
    sql = f"""
        WITH scoped AS (
            SELECT {group} AS grp, endpoint_id, event_type, attributes, metrics,
                   CASE WHEN coalesce(attributes['campaign_activity_id'], attributes['journey_activity_id']) IS NOT NULL
                        THEN endpoint_id || '|' || coalesce(attributes['campaign_activity_id'],
                                                            attributes['journey_activity_id'])
                        ELSE coalesce(attributes['message_id'], event_id) END AS msg
            FROM events WHERE {' AND '.join(filters)}
        ), messages AS (
            SELECT grp, endpoint_id, msg, {_MESSAGE_COLUMNS}
            FROM scoped GROUP BY grp, endpoint_id, msg
        )
        SELECT {'grp' if grouping else 'NULL'}, ({measure.value})::DOUBLE AS value FROM messages
        {'GROUP BY grp HAVING count(*) > 0 ORDER BY grp' if grouping else 'HAVING count(*) > 0'}"""
    return sql, params
