"""Endpoints, their users' shared attributes, and each app's attribute-name registry.

An endpoint row keeps the EndpointResponse without `User.UserAttributes` (`doc`), plus the
columns queries need. `UserAttributes` live once per user in `users` and are projected into
every endpoint of the user on read. Writers lock what they read-modify-write (`FOR UPDATE`
on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), and batch their statements:
a batch of 100 endpoints costs a handful of statements, not hundreds.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
from collections.abc import Iterable
from typing import NamedTuple

import orjson
from sqlalchemy import (ARRAY, Connection, String, Text, any_, bindparam, cast, delete, func, literal_column, not_,
                        or_, select, update)
from sqlalchemy.exc import DBAPIError

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


class _Prepared(NamedTuple):
    """A statement compiled once: its SQL, its parameter names in order for a positional
    dialect (SQLite; None for psycopg's named style), and for a writer the order of the values
    in the rows it is given."""

    sql: str
    names: tuple[str, ...] | None
    fields: tuple[str, ...] | None = None

    def args(self, params: dict):
        """Driver arguments from {name: value}."""
        return params if self.names is None else tuple(params[n] for n in self.names)

    def rows(self, rows: list[tuple]) -> list:
        """Driver arguments for a writer's rows (tuples in `fields` order)."""
        return rows if self.names is not None else [dict(zip(self.fields, row)) for row in rows]


def _prepare(dialect, statement, fields: tuple[str, ...] | None = None) -> _Prepared:
    """Compile `statement`. A writer's statement (`fields` given) must take its parameters in
    that order, so that its rows go to a positional driver as they are."""
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup) if compiled.positional else None
    if fields is not None and names is not None and names != fields:
        raise ValueError(f"parameters {names} are not in the order {fields}")
    return _Prepared(compiled.string, names, fields)


INSERT_FIELDS = ("app_id", "endpoint_key", "doc", "user_id", "channel_type", "address", "effective_date", "cohort")
UPDATE_FIELDS = ("doc", "user_id", "channel_type", "address", "effective_date", "app_id", "endpoint_key")
UPDATE_DOC_FIELDS = ("doc", "effective_date", "app_id", "endpoint_key")
USER_FIELDS = ("app_id", "user_id", "attributes")
USER_UPDATE_FIELDS = ("attributes", "app_id", "user_id")


class _Statements:
    """The hot statements, compiled once per dialect and run straight on the driver's cursor
    (`_fetch`, `_write_rows`): building a statement costs more than running it on SQLite, and
    SQLAlchemy's execution and result machinery around one costs more than SQLite's work for a
    batch read. JSON documents travel as text coded with orjson (read as `CAST(doc AS TEXT)`,
    written as a string that the column converts), twice as fast as SQLAlchemy's JSON."""

    def __init__(self, dialect):
        name = dialect.name
        in_list = functools.partial(_in_list, name)
        prepare = functools.partial(_prepare, dialect)
        row = (_E.endpoint_key, cast(_E.doc, Text).label("doc"), _E.user_id, _E.cohort)
        mine = select(*row).where(_E.app_id == bindparam("app"))
        self.by_keys = prepare(_locked(name, mine.where(in_list(_E.endpoint_key, "keys"))))
        unknown = not_(in_list(_E.endpoint_key, "known"))
        self.by_address = prepare(_locked(name, mine.where(in_list(_E.address, "values"), unknown)))
        self.by_user_ids = prepare(_locked(name, mine.where(in_list(_E.user_id, "values"), unknown)))
        one = mine.where(_E.endpoint_key == bindparam("key"))
        self.one, self.one_locked = prepare(one), prepare(one.with_for_update())
        of_user = mine.where(_E.user_id == bindparam("user"))
        self.of_user, self.of_user_locked = prepare(of_user), prepare(_locked(name, of_user))
        user_rows = select(users.c.user_id, cast(users.c.attributes, Text).label("attributes")).where(
            users.c.app_id == bindparam("app"), in_list(users.c.user_id, "users"))
        self.users = prepare(user_rows)
        self.users_locked = prepare(user_rows.order_by(users.c.user_id).with_for_update())
        self.registry = prepare(select(attribute_names.c.kind, attribute_names.c.name, attribute_names.c.removed)
                                .where(attribute_names.c.app_id == bindparam("app")))
        self.existing = prepare(select(_E.endpoint_key).where(_E.app_id == bindparam("app"),
                                                              in_list(_E.endpoint_key, "keys")))
        self.app = prepare(select(apps.c.app_id).where(apps.c.app_id == bindparam("app")))
        self._writers(prepare)

    def _writers(self, prepare) -> None:
        doc_type = _E.doc.type  # a cast to JSONB where the dialect casts binds
        bind = {f: bindparam(f, type_=doc_type if f in ("doc", "attributes") else None)
                for f in INSERT_FIELDS + ("attributes",)}
        by_key = (_E.app_id == bind["app_id"], _E.endpoint_key == bind["endpoint_key"])
        self.insert_endpoint = prepare(endpoints.insert().values(**{f: bind[f] for f in INSERT_FIELDS}),
                                       INSERT_FIELDS)
        self.update_endpoint = prepare(update(endpoints).where(*by_key).values(
            **{f: bind[f] for f in UPDATE_FIELDS[:5]}), UPDATE_FIELDS)
        # When the indexed columns keep their values: SQLite then leaves the indexes alone.
        self.update_endpoint_doc = prepare(update(endpoints).where(*by_key).values(
            doc=bind["doc"], effective_date=bind["effective_date"]), UPDATE_DOC_FIELDS)
        self.insert_user = prepare(users.insert().values(**{f: bind[f] for f in USER_FIELDS}), USER_FIELDS)
        self.update_user = prepare(update(users).where(
            users.c.app_id == bind["app_id"], users.c.user_id == bind["user_id"]).values(
            attributes=bind["attributes"]), USER_UPDATE_FIELDS)
        moment = bindparam("moment")
        self.touch = prepare(update(endpoints).where(
            _E.app_id == bindparam("app"), _E.endpoint_key == bindparam("key"),
            or_(_E.last_active.is_(None), _E.last_active < moment)).values(last_active=moment))
        # GetEndpoint's one statement, for `Store.first` (which compiles it for its engine).
        self.response = select(cast(_E.doc, Text), cast(users.c.attributes, Text)).select_from(
            endpoints.outerjoin(users, (users.c.app_id == _E.app_id) & (users.c.user_id == _E.user_id))).where(
            _E.app_id == bindparam("app"), _E.endpoint_key == bindparam("key"))


