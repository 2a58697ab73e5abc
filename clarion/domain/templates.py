"""Message templates: Pinpoint's rules for them, and rendering one for one recipient.

Rendering is Handlebars (pybars3, see `template_compiler`) with Pinpoint's helpers
(`template_helpers`, `template_strings`, `template_math`) over Pinpoint's variable model: the
recipient's endpoint document (`{{Address}}`, `{{ChannelType}}`, `{{Attributes.X}}`,
`{{Metrics.X}}`, `{{Demographic.X}}`, `{{Location.X}}`, `{{User.UserId}}`,
`{{User.UserAttributes.X}}`, ...). Custom attributes are lists; `{{Attributes.X}}` writes a
one-value list as its value and `{{Attributes.X.[0]}}` picks an item.

A variable's value comes from, first to last: the send's Substitutions (the caller merges
recipient-level over message-level), the endpoint, the template's DefaultSubstitutions (a JSON
object of variable path -> text, used only when the recipient has no value), else empty text.
Pinpoint has no inline default syntax; defaults live only in DefaultSubstitutions.

Choices: `{{x}}` is HTML-escaped only in an email's HtmlPart; every other part is text (an SMS
must not show `&amp;`), so `{{x}}` and `{{{x}}}` are the same there. In-app templates take no
variables (as in Pinpoint) and render as stored.

Use: `engine = TemplateEngine()` once (it caches compiled parts by their text, so a template
version compiles once), then `engine.render_message(doc, endpoint, substitutions, now=...)`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime

import orjson

from ..clock import Ids
from ..protocol.errors import BadRequest
from . import template_math, template_strings
from .template_compiler import OR_LITERAL, CompileError, compile_template, or_literal
from .template_helpers import HELPERS as BASE_HELPERS
from .template_helpers import HelperError, missing

TYPES = ("EMAIL", "SMS", "PUSH", "VOICE", "INAPP")
PUSH_PLATFORMS = ("Default", "APNS", "GCM", "ADM", "Baidu")
PUSH_TEXT_FIELDS = ("Title", "Body", "Url", "RawContent", "Sound", "ImageUrl", "ImageIconUrl", "SmallImageIconUrl",
                    "MediaUrl")
CONTENT_MEMBERS = {
    "EMAIL": ("Subject", "TextPart", "HtmlPart", "Headers"),
    "SMS": ("Body",),
    "VOICE": ("Body", "LanguageCode", "VoiceId"),
    "PUSH": PUSH_PLATFORMS,
    "INAPP": ("Layout", "Content", "CustomConfig"),
}
# A push channel's template part: its own, over Default (see push_content).
PLATFORM_OF_CHANNEL = {"APNS": "APNS", "APNS_SANDBOX": "APNS", "APNS_VOIP": "APNS", "APNS_VOIP_SANDBOX": "APNS",
                       "GCM": "GCM", "ADM": "ADM", "BAIDU": "Baidu"}

HELPERS = {**BASE_HELPERS, **template_strings.HELPERS, **template_math.HELPERS, OR_LITERAL: or_literal}


class TemplateError(BadRequest):
    """A template that cannot be rendered: a 400 naming the template, the part and the place."""


class RenderContext(dict):
    """The variables of one render, plus what the `now` and `uuid` helpers need."""

    now: datetime
    new_id: Callable[[], str]


# -- Pinpoint's rules for a template (quotas: reference §6.3, §11) --------------------------------

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
MAX_TEMPLATES = 20_000
MAX_VERSIONS = 5_000
MAX_HEADERS, MAX_HEADER_NAME, MAX_HEADER_VALUE = 15, 126, 870
MAX_IN_APP_MESSAGES = 5
MAX_CHARACTERS = {"EMAIL": 600_000, "SMS": 1_600, "VOICE": 10_000, "INAPP": 200_000}
MAX_PUSH_CHARACTERS = {"Default": 4_000, "APNS": 4_000, "GCM": 4_000, "Baidu": 4_000, "ADM": 6_000}


def check_name(name: str) -> None:
    if not NAME_RULE.fullmatch(name or ""):
        raise BadRequest(f"Invalid template name '{name[:140]}': a name starts with a letter or digit, has at most "
                         "128 characters, and uses only letters, digits, underscores (_) and hyphens (-)")


def check_content(kind: str, doc: dict) -> None:
    """Sizes, header and message counts, and DefaultSubstitutions of one template version."""
    if kind == "PUSH":
        for platform, limit in MAX_PUSH_CHARACTERS.items():
            size = sum(len(v) for v in (doc.get(platform) or {}).values() if isinstance(v, str))
            _check_size(f"The {platform} part of the push template", size, limit)
    elif kind == "INAPP":
        content = doc.get("Content") or []
        if len(content) > MAX_IN_APP_MESSAGES:
            raise BadRequest(f"An in-app template has at most {MAX_IN_APP_MESSAGES} messages in Content, "
                             f"not {len(content)}")
        size = len(orjson.dumps({k: doc.get(k) for k in CONTENT_MEMBERS["INAPP"]}))
        _check_size("The in-app template", size, MAX_CHARACTERS["INAPP"])
    else:
        size = sum(len(s) for _, s, _ in text_parts(doc))
        _check_size(f"The {kind} template", size, MAX_CHARACTERS[kind])
    if kind == "EMAIL":
        _check_headers(doc.get("Headers") or [])
    _check_defaults(doc.get("DefaultSubstitutions"))


def _check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise BadRequest(f"{what} has {size} characters; the most allowed is {limit}")


def _check_headers(headers: list) -> None:
    if len(headers) > MAX_HEADERS:
        raise BadRequest(f"An email template has at most {MAX_HEADERS} headers, not {len(headers)}")
    for header in headers:
        name, value = header.get("Name") or "", header.get("Value") or ""
        if not name or len(name) > MAX_HEADER_NAME:
            raise BadRequest(f"Header name '{name[:40]}' must have 1 to {MAX_HEADER_NAME} characters")
        if len(value) > MAX_HEADER_VALUE:
            raise BadRequest(f"The value of header '{name}' has {len(value)} characters; the most allowed is "
                             f"{MAX_HEADER_VALUE}")


def _check_defaults(raw: str | None) -> None:
    if raw is None or raw == "":
        return
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"DefaultSubstitutions is not valid JSON: {exc}") from None
    if not isinstance(values, dict) or any(isinstance(v, (dict, list)) for v in values.values()):
        raise BadRequest('DefaultSubstitutions must be a JSON object of variable names and text values, such as '
                         '{"User.UserAttributes.FirstName": "friend"}')


# -- the parts of a template -------------------------------------------------------------------

def text_parts(doc: dict) -> list[tuple[tuple, str, bool]]:
    """(where, source, html) for every part of the template that is rendered."""
    kind = doc.get("TemplateType")
    parts = []
    if kind == "EMAIL":
        parts += [((name,), doc[name], name == "HtmlPart") for name in ("Subject", "TextPart", "HtmlPart")
                  if isinstance(doc.get(name), str)]
        parts += [(("Headers", i, "Value"), h["Value"], False) for i, h in enumerate(doc.get("Headers") or [])
                  if isinstance(h, dict) and isinstance(h.get("Value"), str)]
    elif kind in ("SMS", "VOICE") and isinstance(doc.get("Body"), str):
        parts.append((("Body",), doc["Body"], False))
    elif kind == "PUSH":
        for platform in PUSH_PLATFORMS:
            fields = doc.get(platform) or {}
            parts += [((platform, f), fields[f], False) for f in PUSH_TEXT_FIELDS if isinstance(fields.get(f), str)]
    return parts


def _label(where: tuple) -> str:
    label = ""
    for step in where:
        label += f"[{step}]" if isinstance(step, int) else (f".{step}" if label else step)
    return label


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def push_content(rendered: dict, channel: str) -> dict:
    """The rendered push part for a channel (`APNS`, `GCM`, ...): its own fields over Default's."""
    own = rendered.get(PLATFORM_OF_CHANNEL.get(channel, channel)) or {}
    return {**(rendered.get("Default") or {}), **own}


