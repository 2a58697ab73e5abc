"""`TemplateEngine.message_renderer`: one document's parts found and compiled once, then
rendered for many recipients (the Sender's path), gives what `render_message` gives each of
them, and no recipient's result shares anything the next one's render changes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.domain.templates import TemplateEngine, TemplateError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

EMAIL = {"TemplateType": "EMAIL", "TemplateName": "welcome",
         "Subject": "Hi {{User.UserAttributes.FirstName}}", "TextPart": "{{Attributes.City}} / {{Address}}",
         "HtmlPart": "<p>{{User.UserAttributes.FirstName}} & {{Attributes.Tag}}</p>{{#if Metrics.visits}}v{{/if}}",
         "Headers": [{"Name": "X-City", "Value": "{{Attributes.City}}"}, {"Name": "X-Fixed", "Value": "same"}],
         "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "friend"}'}
PUSH = {"TemplateType": "PUSH", "TemplateName": "ping", "Default": {"Title": "Hi {{Attributes.City}}", "Body": "b"},
        "APNS": {"Body": "{{User.UserId}}", "Sound": "ding"}}


def endpoint(n: int, **extra) -> dict:
    doc = {"Id": f"ep-{n}", "Address": f"p{n}@example.com", "Attributes": {"City": [f"City{n}"], "Tag": ["<b>"]},
           "Metrics": {"visits": n}, "User": {"UserId": f"user-{n}"}}
    if n % 2:
        doc["User"]["UserAttributes"] = {"FirstName": [f"Name{n}"]}
    doc.update(extra)
    return doc


@pytest.mark.parametrize("doc", [EMAIL, PUSH], ids=["email", "push"])
def test_the_renderer_renders_each_recipient_as_render_message_does(doc):
    engine = TemplateEngine()
    render = engine.message_renderer(doc)
    results = []
    for n in range(4):
        substitutions = {"Attributes.City": ["Override"]} if n == 3 else None
        expected = engine.render_message(doc, endpoint(n), substitutions, now=NOW)
        got = render(endpoint(n), substitutions, NOW, None)
        assert got == expected
        results.append(got)
    if doc is EMAIL:
        assert [r["Headers"][0]["Value"] for r in results] == ["City0", "City1", "City2", "Override"]
        assert results[0]["Subject"] == "Hi friend" and results[1]["Subject"] == "Hi Name1"
        assert results[1]["HtmlPart"] == "<p>Name1 & &lt;b&gt;</p>v"  # the variable is escaped, the text is not
    assert EMAIL["Headers"][0]["Value"] == "{{Attributes.City}}"  # the document itself is unchanged


def test_a_part_that_cannot_compile_fails_when_the_renderer_is_made():
    with pytest.raises(TemplateError, match="TextPart"):
        TemplateEngine().message_renderer({**EMAIL, "TextPart": "{{#if x}}never closed"})
