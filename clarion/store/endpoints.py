"""Endpoints, their users' shared attributes, and each app's attribute-name registry.

An endpoint row keeps the EndpointResponse without `User.UserAttributes` (`doc`), plus the
columns queries need. `UserAttributes` live once per user in `users` and are projected into
every endpoint of the user on read. Writers lock what they read-modify-write (`FOR UPDATE`
on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), and batch their statements:
a batch of 100 endpoints costs a handful of statements, not hundreds.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable

import orjson
from sqlalchemy import (ARRAY, Connection, String, Text, any_, bindparam, cast, delete, func, literal_column, not_,
                        or_, select, update)

from ..domain.endpoints import Stored, project
from .schema import apps, attribute_names, endpoints, users

_E = endpoints.c


def _in_list(dialect: str, column, name: str):
    """`column IN (:name)` with the whole list bound as one parameter (a JSON array on SQLite,
    an array on PostgreSQL): SQLAlchemy's per-value IN rendering costs more than the query."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name))))


def _listed(conn: Connection, values: Iterable[str]):
    """The parameter value for `_in_list`."""
    values = sorted(values)
    return values if conn.dialect.name == "postgresql" else orjson.dumps(values).decode()


def _locked(dialect: str, query):
    """The query with its rows locked, in key order on PostgreSQL (so two writers lock in the
    same order). Not ordered on SQLite, which serialises writers anyway and would otherwise
    walk the primary key instead of the address or user index to avoid a sort."""
    if dialect == "postgresql":
        return query.order_by(_E.endpoint_key).with_for_update()
    return query