# -- variables --------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def path_segments(path: str) -> list[str]:
    """`User.UserAttributes.[Last Name].[0]` -> ['User', 'UserAttributes', 'Last Name', '0']."""
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _SEGMENT.finditer(path)]


def default_values(doc: dict) -> dict[str, str]:
    """The template's DefaultSubstitutions as a dict (already checked when the template was written)."""
    raw = doc.get("DefaultSubstitutions")
    if not raw:
        return {}
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return values if isinstance(values, dict) else {}


def _lookup(context, segments: list[str]):
    for segment in segments:
        if isinstance(context, dict):
            context = context.get(segment)
        elif isinstance(context, list) and segment.isdigit() and int(segment) < len(context):
            context = context[int(segment)]
        else:
            return None
    return context


def _assign(context: dict, segments: list[str], value) -> None:
    """Set a variable, copying the nested objects on the way (the endpoint is not changed)."""
    if len(segments) > 1 and segments[-1].isdigit():
        segments = segments[:-1]  # `X.[0]` sets X to a one-value list
    if not segments:
        return
    node = context
    for segment in segments[:-1]:
        child = node.get(segment)
        child = dict(child) if isinstance(child, dict) else {}
        node[segment] = child
        node = child
    node[segments[-1]] = value


def _as_list(value) -> list:
    """Substitution and default values are lists of text, like custom attributes."""
    if isinstance(value, list):
        return value
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [value if isinstance(value, str) else str(value)]


