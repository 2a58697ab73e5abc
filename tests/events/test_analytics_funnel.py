"""Funnels, checked against a plain-Python walk over each actor's events (analytics_oracle.funnel)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import duckdb
import pytest

from clarion.events import analytics, schema
from clarion.events.generate import read_events

from . import analytics_oracle as oracle
from .analytics_data import APP, START, history, insert

FROM = START + timedelta(days=10)
TO = START + timedelta(days=40)

SHOP = ["view_item", "add_to_cart", "checkout", "_monetization.purchase"]
FUNNELS = {
    "shop": SHOP,
    "from sessions": ["_session.start", "view_item", "add_to_cart", "checkout", "_monetization.purchase"],
    "with filters": [{"event_type": "view_item", "attributes": {"category": ["shoes", "books"]}},
                     {"event_type": "add_to_cart", "attributes": {"category": "shoes"}},
                     "_monetization.purchase"],
    "repeated type": ["view_item", "view_item", "add_to_cart", "add_to_cart"],
    "sign in first": ["_userauth.sign_in", "level_complete", "_monetization.purchase"],
}


@pytest.fixture(scope="module")
def data():
    return history()


def _steps(steps):
    return [s if isinstance(s, dict) else {"event_type": s} for s in steps]


def _counts(result_steps):
    return [s["count"] for s in result_steps]


@pytest.mark.parametrize("name", list(FUNNELS))
@pytest.mark.parametrize("window", [timedelta(minutes=20), timedelta(days=1), timedelta(days=7)])
@pytest.mark.parametrize("by_user, tz", [(False, None), (True, "Europe/Paris")])
def test_funnels_follow_their_definition(data, name, window, by_user, tz):
    con, events = data
    steps = FUNNELS[name]
    got = analytics.funnel(con, APP, FROM, TO, steps, window=window, by_user=by_user, tz=tz)
    depths, _ = oracle.funnel(events, FROM, TO, _steps(steps), window, by_user=by_user, tz=tz)
    expected = oracle.reaching(depths, len(steps))
    assert _counts(got["steps"]) == expected
    assert expected[0] > 0 and expected == sorted(expected, reverse=True)
    first = got["steps"][0]["count"]
    for previous, step in zip([None] + got["steps"], got["steps"]):
        assert step["rate"] == pytest.approx(step["count"] / first)
        assert step["step_rate"] == pytest.approx(step["count"] / (previous or step)["count"])
    assert got["window_seconds"] == int(window.total_seconds())


def test_a_longer_window_converts_more(data):
    con, _ = data
    short = analytics.funnel(con, APP, FROM, TO, SHOP, window=timedelta(minutes=20))
    long = analytics.funnel(con, APP, FROM, TO, SHOP, window=timedelta(days=7))
    assert short["steps"][0]["count"] == long["steps"][0]["count"]
    assert short["steps"][-1]["count"] < long["steps"][-1]["count"]


@pytest.mark.parametrize("breakdown", ["platform", "country", "app_version", "attribute:category",
                                       "endpoint_attribute:interests", "endpoint_attribute:plan"])
def test_breakdowns_follow_their_definition(data, breakdown):
    con, events = data
    steps = FUNNELS["from sessions"] if not breakdown.startswith("attribute:") else SHOP
    got = analytics.funnel(con, APP, FROM, TO, steps, window=timedelta(days=2), breakdown=breakdown)
    depths, by_value = oracle.funnel(events, FROM, TO, _steps(steps), timedelta(days=2), breakdown=breakdown)
    assert _counts(got["steps"]) == oracle.reaching(depths, len(steps))
    assert got["breakdown"]["dimension"] == breakdown
    assert {v["value"]: _counts(v["steps"]) for v in got["breakdown"]["values"]} == \
        {value: oracle.reaching(d, len(steps)) for value, d in by_value.items()}
    entered = [v["steps"][0]["count"] for v in got["breakdown"]["values"]]
    assert entered == sorted(entered, reverse=True)
    if breakdown != "endpoint_attribute:interests":  # a list attribute counts an actor under each value
        assert sum(entered) == got["steps"][0]["count"]


def test_by_user_joins_a_users_devices_and_splits_anonymous_use():
    con = duckdb.connect()
    schema.create(con)
    t = datetime(2024, 3, 5, 12, 0)
    insert(con, [
        # app "x": one device views anonymously, then adds to cart signed in as u1
        {"app_id": "x", "event_id": "1", "event_type": "view_item", "event_time": t, "endpoint_id": "d1"},
        {"app_id": "x", "event_id": "2", "event_type": "add_to_cart", "event_time": t + timedelta(minutes=1),
         "endpoint_id": "d1", "user_id": "u1"},
        # app "z": user u2 views on a phone and adds to cart on a laptop
        {"app_id": "z", "event_id": "3", "event_type": "view_item", "event_time": t, "endpoint_id": "phone",
         "user_id": "u2"},
        {"app_id": "z", "event_id": "4", "event_type": "add_to_cart", "event_time": t + timedelta(minutes=1),
         "endpoint_id": "laptop", "user_id": "u2"},
    ])
    day, steps = t.date(), ["view_item", "add_to_cart"]
    assert _counts(analytics.funnel(con, "x", day, day, steps)["steps"]) == [1, 1]
    assert _counts(analytics.funnel(con, "x", day, day, steps, by_user=True)["steps"]) == [1, 0]
    assert _counts(analytics.funnel(con, "z", day, day, steps)["steps"]) == [1, 0]
    assert _counts(analytics.funnel(con, "z", day, day, steps, by_user=True)["steps"]) == [1, 1]


def test_a_next_step_at_the_very_same_time_counts():
    con = duckdb.connect()
    schema.create(con)
    t = datetime(2024, 3, 5, 12, 0)
    insert(con, [
        {"app_id": "x", "event_id": "1", "event_type": "view_item", "event_time": t, "endpoint_id": "d1"},
        {"app_id": "x", "event_id": "2", "event_type": "add_to_cart", "event_time": t, "endpoint_id": "d1"},
        {"app_id": "x", "event_id": "3", "event_type": "view_item", "event_time": t + timedelta(seconds=1),
         "endpoint_id": "d1"},
    ])
    got = analytics.funnel(con, "x", t.date(), t.date(), ["view_item", "add_to_cart", "view_item"])
    assert _counts(got["steps"]) == [1, 1, 1]


def test_malformed_funnels_are_refused(data):
    con, _ = data
    for steps in (["view_item"], [], [{"event_type": ""}, "x"], [{"attributes": {}}, "x"],
                  [{"event_type": "a", "attributes": {"k": 3}}, "b"], ["a"] * 21):
        with pytest.raises(ValueError):
            analytics.funnel(con, APP, FROM, TO, steps)
    with pytest.raises(ValueError, match="window"):
        analytics.funnel(con, APP, FROM, TO, SHOP, window=timedelta(0))
    with pytest.raises(ValueError, match="breakdown"):
        analytics.funnel(con, APP, FROM, TO, SHOP, breakdown="shoe_size")


def _crowded_history(seed: int) -> list[dict]:
    """A few devices (some sharing a user) whose events fall on a handful of instants: many equal
    timestamps, same-type steps and entries at the very same time, where a chain's order matters."""
    rnd = random.Random(seed)
    t = datetime(2024, 3, 5, 12, 0)
    instants = [t + timedelta(minutes=rnd.choice([0, 1, 2, 5, 30, 90, 600])) for _ in range(6)]
    devices = [(f"d{i}", rnd.choice([None, "u1", "u2"]), rnd.choice(["iOS", "Android", "Web"])) for i in range(6)]
    rows = []
    for n in range(160):
        endpoint, user, platform = rnd.choice(devices)
        rows.append({"app_id": "crowd", "event_id": f"e{rnd.randrange(10**6):06d}-{n}", "endpoint_id": endpoint,
                     "user_id": user, "platform": platform, "event_type": rnd.choice("abc"),
                     "event_time": rnd.choice(instants) + timedelta(days=rnd.choice([0, 0, 1])),
                     "attributes": {"cat": rnd.choice(["x", "y"])}})
    return rows


