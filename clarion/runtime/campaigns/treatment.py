"""What one run of one treatment sends, to whom and under which limits (pure).

A treatment is the default one ("0", the campaign's own MessageConfiguration,
TemplateConfiguration, CustomDeliveryConfiguration and Schedule) or an AdditionalTreatment,
whose own members win and whose missing members fall back to the campaign's. Its endpoints are
the segment's endpoints whose CohortId falls in its range (`domain.campaigns.treatment_ranges`).

Limits: the campaign's `Limits` over the app's `Settings.Limits` defaults (Total,
MessagesPerSecond, MaximumDuration); the app's `Limits.Daily` is a separate, app-wide cap
across every campaign. Quiet time: the treatment's schedule, else the campaign's, else the
app's. Hook: the campaign's, else the app's `CampaignHook`; only FILTER mode is run (DELIVERY
is deprecated in favour of the custom channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ...clock import parse_iso
from ...delivery.content import PUSH_CHANNELS
from ...domain import campaigns as rules

# Which endpoint channel types each message member and template reaches.
MESSAGE_CHANNELS = {"EmailMessage": ("EMAIL",), "SMSMessage": ("SMS",), "GCMMessage": ("GCM",),
                    "APNSMessage": ("APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX"),
                    "BaiduMessage": ("BAIDU",), "ADMMessage": ("ADM",), "DefaultMessage": PUSH_CHANNELS}
TEMPLATE_CHANNELS = {"EmailTemplate": ("EMAIL",), "SMSTemplate": ("SMS",), "PushTemplate": PUSH_CHANNELS,
                     "VoiceTemplate": ("VOICE",)}
CUSTOM = "CUSTOM"


@dataclass(frozen=True)
class RunSettings:
    app_id: str
    campaign_id: str
    activity_id: str
    treatment_id: str
    scheduled_start: datetime
    message_configuration: dict | None
    template_configuration: dict | None
    custom_configuration: dict | None  # MessageConfiguration + CustomDeliveryConfiguration, for CUSTOM items
    channels: frozenset  # endpoint channel types sent on their own channel
    custom_types: frozenset  # endpoint channel types sent through the custom channel
    cohorts: tuple[int, int]  # [first, end) of the CohortIds this treatment gets
    schedule: dict
    daily: int | None = None
    total: int | None = None
    app_daily: int | None = None
    messages_per_second: int | None = None
    maximum_duration: int | None = None
    quiet_time: dict | None = None
    hook: dict | None = None

    @property
    def local_time(self) -> bool:
        return bool(self.schedule.get("IsLocalTime"))

    @property
    def has_caps(self) -> bool:
        return bool(self.daily or self.total or self.app_daily)

    def event_attributes(self) -> dict:
        return {"campaign_id": self.campaign_id, "campaign_activity_id": self.activity_id,
                "treatment_id": self.treatment_id}

    def delivery_channel(self, channel_type: str | None) -> str | None:
        """How an endpoint of `channel_type` is reached: its own channel, CUSTOM, or not at all."""
        if channel_type in self.custom_types:
            return CUSTOM
        return channel_type if channel_type in self.channels else None


def treatment_members(campaign: dict, treatment_id: str) -> dict:
    """The treatment's message, template, custom delivery and schedule (falling back to the
    campaign's)."""
    own = {}
    if treatment_id != "0":
        own = next((t for t in campaign.get("AdditionalTreatments") or [] if t["Id"] == treatment_id), {})
    names = ("MessageConfiguration", "TemplateConfiguration", "CustomDeliveryConfiguration", "Schedule")
    return {name: own.get(name) or campaign.get(name) for name in names}


def cohort_range(campaign: dict, treatment_id: str) -> tuple[int, int]:
    for tid, first, end in rules.treatment_ranges(campaign):
        if tid == treatment_id:
            return first, end
    return 0, 0


def build(campaign: dict, activity: dict, app_settings: dict | None) -> RunSettings:
    treatment_id = activity["TreatmentId"]
    members = treatment_members(campaign, treatment_id)
    message, template = members["MessageConfiguration"], members["TemplateConfiguration"]
    custom = members["CustomDeliveryConfiguration"]
    channels = set()
    for name, reached in MESSAGE_CHANNELS.items():
        if (message or {}).get(name):
            channels.update(reached)
    for name, reached in TEMPLATE_CHANNELS.items():
        if ((template or {}).get(name) or {}).get("Name"):
            channels.update(reached)
    custom_types = frozenset((custom or {}).get("EndpointTypes") or ()) if custom else frozenset()
    app_settings = app_settings or {}
    defaults, limits = app_settings.get("Limits") or {}, campaign.get("Limits") or {}
    schedule = members["Schedule"] or {}
    return RunSettings(
        app_id=campaign["ApplicationId"], campaign_id=campaign["Id"], activity_id=activity["Id"],
        treatment_id=treatment_id, scheduled_start=parse_iso(activity["ScheduledStart"]),
        message_configuration=message, template_configuration=template,
        custom_configuration={**(message or {}), "CustomDeliveryConfiguration": custom} if custom else None,
        channels=frozenset(channels), custom_types=custom_types, cohorts=cohort_range(campaign, treatment_id),
        schedule=schedule, daily=limits.get("Daily") or None,
        total=limits.get("Total") or defaults.get("Total") or None, app_daily=defaults.get("Daily") or None,
        messages_per_second=limits.get("MessagesPerSecond") or defaults.get("MessagesPerSecond") or None,
        maximum_duration=limits.get("MaximumDuration") or defaults.get("MaximumDuration") or None,
        quiet_time=quiet_time_for(schedule, campaign, app_settings), hook=_hook(campaign, app_settings))


def quiet_time_for(schedule: dict, campaign: dict, app_settings: dict) -> dict | None:
    for source in (schedule.get("QuietTime"), (campaign.get("Schedule") or {}).get("QuietTime"),
                   app_settings.get("QuietTime")):
        if source and source.get("Start") and source.get("End"):
            return source
    return None


def _hook(campaign: dict, app_settings: dict) -> dict | None:
    for hook in (campaign.get("Hook"), app_settings.get("CampaignHook")):
        if hook and (hook.get("LambdaFunctionName") or hook.get("WebUrl")):
            return hook if (hook.get("Mode") or "FILTER") == "FILTER" else None
    return None
