"""Users through boto3 against a live server, on both store backends: shared UserAttributes,
GetUserEndpoints / DeleteUserEndpoints, and the 15-endpoints-per-user rule."""

from datetime import datetime, timezone

import pytest

from clarion.clock import FixedClock

from .test_endpoints import get, put, rejected

TOO_MANY = "Exceeded maximum endpoint per user count: 15"


@pytest.fixture
def clock():
    return FixedClock(datetime(2024, 5, 1, tzinfo=timezone.utc))


@pytest.fixture
def timed(timed_server):
    """(client, app id) of a live server whose domain clock only moves when told to."""
    client = timed_server.client()
    return client, client.create_app(CreateApplicationRequest={"Name": "users"})["ApplicationResponse"]["Id"]


def user_endpoints(client, app_id, user_id):
    answer = client.get_user_endpoints(ApplicationId=app_id, UserId=user_id)["EndpointsResponse"]["Item"]
    return {e["Id"]: e for e in answer}


def batch(client, app_id, items):
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})


def test_user_attributes_are_shared_by_every_endpoint_of_the_user(client, app_id):
    put(client, app_id, "phone", ChannelType="SMS", Address="+12065550100",
        User={"UserId": "ann", "UserAttributes": {"plan": ["pro"], "team": ["red"]}})
    put(client, app_id, "laptop", ChannelType="EMAIL", Address="ann@example.com", User={"UserId": "ann"})
    assert get(client, app_id, "laptop")["User"] == {"UserId": "ann", "UserAttributes": {"plan": ["pro"],
                                                                                       "team": ["red"]}}
    put(client, app_id, "laptop", User={"UserAttributes": {"plan": ["enterprise"], "team": []}})
    expected = {"UserId": "ann", "UserAttributes": {"plan": ["enterprise"], "team": []}}
    assert get(client, app_id, "phone")["User"] == expected
    owned = user_endpoints(client, app_id, "ann")
    assert set(owned) == {"phone", "laptop"} and all(e["User"] == expected for e in owned.values())


def test_unknown_user_is_a_404(client, app_id):
    rejected(lambda: client.get_user_endpoints(ApplicationId=app_id, UserId="nobody"), "not found",
             "NotFoundException", 404)
    rejected(lambda: client.delete_user_endpoints(ApplicationId=app_id, UserId="nobody"), "not found",
             "NotFoundException", 404)
    rejected(lambda: client.get_user_endpoints(ApplicationId="0" * 32, UserId="nobody"), "not found",
             "NotFoundException", 404)


def test_delete_user_endpoints_deletes_the_user_and_answers_what_it_deleted(client, app_id):
    batch(client, app_id, [
        {"Id": "a1", "ChannelType": "EMAIL", "Address": "a1@example.com",
         "User": {"UserId": "ann", "UserAttributes": {"plan": ["pro"]}}},
        {"Id": "a2", "ChannelType": "SMS", "Address": "+12065550100", "User": {"UserId": "ann"}},
        {"Id": "b1", "ChannelType": "EMAIL", "Address": "b1@example.com", "User": {"UserId": "bob"}}])
    answer = client.delete_user_endpoints(ApplicationId=app_id, UserId="ann")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    deleted = {e["Id"]: e for e in answer["EndpointsResponse"]["Item"]}
    assert set(deleted) == {"a1", "a2"}
    assert deleted["a2"]["User"] == {"UserId": "ann", "UserAttributes": {"plan": ["pro"]}}
    rejected(lambda: client.get_user_endpoints(ApplicationId=app_id, UserId="ann"), "not found",
             "NotFoundException", 404)
    rejected(lambda: get(client, app_id, "a1"), "not found", "NotFoundException", 404)
    assert set(user_endpoints(client, app_id, "bob")) == {"b1"}
    put(client, app_id, "a3", ChannelType="EMAIL", Address="a3@example.com", User={"UserId": "ann"})
    assert get(client, app_id, "a3")["User"] == {"UserId": "ann"}  # a new user: old attributes are gone


