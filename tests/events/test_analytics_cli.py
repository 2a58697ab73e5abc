"""`clarion analytics ...`: tables from a data dir, or from a running server's API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from clarion.cli import main
from clarion.events import analytics, schema
from clarion.events.generate import generate
from clarion.operations import Caller, Context
from clarion.operations.analytics import pascal
from clarion.operations.apps import create_app
from clarion.service import build

from ..conftest import LiveServer, make_settings

START = date(2024, 5, 1)
SPAN = ["--start", "2024-05-03", "--end", "2024-05-20"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data dir holding an app and its generated events; (settings, app id)."""
    settings = make_settings(tmp_path_factory.mktemp("cli"))
    service = build(settings)
    try:
        ctx = Context(service, Caller("test"), "r")
        app_id = create_app(ctx, {"Name": "shop"})["Id"]
    finally:
        service.close()
    con = duckdb.connect(str(settings.data_dir / "events.duckdb"))
    schema.create(con)
    generate(con, app_id, seed=5, users=40, days=25, start=START)
    con.close()
    return settings, app_id


def run(settings, *args, env=None) -> str:
    result = CliRunner().invoke(main, ["analytics", *args, "--data-dir", str(settings.data_dir)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def direct(settings, fn, *args, **kwargs):
    con = duckdb.connect(str(settings.data_dir / "events.duckdb"), read_only=True)
    try:
        return pascal(fn(con, *args, **kwargs))
    finally:
        con.close()


def test_json_answers_are_the_queries_answers(data_dir):
    settings, app_id = data_dir
    got = json.loads(run(settings, "active-users", "--app", app_id, *SPAN, "--by-user", "--json"))
    expected = direct(settings, analytics.active_users, app_id, date(2024, 5, 3), date(2024, 5, 20), by_user=True)
    assert got["Days"] == expected["Days"] and got["Total"] == expected["Total"]
    assert got["ByUser"] is True and got["ApplicationId"] == app_id
    got = json.loads(run(settings, "funnel", "--app", app_id, *SPAN, "--step", "view_item;category=shoes",
                         "--step", "add_to_cart", "--window", "1h", "--json"))
    expected = direct(settings, analytics.funnel, app_id, date(2024, 5, 3), date(2024, 5, 20),
                      [{"event_type": "view_item", "attributes": {"category": "shoes"}}, "add_to_cart"],
                      window=timedelta(hours=1))
    assert [s["Count"] for s in got["Steps"]] == [s["Count"] for s in expected["Steps"]]


@pytest.mark.parametrize("args, headings", [
    (["active-users"], ["DAU", "WAU", "MAU", "sticky", "range"]),
    (["sessions", "--tz", "Asia/Tokyo"], ["sessions", "per active", "median", "(Asia/Tokyo days)"]),
    (["retention", "--days", "7"], ["Cohorts", "day 7", "Retention (observed to 2024-05-27)", "within N days"]),
    (["demographics", "--dimension", "endpoint-attribute:plan"], ["endpoint_attribute:plan", "free", "share"]),
    (["events"], ["view_item", "_session.start", "per session"]),
    (["events", "--event-type", "level_complete", "--metric", "score", "--attribute", "difficulty:hard"],
     ["level_complete", "per-session mean", "2024-05-20"]),
    (["funnel", "--step", "_session.start", "--step", "view_item", "--step", "_monetization.purchase",
      "--breakdown", "platform"], ["Funnel (window 604,800 s)", "iOS", "Android", "of previous"]),
    (["revenue", "--by-user"], ["Revenue", "per paying", "By currency", "USD", "counting users"]),
])
def test_each_command_prints_tables(data_dir, args, headings):
    settings, app_id = data_dir
    out = run(settings, *args, "--app", app_id, *SPAN)
    for heading in headings:
        assert heading in out
    assert f"App {app_id}, 2024-05-03 to 2024-05-20" in out


def test_totals_in_the_table_are_the_api_figures(data_dir):
    settings, app_id = data_dir
    out = run(settings, "revenue", "--app", app_id, *SPAN)
    expected = direct(settings, analytics.revenue, app_id, date(2024, 5, 3), date(2024, 5, 20))
    assert f"{expected['Total']['Revenue']:,.2f}" in out
    assert f"{expected['Total']['Purchases']:,}" in out


def test_errors_exit_with_the_apis_message(data_dir):
    settings, app_id = data_dir
    result = CliRunner().invoke(main, ["analytics", "demographics", "--app", app_id, "--dimension", "shoe-size",
                                       "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1 and "Unknown dimension 'shoe_size'" in result.output
    result = CliRunner().invoke(main, ["analytics", "sessions", "--app", "0" * 32,
                                       "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1 and "Application not found" in result.output


def test_a_running_server_is_asked_over_its_api(tmp_path):
    settings = make_settings(tmp_path)
    service = build(settings)
    server = LiveServer(service).start()
    try:
        client = server.client()
        app_id = client.create_app(CreateApplicationRequest={"Name": "live"})["ApplicationResponse"]["Id"]
        client.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {"phone": {
            "Endpoint": {"ChannelType": "GCM", "Demographic": {"Platform": "Android"}},
            "Events": {"e1": {"EventType": "_session.start", "Timestamp": "2024-05-04T10:00:00Z"},
                       "e2": {"EventType": "_monetization.purchase", "Timestamp": "2024-05-04T10:01:00Z",
                              "Attributes": {"_currency": "USD"}, "Metrics": {"_item_price": 4.5, "_quantity": 2}}}}}})
        env = {"CLARION_ACCESS_KEY_ID": settings.access_key_id,
               "CLARION_SECRET_ACCESS_KEY": settings.secret_access_key}
        out = run(settings, "revenue", "--app", app_id, *SPAN, "--endpoint-url", server.url, "--json", env=env)
        assert json.loads(out)["Total"]["Revenue"] == 9.0
        # Without --endpoint-url, another process cannot open the event store the server holds.
        blocked = subprocess.run([sys.executable, "-m", "clarion", "analytics", "revenue", "--app", app_id,
                                  "--data-dir", str(settings.data_dir)], capture_output=True, text=True,
                                 env={**env, "PATH": ""}, timeout=120)
        assert blocked.returncode == 1 and "--endpoint-url" in blocked.stderr
        wrong = CliRunner().invoke(main, ["analytics", "revenue", "--app", app_id, "--endpoint-url", server.url,
                                          "--data-dir", str(tmp_path / "elsewhere")])
        assert wrong.exit_code == 1 and "No credentials" in wrong.output
    finally:
        server.stop()
        service.close()
