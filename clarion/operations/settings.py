"""An app's default settings: GetApplicationSettings, UpdateApplicationSettings.

The stored document is the `ApplicationSettingsResource` plus the request-only flags
(`CloudWatchMetricsEnabled`, `EventTaggingEnabled`), kept for the modules that act on them;
answers carry only the resource's members, as Pinpoint's do. Update replaces each top-level
member it sends (sending `QuietTime: {}` clears quiet time) and keeps the others.
"""

from __future__ import annotations

import re

from ..protocol.errors import BadRequest
from ..protocol.model import load as load_model
from ..store import apps as app_store
from . import operation
from .apps import require_app

_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")

# Ranges from the model's docstrings (CampaignLimits, ApplicationSettingsJourneyLimits).
LIMIT_RANGES = {"Daily": (0, 100), "Total": (0, 100), "Session": (0, None),
                "MessagesPerSecond": (1, 20_000), "MaximumDuration": (60, None)}
JOURNEY_LIMIT_RANGES = {"DailyCap": (0, 100), "TotalCap": (0, 100)}
TIMEFRAME_CAP_RANGES = {"Cap": (0, 100), "Days": (0, 30)}


def _resource(settings: dict) -> dict:
    members = load_model().shape("ApplicationSettingsResource").members
    return {k: v for k, v in settings.items() if k in members}


@operation("GetApplicationSettings")
def get_application_settings(ctx, application_id: str) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        return _resource(app_store.get_settings(conn, app_id))


@operation("UpdateApplicationSettings")
def update_application_settings(ctx, application_id: str, write_application_settings_request: dict) -> dict:
    changes = _known(load_model().shape("WriteApplicationSettingsRequest"), write_application_settings_request)
    _check(changes)
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        settings = {**app_store.get_settings(conn, app_id), **changes, "LastModifiedDate": ctx.now()}
        app_store.put_settings(conn, app_id, settings)
    return _resource(settings)


def _known(shape, value):
    """The value with the members its shape does not know, and nulls, left out (as Pinpoint ignores them)."""
    if shape.type_name != "structure":
        return value
    return {k: _known(shape.members[k], v) for k, v in value.items() if k in shape.members and v is not None}


def _check(changes: dict) -> None:
    """Ranges and forms the model states only in prose (its types are checked already)."""
    _check_ranges(changes.get("Limits") or {}, LIMIT_RANGES, "Limits")
    journey = changes.get("JourneyLimits") or {}
    _check_ranges(journey, JOURNEY_LIMIT_RANGES, "JourneyLimits")
    _check_ranges(journey.get("TimeframeCap") or {}, TIMEFRAME_CAP_RANGES, "JourneyLimits.TimeframeCap")
    _check_quiet_time(changes.get("QuietTime") or {})
    _check_hook(changes.get("CampaignHook") or {})


def _check_ranges(values: dict, ranges: dict, path: str) -> None:
    for member, (low, high) in ranges.items():
        value = values.get(member)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise BadRequest(f"{path}.{member} must be {bounds}; got {value}")


def _check_quiet_time(quiet_time: dict) -> None:
    given = {k: quiet_time.get(k) for k in ("Start", "End") if quiet_time.get(k) is not None}
    if given and len(given) != 2:
        raise BadRequest("QuietTime needs both Start and End (or neither, for no quiet time)")
    for member, value in given.items():
        if not _HH_MM.fullmatch(value):
            raise BadRequest(f"QuietTime.{member} '{value}' must be a 24-hour HH:MM time, such as 02:30 or 21:00")


def _check_hook(hook: dict) -> None:
    if hook.get("Mode") == "DELIVERY":
        raise BadRequest("CampaignHook.Mode DELIVERY is no longer supported: send through a custom channel instead")
    if hook.get("Mode") and not (hook.get("LambdaFunctionName") or hook.get("WebUrl")):
        raise BadRequest("CampaignHook needs a LambdaFunctionName or a WebUrl when a Mode is set")
