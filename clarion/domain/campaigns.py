"""Campaign rules (pure): validation, the state machine, and audience allocation.

Allocation (reference §4.6, UNCONFIRMED there; Clarion's rule, in docs/decisions.md): each
endpoint has a CohortId 0-99. The holdout takes the lowest `HoldoutPercent` cohorts; each
additional treatment then takes the next `SizePercent` cohorts, in order; the default
treatment ("0") takes the rest. Percentages are of the whole segment, so an endpoint's
treatment is stable across runs and versions.
"""

from __future__ import annotations

from datetime import datetime

from . import schedule as sched

MAX_TREATMENTS = 5
STATES = ("SCHEDULED", "EXECUTING", "PENDING_NEXT_RUN", "COMPLETED", "PAUSED", "DELETED", "INVALID")
ACTIVE_STATES = ("SCHEDULED", "EXECUTING", "PENDING_NEXT_RUN")
HOLDOUT = "HOLDOUT"


class CampaignError(ValueError):
    """A campaign request that cannot be accepted; the message is for the API caller."""


def validate(request: dict, now: datetime, *, new: bool) -> None:
    treatments = request.get("AdditionalTreatments") or []
    if len(treatments) + 1 > MAX_TREATMENTS:
        raise CampaignError(f"A campaign can have at most {MAX_TREATMENTS} treatments "
                            f"({MAX_TREATMENTS - 1} AdditionalTreatments)")
    holdout = request.get("HoldoutPercent") or 0
    sizes = [t["SizePercent"] for t in treatments]
    if not 0 <= holdout <= 100 or any(not 0 <= s <= 100 for s in sizes):
        raise CampaignError("HoldoutPercent and SizePercent must be between 0 and 100")
    if holdout + sum(sizes) > 100:
        raise CampaignError("HoldoutPercent plus the treatments' SizePercent must not exceed 100")
    if new and not (request.get("MessageConfiguration") or request.get("TemplateConfiguration")
                    or request.get("CustomDeliveryConfiguration")):
        raise CampaignError("A campaign needs a MessageConfiguration, a TemplateConfiguration "
                            "or a CustomDeliveryConfiguration")
    if new and not request.get("SegmentId"):
        raise CampaignError("A campaign needs a SegmentId")
    if new and not request.get("Schedule"):
        raise CampaignError("A campaign needs a Schedule")
    for schedule in [request.get("Schedule")] + [t.get("Schedule") for t in treatments]:
        if schedule:
            try:
                sched.validate(schedule, now, new=new)
            except sched.ScheduleError as exc:
                raise CampaignError(str(exc)) from None


def treatment_ranges(campaign: dict) -> list[tuple[str, int, int]]:
    """(treatment id, first cohort, end cohort exclusive), holdout first."""
    ranges, cursor = [], campaign.get("HoldoutPercent") or 0
    if cursor:
        ranges.append((HOLDOUT, 0, cursor))
    for treatment in campaign.get("AdditionalTreatments") or []:
        ranges.append((treatment["Id"], cursor, cursor + treatment["SizePercent"]))
        cursor += treatment["SizePercent"]
    ranges.append(("0", cursor, 100))
    return ranges


def treatment_for(cohort: int, ranges: list[tuple[str, int, int]]) -> str:
    for treatment_id, first, end in ranges:
        if first <= cohort < end:
            return treatment_id
    return "0"


def initial_state(request: dict) -> str:
    return "PAUSED" if request.get("IsPaused") else "SCHEDULED"


def state_after_run(campaign: dict, next_run: datetime | None) -> str:
    """A run finished: wait for the next one, or the campaign is done."""
    if campaign.get("IsPaused"):
        return "PAUSED"
    frequency = (campaign.get("Schedule") or {}).get("Frequency") or "ONCE"
    if frequency in sched.EVENT_FREQUENCIES:
        return "SCHEDULED"
    return "PENDING_NEXT_RUN" if next_run is not None else "COMPLETED"