@functools.cache
def _statements_for(dialect_class) -> _Statements:
    """Compiled with a default instance of the engine's dialect class: these statements do not
    depend on what a dialect learns from its server."""
    return _Statements(dialect_class())


def _sql(conn: Connection) -> _Statements:
    return _statements_for(type(conn.dialect))


@contextlib.contextmanager
def _driver_cursor(conn: Connection, sql: str, args):
    """A cursor of the connection's driver connection, inside the connection's transaction;
    driver errors come out as SQLAlchemy's (IntegrityError, ...), as from `conn.execute`."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def _fetch(conn: Connection, prepared: _Prepared, params: dict) -> list[tuple]:
    args = prepared.args(params)
    with _driver_cursor(conn, prepared.sql, args) as cursor:
        cursor.execute(prepared.sql, args)
        return cursor.fetchall()


def _write_rows(conn: Connection, prepared: _Prepared, args: list) -> None:
    """executemany with plain values (JSON as text): SQLAlchemy's per-row parameter
    processing would cost more than the database's work."""
    if args:
        with _driver_cursor(conn, prepared.sql, args) as cursor:
            cursor.executemany(prepared.sql, args)


def _stored(rows: list[tuple]) -> list[Stored]:
    """Endpoint rows (key, doc as text, user id, cohort) as loaded. Each remembers its indexed
    columns, so that an update which keeps them can leave the indexes alone."""
    loads, found = orjson.loads, []
    for key, doc, user_id, cohort in rows:
        doc = loads(doc)
        found.append(Stored(key, doc, user_id, cohort, columns=(user_id, doc.get("ChannelType"), doc.get("Address"))))
    return found


# -- reads for a write (locked) --------------------------------------------------------------

def lock_by_keys(conn: Connection, app_id: str, keys: Iterable[str]) -> list[Stored]:
    return _stored(_fetch(conn, _sql(conn).by_keys, {"app": app_id, "keys": _listed(conn, keys)}))


def lock_related(conn: Connection, app_id: str, addresses: set[str], user_ids: set[str],
                 known: set[str]) -> list[Stored]:
    """Every endpoint, other than the `known` keys, with one of these addresses or belonging to
    one of these users. Two statements, not one with OR: SQLite would scan the app for the OR."""
    sql, found = _sql(conn), []
    for statement, values in ((sql.by_address, addresses), (sql.by_user_ids, user_ids)):
        if values:
            params = {"app": app_id, "values": _listed(conn, values), "known": _listed(conn, known)}
            found += _stored(_fetch(conn, statement, params))
    return found


def lock_users(conn: Connection, app_id: str, user_ids: set[str]) -> dict[str, dict]:
    return _user_attributes(conn, app_id, user_ids, lock=True)


def app_id_of(conn: Connection, app_id: str) -> str | None:
    """The stored id of the app (ids are case-insensitive), or None: the write paths' existence
    check, in one prepared statement (they need nothing else of the app)."""
    rows = _fetch(conn, _sql(conn).app, {"app": app_id.lower()})
    return rows[0][0] if rows else None


