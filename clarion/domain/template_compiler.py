"""Handlebars source -> a Python render function, with pybars3 underneath.

pybars3 parses with a PEG grammar into a tree and turns the tree into Python code. Between
the two steps this module rewrites the tree so the dialect is Pinpoint's and the code is safe:
- decimal literals (`{{add 5 2.3}}`) and one-letter hash keys parse (the grammar is extended);
- inline partials (`{{#* inline "name"}}...{{/inline}}` + `{{> name}}`) are compiled separately;
- `{{else if x}}` (any helper after `else`) chains blocks as in Handlebars;
- every helper call names a known helper, every partial a defined one: a template that would
  fail on every send is refused when it is written;
- unquoted `tz=America/Los_Angeles` and `{{inflect 3 apple apples}}` words fall back to their
  literal text when no variable of that name exists, as the user guide's examples expect;
- path segments are escaped before pybars writes them into code (`{{[a'b]}}` is a variable
  name, never Python).

pybars3's code builder is module-level state shared by every compiler, so compiling holds
`_LOCK`; rendering needs no lock.
"""

from __future__ import annotations

import ast
import functools
import json
import threading
from collections.abc import Callable

import pybars
from pybars import _compiler as pybars_compiler
from pymeta.grammar import OMeta

from .template_helpers import text

_LOCK = threading.Lock()
OR_LITERAL = "__clarion_or_literal"  # the fallback helper for unquoted words


class CompileError(ValueError):
    """A template that cannot compile: `reason`, and `position` in the source when known,
    else `token` to look for in it."""

    def __init__(self, reason: str, position: int | None = None, token: str | None = None):
        super().__init__(reason)
        self.reason, self.position, self.token = reason, position, token


_GRAMMAR_EDITS = [
    # decimal number literals
    ("integer ::= '-'?:sign <digit>+:ds => int((sign if sign else '') + ''.join(ds))",
     "integer ::= '-'?:sign <digit>+:ds <fraction>?:frac => "
     "(float if frac else int)((sign if sign else '') + ''.join(ds) + (frac or ''))\n"
     "fraction ::= '.' <digit>+:fs => u'.' + u''.join(fs)"),
    # hash keys of any length (`k=1`)
    ("(<letterOrDigit>|'_')+:symbol ']'? => start + u''.join(symbol)",
     "(<letterOrDigit>|'_')*:symbol ']'? => start + u''.join(symbol)"),
]


@functools.cache
def _grammars():
    """The parser and the code generator (built once: each takes a tenth of a second)."""
    source = pybars_compiler.handlebars_grammar
    for old, new in _GRAMMAR_EDITS:
        if old not in source:
            raise RuntimeError("pybars3's grammar changed; update clarion.domain.template_compiler")
        source = source.replace(old, new)
    builder = pybars_compiler.CodeBuilder()
    generator = OMeta.makeGrammar(pybars_compiler.compile_grammar, {"builder": builder})
    return OMeta.makeGrammar(source, {}, "clarion_handlebars"), generator, builder


def parse(source: str) -> list:
    """The template's tree; a CompileError with the position of the tag where parsing stopped."""
    prepared = _mark_inline_partials(source)
    parser, _, _ = _grammars()
    trimmed = pybars.Compiler().whitespace_control(prepared)
    state = parser(trimmed)
    tree, _ = state.apply("template")
    if state.input.position < len(trimmed):
        # Report where the untrimmed source stops, so the line and column are the author's.
        raw = parser(prepared)
        raw.apply("template")
        stop = raw.input.position if raw.input.position < len(prepared) else None
        rest = prepared[stop:] if stop is not None else ""
        end = rest.find("}}")
        tag = rest[: end + 2] if 0 <= end < 60 else rest[:60]
        raise CompileError(f"'{tag}' is not valid Handlebars, or its block is never closed", stop)
    return tree


def _mark_inline_partials(source: str) -> str:
    # `{{#* inline` becomes `{{#  inline` (same length, so positions stay true): a block the
    # tree rewrite below lifts out as a partial.
    return source.replace("{{#*", "{{# ").replace("{{~#*", "{{~# ")


def compile_template(source: str, helpers: dict, html: bool) -> Callable[[dict], str]:
    """A function rendering `source` with `helpers` for a context; HTML-escaping `{{x}}` when `html`."""
    tree = parse(source)
    rewriter = _Rewriter(helpers)
    main = rewriter.template(tree)
    bodies = dict(rewriter.partials)
    with _LOCK:
        render = _generate(main, html)
        partials = {name: _generate(body, html) for name, body in bodies.items()}

    def run(context: dict) -> str:
        return render(context, helpers=helpers, partials=partials)

    plan = _flat_plan(tree, helpers)
    return run if plan is None else _flat_renderer(plan, html, run)


