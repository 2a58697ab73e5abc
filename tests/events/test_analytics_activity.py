"""Sessions, events and revenue, each checked against a plain-Python computation of its
definition over the generated history (tests/events/analytics_oracle.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clarion.events import analytics

from . import analytics_oracle as oracle
from .analytics_data import APP, START, history

FROM = START + timedelta(days=10)
TO = START + timedelta(days=40)
WHO_AND_WHEN = [(False, None), (True, None), (False, "America/Los_Angeles"), (True, "Asia/Tokyo")]


@pytest.fixture(scope="module")
def data():
    return history()


def _approx(value):
    return None if value is None else pytest.approx(value)


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
def test_sessions_follow_their_definitions(data, by_user, tz):
    con, events = data
    got = analytics.sessions(con, APP, FROM, TO, by_user=by_user, tz=tz)
    expected = oracle.sessions(events, FROM, TO, by_user=by_user, tz=tz)
    rows = [(date.fromisoformat(d["date"]), d) for d in got["days"]] + [(None, got["total"])]
    assert [day for day, _ in rows] == list(expected)
    for day, row in rows:
        want = expected[day]
        assert (row["sessions"], row["active"], row["sessions_with_duration"]) == \
            (want["sessions"], want["active"], want["measured"]), day
        assert row["median_duration_ms"] == _approx(want["median"])
        assert row["mean_duration_ms"] == _approx(want["mean"])
        assert row["sessions_per_active"] == _approx(want["sessions"] / want["active"] if want["active"] else None)
    assert got["total"]["sessions"] > got["total"]["active"] > 0


def test_a_stop_without_duration_measures_stop_minus_start(data):
    con, _ = data
    day = date(2024, 3, 5)
    edge_only = [e for e in data[1] if e["event_type"] == "_session.stop" and e["session_id"] == "edge-s1"]
    assert edge_only and edge_only[0]["session_duration"] is None
    got = analytics.sessions(con, APP, day, day)
    expected = oracle.sessions(data[1], day, day)[day]
    assert got["days"][0]["mean_duration_ms"] == pytest.approx(expected["mean"])
    assert got["days"][0]["sessions_with_duration"] == expected["measured"]


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
def test_event_types_over_the_range(data, by_user, tz):
    con, events = data
    got = analytics.events(con, APP, FROM, TO, by_user=by_user, tz=tz)
    expected = oracle.event_figures(events, FROM, TO, by_user=by_user, tz=tz)
    sessions = oracle.sessions(events, FROM, TO, tz=tz)[None]["sessions"]
    assert got["days"] == []
    assert {t["event_type"]: (t["count"], t["uniques"]) for t in got["types"]} == \
        {k[0]: (v["count"], v["uniques"]) for k, v in expected.items() if k[1] is None}
    for t in got["types"]:
        assert t["per_session"] == pytest.approx(t["count"] / sessions)
    counts = [t["count"] for t in got["types"]]
    assert counts == sorted(counts, reverse=True)
    assert "_email.send" in {t["event_type"] for t in got["types"]}  # counted as an event, not as activity


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
@pytest.mark.parametrize("event_type, attributes, metric", [
    ("view_item", None, "position"),
    ("view_item", {"category": "shoes"}, None),
    ("view_item", {"category": ["shoes", "hats"], "item_id": ["item-1", "item-2", "item-3"]}, "position"),
    ("level_complete", {"difficulty": "hard"}, "score"),
    ("_monetization.purchase", None, "_item_price"),
    ("checkout", None, "nothing-logs-this"),
])
def test_one_event_type_per_day(data, by_user, tz, event_type, attributes, metric):
    con, events = data
    got = analytics.events(con, APP, FROM, TO, event_type=event_type, attributes=attributes, metric=metric,
                           by_user=by_user, tz=tz)
    expected = oracle.event_figures(events, FROM, TO, event_type, attributes, metric, by_user=by_user, tz=tz)
    sessions = oracle.sessions(events, FROM, TO, tz=tz)
    assert [d["date"] for d in got["days"]] == [d.isoformat() for d in oracle.days(FROM, TO)]
    rows = [(date.fromisoformat(d["date"]), d) for d in got["days"]] + [(None, t) for t in got["types"]]
    assert len(got["types"]) == (1 if (event_type, None) in expected else 0)
    for day, row in rows:
        want = expected.get((event_type, day), {"count": 0, "uniques": 0, "metric": {
            "events": 0, "sum": 0, "min": None, "max": None, "mean": None, "session_mean": None}})
        assert (row["count"], row["uniques"]) == (want["count"], want["uniques"]), day
        assert row["per_session"] == _approx(want["count"] / sessions[day]["sessions"]
                                             if sessions[day]["sessions"] else None)
        if metric is not None:
            m = row["metric"]
            assert m["name"] == metric and m["events"] == want["metric"]["events"]
            for key in ("sum", "min", "max", "mean", "session_mean"):
                assert m[key] == _approx(want["metric"][key]), (day, key)
        else:
            assert "metric" not in row


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
def test_a_metric_over_every_event_type(data, by_user, tz):
    con, events = data
    got = analytics.events(con, APP, FROM, TO, metric="position", by_user=by_user, tz=tz)
    expected = oracle.event_figures(events, FROM, TO, metric="position", by_user=by_user, tz=tz)
    assert got["days"] == []
    assert {t["event_type"] for t in got["types"]} == {k[0] for k in expected if k[1] is None}
    for t in got["types"]:
        want = expected[(t["event_type"], None)]
        assert (t["count"], t["uniques"], t["metric"]["events"]) == \
            (want["count"], want["uniques"], want["metric"]["events"])
        for key in ("sum", "min", "max", "mean", "session_mean"):
            assert t["metric"][key] == _approx(want["metric"][key]), (t["event_type"], key)
    assert any(t["metric"]["events"] for t in got["types"]) and not all(t["metric"]["events"] for t in got["types"])


def test_the_per_session_mean_weighs_sessions_equally(data):
    con, events = data
    # Sessions hold one to three item views: per event and per session the means differ.
    got = analytics.events(con, APP, FROM, TO, event_type="view_item", metric="position")["types"][0]["metric"]
    expected = oracle.event_figures(events, FROM, TO, "view_item", None, "position")[("view_item", None)]["metric"]
    assert got["session_mean"] == pytest.approx(expected["session_mean"])
    assert got["mean"] == pytest.approx(expected["mean"])
    assert abs(got["session_mean"] - got["mean"]) > 1e-6


def test_events_without_a_session_are_sessions_of_their_own(data):
    con, _ = data
    day = date(2024, 3, 5)
    got = analytics.events(con, APP, day, day, event_type="level_complete", metric="score",
                           attributes={"difficulty": "hard"})["types"][0]["metric"]
    generated = [e["metrics"]["score"] for e in data[1] if e["event_type"] == "level_complete"
                 and e["attributes"]["difficulty"] == "hard" and e["event_time"].date() == day
                 and e["session_id"] is not None]
    # each generated session logs one score; the two edge events (10, 2000) have no session id
    assert got["session_mean"] == pytest.approx((sum(generated) + 10 + 2000) / (len(generated) + 2))


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
@pytest.mark.parametrize("currency", [None, "USD", "GBP"])
def test_revenue_follows_its_definitions(data, by_user, tz, currency):
    con, events = data
    got = analytics.revenue(con, APP, FROM, TO, currency=currency, by_user=by_user, tz=tz)
    expected = oracle.revenue(events, FROM, TO, currency=currency, by_user=by_user, tz=tz)
    rows = [(date.fromisoformat(d["date"]), d) for d in got["days"]] + [(None, got["total"])]
    assert [day for day, _ in rows] == list(expected)
    for day, row in rows:
        want = expected[day]
        assert (row["purchases"], row["paying"], row["active"]) == \
            (want["purchases"], want["paying"], want["active"]), day
        assert row["revenue"] == pytest.approx(want["revenue"])
        assert row["units"] == pytest.approx(want["units"])
        assert row["revenue_per_active"] == _approx(want["revenue"] / want["active"] if want["active"] else None)
        assert row["revenue_per_paying"] == _approx(want["revenue"] / want["paying"] if want["paying"] else None)
    if currency is None:
        assert {c["currency"] for c in got["currencies"]} == {"USD", "EUR", "GBP"}
        assert sum(c["revenue"] for c in got["currencies"]) == pytest.approx(got["total"]["revenue"])
    else:
        assert [c["currency"] for c in got["currencies"]] == [currency]


def test_a_purchase_without_quantity_counts_one_unit_and_without_price_earns_nothing(data):
    con, _ = data
    day = date(2024, 3, 5)
    got = analytics.revenue(con, APP, day, day, currency="GBP")
    assert got["total"]["purchases"] == 2
    assert got["total"]["revenue"] == pytest.approx(3.5)
    assert got["total"]["units"] == pytest.approx(3.0)
    assert got["total"]["paying"] == 1
