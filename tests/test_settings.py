"""Application settings through boto3 against a live server, on both store backends."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from clarion.clock import FixedClock
from clarion.store import apps as app_store


def _settings(client, app_id: str) -> dict:
    return client.get_application_settings(ApplicationId=app_id)["ApplicationSettingsResource"]


def _update(client, app_id: str, **request) -> dict:
    return client.update_application_settings(
        ApplicationId=app_id, WriteApplicationSettingsRequest=request)["ApplicationSettingsResource"]


def test_a_new_app_has_empty_defaults(client, app_id):
    settings = _settings(client, app_id)
    assert settings["ApplicationId"] == app_id and settings["LastModifiedDate"].endswith("Z")
    assert settings["Limits"] == {} and settings["QuietTime"] == {} and settings["CampaignHook"] == {}


def test_update_replaces_each_member_sent_and_keeps_the_others(client, app_id, service):
    service.clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    created = _settings(client, app_id)
    service.clock.advance(seconds=30)
    limits = {"Daily": 5, "Total": 20, "MessagesPerSecond": 200, "MaximumDuration": 600, "Session": 3}
    first = _update(client, app_id, Limits=limits, QuietTime={"Start": "22:00", "End": "07:30"})
    assert first["Limits"] == limits and first["QuietTime"] == {"Start": "22:00", "End": "07:30"}
    assert first["LastModifiedDate"] > created["LastModifiedDate"]

    journey_limits = {"DailyCap": 2, "TotalCap": 0, "TimeframeCap": {"Cap": 4, "Days": 7}}
    second = _update(client, app_id, Limits={"Daily": 1}, JourneyLimits=journey_limits,
                     CampaignHook={"LambdaFunctionName": "segment-filter", "Mode": "FILTER"})
    assert second["Limits"] == {"Daily": 1}  # a member sent replaces the stored one whole
    assert second["QuietTime"] == {"Start": "22:00", "End": "07:30"}  # a member not sent is kept
    assert second["JourneyLimits"] == journey_limits
    assert second["CampaignHook"] == {"LambdaFunctionName": "segment-filter", "Mode": "FILTER"}
    assert _settings(client, app_id) == second

    cleared = _update(client, app_id, QuietTime={})
    assert cleared["QuietTime"] == {} and cleared["Limits"] == {"Daily": 1}


def test_request_only_flags_are_stored_but_not_answered(client, app_id, service):
    raw = []
    client.meta.events.register("after-call.pinpoint", lambda http_response, **_: raw.append(http_response.content))
    updated = _update(client, app_id, CloudWatchMetricsEnabled=True, EventTaggingEnabled=True)
    assert "CloudWatchMetricsEnabled" not in updated
    assert b"CloudWatchMetricsEnabled" not in raw[-1] and b"EventTaggingEnabled" not in raw[-1]
    with service.store.read() as conn:
        stored = app_store.get_settings(conn, app_id)
    assert stored["CloudWatchMetricsEnabled"] is True and stored["EventTaggingEnabled"] is True


def test_members_the_model_does_not_know_are_ignored(client, app_id):
    body = json.dumps({"Limits": {"Daily": 3, "Bogus": 1}, "Bogus": {"x": 1}}).encode()
    # boto3 cannot send members its model lacks: replace the body before it is signed.
    client.meta.events.register("before-sign.pinpoint.UpdateApplicationSettings",
                                lambda request, **_: setattr(request, "data", body))
    updated = _update(client, app_id, Limits={"Daily": 1})
    assert updated["Limits"] == {"Daily": 3} and "Bogus" not in updated
    assert _settings(client, app_id) == updated


@pytest.mark.parametrize("request_, message", [
    ({"Limits": {"Daily": 101}}, "Limits.Daily must be from 0 to 100"),
    ({"Limits": {"Total": -1}}, "Limits.Total"),
    ({"Limits": {"MessagesPerSecond": 0}}, "Limits.MessagesPerSecond must be from 1 to 20000"),
    ({"Limits": {"MessagesPerSecond": 20001}}, "Limits.MessagesPerSecond"),
    ({"Limits": {"MaximumDuration": 59}}, "Limits.MaximumDuration must be at least 60"),
    ({"Limits": {"Session": -2}}, "Limits.Session"),
    ({"JourneyLimits": {"DailyCap": 101}}, "JourneyLimits.DailyCap"),
    ({"JourneyLimits": {"TotalCap": 500}}, "JourneyLimits.TotalCap"),
    ({"JourneyLimits": {"TimeframeCap": {"Cap": 5, "Days": 31}}}, "JourneyLimits.TimeframeCap.Days"),
    ({"JourneyLimits": {"TimeframeCap": {"Cap": 101, "Days": 3}}}, "JourneyLimits.TimeframeCap.Cap"),
    ({"QuietTime": {"Start": "9:00", "End": "17:00"}}, "QuietTime.Start '9:00'"),
    ({"QuietTime": {"Start": "21:00", "End": "24:00"}}, "QuietTime.End"),
    ({"QuietTime": {"Start": "21:00"}}, "both Start and End"),
    ({"CampaignHook": {"Mode": "FILTER"}}, "LambdaFunctionName"),
    ({"CampaignHook": {"LambdaFunctionName": "f", "Mode": "DELIVERY"}}, "DELIVERY"),
])
def test_out_of_range_settings_are_rejected_and_change_nothing(client, app_id, request_, message):
    before = _settings(client, app_id)
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        _update(client, app_id, **request_)
    assert message in excinfo.value.response["Error"]["Message"]
    assert _settings(client, app_id) == before


def test_unknown_app_is_a_404(client):
    for call in (lambda: _settings(client, "0" * 32), lambda: _update(client, "0" * 32, Limits={"Daily": 1})):
        with pytest.raises(client.exceptions.NotFoundException):
            call()
