"""Endpoints through boto3 against a live server, on both store backends: upsert and merge
semantics, server-set fields, same-address INACTIVE, limits, RemoveAttributes, deletes."""

import threading
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from clarion.clock import FixedClock
from clarion.service import build

from .conftest import LiveServer, make_settings

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def timed(timed_server):
    """(client, app id) of a live server whose domain clock only moves when told to."""
    client = timed_server.client()
    return client, client.create_app(CreateApplicationRequest={"Name": "timed"})["ApplicationResponse"]["Id"]


def get(client, app_id, endpoint_id):
    return client.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]


def put(client, app_id, endpoint_id, **request):
    return client.update_endpoint(ApplicationId=app_id, EndpointId=endpoint_id, EndpointRequest=request)


def rejected(call, message: str, code="BadRequestException", status=400):
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert message in error["Error"]["Message"], error["Error"]["Message"]
    return error["Error"]["Message"]


# -- create, read, merge -----------------------------------------------------------------------

def test_update_endpoint_creates_it_with_server_fields(timed):
    client, app = timed
    answer = put(client, app, "Phone-1", ChannelType="SMS", Address="+12065550100",
                 Attributes={"interests": ["music"]}, Metrics={"visits": 2.0},
                 Demographic={"Platform": "ios", "Timezone": "America/Los_Angeles"},
                 Location={"Country": "US", "City": "Seattle", "Latitude": 47.61, "Longitude": -122.349})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert answer["MessageBody"] == {"Message": "Accepted", "RequestID": request_id}
    endpoint = get(client, app, "Phone-1")
    assert endpoint["ApplicationId"] == app and endpoint["Id"] == "Phone-1"
    assert endpoint["CreationDate"] == endpoint["EffectiveDate"] == "2024-05-01T12:00:00.000Z"
    assert endpoint["RequestId"] == request_id
    assert endpoint["CohortId"] in {str(n) for n in range(100)}
    assert endpoint["EndpointStatus"] == "ACTIVE" and endpoint["OptOut"] == "NONE"
    assert endpoint["Location"] == {"Country": "US", "City": "Seattle", "Latitude": 47.6, "Longitude": -122.3}
    assert endpoint["Attributes"] == {"interests": ["music"]} and endpoint["Metrics"] == {"visits": 2.0}
    assert endpoint["Demographic"] == {"Platform": "ios", "Timezone": "America/Los_Angeles"}


def test_an_update_changes_only_what_it_names(timed, clock):
    client, app = timed
    put(client, app, "e1", ChannelType="EMAIL", Address="ann@example.com", OptOut="NONE",
        Attributes={"interests": ["music", "travel"], "plan": ["gold"], "flags": ["beta"]},
        Metrics={"visits": 2.0, "spend": 10.0},
        Demographic={"Platform": "ios", "Locale": "en_US"}, Location={"City": "Paris", "Country": "FR"})
    first = get(client, app, "e1")
    clock.advance(minutes=5)
    second_request = put(client, app, "e1", Attributes={"interests": ["film"], "flags": []},
                         Metrics={"visits": 3.0}, Demographic={"Locale": "fr_FR"}, Location={"Latitude": 48.86})
    endpoint = get(client, app, "e1")
    assert endpoint["Attributes"] == {"interests": ["film"], "plan": ["gold"], "flags": []}
    assert endpoint["Metrics"] == {"visits": 3.0, "spend": 10.0}
    assert endpoint["Demographic"] == {"Platform": "ios", "Locale": "fr_FR"}
    assert endpoint["Location"] == {"City": "Paris", "Country": "FR", "Latitude": 48.9}
    assert endpoint["Address"] == "ann@example.com" and endpoint["ChannelType"] == "EMAIL"
    assert endpoint["CreationDate"] == first["CreationDate"] and endpoint["CohortId"] == first["CohortId"]
    assert endpoint["EffectiveDate"] == "2024-05-01T12:05:00.000Z"
    assert endpoint["RequestId"] == second_request["ResponseMetadata"]["RequestId"] != first["RequestId"]


