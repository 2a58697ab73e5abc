"""Message templates: Create/Get/Update/Delete{Email,Sms,Push,Voice,InApp}Template,
UpdateTemplateActiveVersion, ListTemplates, ListTemplateVersions.

Templates are account-level (not per app) and versioned, as in Pinpoint:
- Create makes version 1, which is active. A name may be used once per type.
- Update overwrites the latest version; with `create-new-version=true` it adds a version
  (numbers are never reused; at most 5,000 versions) and leaves the active one alone. A
  `version` on update must name the latest version (optimistic concurrency) and cannot be
  combined with `create-new-version=true`.
- Get without `version` answers the active version, with it that version.
- Delete without `version` removes the template and all its versions; with it, that version.
  Choice (Pinpoint documents only the first form): the active version cannot be deleted on its
  own; make another active first, or delete the template.
- `tags` are taken on Create only (Pinpoint ignores them on Update since 2023); afterwards use
  TagResource with the template ARN.
- A template whose parts do not compile, or fail on a recipient with no data, is refused with a
  400 naming the part and the place (`domain.templates.TemplateEngine.check`).
Choice: keys scoped to apps may read templates (sends need them) but not change them, since a
template is shared by every app.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from ..domain import templates as rules
from ..protocol import codec
from ..protocol.errors import BadRequest, Forbidden, NotFound
from ..store import tags as tag_store
from ..store import templates as template_store
from . import operation, paging
from .tags import check_tags

FAMILIES = {"Email": "EMAIL", "Sms": "SMS", "Push": "PUSH", "Voice": "VOICE", "InApp": "INAPP"}
TEMPLATE_WORD = {"EMAIL": "email", "SMS": "SMS", "PUSH": "push notification", "VOICE": "voice", "INAPP": "in-app"}


def template_arn(ctx, name: str, kind: str) -> str:
    return ctx.arn(f"templates/{name}/{kind}")


def parse_type(value: str) -> str:
    kind = (value or "").upper()
    if kind not in rules.TYPES:
        raise BadRequest(f"Invalid template type '{value}': expected one of {', '.join(rules.TYPES)}")
    return kind


def version_number(value: str) -> int:
    if not str(value).isdigit() or int(value) < 1:
        raise BadRequest(f"Invalid version '{value}': a template version is a whole number from 1")
    return int(value)


def require_template(conn, name: str, kind: str, *, for_update: bool = False) -> template_store.TemplateRow:
    row = template_store.get(conn, name, kind, for_update=for_update)
    if row is None:
        raise NotFound(f"Template not found: {TEMPLATE_WORD[kind]} template '{name}' does not exist")
    return row


def _require_version(conn, name: str, kind: str, version: int) -> dict:
    doc = template_store.get_version(conn, name, kind, version)
    if doc is None:
        raise NotFound(f"Template version not found: {TEMPLATE_WORD[kind]} template '{name}' has no version {version}")
    return doc


def template_document(conn, name: str, kind: str, version: str | None = None) -> dict:
    """The document to render for a send: the given version, else the version active now
    (Pinpoint's rule for `Template{Name, Version}`); a 404 when either is missing."""
    row = require_template(conn, name, kind)
    return row.doc if version is None else _require_version(conn, name, kind, version_number(version))


def _require_account_key(ctx) -> None:
    if ctx.caller.scoped:
        raise Forbidden(f"The access key {ctx.caller.access_key_id} is scoped to apps and cannot change message "
                        "templates, which every app shares")


# -- writing ------------------------------------------------------------------------------------

def _version_doc(ctx, kind: str, name: str, request: dict, **meta) -> dict:
    """A version's document: the request's content members (those the response shape has),
    the template's identity, and `meta` (Version, CreationDate, LastModifiedDate)."""
    family = next(f for f, k in FAMILIES.items() if k == kind)
    get_op = ctx.service.model.operation(f"Get{family}Template")
    response_shape = get_op.output_shape.members[get_op.output_shape.serialization["payload"]]
    content = {k: v for k, v in request.items() if k in response_shape.members and k != "tags" and v is not None}
    doc = {**content, "Arn": template_arn(ctx, name, kind), "TemplateName": name, "TemplateType": kind, **meta}
    rules.check_content(kind, doc)
    ctx.service.templates.check(doc, now=ctx.service.clock.now())
    return doc


def create_template(ctx, kind: str, template_name: str, request: dict) -> dict:
    _require_account_key(ctx)
    rules.check_name(template_name)
    tags = request.get("tags") or {}
    check_tags(tags)
    now = ctx.now()
    doc = _version_doc(ctx, kind, template_name, request, Version="1", CreationDate=now, LastModifiedDate=now)
    with ctx.store.write() as conn:
        if template_store.exists(conn, template_name, kind):
            raise BadRequest(f"Template already exists: {TEMPLATE_WORD[kind]} template '{template_name}'")
        if template_store.count(conn) >= rules.MAX_TEMPLATES:
            raise BadRequest(f"The account already has the most templates allowed ({rules.MAX_TEMPLATES})")
        try:
            template_store.insert(conn, template_name, kind, doc)
        except IntegrityError:  # created by a concurrent request a moment ago
            raise BadRequest(f"Template already exists: {TEMPLATE_WORD[kind]} template '{template_name}'") from None
        tag_store.put(conn, doc["Arn"], None, tags)
    return {"Arn": doc["Arn"], "Message": "Created", "RequestID": ctx.request_id}


def update_template(ctx, kind: str, template_name: str, request: dict, create_new_version: bool | None = None,
                    version: str | None = None) -> dict:
    _require_account_key(ctx)
    if create_new_version and version is not None:
        raise BadRequest("Specify either create-new-version=true or a version to overwrite, not both")
    wanted = version_number(version) if version is not None else None
    now = ctx.now()
    content = _version_doc(ctx, kind, template_name, request, LastModifiedDate=now)
    with ctx.store.write() as conn:
        row = require_template(conn, template_name, kind, for_update=True)
        if create_new_version:
            _add_version(conn, row, content)
        else:
            _overwrite_latest(conn, row, content, wanted)
    return ctx.accepted()


def _add_version(conn, row: template_store.TemplateRow, content: dict) -> None:
    if template_store.count_versions(conn, row.name, row.type) >= rules.MAX_VERSIONS:
        raise BadRequest(f"Template '{row.name}' already has the most versions allowed ({rules.MAX_VERSIONS}); "
                         "delete old versions or overwrite the latest one")
    number = row.version_counter + 1
    template_store.add_version(conn, row.name, row.type, number,
                               {**content, "Version": str(number), "CreationDate": row.created})


def _overwrite_latest(conn, row: template_store.TemplateRow, content: dict, wanted: int | None) -> None:
    latest = template_store.latest_version(conn, row.name, row.type)
    if wanted is not None and wanted != latest:
        _require_version(conn, row.name, row.type, wanted)
        raise BadRequest(f"Version {wanted} is not the latest version of template '{row.name}' ({latest}): only "
                         "the latest version can be overwritten; use create-new-version=true to add a version")
    doc = {**content, "Version": str(latest), "CreationDate": row.created}
    template_store.replace_version(conn, row.name, row.type, latest, doc)
    if latest == row.active_version:
        template_store.set_active(conn, row.name, row.type, latest, doc, doc["LastModifiedDate"])


def delete_template(ctx, kind: str, template_name: str, version: str | None = None) -> dict:
    _require_account_key(ctx)
    wanted = version_number(version) if version is not None else None
    with ctx.store.write() as conn:
        row = require_template(conn, template_name, kind, for_update=True)
        if wanted is None:
            template_store.delete_template(conn, template_name, kind)
            tag_store.delete_arn(conn, template_arn(ctx, template_name, kind))
            return ctx.accepted()
        _require_version(conn, template_name, kind, wanted)
        if wanted == row.active_version:
            raise BadRequest(f"Version {wanted} is the active version of template '{template_name}': make another "
                             "version active first (UpdateTemplateActiveVersion), or delete the whole template")
        template_store.delete_version(conn, template_name, kind, wanted, ctx.now())
    return ctx.accepted()


@operation("UpdateTemplateActiveVersion")
def update_template_active_version(ctx, template_name: str, template_type: str,
                                   template_active_version_request: dict) -> dict:
    _require_account_key(ctx)
    kind = parse_type(template_type)
    wanted = template_active_version_request.get("Version")
    if wanted is None or wanted == "":
        raise BadRequest("Missing Version: give a version number, or 'latest'")
    with ctx.store.write() as conn:
        row = require_template(conn, template_name, kind, for_update=True)
        number = (template_store.latest_version(conn, row.name, kind) if str(wanted).lower() == "latest"
                  else version_number(wanted))
        doc = _require_version(conn, row.name, kind, number)
        template_store.set_active(conn, row.name, kind, number, doc, ctx.now())
    return ctx.accepted()


# -- reading ------------------------------------------------------------------------------------

def get_template(ctx, kind: str, template_name: str, version: str | None = None) -> dict:
    wanted = version_number(version) if version is not None else None
    with ctx.store.read() as conn:
        row = require_template(conn, template_name, kind)
        doc = row.doc if wanted is None else _require_version(conn, template_name, kind, wanted)
        return {**doc, "tags": tag_store.get(conn, doc["Arn"])}


@operation("ListTemplates")
def list_templates(ctx, next_token: str | None = None, page_size: str | None = None, prefix: str | None = None,
                   template_type: str | None = None) -> dict:
    kind = parse_type(template_type) if template_type else None
    limit = paging.page_size(page_size)
    after = _position(paging.decode_token(next_token), (str, str))
    with ctx.store.read() as conn:
        rows = template_store.page(conn, limit + 1, after, prefix, kind)
    rows, token = paging.split_page(rows, limit, lambda r: [r.name, r.type])
    items = [{"CreationDate": r.created, "LastModifiedDate": r.modified, "TemplateName": r.name,
              "TemplateType": r.type, "Version": str(r.active_version)} for r in rows]
    return {"Item": items, **({"NextToken": token} if token else {})}


@operation("ListTemplateVersions")
def list_template_versions(ctx, template_name: str, template_type: str, next_token: str | None = None,
                           page_size: str | None = None) -> dict:
    kind = parse_type(template_type)
    limit = paging.page_size(page_size)
    before = _position(paging.decode_token(next_token), (int,))
    with ctx.store.read() as conn:
        require_template(conn, template_name, kind)
        rows = template_store.page_versions(conn, template_name, kind, limit + 1, before[0] if before else None)
    rows, token = paging.split_page(rows, limit, lambda r: [int(r[1]["Version"])])
    return {"Item": [_version_item(created, doc) for created, doc in rows], **({"NextToken": token} if token else {})}


def _version_item(created: str, doc: dict) -> dict:
    item = {"CreationDate": created, "LastModifiedDate": doc["LastModifiedDate"], "TemplateName": doc["TemplateName"],
            "TemplateType": doc["TemplateType"], "Version": doc["Version"]}
    for optional in ("DefaultSubstitutions", "TemplateDescription"):
        if doc.get(optional) is not None:
            item[optional] = doc[optional]
    return item


def _position(decoded, types: tuple) -> tuple | None:
    """A decoded page token, checked to be the keyset position this list uses."""
    if decoded is None:
        return None
    if (not isinstance(decoded, list) or len(decoded) != len(types)
            or not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(decoded, types))):
        raise BadRequest("Invalid pagination token")
    return tuple(decoded)


# -- the per-type operations, bound from the model's names ------------------------------------

def generated_handlers() -> list[Callable]:
    """Create/Get/Update/Delete for each template type (collected by `operations.registry`)."""
    handlers = []
    for family, kind in FAMILIES.items():
        handlers += [_bind(f"Create{family}Template", create_template, kind, with_body=True),
                     _bind(f"Update{family}Template", update_template, kind, with_body=True),
                     _bind(f"Get{family}Template", get_template, kind),
                     _bind(f"Delete{family}Template", delete_template, kind)]
    return handlers


def _bind(op_name: str, implementation: Callable, kind: str, with_body: bool = False) -> Callable:
    def handler(ctx, template_name: str, **params):
        if with_body:
            body_name = next(name for name in params if name.endswith("_template_request"))
            return implementation(ctx, kind, template_name, params.pop(body_name), **params)
        return implementation(ctx, kind, template_name, **params)

    handler.__name__ = handler.__qualname__ = codec.snake(op_name)
    return operation(op_name)(handler)
