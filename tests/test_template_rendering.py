"""Rendering templates (pure): Pinpoint's variables, default values, substitutions, every
helper with the user guide's examples, the `each` cap, errors that name the place, the
compile cache, and each template type's rendered parts."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone

import pytest

from clarion.domain import templates as templates_module
from clarion.domain.templates import TemplateEngine, TemplateError, push_content

NOW = datetime(2020, 9, 19, 17, 30, tzinfo=timezone.utc)  # 10:30 in Los Angeles

ENDPOINT = {
    "Id": "ep-1", "Address": "jane@example.com", "ChannelType": "EMAIL", "EndpointStatus": "ACTIVE", "OptOut": "NONE",
    "CreationDate": "2019-06-30T11:45:25.220Z",
    "Attributes": {"favorite_colors": ["blue", "red", "green"], "IsUserSubscribed": ["true"],
                   "description": ["my first post"], "Plan": ["pro"]},
    "Metrics": {"visits": 3, "spend": 19.21},
    "Demographic": {"Platform": "ios", "Timezone": "America/Los_Angeles", "Locale": "en_US"},
    "Location": {"City": "Los Angeles", "Country": "US"},
    "User": {"UserId": "user-1", "UserAttributes": {
        "FirstName": ["Jane"], "LastName": ["Alejandro"], "UserAge": ["22"], "StartDate": ["09/19/2020"],
        "interests": ["<h1>Art</h1>"], "FavoriteColors": ["red", "blue", "yellow"], "Last Name": ["Doe"]}},
}


@pytest.fixture(scope="module")
def engine():
    return TemplateEngine()


def render(engine, source: str, endpoint=ENDPOINT, substitutions=None, defaults=None, kind="SMS", **kwargs) -> str:
    doc = {"TemplateName": "t", "TemplateType": kind, "Body": source}
    if defaults is not None:
        doc["DefaultSubstitutions"] = defaults
    return engine.render_message(doc, endpoint, substitutions, now=NOW, **kwargs)["Body"]


def refused(engine, source: str) -> str:
    with pytest.raises(TemplateError) as caught:
        render(engine, source)
    assert caught.value.status == 400 and caught.value.error_type == "BadRequestException"
    return caught.value.message


# -- variables ---------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{{Address}} {{ChannelType}} {{Id}} {{EndpointStatus}} {{OptOut}}", "jane@example.com EMAIL ep-1 ACTIVE NONE"),
    ("{{User.UserId}} {{User.UserAttributes.FirstName}} {{User.UserAttributes.FirstName.[0]}}", "user-1 Jane Jane"),
    ("{{Attributes.Plan}} {{Metrics.visits}} {{Metrics.spend}}", "pro 3 19.21"),
    ("{{Demographic.Platform}} {{Location.City}}, {{Location.Country}}", "ios Los Angeles, US"),
    ("{{Attributes.favorite_colors}} / {{Attributes.favorite_colors.[1]}}", "blue, red, green / red"),
    ("{{User.UserAttributes.[Last Name]}} {{User.UserAttributes.[Last Name].[0]}}", "Doe Doe"),
    ("Hi {{User.UserAttributes.Nickname}}, new {{Attributes.Missing.[3]}}record", "Hi , new record"),
])
def test_variables_follow_the_endpoint_document(engine, source, expected):
    assert render(engine, source) == expected


def test_default_values_fill_only_what_the_recipient_lacks(engine):
    defaults = '{"User.UserAttributes.Activity": "running", "User.UserAttributes.FirstName": "friend", ' \
               '"Attributes.Tier.[0]": "basic"}'
    source = "Hi {{User.UserAttributes.FirstName}}, {{User.UserAttributes.Activity}} {{Attributes.Tier.[0]}}"
    assert render(engine, source, defaults=defaults) == "Hi Jane, running basic"
    assert render(engine, source, endpoint={}, defaults=defaults) == "Hi friend, running basic"
    assert render(engine, "{{upper User.UserAttributes.Activity.[0]}}", defaults=defaults) == "RUNNING"


def test_substitutions_override_endpoint_data_and_defaults(engine):
    substitutions = {"User.UserAttributes.FirstName": ["Sofia"], "Code": ["1234"], "Attributes.Plan": ["a", "b"]}
    source = "{{User.UserAttributes.FirstName}} {{Code}} {{Attributes.Plan}} {{Location.City}}"
    rendered = render(engine, source, substitutions=substitutions, defaults='{"Code": "0000"}')
    assert rendered == "Sofia 1234 a, b Los Angeles"
    assert ENDPOINT["User"]["UserAttributes"]["FirstName"] == ["Jane"]  # the endpoint itself is untouched
    assert render(engine, "{{Code}}", endpoint=None, substitutions={"Code": ["42"]}) == "42"


def test_html_is_escaped_only_in_the_html_part(engine):
    endpoint = {"Attributes": {"Name": ["Tom & <b>Jerry</b>"]}}
    doc = {"TemplateName": "t", "TemplateType": "EMAIL", "Subject": "{{Attributes.Name}}",
           "TextPart": "{{Attributes.Name}}", "HtmlPart": "<p>{{Attributes.Name}} {{{Attributes.Name}}}</p>"}
    rendered = engine.render_message(doc, endpoint, None, now=NOW)
    assert rendered["Subject"] == rendered["TextPart"] == "Tom & <b>Jerry</b>"
    assert rendered["HtmlPart"] == "<p>Tom &amp; &lt;b&gt;Jerry&lt;/b&gt; Tom & <b>Jerry</b></p>"
    assert render(engine, "{{Attributes.Name}}", endpoint=endpoint) == "Tom & <b>Jerry</b>"  # SMS is text


# -- built-in and conditional helpers ----------------------------------------------------------

def test_each_iterates_with_index_and_else(engine):
    source = "{{#each User.UserAttributes.FavoriteColors}}<li>{{@index}}:{{this}}</li>{{else}}none{{/each}}"
    assert render(engine, source) == "<li>0:red</li><li>1:blue</li><li>2:yellow</li>"
    assert render(engine, source, endpoint={}) == "none"


def test_each_stops_at_fifteen_items(engine):
    endpoint = {"Attributes": {"Many": [str(i) for i in range(40)]}}
    rendered = render(engine, "{{#each Attributes.Many}}{{this}},{{/each}}", endpoint=endpoint)
    assert rendered == ",".join(str(i) for i in range(15)) + ","


@pytest.mark.parametrize("source, expected", [
    ("{{#if User.UserAttributes.FirstName.[0]}}Hello {{User.UserAttributes.FirstName.[0]}},{{else}}Hello,{{/if}}",
     "Hello Jane,"),
    ("{{#if User.UserAttributes.Nope.[0]}}yes{{else}}Hello,{{/if}}", "Hello,"),
    ("{{#and (eq Location.City \"Los Angeles\") (eq Location.Country \"US\")}}LA{{else}}elsewhere{{/and}}", "LA"),
    ("{{#eq User.UserAttributes.FavoriteColors.[0] \"red\"}}red!{{else}}not red{{/eq}}", "red!"),
    ("{{#neq User.UserAttributes.FavoriteColors.[0] \"red\"}}not red{{else}}You like red.{{/neq}}", "You like red."),
    ("{{#gt User.UserAttributes.UserAge.[0] \"17\"}}old enough{{else}}too young{{/gt}}", "old enough"),
    ("{{#gte User.UserAttributes.UserAge.[0] \"22\"}}yes{{else}}no{{/gte}}", "yes"),
    ("{{#lt User.UserAttributes.UserAge.[0] \"18\"}}young{{else}}adult{{/lt}}", "adult"),
    ("{{#lte User.UserAttributes.UserAge.[0] \"22\"}}yes{{else}}no{{/lte}}", "yes"),
    ("{{#not (eq User.UserAttributes.FavoriteColors.[0] \"red\")}}not red{{else}}You like red.{{/not}}",
     "You like red."),
    ("{{#or (eq Location.City \"Los Angeles\") (eq Location.City \"Seattle\")}}West{{else}}East{{/or}}", "West"),
    ("{{eq 1 1}} {{eq 1 2}} {{gt 9 17}} {{gt \"9\" \"17\"}}", "true false false false"),
    ("{{and Location.City Attributes.Plan yes='y' no='n'}} {{or Attributes.Nope Attributes.Gone yes='y' no='n'}}",
     "y n"),
    ("{{not Attributes.Nope}} {{not (eq User.UserAttributes.FavoriteColors.[0] \"red\")}}", "true false"),
    ("{{#if Attributes.Nope}}a{{else if Location.City}}b{{else}}c{{/if}}", "b"),
    ("{{#with Location}}{{City}}{{/with}} {{lookup Location \"Country\"}}", "Los Angeles US"),
])
def test_conditionals(engine, source, expected):
    assert render(engine, source) == expected


def test_inline_partials(engine):
    source = ('{{#* inline "fullName"}}{{User.UserAttributes.FirstName.[0]}}{{#if User.UserAttributes.LastName.[0]}}'
              ' {{User.UserAttributes.LastName.[0]}}{{/if}}{{/inline}}Hello {{> fullName}}')
    assert render(engine, source) == "Hello Jane Alejandro"
    no_last = {"User": {"UserAttributes": {"FirstName": ["Jane"]}}}
    assert render(engine, source, endpoint=no_last) == "Hello Jane"


# -- string helpers (the user guide's examples) ------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{{abbreviate User.UserAttributes.LastName.[0] 6}}", "Ale..."),
    ("{{abbreviate \"short\" 10}}", "short"),
    ("{{capitalize Attributes.description.[0]}}", "My First Post"),
    ("{{capitalizeFirst Attributes.description.[0]}}", "My first post"),
    ("[{{center Location.City size=19}}]", "[    Los Angeles    ]"),
    ("[{{center \"ab\" size=7 pad=\"*\"}}]", "[**ab***]"),
    ("{{cut Location.City \"e\"}} {{cut Location.City}}", "Los Angls LosAngeles"),
    ("{{inflect 3 apple apples includeCount=false}}", "apples"),
    ("{{inflect 3 apple apples includeCount=true}} {{inflect 1 \"apple\" \"apples\" includeCount=true}}",
     "3 apples 1 apple"),
    ("{{join Attributes.favorite_colors \", \"}}", "blue, red, green"),
    ("{{join Attributes.favorite_colors \"/\" prefix=\"[\" suffix=\"]\"}}", "[blue/red/green]"),
    ("[{{ljust Location.City 15}}]", "[Los Angeles    ]"),
    ("[{{rjust Location.City 15}}]", "[    Los Angeles]"),
    ("[{{rjust \"7\" 3 pad=\"0\"}}]", "[007]"),
    ("{{lower User.UserAttributes.LastName.[0]}} {{upper User.UserAttributes.LastName.[0]}}", "alejandro ALEJANDRO"),
    ("{{ordinalize User.UserAttributes.UserAge.[0]}} {{ordinalize 1}} {{ordinalize 2}} {{ordinalize 3}} "
     "{{ordinalize 11}} {{ordinalize 112}} {{ordinalize 101}}", "22nd 1st 2nd 3rd 11th 112th 101st"),
    ("{{replace Location.City \" \" \"_\"}}", "Los_Angeles"),
    ("{{slugify Location.City}} {{slugify \"  Hello, World_2 -- now \"}}", "los-angeles hello-world_2-now"),
    ("{{stripTags User.UserAttributes.interests.[0]}}", "Art"),
    ("{{substring Location.City 4 9}} {{substring Location.City 4}} {{substring \"abc\" 1 99}}",
     "Angel Angeles bc"),
    ("{{yesno Attributes.IsUserSubscribed}} {{yesno \"false\"}} {{yesno Attributes.Nope}}", "yes no maybe"),
    ("{{yesno true yes=\"Y\" no=\"N\"}} {{yesno Attributes.Nope maybe=\"?\"}}", "Y ?"),
    ("{{capitalizeFirst (lower \"JANE\")}}", "Jane"),
])
def test_string_helpers(engine, source, expected):
    assert render(engine, source) == expected


@pytest.mark.parametrize("source, expected", [
    ('{{dateFormat User.UserAttributes.StartDate.[0] inputFormat="MM/dd/yyyy" outputFormat="full" '
     'tz=America/Los_Angeles}}', "Saturday, September 19, 2020"),
    ('{{dateFormat "2020-09-19" outputFormat="long"}}', "September 19, 2020"),
    ('{{dateFormat "2020-09-19"}}', "Sep 19, 2020"),
    ('{{dateFormat "2020-09-19" outputFormat="short"}}', "9/19/20"),
    ('{{dateFormat "2020-09-19T23:30:00Z" outputFormat="yyyy-MM-dd HH:mm z" tz="America/Los_Angeles"}}',
     "2020-09-19 16:30 PDT"),
    ('{{dateFormat "2020-09-19T08:05:09Z" outputFormat="EEE, d MMM yy h:mm:ss a XXX"}}', "Sat, 19 Sep 20 8:05:09 AM Z"),
    ('{{dateFormat "19.09.2020 14:07" inputFormat="dd.MM.yyyy HH:mm" outputFormat="yyyy-MM-dd\'T\'HH:mm"}}',
     "2020-09-19T14:07"),
    ('{{dateFormat CreationDate outputFormat="MMMM yyyy"}}', "June 2019"),
    ('{{dateFormat 1600536600000 outputFormat="yyyy-MM-dd HH:mm"}}', "2020-09-19 17:30"),
    ('{{dateFormat "20200919" inputFormat="yyyyMMdd" outputFormat="d/M"}}', "19/9"),
    ('{{now "medium" tz=America/Los_Angeles}}', "Sep 19, 2020"),
    ('{{now}} {{now "HH:mm" tz=Demographic.Timezone}} {{now "HH:mm"}}', "Sep 19, 2020 10:30 17:30"),
])
def test_date_helpers(engine, source, expected):
    assert render(engine, source) == expected


# -- math and encoding helpers -----------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{{add 5 2.3}}", "7.3"), ("{{subtract 5 2.3}}", "2.7"), ("{{multiply 5 2.3}}", "11.5"),
    ("{{divide 5 2.3}}", "2.17391304"), ("{{divide 10 4}}", "2.5"), ("{{divide 10 2}}", "5"),
    ("{{modulo 7 2}}", "1"), ("{{modulo 7.5 2}}", "1.5"), ("{{ceiling 5.23}}", "6"), ("{{floor 5.23}}", "5"),
    ("{{round 19.21}}", "19"), ("{{round 2.5}}", "3"), ("{{round -2.5}}", "-2"),
    ("{{add Metrics.visits 1}} {{multiply Metrics.spend 2}} {{add User.UserAttributes.UserAge.[0] \"1\"}}",
     "4 38.42 23"),
    ("[{{add Metrics.nothing 1}}]", "[]"),
    ('{{encode64 "Hello World"}}', "SGVsbG8gV29ybGQ="), ('{{decode64 "SGVsbG8gV29ybGQ="}}', "Hello World"),
    # The guide's md5 example is the digest of "Hello world"; these are the real digests of "Hello World".
    ('{{md5 "Hello World"}}', hashlib.md5(b"Hello World").hexdigest()),
    ('{{sha256 "Hello World"}}', "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"),
    ('{{sha512 "Hello World"}}', "2c74fd17edafd80e8447b0d46741ee243b7eb74dd2149a0ab1b9246fb30382f27e853d8585719e0"
                                 "e67cbda0daa8f51671064615d645ae27acb15bfb1447f459b"),
    ('{{encode64 Address}}', base64.b64encode(b"jane@example.com").decode()),
])
def test_math_and_encoding_helpers(engine, source, expected):
    assert render(engine, source) == expected


def test_uuid_uses_the_given_id_maker_or_a_random_v4(engine):
    assert render(engine, "{{uuid}}", new_id=lambda: "fixed-id") == "fixed-id"
    first, second = render(engine, "{{uuid}}"), render(engine, "{{uuid}}")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)
    assert first != second


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("Hi {{User.UserId", "line 1, column 4"),
    ("one\ntwo\n  {{#if Attributes.X}}never closed", "line 3, column 3"),
    ("{{#each Attributes.X}}x{{/if}}", "line 1, column 1"),
    ("ok\n{{shout Attributes.X}}", "line 2, column 3: unknown helper 'shout'"),
    ("{{upper (shout Attributes.X)}}", "unknown helper 'shout'"),
    ("{{> nowhere}}", "unknown partial 'nowhere'"),
    ("a\n b {{abbreviate \"Alejandro\" 3}}", "line 2, column 6: abbreviate: the width must be at least 4"),
    ("{{divide 1 0}}", "divide"),
    ("{{add \"x\" 1}}", "add: expected a number, got 'x'"),
    ("{{yesno \"perhaps\"}}", "yesno"),
    ("{{now \"yyyy Q\"}}", "illegal pattern character 'Q'"),
    ("{{dateFormat \"19/09/2020\"}}", "not an ISO 8601 date"),
    ("{{dateFormat \"2020-09-19\" tz=\"Mars/Olympus\"}}", "unknown time zone 'Mars/Olympus'"),
    ("{{and Attributes.Plan}}", "and: needs at least two values"),
    ('{{#* inline "loop"}}{{> loop}}{{/inline}}{{> loop}}', "partials include each other without end"),
])
def test_templates_that_cannot_render_name_the_template_and_the_place(engine, source, expected):
    message = refused(engine, source)
    assert message.startswith("The SMS template 't' cannot be rendered: Body")
    assert expected in message


def test_errors_name_the_part_of_multi_part_templates(engine):
    doc = {"TemplateName": "promo", "TemplateType": "PUSH", "Default": {"Title": "ok"},
           "APNS": {"Title": "fine", "Body": "{{#if x}}"}}
    with pytest.raises(TemplateError, match=r"PUSH template 'promo' cannot be rendered: APNS\.Body, line 1, column 1"):
        engine.check(doc, now=NOW)
    headers = {"TemplateName": "m", "TemplateType": "EMAIL", "Headers": [{"Name": "X-A", "Value": "{{bad x}}"}]}
    with pytest.raises(TemplateError, match=r"Headers\[0\]\.Value"):
        engine.check(headers, now=NOW)


def test_variable_names_never_become_code(engine, capsys):
    sneaky = "{{[a') or __import__('os').system('echo pwned') or ('] }}{{[it's]}}"
    assert render(engine, sneaky, endpoint={"it's": "quoted"}) == "quoted"
    assert "pwned" not in capsys.readouterr().out


# -- each template type ------------------------------------------------------------------------

def test_email_parts_and_headers_are_rendered(engine):
    doc = {"TemplateName": "e", "TemplateType": "EMAIL", "Subject": "Hi {{User.UserAttributes.FirstName}}",
           "TextPart": "Plan: {{Attributes.Plan}}", "HtmlPart": "<b>{{Location.City}}</b>",
           "Headers": [{"Name": "X-User", "Value": "{{User.UserId}}"}], "Arn": "arn", "Version": "1"}
    assert engine.render_message(doc, ENDPOINT, None, now=NOW) == {
        "Subject": "Hi Jane", "TextPart": "Plan: pro", "HtmlPart": "<b>Los Angeles</b>",
        "Headers": [{"Name": "X-User", "Value": "user-1"}]}
    assert doc["Subject"] == "Hi {{User.UserAttributes.FirstName}}"  # the template is untouched


def test_push_parts_render_per_platform(engine):
    doc = {"TemplateName": "p", "TemplateType": "PUSH",
           "Default": {"Title": "Hi {{User.UserAttributes.FirstName}}", "Body": "default", "Action": "OPEN_APP"},
           "APNS": {"Body": "For {{Demographic.Platform}}", "Url": "https://x.test/{{Id}}", "Action": "URL"}}
    rendered = engine.render_message(doc, ENDPOINT, None, now=NOW)
    assert rendered["APNS"] == {"Body": "For ios", "Url": "https://x.test/ep-1", "Action": "URL"}
    assert push_content(rendered, "APNS_SANDBOX") == {"Title": "Hi Jane", "Body": "For ios",
                                                      "Url": "https://x.test/ep-1", "Action": "URL"}
    assert push_content(rendered, "GCM") == {"Title": "Hi Jane", "Body": "default", "Action": "OPEN_APP"}


def test_voice_and_in_app(engine):
    voice = {"TemplateName": "v", "TemplateType": "VOICE", "Body": "Hello {{User.UserId}}", "VoiceId": "Joanna",
             "LanguageCode": "en-US"}
    assert engine.render_message(voice, ENDPOINT, None, now=NOW) == {"Body": "Hello user-1", "VoiceId": "Joanna",
                                                                    "LanguageCode": "en-US"}
    content = [{"BodyConfig": {"Alignment": "LEFT", "Body": "{{not a variable}}", "TextColor": "#000"}}]
    in_app = {"TemplateName": "i", "TemplateType": "INAPP", "Layout": "TOP_BANNER", "Content": content}
    engine.check(in_app, now=NOW)  # in-app content takes no variables, so nothing to compile
    assert engine.render_message(in_app, ENDPOINT, None, now=NOW) == {"Layout": "TOP_BANNER", "Content": content}


# -- the compile cache -------------------------------------------------------------------------

def test_each_part_compiles_once(monkeypatch):
    compiled = []
    real = templates_module.compile_template

    def counting(source, helpers, html):
        compiled.append(source)
        return real(source, helpers, html)

    monkeypatch.setattr(templates_module, "compile_template", counting)
    engine = TemplateEngine()
    doc = {"TemplateName": "c", "TemplateType": "SMS", "Body": "Hi {{User.UserAttributes.FirstName}}"}
    results = {engine.render_message(doc, {"User": {"UserAttributes": {"FirstName": [name]}}}, None, now=NOW)["Body"]
               for name in ("Ann", "Bob", "Cy")}
    assert results == {"Hi Ann", "Hi Bob", "Hi Cy"}
    assert compiled == ["Hi {{User.UserAttributes.FirstName}}"]
    edited = {**doc, "Body": "Bye {{User.UserAttributes.FirstName}}"}  # an overwritten version recompiles
    assert engine.render_message(edited, {}, None, now=NOW)["Body"] == "Bye "
    assert len(compiled) == 2


def test_the_rendered_members_are_the_models():
    from clarion.protocol.model import load

    model = load()
    assert set(templates_module.TYPES) == set(model.shape("TemplateType").enum)
    push = model.shape("PushNotificationTemplateResponse").members
    assert set(templates_module.PUSH_PLATFORMS) <= set(push)
    platform_fields = set().union(*(push[p].members for p in templates_module.PUSH_PLATFORMS))
    assert set(templates_module.PUSH_TEXT_FIELDS) <= platform_fields
    for kind, shape in (("EMAIL", "EmailTemplateResponse"), ("SMS", "SMSTemplateResponse"),
                        ("VOICE", "VoiceTemplateResponse"), ("INAPP", "InAppTemplateResponse")):
        assert set(templates_module.CONTENT_MEMBERS[kind]) <= set(model.shape(shape).members)
