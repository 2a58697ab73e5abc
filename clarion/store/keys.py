"""API keys: access key id + secret (sealed by the vault), optionally scoped to apps."""

from __future__ import annotations

import secrets
import string

from sqlalchemy import Connection, bindparam, select, update

from .schema import keys

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def new_key_pair() -> tuple[str, str]:
    """An AWS-shaped pair: a 20-character id and a 40-character secret."""
    key_id = "AKCL" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return key_id, secret


def insert(conn: Connection, vault, key_id: str, secret: str, *, apps: list[str] | None, description: str,
           root: bool, created: str) -> None:
    conn.execute(keys.insert().values(
        access_key_id=key_id, secret=vault.seal(secret), apps=sorted(a.lower() for a in apps) if apps is not None else None,
        description=description, root=root, created=created))


_GET = select(keys).where(keys.c.access_key_id == bindparam("key_id"), keys.c.revoked.is_(None))


def get(conn: Connection, key_id: str):
    """The key's row, or None when unknown or revoked."""
    return conn.execute(_GET, {"key_id": key_id}).first()


def list_all(conn: Connection, include_revoked: bool = False):
    query = select(keys).order_by(keys.c.created, keys.c.access_key_id)
    if not include_revoked:
        query = query.where(keys.c.revoked.is_(None))
    return conn.execute(query).all()


def revoke(conn: Connection, key_id: str, when: str) -> bool:
    result = conn.execute(update(keys).where(keys.c.access_key_id == key_id, keys.c.revoked.is_(None))
                          .values(revoked=when))
    return result.rowcount == 1


def root_key(conn: Connection):
    return conn.execute(select(keys).where(keys.c.root.is_(True), keys.c.revoked.is_(None))
                        .order_by(keys.c.created.desc())).first()


def remove_app(conn: Connection, app_id: str) -> None:
    """Drop a deleted app from every key's scope (a key scoped to nothing else keeps an empty scope)."""
    for row in conn.execute(select(keys.c.access_key_id, keys.c.apps).where(keys.c.apps.is_not(None))).all():
        if app_id in row.apps:
            conn.execute(update(keys).where(keys.c.access_key_id == row.access_key_id)
                         .values(apps=[a for a in row.apps if a != app_id]))
