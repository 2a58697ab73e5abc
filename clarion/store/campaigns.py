"""Campaigns, their versions and their activities (one per run and treatment)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from ..domain.campaigns import ACTIVE_STATES
from . import pages
from .schema import campaign_activities, campaign_versions, campaigns


def insert(conn: Connection, doc: dict, next_due: str | None) -> None:
    conn.execute(campaigns.insert().values(
        app_id=doc["ApplicationId"], campaign_id=doc["Id"], created=doc["CreationDate"],
        state=doc["State"]["CampaignStatus"], segment_id=doc["SegmentId"], next_due=next_due, doc=doc))
    _insert_version(conn, doc)


def _insert_version(conn: Connection, doc: dict) -> None:
    conn.execute(campaign_versions.insert().values(app_id=doc["ApplicationId"], campaign_id=doc["Id"],
                                                   version=doc["Version"], doc=doc))


def save(conn: Connection, doc: dict, *, next_due: str | None, last_run: str | None = None,
         new_version: bool = False) -> None:
    """Store the campaign document (and, for an update, its new version)."""
    values = dict(doc=doc, state=doc["State"]["CampaignStatus"], segment_id=doc["SegmentId"], next_due=next_due)
    if last_run is not None:
        values["last_run"] = last_run
    conn.execute(update(campaigns).where(campaigns.c.app_id == doc["ApplicationId"],
                                         campaigns.c.campaign_id == doc["Id"]).values(**values))
    if new_version:
        _insert_version(conn, doc)
    else:
        conn.execute(update(campaign_versions).where(
            campaign_versions.c.app_id == doc["ApplicationId"], campaign_versions.c.campaign_id == doc["Id"],
            campaign_versions.c.version == doc["Version"]).values(doc=doc))


def get(conn: Connection, app_id: str, campaign_id: str, version: int | None = None, *, lock: bool = False):
    if version is not None:
        return conn.execute(select(campaign_versions.c.doc).where(
            campaign_versions.c.app_id == app_id, campaign_versions.c.campaign_id == campaign_id,
            campaign_versions.c.version == version)).scalar()
    query = select(campaigns.c.doc).where(campaigns.c.app_id == app_id, campaigns.c.campaign_id == campaign_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).scalar()


def row(conn: Connection, app_id: str, campaign_id: str, *, lock: bool = False):
    query = select(campaigns).where(campaigns.c.app_id == app_id, campaigns.c.campaign_id == campaign_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def page(conn: Connection, app_id: str, limit: int, after: list | None) -> list[dict]:
    return pages.by_creation(conn, campaigns, campaigns.c.campaign_id, app_id, limit, after)


def active(conn: Connection, app_id: str) -> list[dict]:
    """The app's campaigns in an active state (scheduled, executing, waiting for the next run)."""
    query = (select(campaigns.c.doc).where(campaigns.c.app_id == app_id, campaigns.c.state.in_(ACTIVE_STATES))
             .order_by(campaigns.c.created, campaigns.c.campaign_id))
    return list(conn.execute(query).scalars())


def versions_page(conn: Connection, app_id: str, campaign_id: str, limit: int, after: int | None) -> list[dict]:
    return pages.versions(conn, campaign_versions, campaign_versions.c.campaign_id, app_id, campaign_id, limit, after)


def delete_campaign(conn: Connection, app_id: str, campaign_id: str) -> None:
    for table in (campaign_activities, campaign_versions, campaigns):
        conn.execute(delete(table).where(table.c.app_id == app_id, table.c.campaign_id == campaign_id))


def due(conn: Connection, now: str, limit: int = 100) -> list:
    """Campaigns the scheduler must look at, oldest due first."""
    query = (select(campaigns).where(campaigns.c.next_due.is_not(None), campaigns.c.next_due <= now)
             .order_by(campaigns.c.next_due).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).all()


# -- activities ---------------------------------------------------------------------------

def insert_activity(conn: Connection, doc: dict) -> bool:
    """Add a run's activity; False when that (campaign, treatment, start) already has one."""
    try:
        with conn.begin_nested():
            conn.execute(campaign_activities.insert().values(
                app_id=doc["ApplicationId"], activity_id=doc["Id"], campaign_id=doc["CampaignId"],
                treatment_id=doc["TreatmentId"], scheduled_start=doc["ScheduledStart"], doc=doc))
        return True
    except IntegrityError:
        return False


def get_activity(conn: Connection, activity_id: str) -> dict | None:
    return conn.execute(select(campaign_activities.c.doc)
                        .where(campaign_activities.c.activity_id == activity_id)).scalar()


def save_activity(conn: Connection, doc: dict) -> None:
    conn.execute(update(campaign_activities).where(campaign_activities.c.activity_id == doc["Id"])
                 .values(doc=doc))


def activities_page(conn: Connection, app_id: str, campaign_id: str, limit: int, after: list | None) -> list[dict]:
    """Newest run first."""
    c = campaign_activities.c
    query = (select(c.doc).where(c.app_id == app_id, c.campaign_id == campaign_id)
             .order_by(c.scheduled_start.desc(), c.activity_id.desc()).limit(limit))
    if after:
        query = query.where(tuple_(c.scheduled_start, c.activity_id) < tuple_(*after))
    return list(conn.execute(query).scalars())