def _generate(tree: list, html: bool) -> Callable:
    _, generator, builder = _grammars()
    builder._reset()
    container = generator(tree).apply("compile")[0]
    namespace: dict = {}
    exec(compile(container.full_code, "<template>", "exec", dont_inherit=True), namespace)  # noqa: S102
    namespace["resolve"] = _resolve
    namespace["prepare"] = _prepare_html if html else _prepare_text
    return namespace[container.name]


# -- the fast path: text and variables only ---------------------------------------------------

_TEXT_NODES = ("literal", "whitespace", "newline")
_MISSING = object()
_PLAIN = frozenset((str, int, float, bool, list, dict, type(None)))  # what JSON documents hold


def _flat_plan(tree: list, helpers: dict) -> list | None:
    """The template as text and variable paths, when it is nothing else (no helper, block,
    partial, `this`, `../` or `@data`): most message templates. None otherwise."""
    plan: list = []
    for node in tree[1:]:
        kind = node[0]
        if kind in _TEXT_NODES:
            plan.append(node[1])
        elif kind == "comment":
            continue
        elif kind in ("expand", "escapedexpand") and not node[2] and node[1][0] == "path":
            segments = tuple(s for s in node[1][1] if s)
            if not segments or any(s == "this" or s[0] == "@" for s in segments) or (
                    len(segments) == 1 and segments[0] in helpers):
                return None
            plan.append((segments, kind == "escapedexpand"))
        else:
            return None
    return plan


def _flat_renderer(plan: list, html: bool, general: Callable[[dict], str]) -> Callable[[dict], str]:
    """Render a flat plan with plain lookups: the same text as pybars' generated code (which
    copies the helper table and builds scopes on every call), about four times faster. Any
    value the plain lookups do not cover (a missing top-level name, which pybars may find as
    an attribute; a value of another type) sends the whole render to the general function."""

    # Each variable as (first segment, the rest, escaped): the walk down nested dicts, the
    # common case, is inlined; anything else takes `_lookup`.
    steps = [part if type(part) is str else (part[0][0], part[0][1:], part[0], part[1]) for part in plan]
    escape = pybars_compiler.escape

    def run(context: dict) -> str:
        out = []
        for part in steps:
            if type(part) is str:
                out.append(part)
                continue
            first, rest, segments, escaped = part
            value = context.get(first, _MISSING)
            for segment in rest:
                if type(value) is dict:
                    value = value.get(segment)
                else:
                    value = _lookup(context, segments)
                    break
            kind = type(value)
            if kind is not str:
                if value is _MISSING or kind not in _PLAIN:
                    return general(context)
                if kind is list and len(value) == 1 and type(value[0]) is str:
                    value = value[0]  # a custom attribute's one value: the common case
                else:
                    value = _prepare_text(value, escaped)
            out.append(escape(value) if html and escaped else value)
        return "".join(out)

    run.general = general  # for tests: the fast path must agree with it
    return run


def _lookup(context: dict, segments: tuple):
    """`_resolve` for a plain path from the top scope, or _MISSING where it would do more."""
    value = context.get(segments[0], _MISSING)
    if value is _MISSING:
        return _MISSING
    for segment in segments[1:]:
        kind = type(value)
        if kind is dict:
            value = value.get(segment)
        elif value is None:
            return None
        elif kind is list:
            if segment == "length":
                return len(value)
            value = value[int(segment)] if segment.isdigit() and int(segment) < len(value) else None
        else:
            return _MISSING
    return value if type(value) in _PLAIN else _MISSING


# -- what the generated code calls -------------------------------------------------------------

def _resolve(context, *segments):
    """pybars' path lookup, with a fast path for the JSON documents templates read, and a
    missing list item or bad index simply missing."""
    if segments == ("",) or any(s[:2] == "@@" for s in segments):
        return _pybars_resolve(context, segments)
    for segment in segments:
        if context is None:
            return None
        if not segment:
            continue
        kind = type(context)
        if kind is list:
            if segment == "length":
                return len(context)
            context = context[int(segment)] if segment.isdigit() and int(segment) < len(context) else None
        elif kind is dict or isinstance(context, (dict, pybars_compiler.Scope)):
            context = context.get(segment)
        else:
            context = _pybars_resolve(context, (segment,))
    return context


