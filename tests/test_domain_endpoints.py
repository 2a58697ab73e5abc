"""The endpoint rules in clarion/domain/endpoints.py, without I/O."""

import pytest

from clarion.domain import endpoints as rules
from clarion.domain.endpoints import Invalid, Member, Stored, Workspace

NOW = "2024-05-01T10:00:00.000Z"
CHANNELS = frozenset({"EMAIL", "SMS", "GCM", "APNS", "APNS_SANDBOX", "BAIDU", "CUSTOM"})


def workspace(endpoints=(), users=None, registry=None, now=NOW, cohort=7) -> Workspace:
    return Workspace(app_id="app", now=now, request_id="req-1", default_opt_out="NONE", new_cohort=lambda: cohort,
                     endpoints={s.key: s for s in endpoints}, users=dict(users or {}),
                     registry=dict(registry or {}), channel_types=CHANNELS)


def stored(key, *, user=None, address=None, channel="EMAIL", status="ACTIVE", effective=NOW, **doc) -> Stored:
    body = {"Id": key, "ApplicationId": "app", "ChannelType": channel, "EndpointStatus": status,
            "EffectiveDate": effective, "CreationDate": effective, "CohortId": "1", "OptOut": "NONE", **doc}
    if address:
        body["Address"] = address
    if user:
        body["User"] = {"UserId": user}
    return Stored(key.lower(), body, user, 1)


# -- merge -----------------------------------------------------------------------------------

def test_merge_map_replaces_present_keys_whole_and_keeps_the_rest():
    old = {"interests": ["music", "travel"], "plan": ["gold"], "flags": ["a"]}
    merged = rules.merge_map(old, {"interests": ["film"], "flags": [], "new": ["x"], "ignored": None})
    assert merged == {"interests": ["film"], "plan": ["gold"], "flags": [], "new": ["x"]}
    assert old == {"interests": ["music", "travel"], "plan": ["gold"], "flags": ["a"]}  # not mutated


def test_apply_update_sets_server_fields_and_merges_nested_objects():
    doc = {"Id": "E1", "CreationDate": "2020-01-01T00:00:00.000Z", "EndpointStatus": "INACTIVE",
           "Demographic": {"Platform": "ios", "Locale": "en_US"}, "Location": {"City": "Paris", "Latitude": 48.9},
           "Metrics": {"visits": 3.0}}
    updated = rules.apply_update(doc, {"Demographic": {"Locale": "fr_FR"}, "Location": {"Longitude": 2.35},
                                       "Metrics": {"spend": 9.5}, "EffectiveDate": "1999-01-01T00:00:00.000Z",
                                       "RequestId": "client"}, NOW, "req-9")
    assert updated["Demographic"] == {"Platform": "ios", "Locale": "fr_FR"}
    assert updated["Location"] == {"City": "Paris", "Latitude": 48.9, "Longitude": 2.4}
    assert updated["Metrics"] == {"visits": 3.0, "spend": 9.5}
    assert updated["EndpointStatus"] == "ACTIVE"  # every update re-activates unless told otherwise
    assert (updated["EffectiveDate"], updated["RequestId"]) == (NOW, "req-9")
    assert updated["CreationDate"] == "2020-01-01T00:00:00.000Z"
    assert rules.apply_update(doc, {"EndpointStatus": "INACTIVE"}, NOW, "r")["EndpointStatus"] == "INACTIVE"


@pytest.mark.parametrize("given,kept", [(47.61, 47.6), (-122.349, -122.3), (10, 10.0), (0.05, 0.1)])
def test_coordinates_are_kept_to_one_decimal(given, kept):
    assert rules.round_location({"Latitude": given, "Longitude": given}) == {"Latitude": kept, "Longitude": kept}


def test_endpoint_keys_ignore_case():
    assert rules.endpoint_key("Device-ABC") == rules.endpoint_key("device-abc") == "device-abc"


# -- stateless limits --------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint_id", ["a$b", "a{b", "b}", ""])
def test_endpoint_ids_may_not_contain_dollar_or_braces(endpoint_id):
    with pytest.raises(Invalid):
        rules.check_endpoint_id(endpoint_id)


