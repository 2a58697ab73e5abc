"""Controlling a run: pause and resume, a channel that cannot be reached (auto-pause), the
campaign hook (web URL and Lambda), a segment deleted under a campaign, the custom channel."""

from __future__ import annotations

import orjson
import pytest

from clarion.runtime.campaigns import audience

from ..channels.servers import HttpServer, SmtpServer, json_reply
from .conftest import make_env
from .helpers import (activities, campaign_state, create_campaign, email, email_endpoint, events, mailbox,
                      produced_balance, put_endpoints, run_due, segment)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)


class PausingSender:
    """The real sender, which pauses the campaign (through the API) as it sends the first batch."""

    def __init__(self, sender, pause):
        self.sender, self.pause, self.calls = sender, pause, 0

    def send(self, app_id, items):
        self.calls += 1
        if self.calls == 1:
            self.pause()
        return self.sender.send(app_id, items)


def test_pause_stops_a_running_run_and_resume_finishes_it(env, small_pages):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i:02d}", f"p{i}@example.com") for i in range(60)])
    start = env.clock.now().replace(microsecond=0)
    campaign = create_campaign(client, app_id, segment(client, app_id), Schedule={"StartTime": start.isoformat()})

    def pause():
        client.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"IsPaused": True})

    real = service.campaigns.sender
    service.campaigns.sender = PausingSender(real, pause)
    run_due(service)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "PAUSED" and campaign_state(client, app_id, campaign["Id"]) == "PAUSED"
    sent_before = len(mailbox(service, app_id))
    assert 0 < sent_before < 60 and run["SuccessfulEndpointCount"] == sent_before

    service.campaigns.sender = real
    resumed = client.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"],
                                     WriteCampaignRequest={"IsPaused": False})["CampaignResponse"]
    assert resumed["IsPaused"] is False
    run_due(service)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "COMPLETED" and run["SuccessfulEndpointCount"] == 60 and produced_balance(run) == 0
    assert {len(m) for m in mailbox(service, app_id).values()} == {1} and len(mailbox(service, app_id)) == 60
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"


def test_an_unreachable_mail_server_pauses_the_campaign_and_nothing_is_lost(tmp_path, small_pages):
    smtp = SmtpServer()  # its port is chosen, the server not started yet: connections are refused
    env = make_env(tmp_path, None, email_transport=f"smtp://127.0.0.1:{smtp.port}?tls=none")
    try:
        client, app_id = env.client, env.app_id
        put_endpoints(client, app_id, [email_endpoint(f"ep-{i:03d}", f"u{i}@example.com") for i in range(150)])
        campaign = create_campaign(client, app_id, segment(client, app_id))
        run_due(env.service)
        got = client.get_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignResponse"]
        assert got["State"]["CampaignStatus"] == "PAUSED" and got["IsPaused"] is True
        (run,) = activities(client, app_id, campaign["Id"])
        assert run["State"] == "PAUSED" and run["TotalEndpointCount"] == 0
        with smtp:
            client.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"],
                                   WriteCampaignRequest={"IsPaused": False})
            run_due(env.service)
            rcpts = sorted(r for m in smtp.sink.received for r in m.rcpt_tos)
        assert rcpts == sorted(f"u{i}@example.com" for i in range(150))
        (run,) = activities(client, app_id, campaign["Id"])
        assert run["State"] == "COMPLETED" and run["SuccessfulEndpointCount"] == 150 and produced_balance(run) == 0
    finally:
        env.server.stop()
        env.service.close()


def keep_even(request) -> tuple[int, dict, bytes]:
    """A FILTER hook: keeps the endpoints with an even number, and personalises them."""
    payload = orjson.loads(request.body)
    assert len(payload["Endpoints"]) <= 50 and payload["CampaignId"] and payload["TreatmentId"] == "0"
    kept = {eid: {**ep, "Attributes": {"Greeting": ["Hej"]}} for eid, ep in payload["Endpoints"].items()
            if int(eid.split("-")[1]) % 2 == 0}
    return json_reply(200, kept)


def test_a_web_hook_filters_and_personalises_the_audience(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i:03d}", f"h{i}@example.com") for i in range(120)])
    with HttpServer(keep_even) as hook:
        campaign = create_campaign(client, app_id, segment(client, app_id),
                                   MessageConfiguration=email("{{Attributes.Greeting}}!", "<p>x</p>"),
                                   Hook={"WebUrl": f"{hook.url}/filter", "Mode": "FILTER"})
        run_due(env.service)
        calls = len(hook.requests)
    sent = mailbox(env.service, app_id)
    assert sorted(sent) == sorted(f"h{i}@example.com" for i in range(0, 120, 2))
    assert {m[0]["subject"] for m in sent.values()} == {"Hej!"}
    assert calls == 3  # 120 endpoints, at most 50 per call
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ExecutionMetrics"]["FILTERED_OUT_BY_HOOK"] == "60" and produced_balance(run) == 0


