"""Apps (projects): CreateApp, GetApp, GetApps, DeleteApp."""

from __future__ import annotations

from ..protocol.errors import BadRequest, Forbidden, NotFound
from ..store import apps as app_store
from ..store import tags as tag_store
from . import operation, paging


def app_arn(ctx, app_id: str) -> str:
    return ctx.arn(f"apps/{app_id}")


def require_app(conn, app_id: str) -> dict:
    """The app's document, or Pinpoint's 404."""
    doc = app_store.get(conn, app_id)
    if doc is None:
        raise NotFound("Application not found")
    return doc


def _with_tags(conn, doc: dict) -> dict:
    return {**doc, "tags": tag_store.get(conn, doc["Arn"])}


@operation("CreateApp")
def create_app(ctx, create_application_request: dict) -> dict:
    if ctx.caller.scoped:
        raise Forbidden(f"The access key {ctx.caller.access_key_id} is scoped to apps and cannot create one")
    name = create_application_request["Name"]
    if not name.strip():
        raise BadRequest("Name must not be empty")
    app_id = ctx.ids.resource_id()
    now = ctx.now()
    doc = {"Arn": app_arn(ctx, app_id), "Id": app_id, "Name": name, "CreationDate": now}
    settings = {"ApplicationId": app_id, "CampaignHook": {}, "LastModifiedDate": now, "Limits": {}, "QuietTime": {}}
    tags = create_application_request.get("tags") or {}
    with ctx.store.write() as conn:
        app_store.insert(conn, doc, settings)
        tag_store.put(conn, doc["Arn"], app_id, tags)
    return {**doc, "tags": tags}


@operation("GetApp", inline=True)
def get_app(ctx, application_id: str) -> dict:
    doc = app_store.get_with_tags(ctx.store, application_id, app_arn(ctx, application_id.lower()))
    if doc is None:
        raise NotFound("Application not found")
    return doc


@operation("GetApps")
def get_apps(ctx, page_size: str | None = None, token: str | None = None) -> dict:
    with ctx.store.read() as conn:
        items, next_token = paging.fetch_page(
            page_size, token,
            lambda limit, after: app_store.page(conn, limit, tuple(after) if after else None, ctx.caller.apps),
            lambda d: [d["CreationDate"], d["Id"]])
        return paging.listing([_with_tags(conn, d) for d in items], next_token)


@operation("DeleteApp")
def delete_app(ctx, application_id: str) -> dict:
    with ctx.store.write() as conn:
        doc = _with_tags(conn, require_app(conn, application_id))
        app_store.delete_everything(conn, doc["Id"])
    ctx.service.on_app_deleted(doc["Id"])
    return doc
