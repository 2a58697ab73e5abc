"""The fast path for templates made only of text and variables (template_compiler's flat
renderer) gives exactly what pybars' general code gives, and is used only where it can."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from clarion.domain.template_compiler import compile_template
from clarion.domain.templates import HELPERS, RenderContext, TemplateEngine, build_context

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

FLAT = [
    "Hello {{User.UserAttributes.FirstName}}, order {{Attributes.Order}} from {{Attributes.City.[0]}}!",
    "<p>{{Attributes.Html}} and {{{Attributes.Html}}} and {{&Attributes.Html}}</p>",
    "{{Address}} {{ChannelType}} {{Metrics.visits}} {{Metrics.spend}} {{Metrics.ratio}} {{Opted}}",
    "{{Attributes.Many}} / {{Attributes.Many.[1]}} / {{Attributes.Many.[7]}} / {{Attributes.Many.length}}",
    "{{Attributes.Empty}}|{{Attributes.Missing}}|{{Nothing.At.All}}|{{User.UserAttributes}}",
    "{{Location}} {{Demographic.Platform.Deeper}} {{Attributes.[Last Name]}} {{Attributes.Order.0}}",
    "line one\n  {{! a comment }}  {{User.UserId}}\nline three {{Attributes.Quote}}",
    "{{keys}} {{items}} {{new_id}} {{get}}",  # names a dict or the render context has as attributes
    "{{Attributes.Number}} {{Attributes.Flag}} {{Attributes.Decimal}} {{Attributes.Tuple}}",
]
NOT_FLAT = [
    "{{#if Address}}yes{{/if}}", "{{upper User.UserId}}", "{{this}}", "{{@root.Address}}",
    "{{#each Attributes.Many}}{{this}}{{/each}}", "{{now}}x{{upper 'a'}}",
]
CONTEXTS = [
    {"Address": "a@example.com", "ChannelType": "EMAIL", "Opted": True,
     "Metrics": {"visits": 3, "spend": 19.21, "ratio": 0.5},
     "Attributes": {"Order": ["A-1"], "City": ["Paris"], "Html": ["<b>\"Tom\" & 'Jerry'</b>`"],
                    "Many": ["x", "y", "z"], "Empty": [], "Last Name": ["Doe"], "Quote": ["it's"],
                    "Number": [7], "Flag": [False], "Decimal": [Decimal("1.50")], "Tuple": ("t", "u")},
     "Location": {"City": "Oslo"}, "Demographic": {"Platform": "ios"},
     "User": {"UserId": "u-1", "UserAttributes": {"FirstName": ["Zoë"]}}},
    {"Address": "b@example.com", "Attributes": {}, "User": {}},
    {},
    {"Attributes": None, "User": {"UserAttributes": {"FirstName": "not a list"}}, "Metrics": []},
]


def context_of(values: dict) -> RenderContext:
    context = build_context(values, None, {})
    context.now, context.new_id = NOW, lambda: "00000000-0000-4000-8000-000000000000"
    return context


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("source", FLAT)
def test_the_flat_renderer_agrees_with_the_general_one(source, html):
    render = compile_template(source, HELPERS, html)
    assert hasattr(render, "general"), "a template of text and variables takes the fast path"
    for values in CONTEXTS:
        context = context_of(values)
        try:
            expected = render.general(context)
        except Exception as exc:  # noqa: BLE001 - the fast path must fail the same way
            with pytest.raises(type(exc)):
                render(context_of(values))
            continue
        assert render(context) == expected


@pytest.mark.parametrize("source", NOT_FLAT)
def test_helpers_blocks_and_special_paths_take_the_general_path(source):
    assert not hasattr(compile_template(source, HELPERS, False), "general")


def test_render_message_uses_it_and_escapes_only_html():
    doc = {"TemplateType": "EMAIL", "TemplateName": "t", "Subject": "Hi {{Attributes.Name}}",
           "TextPart": "Dear {{Attributes.Name}}", "HtmlPart": "<p>Dear {{Attributes.Name}}</p>"}
    endpoint = {"Attributes": {"Name": ["Tom & <Jerry>"]}}
    rendered = TemplateEngine().render_message(doc, endpoint, {"Attributes.Name": "Ann & Bob"}, now=NOW)
    assert rendered == {"Subject": "Hi Ann & Bob", "TextPart": "Dear Ann & Bob",
                        "HtmlPart": "<p>Dear Ann &amp; Bob</p>"}
