"""What a run leaves behind for each endpoint: its `campaign_deliveries` row (written and read a
page at a time with driver-level statements) and its events (`_campaign.send` written in the
same line as the channel's events), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

from clarion.store import campaign_deliveries as deliveries

from .helpers import activities, create_campaign, email_endpoint, put_endpoints, run_due, segment


def test_a_failed_message_has_its_status_in_every_record(env):
    """One endpoint's mail bounces (the sandbox's simulator address): its delivery row, its
    `_campaign.send` and its channel events all say so, and share one message id."""
    client, app_id, service = env.client, env.app_id, env.service
    put_endpoints(client, app_id, [email_endpoint("ep-ok", "ok@example.com"),
                                   email_endpoint("ep-bounce", "bounce@simulator.amazonses.com")])
    campaign = create_campaign(client, app_id, segment(client, app_id))
    run_due(service)
    (run,) = activities(client, app_id, campaign["Id"])
    assert run["State"] == "COMPLETED" and run["SuccessfulEndpointCount"] == 1 and run["TotalEndpointCount"] == 2
    with service.store.read() as conn:
        assert deliveries.count_by_status(conn, run["Id"]) == {"SUCCESSFUL": 1, "PERMANENT_FAILURE": 1}
    rows = service.events.query(
        "SELECT endpoint_id, event_type, attributes['message_id'], attributes['campaign_send_status'], "
        "attributes['campaign_activity_id'] FROM events WHERE app_id = ?", [app_id])
    by_endpoint = defaultdict(dict)
    for endpoint_id, event_type, message_id, status, activity in rows:
        assert activity == run["Id"]
        by_endpoint[endpoint_id][event_type] = (message_id, status)
    assert set(by_endpoint["ep-ok"]) == {"_campaign.send", "_email.send", "_email.delivered"}
    assert set(by_endpoint["ep-bounce"]) == {"_campaign.send", "_email.send", "_email.hardbounce"}
    assert by_endpoint["ep-ok"]["_campaign.send"][1] == "SUCCESS"
    assert by_endpoint["ep-bounce"]["_campaign.send"][1] == "PERMANENT_FAILURE"
    for events in by_endpoint.values():
        assert len({message_id for message_id, _ in events.values()}) == 1  # one message, one id


def test_page_statements_split_long_lists(service, monkeypatch):
    """Lists longer than a statement takes (SQLite's parameter limit) go in several statements
    with the same answers."""
    monkeypatch.setattr(deliveries, "LIST_CHUNK", 7)
    keys = [f"ep-{i:03d}" for i in range(30)]
    rows = [("act-1", key, "", "app", "camp", f"EMAIL:{key}@example.com", deliveries.PENDING,
             "2026-07-01T09:00:00.000Z") for key in keys]
    rows.append(("act-2", "ep-000", "", "app", "camp", "EMAIL:ep-000@example.com", "SUCCESSFUL",
                 "2026-07-01T09:00:00.000Z"))  # another run's row: never seen by act-1
    with service.store.write() as conn:
        deliveries.insert(conn, rows)
    asked = keys[::2] + ["ep-999"]
    with service.store.read() as conn:
        statuses, used = deliveries.recorded(conn, "act-1", "", asked, [f"EMAIL:{k}@example.com" for k in asked])
    assert statuses == {key: deliveries.PENDING for key in keys[::2]}
    assert used == {f"EMAIL:{key}@example.com" for key in keys[::2]}
    with service.store.write() as conn:
        deliveries.set_statuses(conn, "act-1", "", {key: "SUCCESSFUL" if i % 3 else "THROTTLED"
                                                     for i, key in enumerate(keys[:20])})
        deliveries.forget(conn, "act-1", "", keys[20:])
    with service.store.read() as conn:
        assert deliveries.count_by_status(conn, "act-1") == {"SUCCESSFUL": 13, "THROTTLED": 7}
        assert deliveries.count_by_status(conn, "act-2") == {"SUCCESSFUL": 1}
        assert deliveries.recorded(conn, "act-1", "other-trigger", keys, []) == ({}, set())
