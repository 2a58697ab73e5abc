"""PutEvents through boto3: per-item results, every limit, partial batches, endpoint updates."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

T = "2024-05-01T12:00:00.000Z"


def event(event_type="page.view", timestamp=T, **members) -> dict:
    return {"EventType": event_type, "Timestamp": timestamp, **members}


def put(client, app_id, batches: dict) -> dict:
    return client.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batches})["EventsResponse"]["Results"]


def stored(server, app_id, columns="event_id") -> list[tuple]:
    return server.service.events.query(f"SELECT {columns} FROM events WHERE app_id = ? ORDER BY event_id", [app_id])


def statuses(results: dict, endpoint_id: str) -> dict:
    return {k: (v["StatusCode"], v["Message"]) for k, v in results[endpoint_id]["EventsItemResponse"].items()}


def test_accepted_events_are_stored_with_their_endpoint_context(server, client, app_id):
    results = put(client, app_id, {
        "Phone-1": {
            "Endpoint": {"ChannelType": "APNS", "Address": "token-1", "User": {"UserId": "user-1"},
                         "Demographic": {"Platform": "iOS", "PlatformVersion": "17.2", "Make": "Apple",
                                         "Model": "iPhone15,2", "AppVersion": "2.0", "Locale": "en_US",
                                         "Timezone": "America/New_York"},
                         "Location": {"Country": "US", "Region": "NY", "City": "New York"},
                         "Attributes": {"plan": ["gold"]}},
            "Events": {"e1": event("song.played", Attributes={"genre": "jazz"}, Metrics={"seconds": 31.5},
                                   Session={"Id": "s1", "StartTimestamp": "2024-05-01T11:59:00Z", "Duration": 60000},
                                   AppPackageName="com.example", AppTitle="Example", AppVersionCode="2.1",
                                   SdkName="aws-amplify-js", ClientSdkVersion="6.0")}}})
    assert results["Phone-1"]["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted"}
    assert statuses(results, "Phone-1") == {"e1": (202, "Accepted")}
    columns = ("event_id, event_type, strftime(event_time, '%Y-%m-%dT%H:%M:%S'), endpoint_id, user_id, channel_type, "
               "platform, platform_version, make, model, app_version, country, region, city, locale, timezone, "
               "session_id, strftime(session_start, '%H:%M'), session_duration, app_package, app_title, sdk_name, "
               "client_sdk_version, attributes, metrics, endpoint_attributes")
    assert stored(server, app_id, columns) == [(
        "e1", "song.played", "2024-05-01T12:00:00", "phone-1", "user-1", "APNS", "iOS", "17.2", "Apple",
        "iPhone15,2", "2.1", "US", "NY", "New York", "en_US", "America/New_York", "s1", "11:59", 60000,
        "com.example", "Example", "aws-amplify-js", "6.0", {"genre": "jazz"}, {"seconds": 31.5}, {"plan": ["gold"]})]


def test_a_batch_with_bad_items_stores_the_good_ones_and_says_why_for_each_bad_one(server, client, app_id):
    events = {
        "good": event(),
        "reserved": event("_email.delivered"),
        "campaign-send": event("_campaign.send"),
        "empty-type": event(""),
        "bad-time": event(timestamp="yesterday"),
        "bad-session": event(Session={"Id": "s", "StartTimestamp": "soon"}),
        "too-many-keys": event(Attributes={f"a{i}": "x" for i in range(30)}, Metrics={f"m{i}": 1 for i in range(11)}),
        "long-value": event(Attributes={"note": "x" * 201}),
        "long-name": event(Attributes={"n" * 51: "x"}),
        "sdk-event": event("_session.start", Session={"Id": "s", "StartTimestamp": T}),
        "at-the-limits": event(Attributes={f"a{i}": "y" * 200 for i in range(20)}, Metrics={f"m{i}": 1 for i in range(20)}),
    }
    results = statuses(put(client, app_id, {"ep": {"Endpoint": {}, "Events": events}}), "ep")
    assert {k for k, (code, _) in results.items() if code == 202} == {"good", "sdk-event", "at-the-limits"}
    messages = {k: m for k, (code, m) in results.items() if code == 400}
    assert "reserved for events the service records itself" in messages["reserved"]
    assert "_campaign.send" in messages["campaign-send"]
    assert messages["empty-type"] == "EventType must not be empty"
    assert "Invalid Timestamp 'yesterday'" in messages["bad-time"]
    assert "Invalid Session.StartTimestamp 'soon'" in messages["bad-session"]
    assert messages["too-many-keys"] == "The event has 41 attributes and metrics; at most 40 are allowed per event"
    assert "attribute 'note' is 201 characters long" in messages["long-value"]
    assert "event was dropped" in messages["long-value"]
    assert "must be 1 to 50 characters long" in messages["long-name"]
    assert [r[0] for r in stored(server, app_id)] == ["at-the-limits", "good", "sdk-event"]


def test_a_badly_typed_event_is_answered_alone(server, client, app_id):
    """A value of the wrong type fails its item only, not the request (botocore refuses to send
    such values, so this request is signed and sent raw, as other clients may send it)."""
    from tests.protocol.wire import Wire

    body = {"BatchItem": {
        "ep": {"Endpoint": {}, "Events": {"ok": event(), "bad-metric": event(Metrics={"m": "three"}),
                                          "no-type": {"Timestamp": T}}},
        "broken": {"Endpoint": {}, "Events": "not a map"},
        "bad-endpoint": {"Endpoint": {"ChannelType": "PIGEON"}, "Events": {"e": event()}}}}
    wire = Wire(server)
    try:
        response = wire.request("POST", f"/v1/apps/{app_id}/events", body=body)
    finally:
        wire.close()
    assert response.status_code == 202
    results = response.json()["Results"]
    ep = statuses(results, "ep")
    assert ep["ok"] == (202, "Accepted")
    assert ep["bad-metric"][0] == 400 and "Metrics.m" in ep["bad-metric"][1]
    assert ep["no-type"][0] == 400 and "EventType" in ep["no-type"][1]
    assert results["broken"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "Events" in results["broken"]["EndpointItemResponse"]["Message"]
    assert results["bad-endpoint"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "PIGEON" in results["bad-endpoint"]["EndpointItemResponse"]["Message"]
    assert statuses(results, "bad-endpoint") == {"e": (202, "Accepted")}
    assert [r[0] for r in stored(server, app_id)] == ["e", "ok"]


def test_more_than_100_events_refuses_the_request_and_stores_nothing(server, client, app_id):
    batches = {f"ep{i}": {"Endpoint": {}, "Events": {f"e{i}-{j}": event() for j in range(51)}} for i in range(2)}
    with pytest.raises(ClientError) as caught:
        put(client, app_id, batches)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert "at most 100 events" in caught.value.response["Error"]["Message"]
    assert stored(server, app_id) == []


def test_a_request_over_4_mb_is_refused_with_413(server, client, app_id):
    events = {f"e{i}": event(AppTitle="t" * 45_000) for i in range(100)}  # about 4.5 MB
    with pytest.raises(ClientError) as caught:
        put(client, app_id, {"ep": {"Endpoint": {}, "Events": events}})
    assert caught.value.response["Error"]["Code"] == "PayloadTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert stored(server, app_id) == []


def test_an_app_may_use_500_custom_attribute_and_500_metric_names(server, client, app_id):
    events = {f"e{i:02d}": event(Attributes={f"attr{i * 40 + k}": "v" for k in range(40)}) for i in range(13)}
    events.update({f"m{i:02d}": event(Metrics={f"metric{i * 40 + k}": 1 for k in range(40)}) for i in range(13)})
    results = statuses(put(client, app_id, {"ep": {"Endpoint": {}, "Events": events}}), "ep")
    refused = {k: m for k, (code, m) in results.items() if code == 400}
    assert set(refused) == {"e12", "m12"}  # names 481..520 cross the quota of 500
    assert "already uses 500 custom attribute names" in refused["e12"]
    assert "already uses 500 custom metric names" in refused["m12"]
    # Known names still work, Pinpoint's own (`_`) names do not count.
    again = {"known": event(Attributes={"attr0": "v"}, Metrics={"metric0": 2}),
             "sdk": event("_monetization.purchase", Attributes={"_currency": "USD"}, Metrics={"_item_price": 2.5}),
             "new": event(Attributes={"brand-new": "v"})}
    results = statuses(put(client, app_id, {"ep": {"Endpoint": {}, "Events": again}}), "ep")
    assert results["known"][0] == results["sdk"][0] == 202 and results["new"][0] == 400


def test_an_app_may_use_1500_custom_event_types(server, client, app_id):
    for request in range(15):
        events = {f"e{request}-{i}": event(f"type-{request * 100 + i}") for i in range(100)}
        assert {s for s, _ in statuses(put(client, app_id, {"ep": {"Endpoint": {}, "Events": events}}), "ep").values()} == {202}
    results = statuses(put(client, app_id, {"ep": {"Endpoint": {}, "Events": {
        "new": event("type-1500"), "known": event("type-7"), "sdk": event("_userauth.sign_in")}}}), "ep")
    assert results["new"][0] == 400 and "already uses 1500 custom event types" in results["new"][1]
    assert results["known"][0] == results["sdk"][0] == 202


def test_batch_endpoint_data_updates_the_endpoint_and_an_empty_endpoint_changes_nothing(server, client, app_id):
    put(client, app_id, {"dev-1": {"Endpoint": {"ChannelType": "GCM", "Address": "tok", "Attributes": {"a": ["1"]},
                                                "Demographic": {"Platform": "Android"}},
                                   "Events": {"e1": event()}}})
    put(client, app_id, {"dev-1": {"Endpoint": {}, "Events": {"e2": event()}}})
    put(client, app_id, {"DEV-1": {"Endpoint": {"Demographic": {"AppVersion": "3.1"}}, "Events": {"e3": event()}}})
    endpoint = client.get_endpoint(ApplicationId=app_id, EndpointId="dev-1")["EndpointResponse"]
    assert endpoint["Address"] == "tok" and endpoint["ChannelType"] == "GCM"
    assert endpoint["Attributes"] == {"a": ["1"]}
    assert endpoint["Demographic"]["Platform"] == "Android" and endpoint["Demographic"]["AppVersion"] == "3.1"
    assert stored(server, app_id, "event_id, endpoint_id, platform, app_version") == [
        ("e1", "dev-1", "Android", None), ("e2", "dev-1", "Android", None), ("e3", "dev-1", "Android", "3.1")]


def test_a_refused_endpoint_update_is_answered_in_its_item_and_the_events_are_kept(server, client, app_id):
    results = put(client, app_id, {
        "dev-1": {"Endpoint": {"ChannelType": "GCM", "Address": "tok", "Attributes": {"n" * 60: ["v"]}},
                  "Events": {"e1": event()}},
        "dev-2": {"Endpoint": {"ChannelType": "GCM", "Address": "tok-2"}, "Events": {"e2": event()}}})
    assert results["dev-1"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "longer than 50 characters" in results["dev-1"]["EndpointItemResponse"]["Message"]
    assert results["dev-2"]["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted"}
    assert statuses(results, "dev-1") == {"e1": (202, "Accepted")}
    with pytest.raises(ClientError):
        client.get_endpoint(ApplicationId=app_id, EndpointId="dev-1")
    assert client.get_endpoint(ApplicationId=app_id, EndpointId="dev-2")["EndpointResponse"]["Address"] == "tok-2"
    assert stored(server, app_id, "event_id, channel_type") == [("e1", None), ("e2", "GCM")]


def test_an_unknown_endpoint_with_an_empty_endpoint_is_not_created_but_its_events_are_kept(server, client, app_id):
    results = put(client, app_id, {"ghost": {"Endpoint": {}, "Events": {"e": event()}}})
    assert statuses(results, "ghost") == {"e": (202, "Accepted")}
    with pytest.raises(ClientError) as caught:
        client.get_endpoint(ApplicationId=app_id, EndpointId="ghost")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"
    assert stored(server, app_id, "event_id, endpoint_id") == [("e", "ghost")]


def test_events_refresh_their_endpoints_last_active_time(server, client, app_id):
    from clarion.store.schema import endpoints

    put(client, app_id, {"dev": {"Endpoint": {"ChannelType": "GCM", "Address": "tok"}, "Events": {"e": event()}}})
    server.service.activity.flush()
    with server.service.store.read() as conn:
        last_active = conn.execute(endpoints.select().where(endpoints.c.app_id == app_id)).one().last_active
    assert last_active is not None and last_active.endswith("Z")


def test_put_events_to_an_unknown_app_is_404(client):
    with pytest.raises(ClientError) as caught:
        put(client, "0" * 32, {"ep": {"Endpoint": {}, "Events": {"e": event()}}})
    assert caught.value.response["Error"]["Code"] == "NotFoundException"


def test_deleting_the_app_deletes_its_events(server, client, app_id):
    other = client.create_app(CreateApplicationRequest={"Name": "other"})["ApplicationResponse"]["Id"]
    for app in (app_id, other):
        put(client, app, {"ep": {"Endpoint": {}, "Events": {"e": event("custom.type", Attributes={"k": "v"})}}})
    client.delete_app(ApplicationId=app_id)
    assert stored(server, app_id) == [] and stored(server, other) == [("e",)]
    assert server.service.events.names(app_id) == {"event_type": set(), "attribute": set(), "metric": set()}
