"""The endpoint context stored with each event: who sent it, on what device, where.

It is the stored endpoint with the batch's `Endpoint` laid over it (what the batch says wins,
what it omits comes from the store), computed once per endpoint batch, not per event.
"""

from __future__ import annotations

import functools

from sqlalchemy import and_, bindparam, select

from ..store.schema import apps, endpoints


def _app_and_endpoints(keys):
    """The app and the batch's stored endpoints in one statement (PutEvents runs it per request)."""
    return select(apps.c.app_id, endpoints.c.endpoint_key, endpoints.c.doc).select_from(
        apps.outerjoin(endpoints, and_(endpoints.c.app_id == apps.c.app_id, endpoints.c.endpoint_key.in_(keys)))
    ).where(apps.c.app_id == bindparam("app"))


_APP_AND_ENDPOINTS = _app_and_endpoints(bindparam("keys", expanding=True))


@functools.lru_cache(maxsize=32)
def _prebuilt(size: int):
    """The statement for `size` keys (a power of two), with plain parameters `k0`, `k1`, ...: it
    compiles once and then runs straight on the driver (`Store.all`)."""
    return _app_and_endpoints([bindparam(f"k{i}") for i in range(size)])


def app_and_endpoints(conn, app_id: str, keys: list[str]) -> tuple[str | None, dict[str, dict]]:
    """(the app's id or None if there is no such app, {lower-cased endpoint id: stored
    EndpointResponse-shaped doc} for the keys that exist), inside `conn`'s transaction."""
    rows = conn.execute(_APP_AND_ENDPOINTS, {"app": app_id.lower(), "keys": keys or [""]}).all()
    return _found(rows)


def read_app_and_endpoints(store, app_id: str, keys: list[str]) -> tuple[str | None, dict[str, dict]]:
    """The same as `app_and_endpoints`, read outside any transaction in one statement (its own
    snapshot): about a sixth of the cost, for requests that write nothing to the store."""
    keys = keys or [""]
    size = 1 << (len(keys) - 1).bit_length()  # a few statement sizes, each compiled once
    padded = keys + [keys[-1]] * (size - len(keys))
    params = {f"k{i}": key for i, key in enumerate(padded)}
    params["app"] = app_id.lower()
    return _found(store.all(_prebuilt(size), params, json_columns=(2,)))


def _found(rows) -> tuple[str | None, dict[str, dict]]:
    if not rows:
        return None, {}
    return rows[0][0], {key: doc for _, key, doc in rows if key is not None}


def context(stored: dict | None, endpoint: dict | None) -> dict:
    """The `events` endpoint columns for a batch: `endpoint` (PublicEndpoint) over `stored`."""
    found = _columns(stored) if stored else dict.fromkeys(_NAMES)
    if endpoint:
        for name, value in _columns(endpoint).items():
            if name == "endpoint_attributes":
                if value:
                    found[name] = {**(found[name] or {}), **value}
            elif value is not None:
                found[name] = value
    return found


_NAMES = ("user_id", "channel_type", "platform", "platform_version", "make", "model", "app_version",
          "country", "region", "city", "locale", "timezone", "endpoint_attributes")


def _columns(doc: dict) -> dict:
    demographic = doc.get("Demographic") or {}
    location = doc.get("Location") or {}
    user = doc.get("User") or {}
    return {
        "user_id": user.get("UserId") or None,  # an empty UserId means "no user"
        "channel_type": doc.get("ChannelType"),
        "platform": demographic.get("Platform"),
        "platform_version": demographic.get("PlatformVersion"),
        "make": demographic.get("Make"),
        "model": demographic.get("Model"),
        "app_version": demographic.get("AppVersion"),
        "country": location.get("Country"),
        "region": location.get("Region"),
        "city": location.get("City"),
        "locale": demographic.get("Locale"),
        "timezone": demographic.get("Timezone"),
        "endpoint_attributes": doc.get("Attributes") or None,
    }