def test_a_lambda_hook_is_invoked_through_boto3(env, monkeypatch):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i:03d}", f"l{i}@example.com") for i in range(6)])

    def lambda_api(request):
        assert request.path == "/2015-03-31/functions/keep-even/invocations"
        return keep_even(request)

    with HttpServer(lambda_api) as fake_lambda:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        client.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={
            "CampaignHook": {"LambdaFunctionName": "keep-even", "Mode": "FILTER"}})
        create_campaign(client, app_id, segment(client, app_id))
        run_due(env.service)
        assert len(fake_lambda.requests) == 1
    assert sorted(mailbox(env.service, app_id)) == ["l0@example.com", "l2@example.com", "l4@example.com"]


def test_a_hook_that_fails_sends_nothing_to_its_endpoints(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"f{i}@example.com") for i in range(3)])
    with HttpServer(lambda request: json_reply(500, {"error": "boom"})) as hook:
        campaign = create_campaign(client, app_id, segment(client, app_id), Hook={"WebUrl": hook.url, "Mode": "FILTER"})
        run_due(env.service)
    assert mailbox(env.service, app_id) == {}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ExecutionMetrics"]["HOOK_FAILURE"] == "3" and run["State"] == "COMPLETED"


def test_deleting_the_segment_deletes_the_campaign_at_its_run(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint("ep-1", "gone@example.com")])
    audience_id = segment(client, app_id)
    campaign = create_campaign(client, app_id, audience_id)
    client.delete_segment(ApplicationId=app_id, SegmentId=audience_id)
    run_due(env.service)
    assert campaign_state(client, app_id, campaign["Id"]) == "DELETED"
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "CANCELLED" and run["Result"] == "FAIL"
    assert mailbox(env.service, app_id) == {}


def test_the_custom_channel_gets_its_endpoint_types_50_at_a_time(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [{"Id": f"ep-{i:03d}", "Address": f"token{i:040d}", "ChannelType": "GCM"}
                                   for i in range(70)] + [email_endpoint("ep-mail", "mail@example.com")])
    with HttpServer(lambda request: json_reply(200, {})) as hook:
        campaign = create_campaign(client, app_id, segment(client, app_id),
                                   MessageConfiguration={"CustomMessage": {"Data": "sale-{{Address}}"}},
                                   CustomDeliveryConfiguration={"DeliveryUri": f"{hook.url}/deliver",
                                                                "EndpointTypes": ["GCM"]})
        run_due(env.service)
        payloads = [orjson.loads(r.body) for r in hook.requests]
    assert sorted(len(p["Endpoints"]) for p in payloads) == [20, 50]
    (run,) = activities(client, app_id, campaign["Id"])
    assert {p["CampaignId"] for p in payloads} == {campaign["Id"]} and {p["ActivityId"] for p in payloads} == {run["Id"]}
    assert sorted(e for p in payloads for e in p["Endpoints"]) == [f"ep-{i:03d}" for i in range(70)]
    assert run["SuccessfulEndpointCount"] == 70 and run["ExecutionMetrics"]["ENDPOINT_CHANNEL_MISMATCH"] == "1"
    sends = events(env.service, app_id, "_campaign.send")
    assert len(sends) == 70 and {s["delivery_type"] for s in sends} == {"CUSTOM"}


class CrashingSender:
    """The real sender, except that one call fails before sending anything (a worker dying)."""

    def __init__(self, sender, fail_on: int):
        self.sender, self.fail_on, self.calls = sender, fail_on, 0

    def send(self, app_id, items):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the worker died here")
        return self.sender.send(app_id, items)


def test_a_failed_run_resumes_from_its_last_page_and_sends_each_message_once(env, small_pages, monkeypatch):
    from clarion.runtime.campaigns import pipeline

    monkeypatch.setattr(pipeline, "SEND_BATCH", 5)
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i:02d}", f"r{i}@example.com") for i in range(60)])
    campaign = create_campaign(client, app_id, segment(client, app_id))
    real = service.campaigns.sender
    service.campaigns.sender = CrashingSender(real, fail_on=5)
    run_due(service)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "RUNNING" and 0 < len(mailbox(service, app_id)) < 60
    service.campaigns.sender = real
    env.clock.advance(minutes=1)  # the job's retry is due
    run_due(service)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "COMPLETED" and run["SuccessfulEndpointCount"] == 60 and produced_balance(run) == 0
    sent = mailbox(service, app_id)
    assert len(sent) == 60 and {len(m) for m in sent.values()} == {1}
    assert len(events(service, app_id, "_campaign.send")) == 60


class BrokenSender:
    def send(self, app_id, items):
        raise RuntimeError("the transport blew up")


def test_a_run_that_fails_every_attempt_ends_as_a_failed_activity(env, caplog):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"r{i}@example.com") for i in range(3)])
    campaign = create_campaign(client, app_id, segment(client, app_id))
    service.campaigns.sender = BrokenSender()
    for _ in range(8):  # every retry, each once its backoff is due
        run_due(service)
        env.clock.advance(minutes=10)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "COMPLETED" and run["Result"] == "FAIL" and "End" in run
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"  # not EXECUTING for ever
    assert "gave up after" in caplog.text and "the transport blew up" in caplog.text
