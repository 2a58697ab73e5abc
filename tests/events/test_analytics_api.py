"""The analytics extension API through a live server: events go in with boto3's PutEvents, answers
come back over signed HTTP (boto3 cannot call extension routes), and are checked against the
plain-Python definitions over the events as stored."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

import duckdb
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clarion.clock import iso
from clarion.events import schema
from clarion.events.generate import generate, read_events
from clarion.store import keys as key_store

from ..conftest import REGION, LiveServer
from . import analytics_oracle as oracle

TODAY = datetime.now(timezone.utc).date()
START = TODAY - timedelta(days=20)


def call(server, method: str, path: str, params=None, body=None, credentials=None) -> httpx.Response:
    url = server.url + path + ("?" + urlencode(params, doseq=True) if params else "")
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method, url, data=data, headers={"host": f"127.0.0.1:{server.port}",
                                                          "content-type": "application/json"})
    SigV4Auth(Credentials(*(credentials or server.service.root_credentials)), "mobiletargeting",
              REGION).add_auth(request)
    return httpx.request(method, url, headers=dict(request.headers), content=data, timeout=60)


def get(server, app_id: str, route: str, **params) -> dict:
    response = call(server, "GET", f"/v1/apps/{app_id}/analytics/{route}", params)
    assert response.status_code == 200, response.text
    return response.json()


def _batches(events: list[dict]) -> list[dict]:
    """Generated events as PutEvents requests: per endpoint, the endpoint as its events saw it."""
    requests, current = [], {}
    for e in events:
        if e["event_type"].startswith("_email."):  # reserved for the service
            continue
        item = current.setdefault(e["endpoint_id"], {"Endpoint": _endpoint(e), "Events": {}})
        item["Events"][e["event_id"]] = _event(e)
        if sum(len(i["Events"]) for i in current.values()) == 100:
            requests.append(current)
            current = {}
    return requests + ([current] if current else [])


def _endpoint(e: dict) -> dict:
    return {"ChannelType": e["channel_type"], "Address": f"token-{e['endpoint_id']}",
            "Demographic": {"Platform": e["platform"], "PlatformVersion": e["platform_version"], "Make": e["make"],
                            "Model": e["model"], "Locale": e["locale"], "Timezone": e["timezone"]},
            "Location": {"Country": e["country"], "Region": e["region"], "City": e["city"]},
            "Attributes": e["endpoint_attributes"], **({"User": {"UserId": e["user_id"]}} if e["user_id"] else {})}


def _event(e: dict) -> dict:
    event = {"EventType": e["event_type"], "Timestamp": iso(e["event_time"].replace(tzinfo=timezone.utc)),
             "AppVersionCode": e["app_version"], "Attributes": e["attributes"], "Metrics": e["metrics"]}
    if e["session_id"]:
        session = {"Id": e["session_id"], "StartTimestamp": iso(e["session_start"].replace(tzinfo=timezone.utc))}
        if e["session_stop"]:
            session["StopTimestamp"] = iso(e["session_stop"].replace(tzinfo=timezone.utc))
            session["Duration"] = e["session_duration"]
        event["Session"] = session
    return event


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A live server holding one app whose history was sent with PutEvents; (server, app id, events)."""
    from clarion.service import build

    from ..conftest import make_settings

    service = build(make_settings(tmp_path_factory.mktemp("analytics")))
    server = LiveServer(service).start()
    try:
        client = server.client()
        app_id = client.create_app(CreateApplicationRequest={"Name": "shop"})["ApplicationResponse"]["Id"]
        scratch = duckdb.connect()
        schema.create(scratch)
        generate(scratch, app_id, seed=3, users=25, days=20, start=START)
        for batch in _batches(read_events(scratch, app_id)):
            results = client.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batch})
            statuses = {r["StatusCode"] for item in results["EventsResponse"]["Results"].values()
                        for r in item["EventsItemResponse"].values()}
            assert statuses == {202}
        with service.events.read() as cur:
            stored = read_events(cur, app_id)
        yield server, app_id, stored
    finally:
        server.stop()
        service.close()


def test_active_users_over_http_follow_their_definitions(live):
    server, app_id, events = live
    start, end = START + timedelta(days=3), START + timedelta(days=15)
    for by_user in (False, True):
        got = get(server, app_id, "active-users", start=start.isoformat(), end=end.isoformat(),
                  **{"by-user": str(by_user).lower(), "tz": "Europe/Paris"})
        expected = oracle.active_users(events, start, end, by_user=by_user, tz="Europe/Paris")
        assert [{"date": d["Date"], "dau": d["DailyActive"], "wau": d["WeeklyActive"], "mau": d["MonthlyActive"],
                 "new": d["New"]} for d in got["Days"]] == expected
        assert (got["ApplicationId"], got["Start"], got["End"], got["ByUser"], got["Timezone"]) == \
            (app_id, start.isoformat(), end.isoformat(), by_user, "Europe/Paris")
        assert all(set(d) == {"Date", "DailyActive", "WeeklyActive", "MonthlyActive", "StickyFactor", "New"}
                   for d in got["Days"])


