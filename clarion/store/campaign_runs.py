"""Campaign runs as the runtime sees them: an activity's document plus its run state.

The activity document (`ActivityResponse`) is what GetCampaignActivities shows; `run_state`
is where the run stands (audience cursor, counters, local-time passes), kept in its own column
so the wire document carries nothing extra. Both are written together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select, update

from .schema import campaign_activities as activities


@dataclass
class Run:
    doc: dict  # ActivityResponse
    state: dict  # run state (runtime/campaigns/progress.py); {} before the run starts


def load(conn: Connection, activity_id: str, *, lock: bool = False) -> Run | None:
    query = select(activities.c.doc, activities.c.run_state).where(activities.c.activity_id == activity_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Run(row.doc, row.run_state or {}) if row else None


def save(conn: Connection, run: Run) -> bool:
    """False when the activity no longer exists (its campaign was deleted)."""
    result = conn.execute(update(activities).where(activities.c.activity_id == run.doc["Id"])
                          .values(doc=run.doc, run_state=run.state))
    return result.rowcount == 1


def of_start(conn: Connection, app_id: str, campaign_id: str, scheduled_start: str) -> list[dict]:
    """Every treatment's activity for one scheduled start."""
    c = activities.c
    return list(conn.execute(select(c.doc).where(c.app_id == app_id, c.campaign_id == campaign_id,
                                                 c.scheduled_start == scheduled_start)).scalars())


def paused(conn: Connection, app_id: str, campaign_id: str) -> list[Run]:
    """The campaign's runs stopped by a pause, to resume."""
    c = activities.c
    rows = conn.execute(select(c.doc, c.run_state).where(c.app_id == app_id, c.campaign_id == campaign_id)).all()
    return [Run(r.doc, r.run_state or {}) for r in rows if r.doc.get("State") == "PAUSED"]


def unfinished(conn: Connection, app_id: str, campaign_id: str) -> int:
    """How many of the campaign's activities have not finished (completed or cancelled)."""
    c = activities.c
    rows = conn.execute(select(c.doc["State"].as_string()).where(c.app_id == app_id, c.campaign_id == campaign_id))
    return sum(1 for (state,) in rows if state not in ("COMPLETED", "CANCELLED"))


def last_starts(conn: Connection, app_id: str, campaign_id: str) -> dict[str, str]:
    """Treatment id -> the latest scheduled start it has run (the scheduler's per-treatment
    bookmark, for treatments with schedules of their own)."""
    c = activities.c
    rows = conn.execute(select(c.treatment_id, func.max(c.scheduled_start))
                        .where(c.app_id == app_id, c.campaign_id == campaign_id).group_by(c.treatment_id))
    return {treatment: start for treatment, start in rows}
