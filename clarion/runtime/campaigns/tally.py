"""A run's counters, as the activity shows them (reference §4.11, §7.6).

Every endpoint the segment produces for a run ends in exactly one place: a reason it was not
sent to (an `ExecutionMetrics` key below), or an attempt (`TotalEndpointCount`, with its
DeliveryStatus also counted under its own name, and `SuccessfulEndpointCount` when the channel
accepted it). So ENDPOINT_PRODUCED = TotalEndpointCount + the sum of the reasons.

Names from reference §7.6; QUIET_TIME, DAILY_CAP, TOTAL_CAP follow the journey metrics'
recommended keys; EXPIRED is the `campaign_send_status` Pinpoint writes when MaximumDuration
runs out; FILTERED_OUT_BY_HOOK and HOOK_FAILURE (the CampaignHook removed the endpoint, or
could not be called) are Clarion's own, Pinpoint publishes no name for them. DAILY_CAP counts
both the campaign's Daily cap and the app's Daily cap across campaigns.
"""

from __future__ import annotations

from collections import Counter

PRODUCED = "ENDPOINT_PRODUCED"
OPT_OUT = "ENDPOINT_OPT_OUT"
INACTIVE = "ENDPOINT_INACTIVE"
MISSING_ADDRESS = "ENDPOINT_MISSING_ADDRESS"
MISSING_CHANNEL = "ENDPOINT_MISSING_CHANNEL"
CHANNEL_MISMATCH = "ENDPOINT_CHANNEL_MISMATCH"
MISSING_TIMEZONE = "ENDPOINT_MISSING_TIMEZONE"
DUPLICATE = "DUPLICATE_ENDPOINT"
HOLDOUT = "TREATMENT_HOLDOUT"
QUIET_TIME = "QUIET_TIME"
DAILY_CAP = "DAILY_CAP"
TOTAL_CAP = "TOTAL_CAP"
EXPIRED = "EXPIRED"
FILTERED_BY_HOOK = "FILTERED_OUT_BY_HOOK"
HOOK_FAILURE = "HOOK_FAILURE"


class Tally:
    def __init__(self, state: dict | None = None):
        state = state or {}
        self.metrics: Counter = Counter(state.get("metrics") or {})
        self.total = state.get("total", 0)
        self.successful = state.get("successful", 0)

    def skip(self, reason: str, count: int = 1) -> None:
        self.metrics[reason] += count

    def attempt(self, status: str) -> None:
        """An endpoint handed to the channel, with its DeliveryStatus."""
        self.total += 1
        self.metrics[status] += 1
        if status == "SUCCESSFUL":
            self.successful += 1

    def merge(self, other: "Tally") -> None:
        self.metrics.update(other.metrics)
        self.total += other.total
        self.successful += other.successful

    def state(self) -> dict:
        return {"metrics": dict(self.metrics), "total": self.total, "successful": self.successful}

    def apply(self, activity: dict) -> None:
        """Show the counts on the ActivityResponse."""
        activity["TotalEndpointCount"] = self.total
        activity["SuccessfulEndpointCount"] = self.successful
        activity["ExecutionMetrics"] = {k: str(v) for k, v in sorted(self.metrics.items()) if v}