def build_context(endpoint: dict | None, substitutions: dict | None, defaults: dict) -> RenderContext:
    """The variables for one recipient: substitutions over the endpoint over the template's defaults."""
    context = RenderContext(endpoint or {})
    for key, values in (substitutions or {}).items():
        _assign(context, path_segments(key), _as_list(values))
    for key, value in defaults.items():
        segments = path_segments(key)
        target = segments[:-1] if len(segments) > 1 and segments[-1].isdigit() else segments
        if missing(_lookup(context, target)):
            _assign(context, target, _as_list(value))
    return context


# -- the engine -------------------------------------------------------------------------------

def _position(source: str, error) -> tuple[int, int] | None:
    position = getattr(error, "position", None)
    token = getattr(error, "token", None) or getattr(error, "helper", None)
    if position is None and token:
        found = re.search(r"(\{\{[{&#^~/>]*\s*|\(\s*|\s)" + re.escape(token) + r"(?=[\s}()]|$)", source)
        position = found.end() - len(token) if found else None
    if position is None:
        return None
    line = source.count("\n", 0, position) + 1
    return line, position - (source.rfind("\n", 0, position) + 1) + 1


def _error(doc: dict, where: tuple, source: str, reason: str, error=None) -> TemplateError:
    place = _label(where)
    spot = _position(source, error) if error is not None else None
    if spot:
        place += f", line {spot[0]}, column {spot[1]}"
    name, kind = doc.get("TemplateName", "?"), doc.get("TemplateType", "?")
    return TemplateError(f"The {kind} template '{name}' cannot be rendered: {place}: {reason}")


class TemplateEngine:
    """Compiles template parts once (cached by their text) and renders them per recipient."""

    def __init__(self, cache_size: int = 1024):
        self._compiled = functools.lru_cache(maxsize=cache_size)(self._compile)

    @staticmethod
    def _compile(source: str, html: bool):
        return compile_template(source, HELPERS, html)

    def compiled(self, doc: dict, where: tuple, source: str, html: bool):
        try:
            return self._compiled(source, html)
        except CompileError as exc:
            raise _error(doc, where, source, exc.reason, exc) from None

    def check(self, doc: dict, *, now: datetime) -> None:
        """Refuse a template that cannot render: compile every part, then render it once for a
        recipient with no data (which catches literal arguments a helper cannot use)."""
        for where, source, html in text_parts(doc):
            self.compiled(doc, where, source, html)
        self.render_message(doc, None, None, now=now, new_id=lambda: "00000000-0000-4000-8000-000000000000")

    def render_message(self, doc: dict, endpoint: dict | None = None, substitutions: dict | None = None, *,
                       now: datetime, new_id: Callable[[], str] | None = None) -> dict:
        """The template's content members for one recipient, every text part rendered:
        EMAIL {Subject, TextPart, HtmlPart, Headers}, SMS {Body}, VOICE {Body, LanguageCode,
        VoiceId}, PUSH {Default, APNS, GCM, ADM, Baidu: {Title, Body, Url, ...}} (see
        `push_content`), INAPP {Layout, Content, CustomConfig} unchanged."""
        return self.message_renderer(doc)(endpoint, substitutions, now, new_id)

    def message_renderer(self, doc: dict) -> Callable[..., dict]:
        """`render_message` for one document, its parts found and compiled once:
        `fn(endpoint, substitutions, now, new_id)`. For a sender that renders the same message
        for many recipients (the document must not change while the function is used)."""
        kind = doc.get("TemplateType")
        members = [(name, doc[name]) for name in CONTENT_MEMBERS.get(kind, ()) if doc.get(name) is not None]
        parts = [(where, source, html, self.compiled(doc, where, source, html))
                 for where, source, html in text_parts(doc)]
        defaults = default_values(doc) if parts else {}

        def render(endpoint: dict | None, substitutions: dict | None, now: datetime,
                   new_id: Callable[[], str] | None) -> dict:
            result = {name: value if type(value) is str else _copy(value) for name, value in members}
            if not parts:
                return result
            context = build_context(endpoint, substitutions, defaults)
            context.now, context.new_id = now, new_id or _fresh_id
            for where, source, html, compiled in parts:
                _put(result, where, self._run(compiled, doc, where, source, context))
            return result

        return render

    @staticmethod
    def _run(render: Callable[[dict], str], doc: dict, where: tuple, source: str, context: RenderContext) -> str:
        try:
            return render(context)
        except HelperError as exc:
            raise _error(doc, where, source, str(exc), exc) from None
        except RecursionError:
            raise _error(doc, where, source, "partials include each other without end") from None
        except Exception as exc:  # noqa: BLE001 - whatever a template does, the answer is a 400
            raise _error(doc, where, source, f"{type(exc).__name__}: {exc}") from None


def _fresh_id() -> str:
    """For the `uuid` helper: an Ids only when a template asks (making one per render cost ~10 us)."""
    return Ids().request_id()


def _put(result: dict, where: tuple, value: str) -> None:
    node = result
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