def test_the_default_range_is_the_last_30_days_in_utc(live):
    server, app_id, _ = live
    got = get(server, app_id, "sessions")
    assert (got["Start"], got["End"], got["Timezone"]) == \
        ((TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat(), "UTC")
    assert len(got["Days"]) == 30 and got["Total"]["Sessions"] > 0


def test_each_route_answers_with_its_figures(live):
    server, app_id, events = live
    span = {"start": START.isoformat(), "end": (START + timedelta(days=19)).isoformat()}
    sessions = get(server, app_id, "sessions", **span)
    expected = oracle.sessions(events, START, START + timedelta(days=19))[None]
    assert (sessions["Total"]["Sessions"], sessions["Total"]["Active"]) == (expected["sessions"], expected["active"])
    assert sessions["Total"]["MedianDurationMs"] == pytest.approx(expected["median"])

    retention = get(server, app_id, "retention", days="7", **span)
    assert retention["Days"] == 7 and len(retention["Cohorts"][0]["Returning"]) == 7
    assert [r["Day"] for r in retention["Rates"]] == [7]

    platforms = get(server, app_id, "demographics", dimension="platform", **span)
    want = oracle.demographics(events, START, START + timedelta(days=19), "platform")
    assert {v["Value"]: v["Count"] for v in platforms["Values"]} == want["values"]
    plans = get(server, app_id, "demographics", dimension="endpoint-attribute:plan", **span)
    assert {v["Value"] for v in plans["Values"]} <= {"free", "pro"}

    views = get(server, app_id, "events", **{"event-type": "view_item", "attribute": ["category:shoes",
                                                                                      "category:hats"],
                                             "metric": "position"}, **span)
    want = oracle.event_figures(events, START, START + timedelta(days=19), "view_item",
                                {"category": ["shoes", "hats"]}, "position")[("view_item", None)]
    assert (views["Types"][0]["Count"], views["Types"][0]["Uniques"]) == (want["count"], want["uniques"])
    assert views["Types"][0]["Metric"]["SessionMean"] == pytest.approx(want["metric"]["session_mean"])
    assert len(views["Days"]) == 20 and views["EventType"] == "view_item"

    money = get(server, app_id, "revenue", currency="USD", **span)
    want = oracle.revenue(events, START, START + timedelta(days=19), currency="USD")[None]
    assert money["Total"]["Revenue"] == pytest.approx(want["revenue"])
    assert money["Total"]["Paying"] == want["paying"] and money["Currency"] == "USD"


def test_funnels_by_get_and_by_post_agree_with_the_definition(live):
    server, app_id, events = live
    span = {"start": START.isoformat(), "end": (START + timedelta(days=19)).isoformat()}
    steps = [{"event_type": "view_item", "attributes": {"category": ["shoes", "hats"]}}, {"event_type": "add_to_cart"},
             {"event_type": "_monetization.purchase"}]
    by_get = get(server, app_id, "funnel", step=["view_item;category=shoes;category=hats", "add_to_cart",
                                                 "_monetization.purchase"], window="2h", breakdown="platform", **span)
    response = call(server, "POST", f"/v1/apps/{app_id}/analytics/funnel", {**span, "window": "7200",
                                                                            "breakdown": "platform"},
                    {"Steps": [{"EventType": "view_item", "Attributes": {"category": ["shoes", "hats"]}},
                               "add_to_cart", {"EventType": "_monetization.purchase"}]})
    assert response.status_code == 200, response.text
    assert response.json() == by_get
    depths, by_value = oracle.funnel(events, START, START + timedelta(days=19), steps, timedelta(hours=2),
                                     breakdown="platform")
    assert [s["Count"] for s in by_get["Steps"]] == oracle.reaching(depths, 3)
    assert {v["Value"]: [s["Count"] for s in v["Steps"]] for v in by_get["Breakdown"]["Values"]} == \
        {value: oracle.reaching(d, 3) for value, d in by_value.items()}
    assert by_get["Steps"][0]["Attributes"] == {"category": ["shoes", "hats"]}
    assert by_get["WindowSeconds"] == 7200 and by_get["Breakdown"]["Dimension"] == "platform"


@pytest.mark.parametrize("route, params, message", [
    ("active-users", {"start": "2024-13-01"}, "Invalid start '2024-13-01': expected a date as YYYY-MM-DD"),
    ("active-users", {"start": "2024-02-01", "end": "2024-01-01"}, "end 2024-01-01 is before start 2024-02-01"),
    ("sessions", {"start": "2023-01-01", "end": "2024-06-01"}, "The range covers 518 days; at most 366"),
    ("sessions", {"byuser": "true"}, "Unknown parameter(s): byuser"),
    ("revenue", {"by-user": "maybe"}, "Invalid by-user 'maybe': expected true or false"),
    ("revenue", {"tz": "Mars/Olympus"}, "Unknown time zone 'Mars/Olympus'"),
    ("revenue", {"start": ["2024-01-01", "2024-01-02"]}, "Parameter 'start' is given 2 times"),
    ("demographics", {}, "Parameter 'dimension' is required"),
    ("demographics", {"dimension": "shoe-size"}, "Unknown dimension 'shoe_size'"),
    ("demographics", {"dimension": "country", "limit": "0"}, "Invalid limit 0: expected 1 to 1000"),
    ("retention", {"days": "91"}, "Invalid days 91: expected 1 to 90"),
    ("retention", {"end": "2024-03-01", "as-of": "2024-02-01"}, "as-of 2024-02-01 is before end 2024-03-01"),
    ("events", {"attribute": "category"}, "Invalid attribute 'category': expected KEY:VALUE"),
    ("events", {"event-type": ""}, "event-type and metric must not be empty"),
    ("funnel", {"step": "view_item"}, "A funnel needs between 2 and 20 steps"),
    ("funnel", {"step": ["a", "b"], "window": "soon"}, "Invalid window 'soon'"),
    ("funnel", {"step": ["a", "b"], "window": "0"}, "Invalid window '0'"),
    ("funnel", {"step": ["a;category", "b"]}, "Invalid step 'a;category'"),
    ("funnel", {"step": ["a", "b"], "breakdown": "attribute:"}, "Unknown breakdown 'attribute:'"),
])
def test_bad_parameters_are_400s_that_name_the_problem(live, route, params, message):
    server, app_id, _ = live
    response = call(server, "GET", f"/v1/apps/{app_id}/analytics/{route}", params)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert message in response.json()["Message"]


@pytest.mark.parametrize("body", [None, {"steps": ["a", "b"]}, {"Steps": "a,b"}, {"Steps": [1, "b"]},
                                  {"Steps": ["a", {"EventType": "b", "Filter": {}}]},
                                  {"Steps": ["a", "b"], "Window": 3}])
def test_a_bad_funnel_body_is_a_400(live, body):
    server, app_id, _ = live
    response = call(server, "POST", f"/v1/apps/{app_id}/analytics/funnel", body=body)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_an_unknown_app_is_pinpoints_404(live):
    server, _, _ = live
    response = call(server, "GET", f"/v1/apps/{'0' * 32}/analytics/active-users")
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "NotFoundException"
    assert response.json()["Message"] == "Application not found"


def test_auth_and_scope_apply(live):
    server, app_id, _ = live
    assert httpx.get(f"{server.url}/v1/apps/{app_id}/analytics/active-users").status_code == 403
    service = server.service
    other = server.client().create_app(CreateApplicationRequest={"Name": "other"})["ApplicationResponse"]["Id"]
    key_id, secret = key_store.new_key_pair()
    with service.store.write() as conn:
        key_store.insert(conn, service.vault, key_id, secret, apps=[other], description="scoped", root=False,
                         created=iso(datetime.now(timezone.utc)))
    refused = call(server, "GET", f"/v1/apps/{app_id}/analytics/revenue", credentials=(key_id, secret))
    assert refused.status_code == 403 and refused.headers["x-amzn-ErrorType"] == "ForbiddenException"
    allowed = call(server, "GET", f"/v1/apps/{other}/analytics/revenue", credentials=(key_id, secret))
    assert allowed.status_code == 200 and allowed.json()["Total"]["Revenue"] == 0
    assert call(server, "DELETE", f"/v1/apps/{app_id}/analytics/funnel").status_code == 405


def test_an_app_with_no_events_answers_zeros(live):
    server, _, _ = live
    empty = server.client().create_app(CreateApplicationRequest={"Name": "empty"})["ApplicationResponse"]["Id"]
    got = get(server, empty, "active-users", start="2024-01-01", end="2024-01-03")
    assert [d["DailyActive"] for d in got["Days"]] == [0, 0, 0]
    assert get(server, empty, "funnel", step=["a", "b"])["Steps"][0]["Count"] == 0
    assert date.fromisoformat(get(server, empty, "retention")["AsOf"]) == TODAY
