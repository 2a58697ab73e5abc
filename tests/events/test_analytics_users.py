"""Active users, retention and demographics, each checked against a plain-Python computation of
its definition over the generated history (tests/events/analytics_oracle.py)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from clarion.events import analytics
from clarion.events.analytics_base import Scope

from . import analytics_oracle as oracle
from .analytics_data import APP, END, OTHER_APP, START, history

FROM = START + timedelta(days=12)
TO = START + timedelta(days=44)

WHO_AND_WHEN = [(False, None), (True, None), (False, "America/New_York"), (True, "Asia/Kolkata"),
                (False, "Europe/Berlin")]


@pytest.fixture(scope="module")
def data():
    return history()


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN)
def test_active_users_follow_their_definitions(data, by_user, tz):
    con, events = data
    got = analytics.active_users(con, APP, FROM, TO, by_user=by_user, tz=tz)
    expected = oracle.active_users(events, FROM, TO, by_user=by_user, tz=tz)
    assert [{k: d[k] for k in ("date", "dau", "wau", "mau", "new")} for d in got["days"]] == expected
    for day in got["days"]:
        assert day["sticky"] == pytest.approx(day["dau"] / day["mau"])
    pairs = oracle.activity(events, by_user, tz)
    assert got["total"]["active"] == len({who for who, d in pairs if FROM <= d <= TO})
    assert got["total"]["new"] == sum(d["new"] for d in expected)
    assert any(d["new"] for d in expected) and any(d["mau"] > d["wau"] > d["dau"] for d in expected)


def test_grouping_by_user_counts_fewer_actors_than_devices(data):
    con, _ = data
    devices = analytics.active_users(con, APP, FROM, TO)["total"]["active"]
    users = analytics.active_users(con, APP, FROM, TO, by_user=True)["total"]["active"]
    assert 0 < users < devices


def test_the_first_day_of_history_has_only_new_actives(data):
    con, events = data
    first_day = min(e["event_time"] for e in events).date()
    got = analytics.active_users(con, APP, first_day, first_day + timedelta(days=3))
    expected = oracle.active_users(events, first_day, first_day + timedelta(days=3))
    assert [{k: d[k] for k in ("date", "dau", "wau", "mau", "new")} for d in got["days"]] == expected
    first = got["days"][0]
    assert first["dau"] == first["wau"] == first["mau"] == first["new"] > 0


def test_service_events_never_make_an_endpoint_active(data):
    con, _ = data
    # edge-ep-quiet only received a campaign send and an SMS: it must not be counted anywhere.
    canada = analytics.demographics(con, APP, date(2024, 3, 1), date(2024, 3, 31), "country")
    assert {v["value"]: v["count"] for v in canada["values"]}["CA"] == 3
    quiet = con.execute("SELECT count(*) FROM events WHERE endpoint_id = 'edge-ep-quiet'").fetchone()[0]
    assert quiet == 2


def test_apps_do_not_see_each_other(data):
    con, events = data
    ours = analytics.active_users(con, APP, FROM, TO)
    theirs = analytics.active_users(con, OTHER_APP, FROM, TO)
    assert theirs["total"]["active"] < ours["total"]["active"]
    nobody = analytics.active_users(con, "0" * 32, FROM, TO)
    assert nobody["total"] == {"active": 0, "new": 0}
    assert all(d["dau"] == d["mau"] == 0 and d["sticky"] is None for d in nobody["days"])


@pytest.mark.parametrize("by_user, tz", WHO_AND_WHEN[:4])
def test_retention_cohorts_follow_their_definitions(data, by_user, tz):
    con, events = data
    as_of = TO + timedelta(days=10)
    got = analytics.retention(con, APP, FROM, TO, by_user=by_user, tz=tz, as_of=as_of)
    expected = oracle.retention(events, FROM, TO, as_of, by_user=by_user, tz=tz)
    assert {c["date"]: {k: c[k] for k in ("size", "returning", "within")} for c in got["cohorts"]} == expected
    for rate in got["rates"]:
        n = rate["day"]
        observed = [c for c in expected.values() if c["returning"][n - 1] is not None]
        size = sum(c["size"] for c in observed)
        assert rate["cohort_size"] == size
        assert rate["on_day"] == pytest.approx(sum(c["returning"][n - 1] for c in observed) / size)
        assert rate["within"] == pytest.approx(sum(c["within"][n - 1] for c in observed) / size)
    assert [r["day"] for r in got["rates"]] == [7, 14, 30]


def test_retention_days_after_as_of_are_not_observed_yet(data):
    con, _ = data
    got = analytics.retention(con, APP, FROM, FROM + timedelta(days=2), as_of=FROM + timedelta(days=5), days=10)
    first = got["cohorts"][0]
    assert first["returning"][4] is not None and first["returning"][5] is None
    assert len(first["returning"]) == 10
    assert [r["day"] for r in got["rates"]] == [7, 10]
    assert all(r["on_day"] is None and r["cohort_size"] == 0 for r in got["rates"])


@pytest.mark.parametrize("dimension", ["platform", "os_version", "model", "app_version", "country", "locale",
                                       "endpoint_attribute:plan", "endpoint_attribute:interests"])
@pytest.mark.parametrize("by_user", [False, True])
def test_demographics_follow_their_definition(data, dimension, by_user):
    con, events = data
    got = analytics.demographics(con, APP, FROM, TO, dimension, by_user=by_user)
    expected = oracle.demographics(events, FROM, TO, dimension, by_user=by_user)
    assert got["total"] == expected["total"]
    assert {v["value"]: v["count"] for v in got["values"]} == expected["values"]
    assert got["distinct_values"] == len(expected["values"])
    counts = [v["count"] for v in got["values"]]
    assert counts == sorted(counts, reverse=True)
    for v in got["values"]:
        assert v["share"] == pytest.approx(v["count"] / got["total"])


def test_demographics_limit_keeps_the_most_common_values(data):
    con, _ = data
    everything = analytics.demographics(con, APP, FROM, TO, "model")
    top = analytics.demographics(con, APP, FROM, TO, "model", limit=2)
    assert top["values"] == everything["values"][:2]
    assert top["distinct_values"] == everything["distinct_values"] > 2


def test_app_versions_move_on_over_time(data):
    con, _ = data
    early = analytics.demographics(con, APP, START, START + timedelta(days=5), "app_version")
    late = analytics.demographics(con, APP, END - timedelta(days=5), END, "app_version")
    assert max(v["value"] for v in late["values"]) > max(v["value"] for v in early["values"])


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Adelaide",
                                "Asia/Kathmandu", "UTC"])
def test_local_days_match_zoneinfo_across_dst_changes(data, tz):
    con, _ = data
    scope = Scope(APP, date(2024, 3, 1), date(2024, 4, 30), tz=tz)
    rng = random.Random(5)
    moments = [datetime(2024, 2, 20) + timedelta(seconds=rng.randrange(80 * 86400)) for _ in range(300)]
    moments += [datetime(2024, 3, 10, 6, 59, 59), datetime(2024, 3, 10, 7, 0), datetime(2024, 3, 31, 0, 59, 59),
                datetime(2024, 3, 31, 1, 0), datetime(2024, 4, 6, 16, 29, 59), datetime(2024, 4, 6, 16, 30)]
    sql = f"SELECT m, {scope.day('m')} FROM unnest(?::TIMESTAMP[]) t(m)"
    for moment, day in con.execute(sql, [moments]).fetchall():
        assert day == moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)).date(), moment


def test_bad_parameters_are_refused(data):
    con, _ = data
    with pytest.raises(analytics.UnknownTimeZone):
        analytics.active_users(con, APP, FROM, TO, tz="Mars/Olympus")
    with pytest.raises(ValueError):
        analytics.active_users(con, APP, TO, FROM)
    with pytest.raises(ValueError, match="Unknown dimension"):
        analytics.demographics(con, APP, FROM, TO, "shoe_size")