def test_moving_an_endpoint_to_another_user_or_to_none(client, app_id):
    put(client, app_id, "e", ChannelType="EMAIL", Address="e@example.com",
        User={"UserId": "ann", "UserAttributes": {"plan": ["pro"]}})
    put(client, app_id, "e", User={"UserId": "bob"})
    assert get(client, app_id, "e")["User"] == {"UserId": "bob"}  # ann's attributes stay ann's
    assert set(user_endpoints(client, app_id, "bob")) == {"e"}
    rejected(lambda: client.get_user_endpoints(ApplicationId=app_id, UserId="ann"), "not found",
             "NotFoundException", 404)
    put(client, app_id, "e", User={"UserId": ""})  # an empty UserId means no user
    assert "User" not in get(client, app_id, "e")
    rejected(lambda: client.get_user_endpoints(ApplicationId=app_id, UserId="bob"), "not found",
             "NotFoundException", 404)


def test_a_16th_endpoint_for_a_user_is_refused(client, app_id):
    batch(client, app_id, [{"Id": f"e{i}", "ChannelType": "EMAIL", "Address": f"e{i}@example.com",
                            "User": {"UserId": "ann"}} for i in range(15)])
    message = rejected(lambda: put(client, app_id, "e15", ChannelType="SMS", Address="+12065550100",
                                   User={"UserId": "ann"}), TOO_MANY)
    assert message == TOO_MANY
    rejected(lambda: get(client, app_id, "e15"), "not found", "NotFoundException", 404)
    put(client, app_id, "e15", ChannelType="SMS", Address="+12065550100", User={"UserId": "bob"})
    rejected(lambda: put(client, app_id, "e15", User={"UserId": "ann"}), TOO_MANY)  # moving counts too
    assert get(client, app_id, "e15")["User"]["UserId"] == "bob"
    put(client, app_id, "e0", Attributes={"still": ["fine"]})  # updating one of the 15 is fine
    assert len(user_endpoints(client, app_id, "ann")) == 15


def test_a_16th_endpoint_in_one_batch_rejects_the_whole_batch(client, app_id):
    items = [{"Id": f"e{i}", "ChannelType": "EMAIL", "Address": f"e{i}@example.com", "User": {"UserId": "ann"}}
             for i in range(16)]
    rejected(lambda: batch(client, app_id, items), TOO_MANY)
    rejected(lambda: client.get_user_endpoints(ApplicationId=app_id, UserId="ann"), "not found",
             "NotFoundException", 404)


def test_a_16th_push_endpoint_replaces_the_users_oldest_push_endpoint(timed, clock):
    client, app = timed
    for i in range(15):
        channel = "APNS" if i in (3, 9) else "EMAIL"
        put(client, app, f"e{i}", ChannelType=channel, Address=f"address-{i}", User={"UserId": "ann"})
        clock.advance(seconds=1)
    put(client, app, "e9", Attributes={"refreshed": ["yes"]})  # e9 is now younger than e3
    clock.advance(seconds=1)
    put(client, app, "new-phone", ChannelType="GCM", Address="fcm-token", User={"UserId": "ann"})
    replaced = get(client, app, "e3")
    assert replaced["EndpointStatus"] == "INACTIVE" and "User" not in replaced
    owned = user_endpoints(client, app, "ann")
    assert len(owned) == 15 and "new-phone" in owned and "e3" not in owned
    assert owned["e9"]["EndpointStatus"] == "ACTIVE"


def test_apns_sandbox_endpoints_are_never_auto_deactivated(timed, clock):
    client, app = timed
    for i in range(15):
        channel = "APNS_SANDBOX" if i == 0 else "EMAIL"
        put(client, app, f"e{i}", ChannelType=channel, Address=f"address-{i}", User={"UserId": "ann"})
        clock.advance(seconds=1)
    rejected(lambda: put(client, app, "push", ChannelType="GCM", Address="fcm-token", User={"UserId": "ann"}),
             TOO_MANY)
    put(client, app, "e1", ChannelType="BAIDU")  # now a push endpoint that may give way
    rejected(lambda: put(client, app, "sandbox", ChannelType="APNS_SANDBOX", Address="t", User={"UserId": "ann"}),
             TOO_MANY)  # a new sandbox endpoint never pushes another out
    put(client, app, "push", ChannelType="GCM", Address="fcm-token", User={"UserId": "ann"})
    assert get(client, app, "e1")["EndpointStatus"] == "INACTIVE"
    assert get(client, app, "e0")["User"]["UserId"] == "ann"
