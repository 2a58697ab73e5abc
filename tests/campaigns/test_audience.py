"""A campaign to a 2,000-endpoint segment, delivered by a real SMTP server (aiosmtpd): the
holdout and two treatments split by CohortId, personalised mail, opted-out and inactive
endpoints left out and counted, the activities' counters, events and KPIs."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import timedelta

import pytest

from clarion.domain import campaigns as rules

from ..channels.servers import SmtpServer
from .conftest import NOW, make_env
from .helpers import (by_treatment, campaign_state, cohorts, create_campaign, email_endpoint, events,
                      produced_balance, put_endpoints, run_due, segment)

SIZE = 2000
CITIES = ["Paris", "Oslo", "Lima", "Kyoto"]


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_env(tmp_path, database_url, smtp):
    env = make_env(tmp_path, database_url, email_transport=f"smtp://127.0.0.1:{smtp.port}?tls=none")
    yield env
    env.server.stop()
    env.service.close()


def audience() -> list[dict]:
    items = []
    for i in range(SIZE):
        extra = {"Attributes": {"City": [CITIES[i % 4]]},
                 "User": {"UserId": f"user-{i}", "UserAttributes": {"FirstName": [f"Name{i}"]}}}
        if i % 20 == 3:
            extra["OptOut"] = "ALL"
        if i % 40 == 7:
            extra["EndpointStatus"] = "INACTIVE"
        items.append(email_endpoint(f"ep-{i:04d}", f"person{i}@example.com", **extra))
    return items


def received(smtp) -> dict[str, list[email.message.EmailMessage]]:
    mail: dict[str, list] = {}
    for envelope in smtp.sink.received:
        message = email.message_from_bytes(envelope.data, policy=email.policy.default)
        for rcpt in envelope.rcpt_tos:
            mail.setdefault(rcpt, []).append(message)
    return mail


def expected_mail(service, app_id: str, campaign: dict) -> dict[str, str]:
    """The oracle: address -> "A" or "B" from each endpoint's CohortId (holdout 0-9, B 10-49,
    A 50-99), for the endpoints that are opted in and active."""
    cohort_of = cohorts(service, app_id)
    expected = {}
    for i in range(SIZE):
        if i % 20 == 3 or i % 40 == 7:
            continue
        cohort = cohort_of[f"ep-{i:04d}"]
        treatment = "HOLDOUT" if cohort < 10 else "1" if cohort < 50 else "0"
        assert treatment == rules.treatment_for(cohort, rules.treatment_ranges(campaign))
        if treatment != "HOLDOUT":
            expected[f"person{i}@example.com"] = "B" if treatment == "1" else "A"
    return expected


def check_run(run: dict, cohort_of: dict, first: int, end: int, sent: int) -> None:
    assert run["State"] == "COMPLETED" and run["Result"] == "SUCCESS" and run["End"]
    assert run["TotalEndpointCount"] == run["SuccessfulEndpointCount"] == sent
    mine = [i for i in range(SIZE) if first <= cohort_of[f"ep-{i:04d}"] < end]
    metrics = run["ExecutionMetrics"]
    assert metrics["ENDPOINT_PRODUCED"] == str(SIZE)
    assert metrics["TREATMENT_HOLDOUT"] == str(SIZE - len(mine))
    assert metrics["ENDPOINT_OPT_OUT"] == str(sum(1 for i in mine if i % 20 == 3))
    assert metrics["ENDPOINT_INACTIVE"] == str(sum(1 for i in mine if i % 20 != 3 and i % 40 == 7))
    assert produced_balance(run) == 0


def test_holdout_and_two_treatments_by_cohort(smtp_env, smtp):
    env = smtp_env
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, audience())
    campaign = create_campaign(
        client, app_id, segment(client, app_id), HoldoutPercent=10,
        MessageConfiguration={"EmailMessage": {"Title": "A for {{User.UserAttributes.FirstName}}",
                                               "HtmlBody": "<p>Treatment A, {{Attributes.City}}</p>"}},
        AdditionalTreatments=[{"SizePercent": 40, "TreatmentName": "B", "MessageConfiguration": {"EmailMessage": {
            "Title": "B for {{User.UserAttributes.FirstName}}", "HtmlBody": "<p>Treatment B, {{Attributes.City}}</p>"}}}])
    run_due(env.service)

    expected = expected_mail(env.service, app_id, campaign)
    mail = received(smtp)
    assert sorted(mail) == sorted(expected)
    for address, messages in mail.items():
        assert len(messages) == 1, address
        i = int(address.removeprefix("person").partition("@")[0])
        assert messages[0]["Subject"] == f"{expected[address]} for Name{i}"
        assert f"Treatment {expected[address]}, {CITIES[i % 4]}" in messages[0].get_body(("html",)).get_content()

    runs = by_treatment(client, app_id, campaign["Id"])
    split = Counter(expected.values())
    cohort_of = cohorts(env.service, app_id)
    check_run(runs["0"], cohort_of, 50, 100, split["A"])
    check_run(runs["1"], cohort_of, 10, 50, split["B"])
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"
    check_events_and_kpis(env, campaign, runs, split)


def check_events_and_kpis(env, campaign: dict, runs: dict, split: Counter) -> None:
    client, app_id = env.client, env.app_id
    sends = events(env.service, app_id, "_campaign.send")
    assert len(sends) == sum(split.values())
    assert {s["campaign_send_status"] for s in sends} == {"SUCCESS"}
    assert {(s["treatment_id"], s["campaign_activity_id"]) for s in sends} == {
        ("0", runs["0"]["Id"]), ("1", runs["1"]["Id"])}
    assert {s["campaign_id"] for s in sends} == {campaign["Id"]} and {s["delivery_type"] for s in sends} == {"EMAIL"}
    delivered = events(env.service, app_id, "_email.delivered")
    assert len(delivered) == len(sends) and {d["campaign_id"] for d in delivered} == {campaign["Id"]}
    kpi = client.get_campaign_date_range_kpi(
        ApplicationId=app_id, CampaignId=campaign["Id"], KpiName="unique-deliveries-grouped-by-campaign-activity",
        StartTime=NOW - timedelta(hours=1), EndTime=NOW + timedelta(hours=1))["CampaignDateRangeKpiResponse"]
    assert kpi["CampaignId"] == campaign["Id"]
    rows = {r["GroupedBys"][0]["Value"]: float(r["Values"][0]["Value"]) for r in kpi["KpiResult"]["Rows"]}
    assert rows == {runs["0"]["Id"]: split["A"], runs["1"]["Id"]: split["B"]}
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_campaign_date_range_kpi(ApplicationId=app_id, CampaignId=campaign["Id"], KpiName="no-such-kpi")
