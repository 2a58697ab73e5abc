"""Message templates (account-level) and their numbered versions.

A template row holds the active version number, the version counter (numbers are never
reused) and a copy of the active version's document, so reading or rendering the active
version is one row. Write paths read the row `for_update` so that two PostgreSQL writers
updating one template queue instead of racing (SQLite write transactions already queue).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, select, tuple_, update

from .schema import template_versions, templates


@dataclass(frozen=True)
class TemplateRow:
    name: str
    type: str
    active_version: int
    version_counter: int
    created: str
    modified: str
    doc: dict


def _key(table, name: str, kind: str):
    return and_(table.c.name == name, table.c.type == kind)


def get(conn: Connection, name: str, kind: str, *, for_update: bool = False) -> TemplateRow | None:
    query = select(templates).where(_key(templates, name, kind))
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return TemplateRow(**row._mapping) if row else None


def exists(conn: Connection, name: str, kind: str) -> bool:
    return conn.execute(select(templates.c.name).where(_key(templates, name, kind))).first() is not None


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(templates)).scalar_one()


def insert(conn: Connection, name: str, kind: str, doc: dict) -> None:
    """A new template whose version 1 is `doc` (and active)."""
    now = doc["CreationDate"]
    conn.execute(templates.insert().values(name=name, type=kind, active_version=1, version_counter=1, created=now,
                                           modified=now, doc=doc))
    conn.execute(template_versions.insert().values(name=name, type=kind, version=1, created=now, doc=doc))


def get_version(conn: Connection, name: str, kind: str, version: int) -> dict | None:
    query = select(template_versions.c.doc).where(_key(template_versions, name, kind),
                                                 template_versions.c.version == version)
    return conn.execute(query).scalar()


def latest_version(conn: Connection, name: str, kind: str) -> int | None:
    """The highest version number that still exists."""
    query = select(func.max(template_versions.c.version)).where(_key(template_versions, name, kind))
    return conn.execute(query).scalar()


def count_versions(conn: Connection, name: str, kind: str) -> int:
    query = select(func.count()).select_from(template_versions).where(_key(template_versions, name, kind))
    return conn.execute(query).scalar_one()


def add_version(conn: Connection, name: str, kind: str, version: int, doc: dict) -> None:
    conn.execute(template_versions.insert().values(name=name, type=kind, version=version,
                                                   created=doc["LastModifiedDate"], doc=doc))
    conn.execute(update(templates).where(_key(templates, name, kind))
                 .values(version_counter=version, modified=doc["LastModifiedDate"]))


def replace_version(conn: Connection, name: str, kind: str, version: int, doc: dict) -> None:
    conn.execute(update(template_versions)
                 .where(_key(template_versions, name, kind), template_versions.c.version == version)
                 .values(doc=doc))
    conn.execute(update(templates).where(_key(templates, name, kind)).values(modified=doc["LastModifiedDate"]))


def set_active(conn: Connection, name: str, kind: str, version: int, doc: dict, now: str) -> None:
    """Make `version` (whose document is `doc`) the active one."""
    conn.execute(update(templates).where(_key(templates, name, kind))
                 .values(active_version=version, doc=doc, modified=now))


def delete_version(conn: Connection, name: str, kind: str, version: int, now: str) -> None:
    conn.execute(delete(template_versions)
                 .where(_key(template_versions, name, kind), template_versions.c.version == version))
    conn.execute(update(templates).where(_key(templates, name, kind)).values(modified=now))


def delete_template(conn: Connection, name: str, kind: str) -> None:
    conn.execute(delete(template_versions).where(_key(template_versions, name, kind)))
    conn.execute(delete(templates).where(_key(templates, name, kind)))


def page(conn: Connection, limit: int, after: tuple[str, str] | None, prefix: str | None,
         kind: str | None) -> list[TemplateRow]:
    """Templates by (name, type), `limit` of them after the keyset position, optionally only
    names starting with `prefix` (case-sensitive on both backends) or of one type."""
    query = select(templates).order_by(templates.c.name, templates.c.type).limit(limit)
    if after is not None:
        query = query.where(tuple_(templates.c.name, templates.c.type) > tuple_(*after))
    if prefix:
        query = query.where(func.substr(templates.c.name, 1, len(prefix)) == prefix)
    if kind:
        query = query.where(templates.c.type == kind)
    return [TemplateRow(**row._mapping) for row in conn.execute(query)]


def page_versions(conn: Connection, name: str, kind: str, limit: int, before: int | None) -> list[tuple[str, dict]]:
    """(created, document) of versions, newest first, `limit` of them below version `before`."""
    query = (select(template_versions.c.created, template_versions.c.doc).where(_key(template_versions, name, kind))
             .order_by(template_versions.c.version.desc()).limit(limit))
    if before is not None:
        query = query.where(template_versions.c.version < before)
    return [(row.created, row.doc) for row in conn.execute(query)]