class _Statements:
    """The hot statements, built once per dialect: building a statement costs more than
    running it on SQLite. JSON documents travel as text, coded here with orjson (read as
    `CAST(doc AS TEXT)`, written as a string that the column converts), which is twice as
    fast as SQLAlchemy's JSON processing; and batches of rows go straight to the driver."""

    def __init__(self, dialect: str):
        in_list = functools.partial(_in_list, dialect)
        self._compiled: dict = {}
        doc_type = _E.doc.type  # writes: a cast to JSONB where the dialect casts binds
        row = (_E.endpoint_key, cast(_E.doc, Text).label("doc"), _E.user_id, _E.cohort)
        mine = select(*row).where(_E.app_id == bindparam("app"))
        self.by_keys = _locked(dialect, mine.where(in_list(_E.endpoint_key, "keys")))
        unknown = not_(in_list(_E.endpoint_key, "known"))
        self.by_address = _locked(dialect, mine.where(in_list(_E.address, "values"), unknown))
        self.by_user_ids = _locked(dialect, mine.where(in_list(_E.user_id, "values"), unknown))
        self.one = mine.where(_E.endpoint_key == bindparam("key"))
        self.one_locked = self.one.with_for_update()
        self.of_user = mine.where(_E.user_id == bindparam("user"))
        self.of_user_locked = _locked(dialect, self.of_user)
        user_rows = select(users.c.user_id, cast(users.c.attributes, Text).label("attributes")).where(
            users.c.app_id == bindparam("app"), in_list(users.c.user_id, "users"))
        self.users = user_rows
        self.response = select(cast(_E.doc, Text), cast(users.c.attributes, Text)).select_from(
            endpoints.outerjoin(users, (users.c.app_id == _E.app_id) & (users.c.user_id == _E.user_id))).where(
            _E.app_id == bindparam("app"), _E.endpoint_key == bindparam("key"))
        self.users_locked = user_rows.order_by(users.c.user_id).with_for_update()
        self.registry = select(attribute_names.c.kind, attribute_names.c.name, attribute_names.c.removed) \
            .where(attribute_names.c.app_id == bindparam("app"))
        self.update_endpoint = update(endpoints).where(
            _E.app_id == bindparam("b_app"), _E.endpoint_key == bindparam("b_key")).values(
            doc=bindparam("b_doc", type_=doc_type), user_id=bindparam("b_user_id"),
            channel_type=bindparam("b_channel_type"), address=bindparam("b_address"),
            effective_date=bindparam("b_effective_date"))
        self.update_user = update(users).where(
            users.c.app_id == bindparam("b_app"), users.c.user_id == bindparam("b_user")).values(
            attributes=bindparam("b_attributes", type_=doc_type))
        self.insert_user = users.insert().values(
            app_id=bindparam("b_app"), user_id=bindparam("b_user"), attributes=bindparam("b_attributes", type_=doc_type))
        self.insert_endpoint = endpoints.insert().values(
            app_id=bindparam("b_app"), endpoint_key=bindparam("b_key"), cohort=bindparam("b_cohort"),
            doc=bindparam("b_doc", type_=doc_type), user_id=bindparam("b_user_id"),
            channel_type=bindparam("b_channel_type"), address=bindparam("b_address"),
                effective_date=bindparam("b_effective_date"))
        moment = bindparam("b_moment")
        self.touch = update(endpoints).where(
            _E.app_id == bindparam("b_app"), _E.endpoint_key == bindparam("b_key"),
            or_(_E.last_active.is_(None), _E.last_active < moment)).values(last_active=moment)

    def many(self, conn: Connection, statement, params: list[dict]) -> None:
        """executemany with plain values (JSON as text), straight to the driver: SQLAlchemy's
        per-row parameter processing would cost more than the database's work."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = statement.compile(dialect=conn.dialect)
        names = compiled.positiontup
        rows = [tuple(p[n] for n in names) for p in params] if names else params
        conn.exec_driver_sql(compiled.string, rows)

    @staticmethod
    def stored(rows) -> list[Stored]:
        loads = orjson.loads
        return [Stored(r.endpoint_key, loads(r.doc), r.user_id, r.cohort) for r in rows]

    @staticmethod
    def endpoint_params(app_id: str, rows: list[Stored]) -> list[dict]:
        dumps = orjson.dumps
        return [{"b_app": app_id, "b_key": s.key, "b_cohort": s.cohort, "b_doc": dumps(s.doc).decode(),
                 "b_user_id": s.user_id, "b_channel_type": s.doc.get("ChannelType"),
                 "b_address": s.doc.get("Address"), "b_effective_date": s.doc["EffectiveDate"]} for s in rows]

    @staticmethod
    def user_params(app_id: str, attributes: dict[str, dict]) -> list[dict]:
        return [{"b_app": app_id, "b_user": u, "b_attributes": orjson.dumps(a).decode()}
                for u, a in attributes.items()]


@functools.cache
def _statements_for(dialect: str) -> _Statements:
    return _Statements(dialect)


def _sql(conn: Connection) -> _Statements:
    return _statements_for(conn.dialect.name)


# -- reads for a write (locked) --------------------------------------------------------------

def lock_by_keys(conn: Connection, app_id: str, keys: Iterable[str]) -> list[Stored]:
    sql = _sql(conn)
    return sql.stored(conn.execute(sql.by_keys, {"app": app_id, "keys": _listed(conn, keys)}))


def lock_related(conn: Connection, app_id: str, addresses: set[str], user_ids: set[str],
                 known: set[str]) -> list[Stored]:
    """Every endpoint, other than the `known` keys, with one of these addresses or belonging to
    one of these users. Two statements, not one with OR: SQLite would scan the app for the OR."""
    sql, found = _sql(conn), []
    for statement, values in ((sql.by_address, addresses), (sql.by_user_ids, user_ids)):
        if values:
            params = {"app": app_id, "values": _listed(conn, values), "known": _listed(conn, known)}
            found += sql.stored(conn.execute(statement, params))
    return found


def lock_users(conn: Connection, app_id: str, user_ids: set[str]) -> dict[str, dict]:
    if not user_ids:
        return {}
    sql = _sql(conn)
    rows = conn.execute(sql.users_locked, {"app": app_id, "users": _listed(conn, user_ids)})
    return {r.user_id: orjson.loads(r.attributes) for r in rows}


def lock_app(conn: Connection, app_id: str) -> None:
    """Serialise writers that add attribute names to the app's registry (PostgreSQL)."""
    conn.execute(select(apps.c.app_id).where(apps.c.app_id == app_id).with_for_update())


def registry(conn: Connection, app_id: str) -> dict[tuple[str, str], bool]:
    """(kind, name) -> removed, for every attribute name the app has seen."""
    return {(r.kind, r.name): bool(r.removed) for r in conn.execute(_sql(conn).registry, {"app": app_id})}


# -- writes ----------------------------------------------------------------------------------

def add_names(conn: Connection, app_id: str, names: Iterable[tuple[str, str]]) -> None:
    rows = [{"app_id": app_id, "kind": kind, "name": name, "removed": False} for kind, name in sorted(names)]
    if rows:
        conn.execute(attribute_names.insert(), rows)


def save_users(conn: Connection, app_id: str, new: dict[str, dict], changed: dict[str, dict]) -> None:
    sql = _sql(conn)
    if new:
        sql.many(conn, sql.insert_user, sql.user_params(app_id, new))
    if changed:
        sql.many(conn, sql.update_user, sql.user_params(app_id, changed))


