"""Users: GetUserEndpoints, DeleteUserEndpoints.

A user is the `User.UserId` shared by endpoints. An id with no endpoints is unknown: 404
NotFoundException (Pinpoint's answer here is UNCONFIRMED; a 404 is what the reference
recommends, and lets a caller tell "no such user" from an empty list).
"""

from __future__ import annotations

from ..protocol.errors import NotFound
from ..store import endpoints as endpoint_store
from . import operation
from .apps import require_app


def _require_user(conn, app_id: str, user_id: str, lock: bool = False) -> list:
    rows = endpoint_store.by_user(conn, app_id, user_id, lock=lock) if user_id else []
    if not rows:
        raise NotFound("Resource not found")
    return rows


@operation("GetUserEndpoints", inline=True)  # a few indexed reads: no thread hop
def get_user_endpoints(ctx, application_id: str, user_id: str) -> dict:
    with ctx.store.read() as conn:
        app_id = require_app(conn, application_id)["Id"]
        return {"Item": endpoint_store.responses(conn, app_id, _require_user(conn, app_id, user_id))}


@operation("DeleteUserEndpoints")
def delete_user_endpoints(ctx, application_id: str, user_id: str) -> dict:
    """Delete every endpoint of the user (and the user's attributes); answer the deleted list."""
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        rows = _require_user(conn, app_id, user_id, lock=True)
        deleted = endpoint_store.responses(conn, app_id, rows)
        endpoint_store.delete_endpoints(conn, app_id, [s.key for s in rows])
        endpoint_store.delete_users_without_endpoints(conn, app_id, {user_id})
    return {"Item": deleted}