def test_every_update_reactivates_unless_the_client_sets_the_status(client, app_id):
    put(client, app_id, "e", ChannelType="EMAIL", Address="a@example.com", EndpointStatus="INACTIVE")
    assert get(client, app_id, "e")["EndpointStatus"] == "INACTIVE"
    put(client, app_id, "e", Attributes={"k": ["v"]})
    assert get(client, app_id, "e")["EndpointStatus"] == "ACTIVE"
    put(client, app_id, "e", EndpointStatus="INACTIVE", OptOut="ALL")
    endpoint = get(client, app_id, "e")
    assert endpoint["EndpointStatus"] == "INACTIVE" and endpoint["OptOut"] == "ALL"


def test_endpoint_ids_are_case_insensitive_and_echoed_as_first_written(client, app_id):
    put(client, app_id, "Device-ABC", ChannelType="GCM", Address="token-1", Attributes={"a": ["1"]})
    put(client, app_id, "DEVICE-abc", Attributes={"b": ["2"]})
    endpoint = get(client, app_id, "device-abc")
    assert endpoint["Id"] == "Device-ABC" and endpoint["Attributes"] == {"a": ["1"], "b": ["2"]}
    deleted = client.delete_endpoint(ApplicationId=app_id, EndpointId="DEVICE-ABC")
    assert deleted["EndpointResponse"]["Id"] == "Device-ABC"
    rejected(lambda: get(client, app_id, "Device-ABC"), "not found", "NotFoundException", 404)


def test_default_opt_out_is_configurable(tmp_path):
    svc = build(make_settings(tmp_path, default_opt_out="ALL"))
    live = LiveServer(svc).start()
    try:
        client = live.client()
        app = client.create_app(CreateApplicationRequest={"Name": "x"})["ApplicationResponse"]["Id"]
        put(client, app, "anonymous", ChannelType="GCM")  # opted out: no address needed
        assert get(client, app, "anonymous")["OptOut"] == "ALL"
    finally:
        live.stop()
        svc.close()


# -- same address --------------------------------------------------------------------------------

def test_updating_an_endpoint_sets_others_with_its_address_inactive(client, app_id):
    put(client, app_id, "old-phone", ChannelType="SMS", Address="+12065550100")
    put(client, app_id, "other", ChannelType="SMS", Address="+12065550199")
    put(client, app_id, "new-phone", ChannelType="SMS", Address="+12065550100")
    assert get(client, app_id, "old-phone")["EndpointStatus"] == "INACTIVE"
    assert get(client, app_id, "new-phone")["EndpointStatus"] == "ACTIVE"
    assert get(client, app_id, "other")["EndpointStatus"] == "ACTIVE"
    put(client, app_id, "old-phone", Attributes={"touched": ["yes"]})  # any update of it turns the tables
    assert get(client, app_id, "old-phone")["EndpointStatus"] == "ACTIVE"
    assert get(client, app_id, "new-phone")["EndpointStatus"] == "INACTIVE"


def test_taking_an_address_in_a_batch_inactivates_its_previous_holder(client, app_id):
    put(client, app_id, "a", ChannelType="EMAIL", Address="shared@example.com")
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": [
        {"Id": "b", "ChannelType": "EMAIL", "Address": "other@example.com"},
        {"Id": "b", "Address": "shared@example.com"}]})
    assert get(client, app_id, "a")["EndpointStatus"] == "INACTIVE"
    assert get(client, app_id, "b")["Address"] == "shared@example.com"


# -- limits ----------------------------------------------------------------------------------------

BASE = {"ChannelType": "EMAIL", "Address": "limits@example.com", "Attributes": {"keep": ["me"]}}
LIMITS = [
    ("name-51", {"Attributes": {"n" * 51: ["v"]}}, "longer than 50 characters"),
    ("metric-name-51", {"Metrics": {"m" * 51: 1.0}}, "longer than 50 characters"),
    ("user-name-51", {"User": {"UserId": "u", "UserAttributes": {"n" * 51: ["v"]}}}, "longer than 50 characters"),
    ("value-101", {"Attributes": {"k": ["v" * 101]}}, "longer than 100 characters"),
    ("values-51", {"Attributes": {"k": [str(i) for i in range(51)]}}, "the limit is 50"),
    ("user-values-51", {"User": {"UserId": "u", "UserAttributes": {"k": ["x"] * 51}}}, "the limit is 50"),
    ("size", {"Attributes": {f"k{i}": ["v" * 100] * 20 for i in range(8)}}, "15 KB"),
    ("status", {"EndpointStatus": "SLEEPING"}, "Invalid EndpointStatus"),
    ("opt-out", {"OptOut": "SOMETIMES"}, "Invalid OptOut"),
]