def insert_endpoints(conn: Connection, app_id: str, rows: list[Stored]) -> None:
    if rows:
        sql = _sql(conn)
        sql.many(conn, sql.insert_endpoint, sql.endpoint_params(app_id, rows))


def update_endpoints(conn: Connection, app_id: str, rows: list[Stored]) -> None:
    if not rows:
        return
    sql = _sql(conn)
    params = sql.endpoint_params(app_id, rows)
    for p in params:
        del p["b_cohort"]  # set once, on insert
    sql.many(conn, sql.update_endpoint, params)


def delete_users_without_endpoints(conn: Connection, app_id: str, user_ids: set[str]) -> None:
    """Users live as long as they have endpoints: drop the ones that just lost their last."""
    if not user_ids:
        return
    dialect = conn.dialect.name
    still = select(_E.user_id).where(_E.app_id == app_id, _in_list(dialect, _E.user_id, "users")).distinct()
    kept = set(conn.execute(still, {"users": _listed(conn, user_ids)}).scalars())
    gone = user_ids - kept
    if gone:
        conn.execute(delete(users).where(users.c.app_id == app_id, _in_list(dialect, users.c.user_id, "users")),
                     {"users": _listed(conn, gone)})


def delete_endpoints(conn: Connection, app_id: str, keys: list[str]) -> None:
    in_keys = _in_list(conn.dialect.name, _E.endpoint_key, "keys")
    conn.execute(delete(endpoints).where(_E.app_id == app_id, in_keys), {"keys": _listed(conn, keys)})


def touch_last_active(conn: Connection, app_id: str, moments: dict[str, str]) -> None:
    """Record when endpoints were last active ({endpoint id: ISO time}); only ever moves forward.
    Unknown endpoint ids are ignored."""
    if not moments:
        return
    sql = _sql(conn)
    sql.many(conn, sql.touch, [{"b_app": app_id, "b_key": k.lower(), "b_moment": t} for k, t in moments.items()])


# -- reads -----------------------------------------------------------------------------------

def _user_attributes(conn: Connection, app_id: str, user_ids: set[str]) -> dict[str, dict]:
    if not user_ids:
        return {}
    sql = _sql(conn)
    rows = conn.execute(sql.users, {"app": app_id, "users": _listed(conn, user_ids)})
    return {r.user_id: orjson.loads(r.attributes) for r in rows}


def responses(conn: Connection, app_id: str, rows: list[Stored]) -> list[dict]:
    """EndpointResponses for stored rows: each with its user's attributes."""
    attributes = _user_attributes(conn, app_id, {s.user_id for s in rows if s.user_id})
    return [project(s.doc, attributes.get(s.user_id)) for s in rows]


def response(store, app_id: str, key: str) -> dict | None:
    """The EndpointResponse of one endpoint, in one statement outside a transaction (GetEndpoint
    is hot: see `Store.first`), or None."""
    row = store.first(_statements_for(store.dialect).response, {"app": app_id, "key": key}, json_columns=(0, 1))
    return None if row is None else project(row[0], row[1])


def get(conn: Connection, app_id: str, key: str, lock: bool = False) -> Stored | None:
    sql = _sql(conn)
    rows = sql.stored(conn.execute(sql.one_locked if lock else sql.one, {"app": app_id, "key": key}))
    return rows[0] if rows else None


def by_user(conn: Connection, app_id: str, user_id: str, lock: bool = False) -> list[Stored]:
    sql = _sql(conn)
    rows = sql.stored(conn.execute(sql.of_user_locked if lock else sql.of_user, {"app": app_id, "user": user_id}))
    return sorted(rows, key=lambda s: s.key)


# -- attribute registry: RemoveAttributes -------------------------------------------------------

def remove_names(conn: Connection, app_id: str, kind: str, patterns: list[str]) -> list[str]:
    """Mark the registered names of `kind` that match a name or glob pattern as removed, so
    later writes of them are not captured. Returns every matching name."""
    query = select(attribute_names.c.name).where(attribute_names.c.app_id == app_id,
                                                 attribute_names.c.kind == kind)
    names = list(conn.execute(query.with_for_update()).scalars())
    matched = sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
    if matched:
        in_names = _in_list(conn.dialect.name, attribute_names.c.name, "names")
        conn.execute(update(attribute_names).where(
            attribute_names.c.app_id == app_id, attribute_names.c.kind == kind, in_names).values(removed=True),
            {"names": _listed(conn, matched)})
    return matched