@pytest.mark.parametrize("request_body,message", [
    ({"Attributes": {"n" * 51: ["v"]}}, "longer than 50 characters"),
    ({"Metrics": {"m" * 51: 1.0}}, "longer than 50 characters"),
    ({"Attributes": {"a": ["v" * 101]}}, "longer than 100 characters"),
    ({"User": {"UserAttributes": {"a": ["v"] * 51}}}, "51 values; the limit is 50"),
    ({"EndpointStatus": "PAUSED"}, "Invalid EndpointStatus"),
    ({"OptOut": "SOME"}, "Invalid OptOut"),
    ({"Attributes": {"a": "not-a-list"}}, "must be a list of strings"),
])
def test_stateless_limits(request_body, message):
    with pytest.raises(Invalid, match=message):
        rules.check_request(request_body)


def test_limits_at_the_boundary_pass():
    rules.check_request({"Attributes": {"n" * 50: ["v" * 100] * 50}, "Metrics": {"m" * 50: 1},
                         "User": {"UserAttributes": {"u" * 50: ["v" * 100] * 50}}})


def test_missing_address_only_for_opted_in_endpoints():
    with pytest.raises(Invalid, match="^Missing Address$"):
        rules.check_complete({"Id": "e", "OptOut": "NONE"})
    rules.check_complete({"Id": "e", "OptOut": "ALL"})


def test_endpoint_size_limit_is_15_kb():
    big = {"Id": "e", "Address": "a@b.c", "Attributes": {f"k{i}": ["x" * 100] * 20 for i in range(8)}}
    with pytest.raises(Invalid, match="15 KB"):
        rules.check_complete(big)


# -- per-user limit ----------------------------------------------------------------------------

def members(channels, start=10):
    return [Member(f"e{i}", channel, f"2024-01-01T00:00:{start + i:02d}.000Z") for i, channel in enumerate(channels)]


def test_a_user_has_room_for_15_endpoints():
    assert rules.endpoint_to_detach("EMAIL", members(["EMAIL"] * 14)) is None
    with pytest.raises(Invalid, match="^Exceeded maximum endpoint per user count: 15$"):
        rules.endpoint_to_detach("EMAIL", members(["EMAIL"] * 15))


def test_a_16th_push_endpoint_detaches_the_oldest_push_endpoint():
    existing = members(["EMAIL", "GCM", "SMS", "APNS"] + ["EMAIL"] * 11)
    existing[3] = Member("e3", "APNS", "2023-01-01T00:00:00.000Z")  # the oldest push endpoint
    assert rules.endpoint_to_detach("GCM", existing) == "e3"


@pytest.mark.parametrize("new_channel,others", [
    ("APNS_SANDBOX", ["GCM"] + ["EMAIL"] * 14),  # sandbox is not in Pinpoint's list
    ("GCM", ["APNS_SANDBOX"] + ["EMAIL"] * 14),  # nor a sandbox endpoint a candidate
    ("GCM", ["EMAIL"] * 15),  # no push endpoint to give way
    ("SMS", ["GCM"] * 15),  # only push endpoints make room for push endpoints
])
def test_no_auto_deactivation(new_channel, others):
    with pytest.raises(Invalid, match="Exceeded maximum endpoint per user count: 15"):
        rules.endpoint_to_detach(new_channel, members(others))


# -- a batch against loaded state ------------------------------------------------------------

def test_new_endpoint_gets_server_fields_and_its_user_keeps_the_attributes():
    work = workspace()
    work.apply("Phone-1", {"ChannelType": "SMS", "Address": "+12065550100",
                           "User": {"UserId": "u1", "UserAttributes": {"name": ["Ann"]}}})
    made = work.endpoints["phone-1"]
    assert made.created and made.user_id == "u1" and made.cohort == 7
    assert made.doc["Id"] == "Phone-1" and made.doc["CohortId"] == "7" and made.doc["OptOut"] == "NONE"
    assert made.doc["User"] == {"UserId": "u1"}  # the attributes live with the user
    assert work.users["u1"] == {"name": ["Ann"]} and work.new_users == {"u1"}
    assert work.new_names == {("user", "name")}


def test_updating_an_endpoint_inactivates_others_with_the_same_address():
    other = stored("other", address="+12065550100", channel="VOICE")
    already = stored("old", address="+12065550100", status="INACTIVE")
    unrelated = stored("unrelated", address="+12065550199")
    work = workspace([other, already, unrelated])
    work.apply("mine", {"ChannelType": "SMS", "Address": "+12065550100"})
    assert work.endpoints["other"].doc["EndpointStatus"] == "INACTIVE" and work.endpoints["other"].changed
    assert not work.endpoints["old"].changed and not work.endpoints["unrelated"].changed
    assert work.endpoints["mine"].doc["EndpointStatus"] == "ACTIVE"