@pytest.mark.parametrize("case,change,message", LIMITS, ids=[c[0] for c in LIMITS])
def test_limits_reject_the_update_and_change_nothing(client, app_id, case, change, message):
    put(client, app_id, "limited", **BASE)
    before = get(client, app_id, "limited")
    rejected(lambda: put(client, app_id, "limited", **change), message)
    assert get(client, app_id, "limited") == before
    rejected(lambda: put(client, app_id, "fresh", **{**BASE, **change}), message)
    rejected(lambda: get(client, app_id, "fresh"), "not found", "NotFoundException", 404)


@pytest.mark.parametrize("endpoint_id", ["price$", "a{b}", "curly}"])
def test_endpoint_ids_may_not_contain_dollar_or_braces(client, app_id, endpoint_id):
    rejected(lambda: put(client, app_id, endpoint_id, **BASE), "may not contain")
    rejected(lambda: client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={
        "Item": [{"Id": endpoint_id, **BASE}]}), "may not contain")


def test_missing_address(client, app_id):
    message = rejected(lambda: put(client, app_id, "no-address", ChannelType="GCM", User={"UserId": "u"}),
                       "Missing Address")
    assert message == "Missing Address"
    put(client, app_id, "no-address", ChannelType="GCM", OptOut="ALL")  # opted out: no address is fine
    assert rejected(lambda: put(client, app_id, "no-address", OptOut="NONE"), "Missing Address")
    assert get(client, app_id, "no-address")["OptOut"] == "ALL"


def test_attribute_names_are_limited_to_250_per_app_across_all_kinds(client, app_id):
    items = [{"Id": f"e{n}", "ChannelType": "EMAIL", "Address": f"e{n}@example.com",
              "Attributes": {f"attr{n}-{i}": ["x"] for i in range(20)},
              "Metrics": {f"metric{n}-{i}": 1.0 for i in range(20)},
              "User": {"UserId": f"user{n}", "UserAttributes": {f"user{n}-{i}": ["y"] for i in range(10)}}}
             for n in range(5)]  # 5 x 50 = 250 names
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
    message = rejected(lambda: put(client, app_id, "e0", Metrics={"one-too-many": 1.0}), "Too many custom attributes")
    assert message == "Too many custom attributes"
    put(client, app_id, "e0", Attributes={"attr4-0": ["reused names are fine"]})
    assert get(client, app_id, "e0")["Attributes"]["attr4-0"] == ["reused names are fine"]
    removed = client.remove_attributes(ApplicationId=app_id, AttributeType="endpoint-metric-attributes",
                                       UpdateAttributesRequest={"Blacklist": ["metric0-*"]})
    assert len(removed["AttributesResource"]["Attributes"]) == 20
    put(client, app_id, "e0", Metrics={"one-more-now": 1.0})  # removed names free their places
    assert get(client, app_id, "e0")["Metrics"]["one-more-now"] == 1.0


# -- batches ---------------------------------------------------------------------------------------

def test_a_batch_with_one_bad_item_changes_nothing(client, app_id):
    put(client, app_id, "existing", ChannelType="EMAIL", Address="x@example.com", Attributes={"v": ["1"]})
    before = get(client, app_id, "existing")
    items = [{"Id": "existing", "Attributes": {"v": ["2"]}},
             {"Id": "brand-new", "ChannelType": "EMAIL", "Address": "x@example.com"},
             {"Id": "broken", "ChannelType": "EMAIL", "Address": "y@example.com", "Attributes": {"k": ["v" * 101]}}]
    rejected(lambda: client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items}),
             "longer than 100 characters")
    assert get(client, app_id, "existing") == before  # neither updated nor set INACTIVE by brand-new
    rejected(lambda: get(client, app_id, "brand-new"), "not found", "NotFoundException", 404)
    items[2] = {"Id": "broken", "ChannelType": "FAX", "Address": "y@example.com"}  # not in the model's enum
    rejected(lambda: client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items}),
             "Invalid value 'FAX'")
    assert get(client, app_id, "existing") == before
    rejected(lambda: get(client, app_id, "brand-new"), "not found", "NotFoundException", 404)