def _pybars_resolve(context, segments):
    try:
        return pybars_compiler.resolve(context, *segments)
    except (IndexError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _prepare_text(value, should_escape):
    if value is None:
        return ""
    if type(value) is str or type(value) is pybars_compiler.strlist:
        return value
    return text(value)


def _prepare_html(value, should_escape):
    prepared = _prepare_text(value, should_escape)
    if should_escape and type(prepared) is str:
        return pybars_compiler.escape(prepared)
    return prepared


def or_literal(this, value, literal):
    return literal if value is None else value


# -- the tree rewrite ---------------------------------------------------------------------------

def _literal_text(arg) -> str | None:
    if arg[0] == "literalparam" and isinstance(arg[1], str):
        return ast.literal_eval(arg[1])
    return None


def _python_segment(segment: str) -> str:
    # pybars writes segments into code inside u'...': escape what would end the literal.
    return segment.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")


class _Rewriter:
    def __init__(self, helpers: dict):
        self.helpers = helpers
        self.partials: dict[str, list] = {}
        self.declared: set[str] = set()

    def template(self, tree: list) -> list:
        self.declared |= set(self._inline_names(tree))
        out = ["template"]
        for node in tree[1:]:
            rewritten = self.node(node)
            if rewritten is not None:
                out.append(rewritten)
        return out

    def _inline_names(self, tree: list):
        for node in tree[1:]:
            if node[0] == "block" and node[1] == "inline" and node[2] and _literal_text(node[2][0]) is not None:
                yield _literal_text(node[2][0])

    def node(self, node):
        kind = node[0]
        if kind in ("block", "invertedblock"):
            return self.block(node)
        if kind in ("expand", "escapedexpand"):
            return self.expression(node)
        if kind == "partial":
            return self.partial(node)
        return node

    def block(self, node):
        kind, symbol, args, body, alt = node
        if kind == "block" and symbol == "inline":
            name = _literal_text(args[0]) if len(args) == 1 else None
            if name is None:
                raise CompileError('an inline partial needs one quoted name: {{#* inline "name"}}', token="inline")
            self.partials[name] = self.template(body)
            return None
        body, alt = self._chain_else(body, alt)
        if symbol not in self.helpers and args:
            raise CompileError(f"unknown helper '{symbol}'", token=symbol)
        return (kind, _python_segment(symbol), self.arguments(symbol, args), self.template(body),
                self.template(alt) if alt else alt)

    def _chain_else(self, body: list, alt: list):
        """`{{#if a}}x{{else if b}}y{{else}}z{{/if}}` -> if a: x, else (if b: y, else z)."""
        for i, node in enumerate(body[1:], start=1):
            if node[0] == "escapedexpand" and node[1] == ("path", ["else"]) and node[2]:
                head = node[2][0]
                if head[0] != "path" or len(head[1]) != 1:
                    raise CompileError("{{else}} must be followed by a helper name", token="else")
                chained = ("block", head[1][0], node[2][1:], ["template"] + body[i + 1:], alt)
                return body[:i], ["template", chained]
        return body, alt

    def expression(self, node):
        kind, (path_kind, segments), args = node
        if args or (len(segments) == 1 and segments[0] in self.helpers):
            name = segments[0] if len(segments) == 1 else ".".join(s for s in segments if s)
            if name == "else":
                raise CompileError("{{else}} outside of a block", token="else")
            if name not in self.helpers:
                raise CompileError(f"unknown helper '{name}'", token=name)
            return (kind, (path_kind, [_python_segment(name)]), self.arguments(name, args))
        return (kind, (path_kind, [_python_segment(s) for s in segments]), [])

    def partial(self, node):
        _, name_arg, args = node
        name = _literal_text(name_arg) if name_arg[0] == "literalparam" else None
        if name is None:
            raise CompileError("dynamic partial names are not supported", token="{{>")
        if name not in self.declared:
            raise CompileError(f"unknown partial '{name}': declare it with {{{{#* inline \"{name}\"}}}}", token=name)
        return ("partial", ("literalparam", json.dumps(name)), [self.argument(None, i, a) for i, a in enumerate(args)])

    def arguments(self, helper: str, args: list) -> list:
        return [self.argument(helper, i, arg) for i, arg in enumerate(args)]

    def argument(self, helper: str | None, index: int, arg):
        kind = arg[0]
        if kind == "kwparam":
            _, key, value = arg
            if key == "tz" and value[0] == "path":
                return ("kwparam", key, self._or_literal(value, "/"))
            return ("kwparam", key, self.argument(None, -1, value))
        if kind == "path":
            if helper == "inflect" and index in (1, 2) and len(arg[1]) == 1:
                return self._or_literal(arg, "")
            return ("path", [_python_segment(s) for s in arg[1]])
        if kind == "subexpr":
            name = arg[1][1][0] if len(arg[1][1]) == 1 else ".".join(arg[1][1])
            if name not in self.helpers:
                raise CompileError(f"unknown helper '{name}'", token=name)
            return ("subexpr", ("path", [name]), self.arguments(name, arg[2]))
        return arg

    def _or_literal(self, path_arg, joiner: str):
        literal = joiner.join(s for s in path_arg[1] if s)
        path = ("path", [_python_segment(s) for s in path_arg[1]])
        return ("subexpr", ("path", [OR_LITERAL]), [path, ("literalparam", json.dumps(literal))])
