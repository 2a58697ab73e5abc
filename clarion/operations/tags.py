"""Tags on any taggable resource: TagResource, UntagResource, ListTagsForResource.

Taggable ARNs (account and region are this server's):
  arn:aws:mobiletargeting:{region}:{account}:apps/{appId}
  ...:apps/{appId}/campaigns/{id}   ...:apps/{appId}/segments/{id}   ...:apps/{appId}/journeys/{id}
  ...:templates/{name}/{EMAIL|PUSH|SMS|VOICE|INAPP}
A malformed ARN, or one of another partition, region or account, is a 400; a key scoped to
apps gets a 403 for another app's resources; a resource that does not exist is a 404.

Whether a resource exists is asked of `EXISTS`, a table keyed by resource kind, one check per
kind reading that kind's store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.errors import BadRequest, NotFound
from ..store import apps as app_store
from ..store import campaigns as campaign_store
from ..store import segments as segment_store
from ..store import tags as tag_store
from ..store import templates as template_store
from . import operation

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
TEMPLATE_TYPES = ("EMAIL", "PUSH", "SMS", "VOICE", "INAPP")

_ARN = re.compile(r"arn:(?P<partition>[^:]+):mobiletargeting:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)")
_APP_RESOURCE = re.compile(r"apps/(?P<app>[^/]+)(?:/(?P<kind>campaigns|segments|journeys)/(?P<id>[^/]+))?")
_TEMPLATE_RESOURCE = re.compile(rf"templates/(?P<name>[^/]+)/(?P<type>{'|'.join(TEMPLATE_TYPES)})")


@dataclass(frozen=True)
class ResourceArn:
    """A parsed taggable ARN. `arn` is its canonical spelling (ids lower-cased), the tags' key."""

    arn: str
    kind: str  # "apps", "campaigns", "segments", "journeys" or "templates"
    app_id: str | None  # the owning app; None for templates (account-level)
    resource_id: str | None  # campaign/segment/journey id, or the template's name
    template_type: str | None = None


def _app_exists(conn, resource: ResourceArn) -> bool:
    return app_store.exists(conn, resource.app_id)


def _template_exists(conn, resource: ResourceArn) -> bool:
    return template_store.exists(conn, resource.resource_id, resource.template_type)


def _segment_exists(conn, resource: ResourceArn) -> bool:
    return segment_store.get(conn, resource.app_id, resource.resource_id) is not None


def _campaign_exists(conn, resource: ResourceArn) -> bool:
    return campaign_store.get(conn, resource.app_id, resource.resource_id) is not None


# kind -> check(conn, ResourceArn) -> bool. Journeys only check their app until journeys exist.
EXISTS: dict[str, Callable] = {
    "apps": _app_exists,
    "campaigns": _campaign_exists,
    "segments": _segment_exists,
    "journeys": _app_exists,
    "templates": _template_exists,
}


def parse_arn(ctx, arn: str) -> ResourceArn:
    """The taggable resource an ARN names, or a 400 saying why it names none."""
    matched = _ARN.fullmatch(arn or "")
    if matched is None:
        raise BadRequest(f"Invalid resource ARN '{arn}': "
                         "expected arn:aws:mobiletargeting:<region>:<account>:<resource>")
    settings = ctx.settings
    for part, expected in (("partition", "aws"), ("region", settings.region), ("account", settings.account_id)):
        if matched[part] != expected:
            raise BadRequest(f"Invalid resource ARN '{arn}': {part} '{matched[part]}' is not this service's "
                             f"('{expected}')")
    resource = matched["resource"]
    if app := _APP_RESOURCE.fullmatch(resource):
        app_id, sub_id = app["app"].lower(), app["id"] and app["id"].lower()
        path = f"apps/{app_id}" + (f"/{app['kind']}/{sub_id}" if sub_id else "")
        return ResourceArn(ctx.arn(path), app["kind"] or "apps", app_id, sub_id)
    if template := _TEMPLATE_RESOURCE.fullmatch(resource):
        return ResourceArn(ctx.arn(resource), "templates", None, template["name"], template["type"])
    raise BadRequest(f"Invalid resource ARN '{arn}': not a taggable resource (apps/<id>, apps/<id>/campaigns/<id>, "
                     f"apps/<id>/segments/<id>, apps/<id>/journeys/<id> or templates/<name>/<type>)")


def _require_resource(ctx, conn, arn: str) -> ResourceArn:
    resource = parse_arn(ctx, arn)
    if resource.app_id is not None:
        ctx.caller.require_app(resource.app_id)  # 403 before 404: a scoped key learns nothing of other apps
    if not EXISTS[resource.kind](conn, resource):
        raise NotFound(f"Resource not found: {resource.arn}")
    return resource


def check_tags(tags: dict) -> None:
    """Pinpoint's limits on one tag set: at most 50, keys 1-128 characters, values up to 256,
    no key in the reserved `aws:` namespace."""
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"A resource can have at most {MAX_TAGS} tags; this request would give it {len(tags)}")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise BadRequest(f"Tag key '{key[:40]}' must be 1 to {MAX_KEY_LENGTH} characters long")
        if key.lower().startswith("aws:"):
            raise BadRequest(f"Tag key '{key}' uses the reserved prefix 'aws:'")
        if not isinstance(value, str):
            raise BadRequest(f"The value of tag '{key}' must be a string")
        if len(value) > MAX_VALUE_LENGTH:
            raise BadRequest(f"The value of tag '{key}' must be at most {MAX_VALUE_LENGTH} characters long")


@operation("TagResource")
def tag_resource(ctx, resource_arn: str, tags_model: dict) -> None:
    new_tags = tags_model["tags"]
    check_tags(new_tags)
    with ctx.store.write() as conn:
        resource = _require_resource(ctx, conn, resource_arn)
        merged = {**tag_store.get(conn, resource.arn), **new_tags}
        check_tags(merged)
        tag_store.put(conn, resource.arn, resource.app_id, merged)


@operation("UntagResource")
def untag_resource(ctx, resource_arn: str, tag_keys: list[str]) -> None:
    with ctx.store.write() as conn:
        resource = _require_resource(ctx, conn, resource_arn)
        removed = set(tag_keys)
        tags = tag_store.get(conn, resource.arn)
        tag_store.put(conn, resource.arn, resource.app_id, {k: v for k, v in tags.items() if k not in removed})


@operation("ListTagsForResource")
def list_tags_for_resource(ctx, resource_arn: str) -> dict:
    with ctx.store.read() as conn:
        resource = _require_resource(ctx, conn, resource_arn)
        return {"tags": tag_store.get(conn, resource.arn)}