def test_a_batch_takes_at_most_100_items(client, app_id):
    items = [{"Id": f"e{i}", "ChannelType": "EMAIL", "Address": f"e{i}@example.com"} for i in range(101)]
    rejected(lambda: client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items}),
             "at most 100")
    rejected(lambda: get(client, app_id, "e0"), "not found", "NotFoundException", 404)
    answer = client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items[:100]})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["MessageBody"]["Message"] == "Accepted"
    assert get(client, app_id, "e99")["Address"] == "e99@example.com"


def test_a_batch_item_needs_an_id(client, app_id):
    rejected(lambda: client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={
        "Item": [{"ChannelType": "EMAIL", "Address": "a@example.com"}]}), "Missing endpoint Id")


# -- RemoveAttributes ----------------------------------------------------------------------------

def test_remove_attributes_stops_capturing_the_names_but_keeps_existing_values(client, app_id):
    put(client, app_id, "e", ChannelType="EMAIL", Address="a@example.com",
        Attributes={"color": ["red"], "colour": ["rouge"], "size": ["M"]},
        User={"UserId": "u", "UserAttributes": {"nickname": ["Al"]}})
    answer = client.remove_attributes(ApplicationId=app_id, AttributeType="endpoint-custom-attributes",
                                      UpdateAttributesRequest={"Blacklist": ["colo*r", "unknown"]})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["AttributesResource"] == {"ApplicationId": app_id, "AttributeType": "endpoint-custom-attributes",
                                            "Attributes": ["color", "colour"]}
    assert get(client, app_id, "e")["Attributes"] == {"color": ["red"], "colour": ["rouge"], "size": ["M"]}
    put(client, app_id, "e", Attributes={"color": ["blue"], "size": ["L"]})
    put(client, app_id, "e2", ChannelType="EMAIL", Address="b@example.com", Attributes={"color": ["green"]})
    assert get(client, app_id, "e")["Attributes"] == {"color": ["red"], "colour": ["rouge"], "size": ["L"]}
    assert "color" not in get(client, app_id, "e2").get("Attributes", {})
    client.remove_attributes(ApplicationId=app_id, AttributeType="endpoint-user-attributes",
                             UpdateAttributesRequest={"Blacklist": ["nickname"]})
    put(client, app_id, "e", User={"UserAttributes": {"nickname": ["Bob"]}})
    assert get(client, app_id, "e")["User"]["UserAttributes"] == {"nickname": ["Al"]}


def test_remove_attributes_checks_the_type_and_the_app(client, app_id):
    rejected(lambda: client.remove_attributes(ApplicationId=app_id, AttributeType="endpoint-everything",
                                              UpdateAttributesRequest={"Blacklist": ["x"]}), "attribute-type")
    rejected(lambda: client.remove_attributes(ApplicationId="0" * 32, AttributeType="endpoint-custom-attributes",
                                              UpdateAttributesRequest={"Blacklist": ["x"]}),
             "not found", "NotFoundException", 404)


# -- delete and not found --------------------------------------------------------------------------

def test_delete_endpoint_answers_the_deleted_endpoint(client, app_id):
    put(client, app_id, "e", ChannelType="EMAIL", Address="a@example.com",
        User={"UserId": "u", "UserAttributes": {"plan": ["pro"]}})
    before = get(client, app_id, "e")
    deleted = client.delete_endpoint(ApplicationId=app_id, EndpointId="e")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["EndpointResponse"] == before and before["User"]["UserAttributes"] == {"plan": ["pro"]}
    rejected(lambda: get(client, app_id, "e"), "not found", "NotFoundException", 404)
    rejected(lambda: client.delete_endpoint(ApplicationId=app_id, EndpointId="e"), "not found",
             "NotFoundException", 404)


def test_unknown_app_or_endpoint_is_a_404(client, app_id):
    rejected(lambda: get(client, app_id, "never-written"), "not found", "NotFoundException", 404)
    rejected(lambda: get(client, "0" * 32, "e"), "not found", "NotFoundException", 404)
    rejected(lambda: put(client, "0" * 32, "e", **BASE), "not found", "NotFoundException", 404)


# -- volume ----------------------------------------------------------------------------------------

