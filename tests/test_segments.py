"""Segments through boto3, and their semantics checked against a plain-Python oracle over
generated endpoints, on both store backends."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clarion.clock import FixedClock
from clarion.service import build

from .conftest import LiveServer, make_settings

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
PLATFORMS = ["ios", "android", "web"]
COUNTRIES = ["US", "FR", "DE", "JP"]
INTERESTS = ["shoes", "hats", "bags", "new york city", "coats"]
CITIES = [(40.7, -74.0), (48.9, 2.4), (52.5, 13.4), (35.7, 139.7)]


def generate(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        lat, lon = rnd.choice(CITIES)
        item = {
            "Id": f"ep-{i:04d}",
            "ChannelType": rnd.choice(["EMAIL", "SMS", "GCM", "APNS"]),
            "Address": f"user{i}@example.com",
            "Demographic": {"Platform": rnd.choice(PLATFORMS), "Make": rnd.choice(["apple", "samsung"]),
                            "Model": rnd.choice(["x1", "x2", "x3"]), "AppVersion": rnd.choice(["1.0", "2.0"])},
            "Location": {"Country": rnd.choice(COUNTRIES), "Latitude": lat + rnd.uniform(-0.3, 0.3),
                         "Longitude": lon + rnd.uniform(-0.3, 0.3)},
            "Attributes": {"interests": rnd.sample(INTERESTS, rnd.randint(0, 3)),
                           "signup": [(START - timedelta(days=rnd.randint(0, 90))).strftime("%Y-%m-%dT%H:%M:%SZ")]},
            "Metrics": {"score": float(rnd.randint(0, 100))},
            "OptOut": "ALL" if rnd.random() < 0.1 else "NONE",
        }
        if rnd.random() < 0.7:
            item["User"] = {"UserId": f"user-{i % 97}"}
            if rnd.random() < 0.5:
                item["User"]["UserAttributes"] = {"plan": [rnd.choice(["free", "pro"])]}
        items.append(item)
    return items


def seeded_app(service, count: int, seed: int) -> str:
    """A new app holding `count` generated endpoints (written through UpdateEndpointsBatch)."""
    from clarion.operations import Caller, Context
    from clarion.operations import apps as app_ops
    from clarion.operations import endpoints as endpoint_ops

    ctx = Context(service, Caller("test"), "req")
    app_id = app_ops.create_app(ctx, create_application_request={"Name": "pages"})["Id"]
    items = generate(count, seed=seed)
    for i in range(0, len(items), 100):
        endpoint_ops.update_endpoints_batch(ctx, app_id, {"Item": items[i:i + 100]})
    return app_id


def km(a_lat, a_lon, b_lat, b_lon) -> float:
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def parse(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# (name, segment request, oracle over the stored endpoint as a plain dict)
CASES = [
    ("platform inclusive", {"Dimensions": {"Demographic": {"Platform": {"Values": ["ios", "web"]}}}},
     lambda e: e["Demographic"]["Platform"] in ("ios", "web")),
    ("platform exclusive", {"Dimensions": {"Demographic": {"Platform": {"DimensionType": "EXCLUSIVE",
                                                                        "Values": ["ios"]}}}},
     lambda e: e["Demographic"]["Platform"] != "ios"),
    ("channel", {"Dimensions": {"Demographic": {"Channel": {"Values": ["EMAIL"]}}}},
     lambda e: e["ChannelType"] == "EMAIL"),
    ("country", {"Dimensions": {"Location": {"Country": {"Values": ["FR", "DE"]}}}},
     lambda e: e["Location"]["Country"] in ("FR", "DE")),
    ("gps 50 km of Paris", {"Dimensions": {"Location": {"GPSPoint": {
        "Coordinates": {"Latitude": 48.85, "Longitude": 2.35}, "RangeInKilometers": 50}}}},
     lambda e: km(48.85, 2.35, e["Location"]["Latitude"], e["Location"]["Longitude"]) <= 50),
    ("attribute inclusive", {"Dimensions": {"Attributes": {"interests": {"AttributeType": "INCLUSIVE",
                                                                         "Values": ["hats", "bags"]}}}},
     lambda e: bool({"hats", "bags"} & set(e["Attributes"].get("interests", [])))),
    ("attribute exclusive", {"Dimensions": {"Attributes": {"interests": {"AttributeType": "EXCLUSIVE",
                                                                         "Values": ["hats"]}}}},
     lambda e: "hats" not in e["Attributes"].get("interests", [])),
    ("attribute contains is case-sensitive", {"Dimensions": {"Attributes": {"interests": {
        "AttributeType": "CONTAINS", "Values": ["ew"]}}}},
     lambda e: any("ew" in v for v in e["Attributes"].get("interests", []))),
    ("attribute contains nothing for wrong case", {"Dimensions": {"Attributes": {"interests": {
        "AttributeType": "CONTAINS", "Values": ["EW"]}}}},
     lambda e: False),
    ("attribute before", {"Dimensions": {"Attributes": {"signup": {
        "AttributeType": "BEFORE", "Values": ["2026-04-01T00:00:00Z"]}}}},
     lambda e: parse(e["Attributes"]["signup"][0]) < parse("2026-04-01T00:00:00Z")),
    ("attribute after", {"Dimensions": {"Attributes": {"signup": {
        "AttributeType": "AFTER", "Values": ["2026-05-01T00:00:00Z"]}}}},
     lambda e: parse(e["Attributes"]["signup"][0]) > parse("2026-05-01T00:00:00Z")),
    ("attribute on", {"Dimensions": {"Attributes": {"signup": {
        "AttributeType": "ON", "Values": ["2026-05-20T00:00:00Z"]}}}},
     lambda e: e["Attributes"]["signup"][0][:10] == "2026-05-20"),
    ("attribute between", {"Dimensions": {"Attributes": {"signup": {
        "AttributeType": "BETWEEN", "Values": ["2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"]}}}},
     lambda e: parse("2026-04-01T00:00:00Z") <= parse(e["Attributes"]["signup"][0]) <= parse("2026-05-01T00:00:00Z")),
    ("user attribute", {"Dimensions": {"UserAttributes": {"plan": {"Values": ["pro"]}}}},
     lambda e: "pro" in e.get("User", {}).get("UserAttributes", {}).get("plan", [])),
    ("metric >=", {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL",
                                                        "Value": 50}}}},
     lambda e: e["Metrics"]["score"] >= 50),
    ("metric equal", {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": 42}}}},
     lambda e: e["Metrics"]["score"] == 42),
    ("four dimensions", {"Dimensions": {
        "Demographic": {"Platform": {"Values": ["ios", "android"]}},
        "Location": {"Country": {"Values": ["US", "FR", "DE"]}},
        "Attributes": {"interests": {"Values": ["shoes", "coats"]}},
        "Metrics": {"score": {"ComparisonOperator": "LESS_THAN", "Value": 70}}}},
     lambda e: e["Demographic"]["Platform"] in ("ios", "android") and e["Location"]["Country"] in ("US", "FR", "DE")
     and bool({"shoes", "coats"} & set(e["Attributes"].get("interests", []))) and e["Metrics"]["score"] < 70),
    ("group ANY of two dimension sets", {"SegmentGroups": {"Include": "ALL", "Groups": [{"Type": "ANY", "Dimensions": [
        {"Location": {"Country": {"Values": ["JP"]}}},
        {"Demographic": {"Platform": {"Values": ["web"]}}}]}]}},
     lambda e: e["Location"]["Country"] == "JP" or e["Demographic"]["Platform"] == "web"),
    ("group NONE", {"SegmentGroups": {"Include": "ALL", "Groups": [{"Type": "NONE", "Dimensions": [
        {"Location": {"Country": {"Values": ["JP"]}}},
        {"Demographic": {"Platform": {"Values": ["web"]}}}]}]}},
     lambda e: not (e["Location"]["Country"] == "JP" or e["Demographic"]["Platform"] == "web")),
    ("two groups, Include ANY", {"SegmentGroups": {"Include": "ANY", "Groups": [
        {"Dimensions": [{"Location": {"Country": {"Values": ["JP"]}}}]},
        {"Dimensions": [{"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 90}}}]}]}},
     lambda e: e["Location"]["Country"] == "JP" or e["Metrics"]["score"] > 90),
    ("two groups, Include NONE", {"SegmentGroups": {"Include": "NONE", "Groups": [
        {"Dimensions": [{"Location": {"Country": {"Values": ["JP"]}}}]}]}},
     lambda e: e["Location"]["Country"] != "JP"),
]


def signed_get(server, path: str) -> httpx.Response:
    key_id, secret = server.service.root_credentials
    request = AWSRequest("GET", server.url + path, headers={"host": server.url.split("//")[1]})
    SigV4Auth(Credentials(key_id, secret), "mobiletargeting", "us-east-1").add_auth(request)
    return httpx.get(server.url + path, headers=dict(request.headers))


@pytest.fixture
def clock():
    return FixedClock(START)


def _schema_url(base: str) -> str:
    import uuid

    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_audience(request, tmp_path_factory):
    """The generated audience, built once per backend for the read-only semantics cases."""
    url = None if request.param == "sqlite" else _schema_url(request.getfixturevalue("postgres_url"))
    yield from _audience(tmp_path_factory.mktemp("audience"), url, FixedClock(START))


@pytest.fixture
def audience(tmp_path, database_url, clock):
    yield from _audience(tmp_path, database_url, clock)


def _audience(tmp_path, database_url, clock):
    """A live server with a fixed clock, an app, and 400 generated endpoints stored through the API."""
    service = build(make_settings(tmp_path, database_url), clock=clock)
    server = LiveServer(service).start()
    client = server.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "segments"})["ApplicationResponse"]["Id"]
    items = generate(400)
    for i in range(0, len(items), 100):
        client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items[i:i + 100]})
    stored = {}
    for item in items:
        got = client.get_endpoint(ApplicationId=app_id, EndpointId=item["Id"])["EndpointResponse"]
        stored[got["Id"]] = got
    yield server, client, app_id, stored
    server.stop()
    service.close()


def members(server, client, app_id, segment_id) -> set[str]:
    response = signed_get(server, f"/v1/apps/{app_id}/segments/{segment_id}/size?sample=100")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("name,request_body,oracle", CASES, ids=[c[0] for c in CASES])
def test_segment_semantics_match_the_oracle(shared_audience, name, request_body, oracle):
    server, client, app_id, stored = shared_audience
    segment = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": name, **request_body})
    segment_id = segment["SegmentResponse"]["Id"]
    size = members(server, client, app_id, segment_id)
    expected = [e for e in stored.values() if oracle(e)]
    eligible = [e for e in expected if e.get("OptOut") != "ALL" and e.get("EndpointStatus") == "ACTIVE"]
    assert size["Total"] == len(expected)
    assert size["Eligible"] == len(eligible)
    by_channel = {}
    for e in eligible:
        by_channel[e["ChannelType"]] = by_channel.get(e["ChannelType"], 0) + 1
    assert size["EligibleByChannel"] == by_channel
    assert {e["Id"] for e in size["Sample"]} <= {e["Id"] for e in expected}


def test_source_segments_and_recency(audience, clock):
    server, client, app_id, stored = audience
    fr = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "fr", "Dimensions": {"Location": {"Country": {"Values": ["FR"]}}}})["SegmentResponse"]
    ios = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "ios", "Dimensions": {"Demographic": {"Platform": {"Values": ["ios"]}}}})["SegmentResponse"]
    both = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "fr-and-ios", "SegmentGroups": {
        "Include": "ALL", "Groups": [{"SourceType": "ALL", "SourceSegments": [{"Id": fr["Id"]}, {"Id": ios["Id"]}]}]}})
    size = members(server, client, app_id, both["SegmentResponse"]["Id"])
    expected = [e for e in stored.values() if e["Location"]["Country"] == "FR" and e["Demographic"]["Platform"] == "ios"]
    assert size["Total"] == len(expected) > 0

    active = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "active", "Dimensions": {
        "Behavior": {"Recency": {"RecencyType": "ACTIVE", "Duration": "DAY_7"}}}})["SegmentResponse"]
    inactive = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "inactive", "Dimensions": {
        "Behavior": {"Recency": {"RecencyType": "INACTIVE", "Duration": "DAY_7"}}}})["SegmentResponse"]
    assert members(server, client, app_id, active["Id"])["Total"] == len(stored)
    clock.advance(days=8)
    client.update_endpoint(ApplicationId=app_id, EndpointId="ep-0001", EndpointRequest={"Metrics": {"score": 1.0}})
    assert members(server, client, app_id, active["Id"])["Total"] == 1
    assert members(server, client, app_id, inactive["Id"])["Total"] == len(stored) - 1


def test_versions_and_crud(client, app_id):
    created = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "v", "Dimensions": {"Location": {"Country": {"Values": ["US"]}}}, "tags": {"k": "v"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    seg = created["SegmentResponse"]
    assert seg["Version"] == 1 and seg["SegmentType"] == "DIMENSIONAL" and seg["tags"] == {"k": "v"}
    assert seg["Arn"].endswith(f"apps/{app_id}/segments/{seg['Id']}")
    updated = client.update_segment(ApplicationId=app_id, SegmentId=seg["Id"], WriteSegmentRequest={
        "Dimensions": {"Location": {"Country": {"Values": ["FR"]}}}})["SegmentResponse"]
    assert updated["Version"] == 2 and updated["Name"] == "v" and updated["CreationDate"] == seg["CreationDate"]
    assert client.get_segment(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentResponse"]["Version"] == 2
    v1 = client.get_segment_version(ApplicationId=app_id, SegmentId=seg["Id"], Version="1")["SegmentResponse"]
    assert v1["Dimensions"]["Location"]["Country"]["Values"] == ["US"]
    versions = client.get_segment_versions(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentsResponse"]["Item"]
    assert [v["Version"] for v in versions] == [2, 1]
    listed = client.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]
    assert [s["Id"] for s in listed] == [seg["Id"]]
    deleted = client.delete_segment(ApplicationId=app_id, SegmentId=seg["Id"])["SegmentResponse"]
    assert deleted["Id"] == seg["Id"]
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_segment(ApplicationId=app_id, SegmentId=seg["Id"])


def test_segments_page(client, app_id):
    ids = {client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": f"s{i}"})["SegmentResponse"]["Id"]
           for i in range(5)}
    first = client.get_segments(ApplicationId=app_id, PageSize="2")["SegmentsResponse"]
    second = client.get_segments(ApplicationId=app_id, PageSize="2", Token=first["NextToken"])["SegmentsResponse"]
    third = client.get_segments(ApplicationId=app_id, PageSize="2", Token=second["NextToken"])["SegmentsResponse"]
    assert "NextToken" not in third
    assert {s["Id"] for s in first["Item"] + second["Item"] + third["Item"]} == ids


@pytest.mark.parametrize("body,message", [
    ({"Dimensions": {"Location": {"Country": {"Values": ["US"]}}},
      "SegmentGroups": {"Groups": [{"Dimensions": []}]}}, "not both"),
    ({"SegmentGroups": {"Groups": [{}, {}, {}]}}, "at most 2"),
    ({"Dimensions": {"Attributes": {"d": {"AttributeType": "BETWEEN", "Values": ["2026-01-01T00:00:00Z"]}}}},
     "takes 2"),
    ({"Dimensions": {"Attributes": {"d": {"AttributeType": "AFTER", "Values": ["yesterday"]}}}}, "ISO-8601"),
    ({"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "ABOUT", "Value": 1}}}}, "ComparisonOperator"),
    ({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "0" * 32}]}]}}, "not found"),
])
def test_bad_definitions_are_refused_and_store_nothing(client, app_id, body, message):
    with pytest.raises(client.exceptions.BadRequestException) as err:
        client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "bad", **body})
    assert message in err.value.response["Error"]["Message"]
    assert client.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"] == []


def test_unknown_segment_and_app(client, app_id):
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_segment(ApplicationId=app_id, SegmentId="f" * 32)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_segments(ApplicationId="f" * 32)
