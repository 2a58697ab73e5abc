"""When a campaign sends, with an injected clock: recurring runs, each endpoint's local time,
quiet time (dropped, not deferred), treatments with their own schedule, MaximumDuration."""

from __future__ import annotations

from datetime import timedelta

from .conftest import NOW
from .helpers import (activities, by_treatment, campaign_state, create_campaign, email, email_endpoint, events,
                      mailbox, produced_balance, put_endpoints, run_due, segment)


def stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_daily_campaign_sends_each_run_and_completes_after_the_last(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"d{i}@example.com") for i in range(5)])
    start = NOW + timedelta(hours=1)
    campaign = create_campaign(client, app_id, segment(client, app_id), MessageConfiguration=email(
        "News", "<p>Daily</p>"), Schedule={"StartTime": start.isoformat(), "Frequency": "DAILY",
                                          "EndTime": (start + timedelta(days=2, hours=1)).isoformat()})
    run_due(env.service)
    assert mailbox(env.service, app_id) == {}
    for day in range(3):
        env.clock.moment = start + timedelta(days=day, minutes=1)
        run_due(env.service)
        assert {len(m) for m in mailbox(env.service, app_id).values()} == {day + 1}
        expected = "COMPLETED" if day == 2 else "PENDING_NEXT_RUN"
        assert campaign_state(client, app_id, campaign["Id"]) == expected
    runs = activities(client, app_id, campaign["Id"])
    assert sorted(r["ScheduledStart"] for r in runs) == [stamp(start + timedelta(days=d)) for d in range(3)]
    assert all(r["State"] == "COMPLETED" and r["SuccessfulEndpointCount"] == 5 for r in runs)


ZONES = {"tokyo": "Asia/Tokyo", "paris": "Europe/Paris", "newyork": "America/New_York",
         "nozone": None, "badzone": "Mars/Olympus_Mons"}


def test_local_time_sends_each_zone_at_its_own_start(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [
        email_endpoint(f"ep-{name}", f"{name}@example.com", **({"Demographic": {"Timezone": zone}} if zone else {}))
        for name, zone in ZONES.items()])
    nominal = NOW.replace(hour=9) + timedelta(days=1)  # 09:00 tomorrow, in each endpoint's zone
    campaign = create_campaign(client, app_id, segment(client, app_id), Schedule={
        "StartTime": nominal.isoformat(), "IsLocalTime": True, "Timezone": "UTC"})
    # 09:00 in Tokyo (UTC+9) is 00:00 UTC; in Paris (UTC+2 in July) 07:00 UTC; in New York (UTC-4) 13:00 UTC.
    waves = [(nominal - timedelta(hours=9), {"tokyo"}), (nominal - timedelta(hours=2), {"tokyo", "paris"}),
             (nominal + timedelta(hours=4), {"tokyo", "paris", "newyork"})]
    env.clock.moment = nominal - timedelta(hours=14)  # the earliest zone's lead: the run opens
    run_due(env.service)
    assert mailbox(env.service, app_id) == {}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "RUNNING" and run["ExecutionMetrics"]["ENDPOINT_MISSING_TIMEZONE"] == "2"
    for moment, reached in waves:
        env.clock.moment = moment - timedelta(minutes=1)
        run_due(env.service)  # not yet
        env.clock.moment = moment
        run_due(env.service)
        assert set(mailbox(env.service, app_id)) == {f"{name}@example.com" for name in reached}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "COMPLETED" and run["SuccessfulEndpointCount"] == 3
    assert run["TimezonesTotalCount"] == run["TimezonesCompletedCount"] == 3
    assert produced_balance(run) == 0 and run["ExecutionMetrics"]["ENDPOINT_PRODUCED"] == "5"
    assert {len(m) for m in mailbox(env.service, app_id).values()} == {1}
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"


def test_quiet_time_drops_messages_where_it_is_night(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [
        email_endpoint("ep-tokyo", "tokyo@example.com", Demographic={"Timezone": "Asia/Tokyo"}),  # 18:00 local
        email_endpoint("ep-la", "la@example.com", Demographic={"Timezone": "America/Los_Angeles"}),  # 02:00 local
        email_endpoint("ep-none", "none@example.com")])
    quiet = {"Start": "22:00", "End": "07:00"}
    first = create_campaign(client, app_id, segment(client, app_id), Schedule={
        "StartTime": "IMMEDIATE", "QuietTime": quiet})
    run_due(env.service)
    assert set(mailbox(env.service, app_id)) == {"tokyo@example.com", "none@example.com"}
    (run,) = activities(client, app_id, first["Id"])
    assert run["ExecutionMetrics"]["QUIET_TIME"] == "1" and run["SuccessfulEndpointCount"] == 2
    assert produced_balance(run) == 0

    # The app's quiet time applies to a campaign without one; nothing is sent later either.
    client.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={
        "QuietTime": {"Start": "01:00", "End": "19:00"}})
    second = create_campaign(client, app_id, segment(client, app_id, name="again"))
    run_due(env.service)
    env.clock.advance(hours=12)
    run_due(env.service)
    (run,) = activities(client, app_id, second["Id"])
    assert run["ExecutionMetrics"]["QUIET_TIME"] == "2" and run["SuccessfulEndpointCount"] == 1
    assert {a: len(m) for a, m in mailbox(env.service, app_id).items()} == {
        "tokyo@example.com": 1, "none@example.com": 2}


def test_a_treatment_with_its_own_schedule_runs_at_its_own_time(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"t{i}@example.com") for i in range(60)])
    later = NOW + timedelta(hours=5)
    campaign = create_campaign(client, app_id, segment(client, app_id), AdditionalTreatments=[{
        "SizePercent": 50, "MessageConfiguration": email("Later", "<p>B</p>"),
        "Schedule": {"StartTime": later.isoformat()}}])
    run_due(env.service)
    runs = by_treatment(client, app_id, campaign["Id"])
    assert set(runs) == {"0"} and runs["0"]["State"] == "COMPLETED"
    assert campaign_state(client, app_id, campaign["Id"]) == "PENDING_NEXT_RUN"
    sent_first = sum(len(m) for m in mailbox(env.service, app_id).values())
    assert sent_first == runs["0"]["SuccessfulEndpointCount"] > 0
    env.clock.moment = later
    run_due(env.service)
    runs = by_treatment(client, app_id, campaign["Id"])
    assert runs["1"]["ScheduledStart"] == stamp(later) and runs["1"]["State"] == "COMPLETED"
    subjects = [m["subject"] for msgs in mailbox(env.service, app_id).values() for m in msgs]
    assert subjects.count("Later") == runs["1"]["SuccessfulEndpointCount"] == 60 - sent_first
    assert len(subjects) == 60
    assert campaign_state(client, app_id, campaign["Id"]) == "COMPLETED"


def test_maximum_duration_expires_what_could_not_go_in_time(env):
    client, app_id = env.client, env.app_id
    put_endpoints(client, app_id, [email_endpoint(f"ep-{i}", f"x{i}@example.com") for i in range(3)])
    start = NOW + timedelta(minutes=10)
    campaign = create_campaign(client, app_id, segment(client, app_id), Limits={"MaximumDuration": 60},
                               Schedule={"StartTime": start.isoformat()})
    env.clock.moment = start + timedelta(minutes=5)  # the workers were down: the run starts late
    run_due(env.service)
    assert mailbox(env.service, app_id) == {}
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["ExecutionMetrics"]["EXPIRED"] == "3" and run["TotalEndpointCount"] == 0
    assert {e["campaign_send_status"] for e in events(env.service, app_id, "_campaign.send")} == {"EXPIRED"}