def lock_app(conn: Connection, app_id: str) -> None:
    """Serialise writers that add attribute names to the app's registry (PostgreSQL)."""
    conn.execute(select(apps.c.app_id).where(apps.c.app_id == app_id).with_for_update())


def registry(conn: Connection, app_id: str) -> dict[tuple[str, str], bool]:
    """(kind, name) -> removed, for every attribute name the app has seen."""
    rows = _fetch(conn, _sql(conn).registry, {"app": app_id})
    return {(kind, name): bool(removed) for kind, name, removed in rows}


def existing_keys(conn: Connection, app_id: str, keys: Iterable[str]) -> set[str]:
    """The endpoint keys among `keys` that the app has."""
    return {key for key, in _fetch(conn, _sql(conn).existing, {"app": app_id, "keys": _listed(conn, keys)})}


# -- writes ----------------------------------------------------------------------------------

def add_names(conn: Connection, app_id: str, names: Iterable[tuple[str, str]]) -> None:
    rows = [{"app_id": app_id, "kind": kind, "name": name, "removed": False} for kind, name in sorted(names)]
    if rows:
        conn.execute(attribute_names.insert(), rows)


def save_users(conn: Connection, app_id: str, new: dict[str, dict], changed: dict[str, dict]) -> None:
    sql, dumps = _sql(conn), orjson.dumps
    if new:
        _write_rows(conn, sql.insert_user, sql.insert_user.rows(
            [(app_id, user_id, dumps(a).decode()) for user_id, a in new.items()]))
    if changed:
        _write_rows(conn, sql.update_user, sql.update_user.rows(
            [(dumps(a).decode(), app_id, user_id) for user_id, a in changed.items()]))


def insert_endpoints(conn: Connection, app_id: str, rows: list[Stored]) -> None:
    if rows:
        sql = _sql(conn)
        _write_rows(conn, sql.insert_endpoint, sql.insert_endpoint.rows(
            [(app_id, s.key, s.text, s.user_id, s.doc.get("ChannelType"), s.doc.get("Address"),
              s.doc["EffectiveDate"], s.cohort) for s in rows]))


def update_endpoints(conn: Connection, app_id: str, rows: list[Stored]) -> None:
    """Write the documents of loaded rows (the cohort is set once, on insert). Rows whose user,
    channel and address are as loaded skip writing those indexed columns."""
    full, doc_only = [], []
    for s in rows:
        doc = s.doc
        columns = (s.user_id, doc.get("ChannelType"), doc.get("Address"))
        if columns == s.columns:
            doc_only.append((s.text, doc["EffectiveDate"], app_id, s.key))
        else:
            full.append((s.text, *columns, doc["EffectiveDate"], app_id, s.key))
    sql = _sql(conn)
    _write_rows(conn, sql.update_endpoint, sql.update_endpoint.rows(full))
    _write_rows(conn, sql.update_endpoint_doc, sql.update_endpoint_doc.rows(doc_only))


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
    if moments:
        touch = _sql(conn).touch
        _write_rows(conn, touch, [touch.args({"app": app_id, "key": k.lower(), "moment": t})
                                  for k, t in moments.items()])


# -- reads -----------------------------------------------------------------------------------

def _user_attributes(conn: Connection, app_id: str, user_ids: set[str], lock: bool = False) -> dict[str, dict]:
    if not user_ids:
        return {}
    sql = _sql(conn)
    rows = _fetch(conn, sql.users_locked if lock else sql.users, {"app": app_id, "users": _listed(conn, user_ids)})
    return {user_id: orjson.loads(attributes) for user_id, attributes in rows}


def responses(conn: Connection, app_id: str, rows: list[Stored]) -> list[dict]:
    """EndpointResponses for stored rows: each with its user's attributes."""
    attributes = _user_attributes(conn, app_id, {s.user_id for s in rows if s.user_id})
    return [project(s.doc, attributes.get(s.user_id)) for s in rows]


def response(store, app_id: str, key: str) -> dict | None:
    """The EndpointResponse of one endpoint, in one statement outside a transaction (GetEndpoint
    is hot: see `Store.first`), or None."""
    statement = _statements_for(type(store.engine.dialect)).response
    row = store.first(statement, {"app": app_id, "key": key}, json_columns=(0, 1))
    return None if row is None else project(row[0], row[1])


def get(conn: Connection, app_id: str, key: str, lock: bool = False) -> Stored | None:
    sql = _sql(conn)
    rows = _stored(_fetch(conn, sql.one_locked if lock else sql.one, {"app": app_id, "key": key}))
    return rows[0] if rows else None


def by_user(conn: Connection, app_id: str, user_id: str, lock: bool = False) -> list[Stored]:
    sql = _sql(conn)
    rows = _stored(_fetch(conn, sql.of_user_locked if lock else sql.of_user, {"app": app_id, "user": user_id}))
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
