"""EVENT campaigns: a PutEvents event that matches the filter sends the campaign's message to
its endpoint (if it is in the segment); a service event (SYSTEM) can start one too."""

from __future__ import annotations

from datetime import timedelta

from clarion.runtime.scheduler import tick

from .conftest import NOW
from .helpers import (activities, campaign_state, create_campaign, email, email_endpoint, mailbox, put_endpoints,
                      run_due, segment)

PURCHASE = {"FilterType": "ENDPOINT", "Dimensions": {
    "EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
    "Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["pro", "team"]}},
    "Metrics": {"amount": {"ComparisonOperator": "GREATER_THAN", "Value": 10}}}}


def put_event(env, endpoint_id: str, event_id: str, event_type: str = "purchase", plan: str = "pro",
              amount: float = 20.0) -> None:
    answer = env.client.put_events(ApplicationId=env.app_id, EventsRequest={"BatchItem": {endpoint_id: {
        "Endpoint": {}, "Events": {event_id: {
            "EventType": event_type, "Timestamp": env.clock.now().isoformat(),
            "Attributes": {"plan": plan}, "Metrics": {"amount": amount}}}}}})
    assert answer["EventsResponse"]["Results"][endpoint_id]["EventsItemResponse"][event_id]["StatusCode"] == 202


def event_campaign(env, segment_id: str, event_filter: dict, **request) -> dict:
    return create_campaign(env.client, env.app_id, segment_id, Schedule={
        "StartTime": "IMMEDIATE", "Frequency": "EVENT", "EndTime": (NOW + timedelta(days=2)).isoformat(),
        "EventFilter": event_filter}, **request)


def sent_to(env) -> dict[str, int]:
    return {address: len(messages) for address, messages in mailbox(env.service, env.app_id).items()}


def test_a_matching_event_sends_to_its_endpoint_once(env):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [
        email_endpoint("ep-paris", "paris@example.com", Attributes={"City": ["Paris"]}),
        email_endpoint("ep-oslo", "oslo@example.com", Attributes={"City": ["Oslo"]})])
    parisians = segment(client, app_id, {"Attributes": {"City": {"AttributeType": "INCLUSIVE", "Values": ["Paris"]}}})
    campaign = event_campaign(env, parisians, PURCHASE, MessageConfiguration=email("Thanks", "<p>Receipt</p>"))
    assert tick(service) == 0  # nothing to schedule: events start it

    put_event(env, "ep-paris", "e1", plan="free")  # attribute does not match
    put_event(env, "ep-paris", "e2", event_type="view")  # type does not match
    put_event(env, "ep-paris", "e3", amount=5)  # metric does not match
    run_due(service)
    assert sent_to(env) == {}

    put_event(env, "ep-paris", "e4")
    put_event(env, "ep-oslo", "e5")  # matches, but Oslo is not in the segment
    run_due(service)
    assert sent_to(env) == {"paris@example.com": 1}
    put_event(env, "ep-paris", "e4")  # the client sends the same event again: no second message
    run_due(service)
    assert sent_to(env) == {"paris@example.com": 1}

    env.clock.advance(minutes=10)
    put_event(env, "ep-paris", "e6", plan="team")
    run_due(service)
    assert sent_to(env) == {"paris@example.com": 2}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ScheduledStart"] == "2026-07-01T00:00:00.000Z" and run["SuccessfulEndpointCount"] == 2
    assert run["ExecutionMetrics"]["FILTERED_OUT_BY_SEGMENT"] == "1"
    assert campaign_state(client, app_id, campaign["Id"]) == "SCHEDULED"


def test_what_cannot_go_within_five_minutes_is_dropped(env):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint("ep-1", "late@example.com")])
    campaign = event_campaign(env, segment(client, app_id), PURCHASE)
    put_event(env, "ep-1", "e1")
    env.clock.advance(minutes=6)  # the workers were busy elsewhere
    run_due(service)
    assert sent_to(env) == {}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ExecutionMetrics"]["EXPIRED"] == "1"


def test_an_event_campaign_outside_its_window_does_nothing_and_completes_at_its_end(env):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint("ep-1", "w@example.com")])
    campaign = event_campaign(env, segment(client, app_id), PURCHASE)
    env.clock.moment = NOW + timedelta(days=3)
    put_event(env, "ep-1", "e1")
    run_due(service)
    assert sent_to(env) == {}
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"


def test_a_system_event_can_start_a_campaign(env):
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"s{i}@example.com") for i in range(3)])
    everyone = segment(client, app_id)
    follow_up = event_campaign(env, everyone, {"FilterType": "SYSTEM", "Dimensions": {
        "EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.delivered"]}}},
        MessageConfiguration=email("Did you like it?", "<p>Survey</p>"))
    create_campaign(client, app_id, everyone, MessageConfiguration=email("Welcome", "<p>Hi</p>"))
    run_due(service)
    subjects = sorted(m["subject"] for messages in mailbox(service, app_id).values() for m in messages)
    assert subjects == ["Did you like it?"] * 3 + ["Welcome"] * 3  # the follow-up does not follow itself up
    (run,) = activities(client, app_id, follow_up["Id"])
    assert run["SuccessfulEndpointCount"] == 3