def test_an_endpoint_set_inactive_by_its_client_leaves_its_siblings_alone():
    work = workspace([stored("other", address="a@b.c")])
    work.apply("mine", {"ChannelType": "EMAIL", "Address": "a@b.c", "EndpointStatus": "INACTIVE"})
    assert work.endpoints["other"].doc["EndpointStatus"] == "ACTIVE"


def test_later_items_of_a_batch_see_earlier_ones():
    work = workspace()
    work.apply_all([("a", {"ChannelType": "EMAIL", "Address": "x@y.z", "Attributes": {"k": ["1"]}}),
                    ("A", {"Attributes": {"j": ["2"]}}),
                    ("b", {"ChannelType": "EMAIL", "Address": "x@y.z"})])
    assert work.endpoints["a"].doc["Attributes"] == {"k": ["1"], "j": ["2"]}
    assert work.endpoints["a"].doc["EndpointStatus"] == "INACTIVE"  # b took its address afterwards
    assert work.endpoints["a"].doc["Id"] == "a"  # echoed as first written


def test_the_16th_push_endpoint_of_a_user_takes_the_place_of_the_oldest():
    owned = [stored(f"e{i}", user="u", address=f"t{i}", channel="GCM", effective=f"2024-01-01T00:00:{i:02d}.000Z")
             for i in range(15)]
    work = workspace(owned, users={"u": {}})
    work.apply("new", {"ChannelType": "GCM", "Address": "t-new", "User": {"UserId": "u"}})
    oldest = work.endpoints["e0"]
    assert oldest.user_id is None and "User" not in oldest.doc and oldest.doc["EndpointStatus"] == "INACTIVE"
    assert work.endpoints["new"].user_id == "u"


def test_too_many_attribute_names_counts_all_three_kinds_and_ignores_removed_ones():
    registry = {("custom", f"a{i}"): False for i in range(200)}
    registry |= {("metric", f"m{i}"): False for i in range(49)}
    registry |= {("user", f"gone{i}"): True for i in range(30)}
    work = workspace(registry=registry)
    work.apply("e1", {"Address": "a@b.c", "User": {"UserAttributes": {"u0": ["x"]}}})  # the 250th name
    with pytest.raises(Invalid, match="^Too many custom attributes$"):
        work.apply("e2", {"Address": "a@b.c", "Metrics": {"one-more": 1.0}})
    work.apply("e3", {"Address": "a@b.c", "Attributes": {"a1": ["known"]}})  # known names are fine


def test_removed_names_are_not_captured_but_existing_values_stay():
    work = workspace([stored("e", address="a@b.c", Attributes={"color": ["red"]})],
                     registry={("custom", "color"): True, ("custom", "size"): False})
    work.apply("e", {"Attributes": {"color": ["blue"], "size": ["L"]}})
    assert work.endpoints["e"].doc["Attributes"] == {"color": ["red"], "size": ["L"]}


def test_partial_mode_skips_invalid_items_without_trace():
    work = workspace()
    errors = work.apply_all([("ok", {"Address": "a@b.c", "Attributes": {"x": ["1"]}}),
                             ("bad", {"User": {"UserId": "u", "UserAttributes": {"y": ["2"]}}}),
                             ("bad$id", {"Address": "c@d.e"})], partial=True)
    assert set(errors) == {1, 2} and errors[1] == "Missing Address"
    assert set(work.endpoints) == {"ok"} and "u" not in work.users
    assert work.new_names == {("custom", "x")}


def test_user_attributes_without_a_user_stay_on_the_endpoint_until_one_is_attached():
    work = workspace()
    work.apply("e", {"Address": "a@b.c", "User": {"UserAttributes": {"plan": ["free"]}}})
    assert work.endpoints["e"].doc["User"] == {"UserAttributes": {"plan": ["free"]}}
    work.apply("e", {"User": {"UserId": "u", "UserAttributes": {"tier": ["1"]}}})
    assert work.endpoints["e"].doc["User"] == {"UserId": "u"}
    assert work.users["u"] == {"plan": ["free"], "tier": ["1"]}
    work.apply("e", {"User": {"UserId": ""}})  # empty UserId: no user any more
    assert "User" not in work.endpoints["e"].doc and work.endpoints["e"].user_id is None
    assert work.left_users == {"u"}
