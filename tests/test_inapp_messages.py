"""GetInAppMessages through boto3: who gets which in-app campaign, with its caps and priority."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from clarion.clock import FixedClock, iso

NOW = datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)
START, END = NOW + timedelta(minutes=20), NOW + timedelta(days=7)
BANNER = {"Layout": "TOP_BANNER", "Content": [{
    "BackgroundColor": "#FFFFFF",
    "BodyConfig": {"Alignment": "LEFT", "Body": "Welcome back", "TextColor": "#000000"},
    "PrimaryBtn": {"DefaultConfig": {"ButtonAction": "CLOSE", "Text": "OK"}}}],
    "CustomConfig": {"screen": "home"}}
ON_SESSION = {"FilterType": "SYSTEM", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE",
                                                                    "Values": ["_session.start"]}}}


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def env(timed_server):
    client = timed_server.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "inapp"})["ApplicationResponse"]["Id"]
    segment_id = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "ios", "Dimensions": {"Demographic": {"Platform": {"Values": ["ios"]}}}})["SegmentResponse"]["Id"]
    return client, app_id, segment_id


def endpoint(client, app_id, endpoint_id, channel="IN_APP", platform="ios", **extra):
    client.update_endpoint(ApplicationId=app_id, EndpointId=endpoint_id, EndpointRequest={
        "ChannelType": channel, "Address": f"{endpoint_id}@example.com" if channel == "EMAIL" else f"device-token-{endpoint_id}",
        "Demographic": {"Platform": platform}, **extra})
    return int(client.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]["CohortId"])


def campaign(client, app_id, segment_id, message=BANNER, **request):
    body = {"Name": "welcome", "SegmentId": segment_id, "MessageConfiguration": {"InAppMessage": message},
            "Schedule": {"StartTime": iso(START), "EndTime": iso(END), "Frequency": "IN_APP_EVENT",
                         "EventFilter": ON_SESSION}, **request}
    return client.create_campaign(ApplicationId=app_id, WriteCampaignRequest=body)["CampaignResponse"]


def messages(client, app_id, endpoint_id):
    response = client.get_in_app_messages(ApplicationId=app_id, EndpointId=endpoint_id)
    return response["InAppMessagesResponse"]["InAppMessageCampaigns"]


def test_an_in_app_endpoint_in_the_segment_gets_the_campaign_with_its_caps(env, clock):
    client, app_id, segment_id = env
    endpoint(client, app_id, "phone")
    made = campaign(client, app_id, segment_id, Priority=2,
                    Limits={"Daily": 2, "Session": 1, "Total": 5},
                    )
    assert messages(client, app_id, "phone") == []  # not started yet
    clock.advance(minutes=30)
    [entry] = messages(client, app_id, "phone")
    assert entry["CampaignId"] == made["Id"] and entry["TreatmentId"] == "0" and entry["Priority"] == 2
    assert (entry["DailyCap"], entry["SessionCap"], entry["TotalCap"]) == (2, 1, 5)
    assert entry["InAppMessage"] == BANNER
    assert entry["Schedule"] == {"EndDate": iso(END), "EventFilter": ON_SESSION}
    clock.advance(days=8)
    assert messages(client, app_id, "phone") == []  # ended


def test_only_reachable_in_app_endpoints_of_the_segment_get_anything(env, clock):
    client, app_id, segment_id = env
    endpoint(client, app_id, "phone")
    endpoint(client, app_id, "mail", channel="EMAIL")
    endpoint(client, app_id, "android", platform="android")
    endpoint(client, app_id, "opted-out", OptOut="ALL")
    endpoint(client, app_id, "inactive", EndpointStatus="INACTIVE")
    campaign(client, app_id, segment_id)
    clock.advance(minutes=30)
    assert [e["TreatmentId"] for e in messages(client, app_id, "phone")] == ["0"]
    for other in ("mail", "android", "opted-out", "inactive"):
        assert messages(client, app_id, other) == [], other
    entry = messages(client, app_id, "phone")[0]
    assert (entry["DailyCap"], entry["SessionCap"], entry["TotalCap"]) == (0, 0, 0)  # 0: no cap
    assert "Priority" not in entry


def test_the_cohort_picks_the_treatment_and_the_holdout_gets_nothing(env, clock):
    client, app_id, segment_id = env
    cohorts = {f"device-{n}": endpoint(client, app_id, f"device-{n}") for n in range(40)}
    treated = dict(BANNER, Layout="BOTTOM_BANNER")
    made = campaign(client, app_id, segment_id, HoldoutPercent=20, AdditionalTreatments=[
        {"SizePercent": 40, "MessageConfiguration": {"InAppMessage": treated}}])
    treatment_id = made["AdditionalTreatments"][0]["Id"]
    clock.advance(minutes=30)
    for endpoint_id, cohort in cohorts.items():
        got = messages(client, app_id, endpoint_id)
        if cohort < 20:  # HoldoutPercent 20: cohorts 0-19 hear nothing
            assert got == [], (endpoint_id, cohort)
        elif cohort < 60:  # the additional treatment takes the next 40 cohorts
            assert [(e["TreatmentId"], e["InAppMessage"]["Layout"]) for e in got] == [(treatment_id, "BOTTOM_BANNER")]
        else:
            assert [(e["TreatmentId"], e["InAppMessage"]["Layout"]) for e in got] == [("0", "TOP_BANNER")]


def test_most_important_first_and_paused_campaigns_are_left_out(env, clock):
    client, app_id, segment_id = env
    endpoint(client, app_id, "phone")
    low = campaign(client, app_id, segment_id, Name="low", Priority=5)
    high = campaign(client, app_id, segment_id, Name="high", Priority=1)
    none = campaign(client, app_id, segment_id, Name="unranked")
    paused = campaign(client, app_id, segment_id, Name="paused", Priority=1, IsPaused=True)
    clock.advance(minutes=30)
    assert [e["CampaignId"] for e in messages(client, app_id, "phone")] == [high["Id"], low["Id"], none["Id"]]
    assert paused["Id"] not in [e["CampaignId"] for e in messages(client, app_id, "phone")]


def test_a_campaign_may_take_its_content_from_an_in_app_template(env, clock):
    client, app_id, segment_id = env
    endpoint(client, app_id, "phone")
    client.create_in_app_template(TemplateName="promo", InAppTemplateRequest={
        "Layout": "MIDDLE_BANNER", "Content": BANNER["Content"], "CustomConfig": {"from": "template"}})
    body = {"Name": "templated", "SegmentId": segment_id, "TemplateConfiguration": {"InAppTemplate": {"Name": "promo"}},
            "Schedule": {"StartTime": iso(START), "EndTime": iso(END), "Frequency": "IN_APP_EVENT",
                         "EventFilter": ON_SESSION}}
    client.create_campaign(ApplicationId=app_id, WriteCampaignRequest=body)
    clock.advance(minutes=30)
    [entry] = messages(client, app_id, "phone")
    assert entry["InAppMessage"] == {"Layout": "MIDDLE_BANNER", "Content": BANNER["Content"],
                                     "CustomConfig": {"from": "template"}}


def test_unknown_endpoints_and_apps_are_404(env):
    client, app_id, _ = env
    for app, endpoint_id in ((app_id, "nobody"), ("0" * 32, "phone")):
        with pytest.raises(ClientError) as error:
            client.get_in_app_messages(ApplicationId=app, EndpointId=endpoint_id)
        assert error.value.response["Error"]["Code"] == "NotFoundException"


def test_the_server_sends_nothing_when_an_in_app_campaigns_event_happens(env, clock, timed_server):
    client, app_id, segment_id = env
    endpoint(client, app_id, "phone")
    on_app_session = {**ON_SESSION, "FilterType": "ENDPOINT"}  # the app's own events
    campaign(client, app_id, segment_id, Schedule={"StartTime": iso(START), "EndTime": iso(END),
                                                   "Frequency": "IN_APP_EVENT", "EventFilter": on_app_session})
    clock.advance(minutes=30)
    client.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {"phone": {"Endpoint": {}, "Events": {
        "s1": {"EventType": "_session.start", "Timestamp": iso(clock.now())}}}}})
    from sqlalchemy import func, select

    from clarion.runtime.campaigns.triggers import JOB_KIND
    from clarion.store.schema import jobs

    with timed_server.service.store.read() as conn:  # PutEvents enqueues a trigger before its 202
        assert conn.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == JOB_KIND)).scalar() == 0
    assert [e["TreatmentId"] for e in messages(client, app_id, "phone")] == ["0"]  # the app shows it itself