CROWDED_FUNNELS = [["a", "b", "c"], ["a", "b", "a"], ["a", "a", "b"], ["b", "b", "b", "a"],
                   [{"event_type": "a", "attributes": {"cat": "x"}}, "a", {"event_type": "a", "attributes": {"cat": "y"}}]]


@pytest.mark.parametrize("seed", range(6))
def test_equal_timestamps_and_repeated_types_follow_the_definition(seed):
    con = duckdb.connect()
    schema.create(con)
    insert(con, _crowded_history(seed))
    events = read_events(con, "crowd")
    day = date(2024, 3, 5)
    for steps in CROWDED_FUNNELS:
        for window, by_user, breakdown in [(timedelta(minutes=2), False, "platform"),
                                           (timedelta(hours=2), True, "platform"),
                                           (timedelta(days=1), True, "attribute:cat")]:
            got = analytics.funnel(con, "crowd", day, day, steps, window=window, by_user=by_user, breakdown=breakdown)
            depths, by_value = oracle.funnel(events, day, day, _steps(steps), window, breakdown=breakdown,
                                             by_user=by_user)
            assert _counts(got["steps"]) == oracle.reaching(depths, len(steps)), (steps, window, by_user)
            assert {v["value"]: _counts(v["steps"]) for v in got["breakdown"]["values"]} == \
                {value: oracle.reaching(d, len(steps)) for value, d in by_value.items()}, (steps, window, by_user)
