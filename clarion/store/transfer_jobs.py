"""Import and export job documents (ImportJobResponse / ExportJobResponse) and their position."""

from __future__ import annotations

from sqlalchemy import Connection, select, tuple_, update

from .schema import import_export_jobs as table


def insert(conn: Connection, doc: dict, segment_id: str | None) -> None:
    conn.execute(table.insert().values(app_id=doc["ApplicationId"], job_id=doc["Id"], type=doc["Type"],
                                       segment_id=segment_id, created=doc["CreationDate"], doc=doc))


def get(conn: Connection, app_id: str, job_id: str, job_type: str | None = None, *, lock: bool = False):
    """(doc, position) or None."""
    query = select(table.c.doc, table.c.position).where(table.c.app_id == app_id, table.c.job_id == job_id)
    if job_type:
        query = query.where(table.c.type == job_type)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else (row.doc, row.position)


def save(conn: Connection, doc: dict, position=None) -> None:
    conn.execute(update(table).where(table.c.app_id == doc["ApplicationId"], table.c.job_id == doc["Id"])
                 .values(doc=doc, position=position))


def page(conn: Connection, app_id: str, job_type: str, limit: int, after: list | None,
         segment_id: str | None = None) -> list[dict]:
    """Newest first, as Pinpoint lists jobs."""
    query = (select(table.c.doc).where(table.c.app_id == app_id, table.c.type == job_type)
             .order_by(table.c.created.desc(), table.c.job_id.desc()).limit(limit))
    if segment_id is not None:
        query = query.where(table.c.segment_id == segment_id)
    if after:
        query = query.where(tuple_(table.c.created, table.c.job_id) < tuple_(*after))
    return list(conn.execute(query).scalars())


def unfinished(store, app_id: str, job_id: str, job_type: str):
    """(doc, position) of a job a worker should carry on with; None when it is finished or gone
    (its app was deleted)."""
    with store.read() as conn:
        found = get(conn, app_id, job_id, job_type)
    if found is None or found[0]["JobStatus"] in ("COMPLETED", "FAILED"):
        return None
    return found
