"""Campaign deliveries: one row per (activity, endpoint[, trigger]) a campaign run targeted.

A run writes an endpoint's row *before* it hands the message to the transport (status
`PENDING`) and sets the outcome after, so a run that restarts knows whom it has reached. The
caps (campaign Daily/Total, the app's Daily) count these rows; duplicate addresses within a
run are found through them, which keeps a run's memory flat however big its audience.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, and_, case, delete, func, or_, select, update

from .schema import campaign_deliveries as deliveries

PENDING = "PENDING"
QUIET_TIME = "QUIET_TIME"
EXPIRED = "EXPIRED"
# Rows that do not count as "targeted" for the caps.
NOT_TARGETED = (EXPIRED,)


def recorded(conn: Connection, activity_id: str, trigger_id: str, keys: list[str],
             addresses: list[str]) -> tuple[dict[str, str], set[str]]:
    """For a page: the statuses already recorded for its endpoints in this run, and which of
    its addresses this run has already used (by any endpoint). Two index seeks per page."""
    c = deliveries.c
    statuses = dict(conn.execute(select(c.endpoint_key, c.status).where(
        c.activity_id == activity_id, c.endpoint_key.in_(keys), c.trigger_id == trigger_id)).all())
    used = set()
    if addresses:
        used = set(conn.execute(select(c.address).where(
            c.activity_id == activity_id, c.address.in_(addresses), c.trigger_id == trigger_id)).scalars())
    return statuses, used


def insert(conn: Connection, rows: list[dict]) -> None:
    """rows: dicts with every column."""
    if rows:
        conn.execute(deliveries.insert(), rows)


def set_statuses(conn: Connection, activity_id: str, trigger_id: str, statuses: dict[str, str]) -> None:
    """Record outcomes: endpoint key -> status, one statement per distinct status."""
    c = deliveries.c
    by_status: dict[str, list[str]] = {}
    for key, status in statuses.items():
        by_status.setdefault(status, []).append(key)
    for status, keys in by_status.items():
        conn.execute(update(deliveries).where(c.activity_id == activity_id, c.trigger_id == trigger_id,
                                              c.endpoint_key.in_(keys)).values(status=status))


def forget(conn: Connection, activity_id: str, trigger_id: str, keys: Iterable[str]) -> None:
    """Drop rows whose message certainly did not go (the transport was unreachable): a resumed
    run sends them again."""
    keys = list(keys)
    if keys:
        c = deliveries.c
        conn.execute(delete(deliveries).where(c.activity_id == activity_id, c.trigger_id == trigger_id,
                                              c.endpoint_key.in_(keys)))


def cap_counts(conn: Connection, app_id: str, campaign_id: str, keys: list[str],
               since: str) -> dict[str, tuple[int, int, int]]:
    """Per endpoint: (targeted by this campaign ever, by this campaign since `since`, by any
    campaign of the app since `since`)."""
    c = deliveries.c
    recent = c.created > since  # within the last 24 hours: a message sent exactly a day ago no longer counts
    mine = c.campaign_id == campaign_id
    query = (select(c.endpoint_key,
                    func.sum(case((mine, 1), else_=0)),
                    func.sum(case((and_(mine, recent), 1), else_=0)),
                    func.sum(case((recent, 1), else_=0)))
             .where(c.app_id == app_id, c.endpoint_key.in_(keys), c.status.not_in(NOT_TARGETED),
                    or_(mine, recent))
             .group_by(c.endpoint_key))
    return {r[0]: (int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in conn.execute(query)}


def count_by_status(conn: Connection, activity_id: str) -> dict[str, int]:
    c = deliveries.c
    rows = conn.execute(select(c.status, func.count()).where(c.activity_id == activity_id).group_by(c.status))
    return {status: count for status, count in rows}
