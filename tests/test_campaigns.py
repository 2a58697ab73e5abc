"""Campaign operations and the scheduler, through boto3, with a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clarion.clock import FixedClock
from clarion.domain import schedule as sched
from clarion.runtime.scheduler import tick
from clarion.service import build

from .conftest import LiveServer, make_settings

NOW = datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)
EMAIL = {"EmailMessage": {"Title": "Hello", "HtmlBody": "<p>Hi {{User.UserId}}</p>", "FromAddress": "a@b.c"}}


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def env(tmp_path, database_url, clock):
    service = build(make_settings(tmp_path, database_url), clock=clock)
    server = LiveServer(service).start()
    service.scheduler.stop()  # the tests tick it themselves, with the fixed clock,
    service.workers.stop()  # and look at runs before any worker takes them
    client = server.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "campaigns"})["ApplicationResponse"]["Id"]
    segment_id = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "all", "Dimensions": {}})["SegmentResponse"]["Id"]
    yield service, client, app_id, segment_id
    server.stop()
    service.close()


def create(client, app_id, segment_id, **request):
    body = {"Name": "c", "SegmentId": segment_id, "MessageConfiguration": EMAIL,
            "Schedule": {"StartTime": "IMMEDIATE"}, **request}
    response = client.create_campaign(ApplicationId=app_id, WriteCampaignRequest=body)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    return response["CampaignResponse"]


def activities(client, app_id, campaign_id):
    return client.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)["ActivitiesResponse"]["Item"]


def test_create_has_pinpoints_defaults(env):
    service, client, app_id, segment_id = env
    campaign = create(client, app_id, segment_id, tags={"team": "crm"})
    assert campaign["State"] == {"CampaignStatus": "SCHEDULED"} and campaign["Version"] == 1
    assert campaign["HoldoutPercent"] == 0 and campaign["IsPaused"] is False and campaign["Limits"] == {}
    assert campaign["AdditionalTreatments"] == [] and campaign["SegmentVersion"] == 1
    assert campaign["Schedule"] == {"IsLocalTime": False, "StartTime": "IMMEDIATE", "Timezone": "UTC",
                                    "Frequency": "ONCE"}
    assert campaign["CreationDate"] == campaign["LastModifiedDate"] and campaign["tags"] == {"team": "crm"}
    assert campaign["Arn"].endswith(f"apps/{app_id}/campaigns/{campaign['Id']}")


@pytest.mark.parametrize("request_body,message", [
    ({"Schedule": {"StartTime": "2026-06-30T00:00:00Z"}}, "StartTime must be at least current time."),
    ({"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "DAILY"}}, "EndTime is required"),
    ({"HoldoutPercent": 60, "AdditionalTreatments": [{"SizePercent": 50, "MessageConfiguration": EMAIL}]},
     "must not exceed 100"),
    ({"AdditionalTreatments": [{"SizePercent": 10}] * 5}, "at most 5 treatments"),
    ({"Schedule": {"StartTime": "IMMEDIATE", "QuietTime": {"Start": "25:00", "End": "07:00"}}}, "HH:MM"),
    ({"SegmentId": "f" * 32}, "not found"),
])
def test_invalid_campaigns_are_refused(env, request_body, message):
    service, client, app_id, segment_id = env
    with pytest.raises(client.exceptions.ClientError) as err:
        create(client, app_id, segment_id, **request_body)
    assert message in err.value.response["Error"]["Message"]
    assert client.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"] == []


def test_an_immediate_campaign_gets_one_activity_per_treatment_once(env):
    service, client, app_id, segment_id = env
    campaign = create(client, app_id, segment_id, HoldoutPercent=10,
                      AdditionalTreatments=[{"SizePercent": 30, "MessageConfiguration": EMAIL,
                                             "TreatmentName": "B"}])
    assert [t["Id"] for t in campaign["AdditionalTreatments"]] == ["1"]
    tick(service)
    tick(service)  # a second tick adds nothing
    runs = activities(client, app_id, campaign["Id"])
    assert sorted(a["TreatmentId"] for a in runs) == ["0", "1"]
    assert {a["State"] for a in runs} == {"PENDING"}
    got = client.get_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignResponse"]
    assert got["State"]["CampaignStatus"] == "EXECUTING"


def test_a_daily_campaign_runs_each_day_until_its_end(env, clock):
    service, client, app_id, segment_id = env
    start = NOW + timedelta(hours=1)
    campaign = create(client, app_id, segment_id, Schedule={
        "StartTime": start.isoformat(), "EndTime": (start + timedelta(days=3)).isoformat(), "Frequency": "DAILY"})
    tick(service)
    assert activities(client, app_id, campaign["Id"]) == []
    for day in range(4):
        clock.moment = start + timedelta(days=day, minutes=1)
        tick(service)
    starts = sorted(a["ScheduledStart"] for a in activities(client, app_id, campaign["Id"]))
    assert starts == [(start + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for d in range(3)]


def test_versions_pause_and_delete(env):
    service, client, app_id, segment_id = env
    start = (NOW + timedelta(days=1)).isoformat()
    campaign = create(client, app_id, segment_id, Schedule={"StartTime": start})
    paused = client.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={
        "IsPaused": True})["CampaignResponse"]
    assert paused["State"]["CampaignStatus"] == "PAUSED" and paused["Version"] == 2
    resumed = client.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={
        "IsPaused": False, "Name": "renamed"})["CampaignResponse"]
    assert resumed["State"]["CampaignStatus"] == "SCHEDULED" and resumed["Name"] == "renamed"
    versions = client.get_campaign_versions(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignsResponse"]
    assert [v["Version"] for v in versions["Item"]] == [3, 2, 1]
    v1 = client.get_campaign_version(ApplicationId=app_id, CampaignId=campaign["Id"], Version="1")
    assert v1["CampaignResponse"]["Name"] == "c"
    client.delete_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])


def test_quiet_time_and_local_time_rules():
    paris = sched.zone("Europe/Paris")
    night = datetime(2026, 7, 1, 21, 30, tzinfo=timezone.utc)  # 23:30 in Paris
    assert sched.in_quiet_time({"Start": "22:00", "End": "07:00"}, paris, night)
    assert not sched.in_quiet_time({"Start": "22:00", "End": "07:00"}, None, night)  # no zone: send
    assert not sched.in_quiet_time({"Start": "08:00", "End": "20:00"}, paris, night)
    assert sched.zone("Not/AZone") is None
    nine_local = sched.local_send_time(datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc), paris)
    assert nine_local == datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)
    assert sched.step(datetime(2026, 1, 31, tzinfo=timezone.utc), "MONTHLY", 1).day == 28


def test_campaign_and_segment_arns_are_taggable_only_while_they_exist(env):
    service, client, app_id, segment_id = env
    campaign = create(client, app_id, segment_id)
    segment_arn = client.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]["Arn"]
    for arn in (campaign["Arn"], segment_arn):
        client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"owner": "crm"}})
        assert client.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"owner": "crm"}
    client.delete_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])
    with pytest.raises(client.exceptions.NotFoundException):
        client.tag_resource(ResourceArn=campaign["Arn"], TagsModel={"tags": {"owner": "crm"}})
    with pytest.raises(client.exceptions.NotFoundException):
        client.tag_resource(ResourceArn=segment_arn.replace(segment_id, "f" * 32), TagsModel={"tags": {"a": "b"}})
