"""GetApplicationDateRangeKpi against an independent computation over events written directly.

The expected values are computed here, plainly, from the list of events the test wrote, with
the definitions in `clarion.events.kpis` (messages, opens, rates): never by running its SQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from clarion.clock import FixedClock
from clarion.events.kpis import APPLICATION_KPIS, kpi_names
from clarion.service import build
from tests.conftest import LiveServer, make_settings

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)
START, END = datetime(2024, 6, 20, tzinfo=timezone.utc), datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
PUSH = {"APNS", "GCM"}


@pytest.fixture
def live(tmp_path):
    service = build(make_settings(tmp_path), clock=FixedClock(NOW))
    server = LiveServer(service).start()
    yield server
    server.stop()
    service.close()


@pytest.fixture
def client(live):
    return live.client()


@pytest.fixture
def app_id(client):
    return client.create_app(CreateApplicationRequest={"Name": "kpis"})["ApplicationResponse"]["Id"]


# -- the history ---------------------------------------------------------------------------

def history(app_id: str, seed: int = 7) -> list[dict]:
    """Transactional email and SMS, two campaigns over email, SMS and push, a journey email, and
    events outside the range: each message with the events Pinpoint would record for it."""
    rnd = random.Random(seed)
    events: list[dict] = []

    def add(event_type, when, endpoint, attributes=None, metrics=None, country=None):
        events.append({"app_id": app_id, "event_id": f"ev{len(events)}", "event_type": event_type, "event_time": when,
                       "endpoint_id": endpoint, "attributes": attributes or {}, "metrics": metrics or {},
                       "country": country})

    def when():
        return datetime(2024, 6, 25, tzinfo=timezone.utc) + timedelta(minutes=rnd.randrange(5 * 24 * 60))

    for i in range(80):  # transactional email
        endpoint, sent, ids = f"mail{rnd.randrange(30)}", when(), {"message_id": f"m{i}"}
        add("_email.send", sent, endpoint, ids)
        fate = rnd.choices(["delivered", "hard", "soft", "rejected", "none"], [70, 10, 10, 5, 5])[0]
        kind = {"delivered": "_email.delivered", "hard": "_email.hardbounce", "soft": "_email.softbounce",
                "rejected": "_email.rejected"}.get(fate)
        if kind:
            add(kind, sent + timedelta(minutes=1), endpoint, ids)
        if fate == "delivered":
            for _ in range(rnd.choice([0, 0, 1, 2, 3])):
                add("_email.open", sent + timedelta(hours=rnd.randrange(1, 40)), endpoint, ids)
            for _ in range(rnd.choice([0, 0, 0, 1, 2])):
                add("_email.click", sent + timedelta(hours=rnd.randrange(1, 40)), endpoint, {**ids, "feedback": "https://x"})
            if rnd.random() < 0.08:
                add("_email.complaint", sent + timedelta(hours=2), endpoint, ids)
    for i in range(60):  # transactional SMS
        endpoint, sent = f"phone{rnd.randrange(40)}", when()
        country, parts = rnd.choice(["US", "DE", "FR"]), rnd.randint(1, 3)
        ids = {"message_id": f"s{i}", "iso_country_code": country, "number_of_message_parts": str(parts)}
        add("_SMS.BUFFERED", sent, endpoint, ids, country=country)
        if rnd.random() < 0.75:
            add("_SMS.SUCCESS", sent + timedelta(seconds=5), endpoint, {**ids, "record_status": "DELIVERED"},
                {"price_in_millicents_usd": 645.0 * parts}, country)
        else:
            add("_SMS.FAILURE", sent + timedelta(seconds=5), endpoint,
                {**ids, "record_status": rnd.choice(["UNREACHABLE", "BLOCKED", "CARRIER_UNREACHABLE"])},
                {"price_in_millicents_usd": 300.0}, country)
    for campaign in ("camp-a", "camp-b"):
        for run in range(2):
            activity = f"{campaign}-run{run}"
            for n in range(25):
                channel = rnd.choice(["EMAIL", "SMS", "APNS", "GCM"])
                endpoint, sent = f"{channel.lower()}{rnd.randrange(15)}", when()
                ids = {"campaign_id": campaign, "campaign_activity_id": activity, "treatment_id": "0"}
                ok = rnd.random() < 0.9
                add("_campaign.send", sent, endpoint,
                    {**ids, "delivery_type": channel, "campaign_send_status": "SUCCESS" if ok else "FAILURE"})
                if not ok:
                    continue
                if channel == "EMAIL":
                    add("_email.send", sent, endpoint, ids)
                    fate = rnd.choices(["_email.delivered", "_email.hardbounce", None], [80, 12, 8])[0]
                    if fate:
                        add(fate, sent + timedelta(minutes=1), endpoint, ids)
                    if fate == "_email.delivered" and rnd.random() < 0.5:
                        add("_email.open", sent + timedelta(hours=3), endpoint, ids)
                elif channel == "SMS":
                    add("_SMS.BUFFERED", sent, endpoint, ids)
                    if rnd.random() < 0.8:
                        add("_SMS.SUCCESS", sent + timedelta(seconds=3), endpoint, ids)
                elif rnd.random() < 0.35:
                    add("_campaign.opened_notification", sent + timedelta(minutes=20), endpoint, ids)
    add("_email.send", when(), "journey-mail", {"journey_id": "j1", "journey_activity_id": "a1"})
    add("_email.send", datetime(2024, 6, 10, tzinfo=timezone.utc), "old-mail", {"message_id": "old"})
    add("_SMS.BUFFERED", datetime(2024, 7, 2, tzinfo=timezone.utc), "late", {"message_id": "late"})
    return events


# -- the independent computation -------------------------------------------------------------

def message_of(event) -> tuple:
    a = event["attributes"]
    activity = a.get("campaign_activity_id") or a.get("journey_activity_id")
    return (event["endpoint_id"], activity) if activity else (a.get("message_id") or event["event_id"],)


def group_of(event, grouping):
    a = event["attributes"]
    return {None: None, "date": event["event_time"].strftime("%Y-%m-%d"), "campaign": a.get("campaign_id"),
            "country": a.get("iso_country_code") or event["country"], "error": a.get("record_status")}[grouping]


def messages(events, grouping) -> dict:
    """group -> {message: [its events in that group]}"""
    found = defaultdict(lambda: defaultdict(list))
    for e in events:
        found[group_of(e, grouping)][message_of(e)].append(e)
    return found


def has(msg_events, *types):
    return any(e["event_type"] in types for e in msg_events)


def count(msg_events, event_type):
    return sum(e["event_type"] == event_type for e in msg_events)


def parts(msg_events):
    values = [int(e["attributes"]["number_of_message_parts"]) for e in msg_events
              if "number_of_message_parts" in e["attributes"]]
    return max(values) if values else 1


def price(msg_events):
    values = [e["metrics"]["price_in_millicents_usd"] for e in msg_events if "price_in_millicents_usd" in e["metrics"]]
    return max(values) if values else None


def rate(numerator, denominator):
    return numerator / denominator if denominator else None


def delivered(m):
    return has(m, "_email.delivered", "_SMS.SUCCESS") or any(
        e["event_type"] == "_campaign.send" and e["attributes"]["campaign_send_status"] == "SUCCESS"
        and e["attributes"]["delivery_type"] not in ("EMAIL", "SMS") for e in m)


def push_delivered(m):
    return any(e["event_type"] == "_campaign.send" and e["attributes"]["campaign_send_status"] == "SUCCESS"
               and e["attributes"]["delivery_type"] in PUSH for e in m)


def email_delivered_count(ms):
    return max(sum(count(m, "_email.send") - count(m, "_email.hardbounce") - count(m, "_email.softbounce")
                   - count(m, "_email.rejected") for m in ms.values()), 0)


SMS_TYPES = ("_SMS.BUFFERED", "_SMS.SUCCESS", "_SMS.FAILURE")
BY_KPI = {  # base name -> (which events, value over {message: events})
    "successful-delivery-rate": ("campaign", lambda ms: rate(sum(delivered(m) for m in ms.values()),
                                                             sum(has(m, "_campaign.send") for m in ms.values()))),
    "email-open-rate": ("campaign", lambda ms: rate(sum(has(m, "_email.open") for m in ms.values()),
                                                    sum(has(m, "_email.delivered") for m in ms.values()))),
    "unique-deliveries": ("campaign", lambda ms: len({m[0] for m, evs in ms.items() if delivered(evs)})),
    "successful-deliveries": ("campaign", lambda ms: max(sum(has(m, "_campaign.send") for m in ms.values())
                                                         - sum(has(m, "_email.hardbounce") for m in ms.values()), 0)),
    "push-open-rate": ("campaign", lambda ms: rate(sum(has(m, "_campaign.opened_notification") for m in ms.values()),
                                                   sum(push_delivered(m) for m in ms.values()))),
    "txn-emails-sent": ("email", lambda ms: sum(count(m, "_email.send") for m in ms.values())),
    "txn-emails-delivered": ("email", email_delivered_count),
    "txn-emails-delivery-rate": ("email", lambda ms: rate(email_delivered_count(ms),
                                                          sum(count(m, "_email.send") for m in ms.values()))),
    "txn-emails-opened": ("email", lambda ms: sum(has(m, "_email.open") for m in ms.values())),
    "txn-emails-unique-opens": ("email", lambda ms: len({e["endpoint_id"] for m in ms.values() for e in m
                                                         if e["event_type"] == "_email.open"})),
    "txn-emails-clicked": ("email", lambda ms: sum(count(m, "_email.click") for m in ms.values())),
    "txn-emails-unique-clicks": ("email", lambda ms: len({e["endpoint_id"] for m in ms.values() for e in m
                                                          if e["event_type"] == "_email.click"})),
    "txn-emails-hard-bounced": ("email", lambda ms: sum(count(m, "_email.hardbounce") for m in ms.values())),
    "txn-emails-soft-bounced": ("email", lambda ms: sum(count(m, "_email.softbounce") for m in ms.values())),
    "txn-emails-with-complaints": ("email", lambda ms: sum(has(m, "_email.complaint") for m in ms.values())),
    "txn-emails-complaint-rate": ("email", lambda ms: rate(sum(has(m, "_email.complaint") for m in ms.values()),
                                                           sum(count(m, "_email.send") for m in ms.values()))),
    "txn-sms-sent": ("sms", lambda ms: sum(has(m, *SMS_TYPES) for m in ms.values())),
    "txn-sms-delivered": ("sms", lambda ms: sum(has(m, "_SMS.SUCCESS") for m in ms.values())),
    "txn-sms-delivery-rate": ("sms", lambda ms: rate(sum(has(m, "_SMS.SUCCESS") for m in ms.values()),
                                                     sum(has(m, *SMS_TYPES) for m in ms.values()))),
    "txn-sms-sent-by-parts": ("sms", lambda ms: sum(parts(m) for m in ms.values() if has(m, *SMS_TYPES))),
    "txn-sms-delivered-by-parts": ("sms", lambda ms: sum(parts(m) for m in ms.values() if has(m, "_SMS.SUCCESS"))),
    "txn-sms-error-distribution": ("sms-failures", lambda ms: len(ms)),
    "txn-sms-average-price": ("sms", lambda ms: rate(sum(price(m) or 0 for m in ms.values()),
                                                     sum(has(m, *SMS_TYPES) for m in ms.values()))),
    "txn-sms-average-price-by-parts": ("sms", lambda ms: rate(sum(price(m) for m in ms.values() if price(m) is not None),
                                                              sum(parts(m) for m in ms.values() if price(m) is not None))),
    "txn-sms-total-price": ("sms", lambda ms: sum(price(m) or 0 for m in ms.values())),
}


def selected(events, app_id, family):
    def transactional(e):
        return "campaign_id" not in e["attributes"] and "journey_id" not in e["attributes"]

    chosen = {
        "campaign": lambda e: "campaign_id" in e["attributes"] and e["event_type"] in (
            "_campaign.send", "_campaign.opened_notification", "_email.delivered", "_email.open",
            "_email.hardbounce", "_SMS.SUCCESS"),
        "email": lambda e: e["event_type"].startswith("_email.") and transactional(e),
        "sms": lambda e: e["event_type"] in SMS_TYPES and transactional(e),
        "sms-failures": lambda e: e["event_type"] == "_SMS.FAILURE" and transactional(e),
    }[family]
    return [e for e in events if e["app_id"] == app_id and START <= e["event_time"] <= END and chosen(e)]


def expected(events, app_id, kpi_name) -> dict:
    base, _, grouping = kpi_name.partition("-grouped-by-")
    family, value = BY_KPI[base]
    grouping = "error" if base == "txn-sms-error-distribution" else (grouping or None)
    found = {}
    for group, ms in messages(selected(events, app_id, family), grouping).items():
        result = value(ms)
        if result is not None and (grouping is None or group is not None):
            found[group] = float(result)
    return found


def answered(client, app_id, kpi_name, start=START, end=END) -> dict:
    response = client.get_application_date_range_kpi(ApplicationId=app_id, KpiName=kpi_name, StartTime=start,
                                                     EndTime=end)["ApplicationDateRangeKpiResponse"]
    assert response["KpiName"] == kpi_name and response["ApplicationId"] == app_id
    found = {}
    for row in response["KpiResult"]["Rows"]:
        (value,) = row["Values"]
        assert value["Type"] == "Double" and isinstance(value["Value"], str) and "." in value["Value"]
        assert value["Key"] == "".join(p.capitalize() for p in kpi_name.split("-grouped-by-")[0].split("-"))
        groups = row.get("GroupedBys") or []
        assert all(g["Type"] == "String" for g in groups)
        found[groups[0]["Value"] if groups else None] = float(value["Value"])
    return found


# -- tests -------------------------------------------------------------------------------------

def test_every_application_kpi_matches_an_independent_computation(live, client, app_id):
    events = history(app_id)
    live.service.events.append(events)
    other = client.create_app(CreateApplicationRequest={"Name": "other"})["ApplicationResponse"]["Id"]
    live.service.events.append(history(other, seed=8))
    names = kpi_names(APPLICATION_KPIS)
    assert len(names) == 48
    for name in names:
        want = expected(events, app_id, name)
        assert want, f"the history gives {name} no data: the test would prove nothing"
        assert answered(client, app_id, name) == pytest.approx(want), name


def test_grouped_kpis_name_their_groups_as_pinpoint_does(live, client, app_id):
    live.service.events.append(history(app_id))
    response = client.get_application_date_range_kpi(
        ApplicationId=app_id, KpiName="txn-sms-sent-grouped-by-date", StartTime=START, EndTime=END)
    rows = response["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]
    assert [r["GroupedBys"][0]["Key"] for r in rows] == ["Date"] * len(rows)
    assert [r["GroupedBys"][0]["Value"] for r in rows] == sorted({r["GroupedBys"][0]["Value"] for r in rows})
    assert all(len(r["GroupedBys"][0]["Value"]) == 10 for r in rows)  # YYYY-MM-DD
    for name, key in [("unique-deliveries-grouped-by-campaign", "CampaignId"),
                      ("txn-sms-sent-grouped-by-country", "CountryCode"), ("txn-sms-error-distribution", "ErrorCode")]:
        rows = client.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name, StartTime=START, EndTime=END)[
            "ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]
        assert rows and {r["GroupedBys"][0]["Key"] for r in rows} == {key}


def test_no_data_gives_no_rows(client, app_id):
    for name in ("unique-deliveries", "txn-emails-sent", "txn-sms-sent-grouped-by-date"):
        response = client.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name)
        assert response["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"] == []


def error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_the_range_spans_at_most_31_days_and_starts_less_than_90_days_ago(client, app_id):
    def kpi(start=None, end=None):
        kwargs = {k: v for k, v in (("StartTime", start), ("EndTime", end)) if v is not None}
        return client.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-sent", **kwargs)[
            "ApplicationDateRangeKpiResponse"]

    day = lambda *args: datetime(*args, tzinfo=timezone.utc)  # noqa: E731
    kpi(day(2024, 6, 1), day(2024, 7, 1, 23, 59, 59))  # 31 calendar days
    code, message = error(lambda: kpi(day(2024, 5, 31, 23), day(2024, 7, 1, 0, 30)))  # 32 calendar days
    assert code == "BadRequestException" and "more than 31 days" in message
    code, message = error(lambda: kpi(day(2024, 6, 10), day(2024, 6, 9)))
    assert code == "BadRequestException" and "after end-time" in message
    kpi(NOW - timedelta(days=90) + timedelta(seconds=1), NOW - timedelta(days=70))
    code, message = error(lambda: kpi(NOW - timedelta(days=90), NOW - timedelta(days=70)))
    assert code == "BadRequestException" and "less than 90 days ago" in message
    default = kpi()  # the preceding 31 calendar days
    assert default["StartTime"] == day(2024, 5, 31) and default["EndTime"] == NOW
    only_start = kpi(start=day(2024, 6, 10, 8))
    assert only_start["EndTime"] == NOW
    only_end = kpi(end=day(2024, 6, 20, 8))
    assert only_end["StartTime"] == day(2024, 5, 21)


def test_an_unknown_kpi_name_is_a_bad_request(client, app_id):
    code, message = error(lambda: client.get_application_date_range_kpi(ApplicationId=app_id, KpiName="bounce-rate"))
    assert code == "BadRequestException" and "Invalid kpi-name 'bounce-rate'" in message
    assert "txn-sms-total-price-grouped-by-country" in message
    # a campaign KPI is not an application KPI, nor is a grouping the KPI does not have
    for name in ("hard-bounce-rate", "txn-emails-sent-grouped-by-country"):
        assert error(lambda: client.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name))[0] == \
            "BadRequestException"


def test_an_unknown_app_is_404(client):
    code, _ = error(lambda: client.get_application_date_range_kpi(ApplicationId="f" * 32, KpiName="txn-emails-sent"))
    assert code == "NotFoundException"