def test_ten_thousand_endpoints_in_batches(client, app_id):
    def item(n):
        return {"Id": f"Bulk-{n:05d}", "ChannelType": "EMAIL" if n % 2 else "SMS",
                "Address": f"user{n}@example.com" if n % 2 else f"+1206555{n:04d}",
                "Attributes": {"tier": ["gold" if n % 3 else "silver"], "batch": [str(n // 100)]},
                "Metrics": {"n": float(n)}, "Location": {"Country": "US", "Latitude": 40.0 + n / 10_000},
                "User": {"UserId": f"user-{n // 4}", "UserAttributes": {"group": [str(n % 7)]}}}

    for batch in range(100):
        answer = client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={
            "Item": [item(n) for n in range(batch * 100, batch * 100 + 100)]})
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    for n in range(0, 10_000, 997):
        endpoint = get(client, app_id, f"bulk-{n:05d}")
        assert endpoint["Id"] == f"Bulk-{n:05d}" and endpoint["Metrics"] == {"n": float(n)}
        assert endpoint["Attributes"]["batch"] == [str(n // 100)]
        assert endpoint["Location"]["Latitude"] == round(40.0 + n / 10_000, 1)
        # the last of the user's four endpoints wrote the user's attribute
        assert endpoint["User"] == {"UserId": f"user-{n // 4}", "UserAttributes": {"group": [str((n | 3) % 7)]}}
    owned = client.get_user_endpoints(ApplicationId=app_id, UserId="user-1234")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in owned) == [f"Bulk-{n:05d}" for n in range(4936, 4940)]
    deleted = client.delete_user_endpoints(ApplicationId=app_id, UserId="user-1234")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in deleted) == [f"Bulk-{n:05d}" for n in range(4936, 4940)]
    rejected(lambda: get(client, app_id, "Bulk-04937"), "not found", "NotFoundException", 404)
    assert get(client, app_id, "Bulk-04940")["User"]["UserId"] == "user-1235"


# -- concurrency -----------------------------------------------------------------------------------

def test_concurrent_writers_of_the_same_new_endpoints_and_names_lose_nothing(server, app_id):
    """Eight clients create the same new endpoints of the same new user at once, each with an
    attribute name of its own: on PostgreSQL the inserts race (and are retried)."""
    writers, ids = 8, [f"shared-{i}" for i in range(10)]
    errors = []

    def write(n):
        client = server.client()
        try:
            client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": [
                {"Id": endpoint_id, "ChannelType": "EMAIL", "Address": f"{endpoint_id}@example.com",
                 "Attributes": {f"writer{n}": [str(n)]}, "User": {"UserId": "shared-user",
                                                                  "UserAttributes": {f"seen{n}": ["yes"]}}}
                for endpoint_id in ids]})
        except ClientError as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = server.client()
    for endpoint_id in ids:
        endpoint = get(client, app_id, endpoint_id)
        assert endpoint["Attributes"] == {f"writer{n}": [str(n)] for n in range(writers)}
        assert endpoint["User"]["UserAttributes"] == {f"seen{n}": ["yes"] for n in range(writers)}


def test_touch_last_active_only_moves_forward(server, client, app_id):
    from clarion.store import endpoints as endpoint_store
    from clarion.store.schema import endpoints

    put(client, app_id, "Active-One", ChannelType="EMAIL", Address="a@example.com")
    put(client, app_id, "other", ChannelType="EMAIL", Address="b@example.com")
    store = server.service.store

    def last_active():
        with store.read() as conn:
            rows = conn.execute(endpoints.select().where(endpoints.c.app_id == app_id))
            return {r.endpoint_key: r.last_active for r in rows}

    with store.write() as conn:
        endpoint_store.touch_last_active(conn, app_id, {"active-one": "2024-05-02T00:00:00.000Z",
                                                        "unknown": "2024-05-02T00:00:00.000Z"})
    with store.write() as conn:
        endpoint_store.touch_last_active(conn, app_id, {"ACTIVE-ONE": "2024-05-01T00:00:00.000Z"})
    assert last_active() == {"active-one": "2024-05-02T00:00:00.000Z", "other": None}
    with store.write() as conn:
        endpoint_store.touch_last_active(conn, app_id, {"Active-One": "2024-05-03T00:00:00.000Z"})
    assert last_active()["active-one"] == "2024-05-03T00:00:00.000Z"
