"""The per-endpoint rules of a run (pure): who can be sent to, on which channel, when.

Order (reference §7.6 lists the reasons; an endpoint is counted under the first that applies):
opted out, inactive, no channel type, a channel the treatment does not send on, no address,
(local time) no valid time zone; then, across the page and the run, a duplicate address. The
run then applies the hook, the caps, MaximumDuration and quiet time (`pipeline`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from ...domain import schedule as sched
from . import tally
from .treatment import CUSTOM, RunSettings


def endpoint_key(endpoint: dict) -> str:
    return endpoint["Id"].lower()  # endpoint ids are case-insensitive; the store keys them lower-cased


def screen(endpoint: dict, settings: RunSettings) -> tuple[str | None, str | None]:
    """(reason it is not sent to, None) or (None, the channel type to send on)."""
    if endpoint.get("OptOut") == "ALL":
        return tally.OPT_OUT, None
    if endpoint.get("EndpointStatus") == "INACTIVE":
        return tally.INACTIVE, None
    channel_type = endpoint.get("ChannelType")
    if not channel_type:
        return tally.MISSING_CHANNEL, None
    channel = settings.delivery_channel(channel_type)
    if channel is None:
        return tally.CHANNEL_MISMATCH, None
    if channel != CUSTOM and not endpoint.get("Address"):
        return tally.MISSING_ADDRESS, None
    return None, channel


def address_key(endpoint: dict, channel: str) -> str | None:
    """The address as duplicates are found: e-mail addresses compare case-insensitively; the
    custom channel addresses endpoints, not addresses."""
    if channel == CUSTOM:
        return None
    address = endpoint.get("Address") or ""
    return f"{channel}:{address.strip().lower() if channel == 'EMAIL' else address.strip()}"


@lru_cache(maxsize=1024)
def _zone(name: str | None):
    return sched.zone(name)


def endpoint_zone(endpoint: dict):
    """The endpoint's time zone (Demographic.Timezone), or None when missing or unknown."""
    return _zone((endpoint.get("Demographic") or {}).get("Timezone"))


def local_due(endpoint: dict, nominal: datetime) -> datetime | None:
    """IsLocalTime: when the nominal wall-clock time comes in the endpoint's zone (None: no
    valid zone, the endpoint is not targeted)."""
    zone = endpoint_zone(endpoint)
    return sched.local_send_time(nominal, zone) if zone is not None else None


def expired(due: datetime, maximum_duration: int | None, now: datetime) -> bool:
    return maximum_duration is not None and now > due + timedelta(seconds=maximum_duration)


def in_quiet_time(endpoint: dict, quiet_time: dict | None, now: datetime) -> bool:
    if not quiet_time:
        return False
    return sched.in_quiet_time(quiet_time, endpoint_zone(endpoint), now)
