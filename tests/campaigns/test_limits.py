"""Caps across campaigns, duplicate addresses, the send rate."""

from __future__ import annotations

from datetime import timedelta

from clarion.runtime.campaigns.pacing import RateLimiter

from .helpers import (activities, create_campaign, email, email_endpoint, mailbox, produced_balance, put_endpoints,
                      run_due, segment)


def sent_counts(env) -> dict[str, int]:
    return {address: len(messages) for address, messages in mailbox(env.service, env.app_id).items()}


def test_the_apps_daily_cap_counts_every_campaign(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"c{i}@example.com") for i in range(4)])
    client.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}})
    audience = segment(client, app_id)
    first = create_campaign(client, app_id, audience, Name="first")
    run_due(env.service)
    env.clock.advance(hours=2)
    second = create_campaign(client, app_id, audience, Name="second")
    run_due(env.service)
    assert sent_counts(env) == {f"c{i}@example.com": 1 for i in range(4)}
    (run,) = activities(client, app_id, second["Id"])
    assert run["ExecutionMetrics"]["DAILY_CAP"] == "4" and run["TotalEndpointCount"] == 0
    assert produced_balance(run) == 0
    env.clock.advance(hours=23)  # the first campaign's messages are more than a day old now
    third = create_campaign(client, app_id, audience, Name="third")
    run_due(env.service)
    assert sent_counts(env) == {f"c{i}@example.com": 2 for i in range(4)}
    assert activities(client, app_id, third["Id"])[0]["SuccessfulEndpointCount"] == 4
    assert activities(client, app_id, first["Id"])[0]["SuccessfulEndpointCount"] == 4


def test_campaign_total_and_daily_caps_over_recurring_runs(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"r{i}@example.com") for i in range(3)])
    start = env.clock.now() + timedelta(minutes=5)
    campaign = create_campaign(client, app_id, segment(client, app_id), Limits={"Total": 2, "Daily": 1},
                               Schedule={"StartTime": start.isoformat(), "Frequency": "HOURLY",
                                         "EndTime": (start + timedelta(days=3)).isoformat()})
    for moment in (start, start + timedelta(hours=1), start + timedelta(days=1), start + timedelta(days=2)):
        env.clock.moment = moment
        run_due(env.service)
    runs = sorted(activities(client, app_id, campaign["Id"]), key=lambda a: a["ScheduledStart"])
    assert [r["SuccessfulEndpointCount"] for r in runs] == [3, 0, 3, 0]
    assert runs[1]["ExecutionMetrics"]["DAILY_CAP"] == "3" and runs[3]["ExecutionMetrics"]["TOTAL_CAP"] == "3"
    assert sent_counts(env) == {f"r{i}@example.com": 2 for i in range(3)}


def test_one_message_per_address_per_run(env):
    client, app_id = env.client, env.app_id
    # The same mailbox under two spellings: two active endpoints, one message.
    put_endpoints(client, app_id, [email_endpoint("ep-a", "Ann@Example.com"), email_endpoint("ep-b", "ann@example.com"),
                                   email_endpoint("ep-c", "carl@example.com")])
    campaign = create_campaign(client, app_id, segment(client, app_id), MessageConfiguration=email("Hi", "<p>x</p>"))
    run_due(env.service)
    assert sum(sent_counts(env).values()) == 2
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ExecutionMetrics"]["DUPLICATE_ENDPOINT"] == "1" and run["SuccessfulEndpointCount"] == 2


def test_rate_limiter_paces_batches_evenly():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(100, monotonic=lambda: now[0], sleep=sleep)
    assert limiter.batch_size(500) == 10
    for _ in range(30):  # 300 messages at 100/s: the last batch starts 2.9 s after the first
        limiter.acquire(10)
    assert abs(now[0] - 2.9) < 1e-9 and len(slept) == 29
    now[0] += 60  # idle for a minute: up to a second of unused rate goes at once, then the pace again
    slept.clear()
    for _ in range(11):  # a second's worth, and the slot starting now
        limiter.acquire(10)
    assert slept == []
    limiter.acquire(10)
    assert len(slept) == 1 and abs(slept[0] - 0.1) < 1e-9
