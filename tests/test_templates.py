"""Message templates through boto3 against a live server, on both store backends: the five
types' CRUD, versions, the active version, listing, tags, 404s, limits, and broken templates
refused with a 400 that names the place."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from clarion.clock import iso
from clarion.domain import templates as template_rules
from clarion.store import keys as key_store

# One sample per type: (family used in boto3 method names, request member, TemplateType,
# create payload, update payload, response member, a content member to compare)
TYPES = [
    ("email", "EmailTemplateRequest", "EMAIL",
     {"Subject": "Hi {{User.UserAttributes.FirstName}}", "HtmlPart": "<p>{{Attributes.Plan}}</p>", "TextPart": "t",
      "Headers": [{"Name": "X-Campaign", "Value": "{{Id}}"}]},
     {"Subject": "Hello again"}, "EmailTemplateResponse", "Subject"),
    ("sms", "SMSTemplateRequest", "SMS", {"Body": "Code {{Attributes.Code}}"}, {"Body": "v2"},
     "SMSTemplateResponse", "Body"),
    ("voice", "VoiceTemplateRequest", "VOICE", {"Body": "Hello {{User.UserId}}", "LanguageCode": "en-US",
                                               "VoiceId": "Joanna"}, {"Body": "v2"}, "VoiceTemplateResponse", "Body"),
    ("push", "PushNotificationTemplateRequest", "PUSH",
     {"Default": {"Title": "Hi", "Body": "{{Attributes.Plan}}", "Action": "OPEN_APP"},
      "APNS": {"Body": "apns {{Address}}", "Sound": "default"}},
     {"Default": {"Title": "v2", "Body": "b"}}, "PushNotificationTemplateResponse", "Default"),
    ("in_app", "InAppTemplateRequest", "INAPP",
     {"Layout": "TOP_BANNER", "Content": [{"BackgroundColor": "#fff", "BodyConfig": {
         "Alignment": "LEFT", "Body": "Welcome", "TextColor": "#000"}}], "CustomConfig": {"k": "v"}},
     {"Layout": "BOTTOM_BANNER", "Content": []}, "InAppTemplateResponse", "Layout"),
]
IDS = [t[0] for t in TYPES]


def _call(client, action: str, family: str, **kwargs):
    return getattr(client, f"{action}_{family}_template")(**kwargs)


def create(client, family, member, name, payload):
    return _call(client, "create", family, TemplateName=name, **{member: payload})


def get(client, family, name, **kwargs):
    response = _call(client, "get", family, TemplateName=name, **kwargs)
    return next(v for k, v in response.items() if k.endswith("TemplateResponse"))


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def sms(client, name, body, **kwargs):
    return client.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": body, **kwargs})


def sms_body(client, name, **kwargs) -> str:
    return client.get_sms_template(TemplateName=name, **kwargs)["SMSTemplateResponse"]["Body"]


@pytest.mark.parametrize("family, member, kind, payload, update, response, field", TYPES, ids=IDS)
def test_each_type_is_created_read_updated_and_deleted(client, family, member, kind, payload, update, response,
                                                       field):
    created = create(client, family, member, "welcome", {**payload, "TemplateDescription": "first", "tags": {"t": "1"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    body = created["TemplateCreateMessageBody" if kind == "INAPP" else "CreateTemplateMessageBody"]
    arn = f"arn:aws:mobiletargeting:us-east-1:000000000000:templates/welcome/{kind}"
    assert body["Arn"] == arn and body["RequestID"]

    doc = get(client, family, "welcome")
    assert doc["Arn"] == arn and doc["TemplateName"] == "welcome" and doc["TemplateType"] == kind
    assert doc["Version"] == "1" and doc["TemplateDescription"] == "first" and doc["tags"] == {"t": "1"}
    assert doc["CreationDate"].endswith("Z") and doc["LastModifiedDate"] == doc["CreationDate"]
    assert all(doc[k] == v for k, v in payload.items())

    updated = _call(client, "update", family, TemplateName="welcome", **{member: update})
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202 and updated["MessageBody"]["Message"] == "Accepted"
    after = get(client, family, "welcome")
    assert after[field] == update[field] and after["Version"] == "1" and "TemplateDescription" not in after
    assert after["LastModifiedDate"] >= doc["LastModifiedDate"] and after["CreationDate"] == doc["CreationDate"]

    deleted = _call(client, "delete", family, TemplateName="welcome")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert error_of(lambda: get(client, family, "welcome"))[:2] == ("NotFoundException", 404)


def test_the_same_name_can_be_used_once_per_type(client):
    sms(client, "shared", "one")
    client.create_voice_template(TemplateName="shared", VoiceTemplateRequest={"Body": "two"})
    assert error_of(lambda: sms(client, "shared", "again"))[:2] == ("BadRequestException", 400)
    assert sms_body(client, "shared") == "one"


def test_versions_overwrite_add_activate_and_delete(client):
    sms(client, "v", "one")
    client.update_sms_template(TemplateName="v", SMSTemplateRequest={"Body": "one, edited"})
    for body in ("two", "three"):
        client.update_sms_template(TemplateName="v", CreateNewVersion=True, SMSTemplateRequest={"Body": body})

    # The active version stays 1 until changed; each version keeps its own content.
    assert sms_body(client, "v") == "one, edited"
    assert [sms_body(client, "v", Version=n) for n in "123"] == ["one, edited", "two", "three"]
    versions = client.list_template_versions(TemplateName="v", TemplateType="SMS")["TemplateVersionsResponse"]
    assert [item["Version"] for item in versions["Item"]] == ["3", "2", "1"]

    client.update_template_active_version(TemplateName="v", TemplateType="SMS",
                                          TemplateActiveVersionRequest={"Version": "2"})
    assert sms_body(client, "v") == "two"
    assert client.list_templates()["TemplatesResponse"]["Item"][0]["Version"] == "2"
    client.update_template_active_version(TemplateName="v", TemplateType="SMS",
                                          TemplateActiveVersionRequest={"Version": "latest"})
    assert client.get_sms_template(TemplateName="v")["SMSTemplateResponse"]["Version"] == "3"

    # Overwriting the latest (and active) version changes what Get answers.
    client.update_sms_template(TemplateName="v", Version="3", SMSTemplateRequest={"Body": "three, edited"})
    assert sms_body(client, "v") == "three, edited"


def test_version_numbers_are_never_reused(client):
    sms(client, "n", "one")
    client.update_sms_template(TemplateName="n", CreateNewVersion=True, SMSTemplateRequest={"Body": "two"})
    client.delete_sms_template(TemplateName="n", Version="2")
    assert error_of(lambda: sms_body(client, "n", Version="2"))[:2] == ("NotFoundException", 404)
    client.update_sms_template(TemplateName="n", CreateNewVersion=True, SMSTemplateRequest={"Body": "three"})
    versions = client.list_template_versions(TemplateName="n", TemplateType="SMS")["TemplateVersionsResponse"]
    assert [item["Version"] for item in versions["Item"]] == ["3", "1"]


def test_version_rules_on_update_and_delete(client):
    sms(client, "r", "one")
    client.update_sms_template(TemplateName="r", CreateNewVersion=True, SMSTemplateRequest={"Body": "two"})
    not_latest = error_of(lambda: client.update_sms_template(TemplateName="r", Version="1",
                                                             SMSTemplateRequest={"Body": "x"}))
    assert not_latest[:2] == ("BadRequestException", 400) and "latest" in not_latest[2]
    both = error_of(lambda: client.update_sms_template(TemplateName="r", Version="2", CreateNewVersion=True,
                                                       SMSTemplateRequest={"Body": "x"}))
    assert both[:2] == ("BadRequestException", 400)
    assert error_of(lambda: client.update_sms_template(TemplateName="r", Version="7", SMSTemplateRequest={
        "Body": "x"}))[:2] == ("NotFoundException", 404)
    assert error_of(lambda: sms_body(client, "r", Version="abc"))[:2] == ("BadRequestException", 400)
    active = error_of(lambda: client.delete_sms_template(TemplateName="r", Version="1"))
    assert active[:2] == ("BadRequestException", 400) and "active" in active[2]
    assert [sms_body(client, "r", Version=n) for n in "12"] == ["one", "two"]  # nothing changed


def test_version_limit(client, monkeypatch):
    monkeypatch.setattr(template_rules, "MAX_VERSIONS", 3)
    sms(client, "many", "1")
    for body in ("2", "3"):
        client.update_sms_template(TemplateName="many", CreateNewVersion=True, SMSTemplateRequest={"Body": body})
    code, status, message = error_of(lambda: client.update_sms_template(
        TemplateName="many", CreateNewVersion=True, SMSTemplateRequest={"Body": "4"}))
    assert (code, status) == ("BadRequestException", 400) and "3" in message
    client.update_sms_template(TemplateName="many", SMSTemplateRequest={"Body": "3, edited"})  # overwriting is fine
    assert sms_body(client, "many", Version="3") == "3, edited"


def test_list_templates_filters_by_prefix_and_type_and_pages(client):
    for name in ("alpha", "alpine", "Alps", "beta", "al_x"):
        sms(client, name, "b")
    client.create_email_template(TemplateName="alpha", EmailTemplateRequest={"Subject": "s"})

    def names(**kwargs):
        return [(i["TemplateName"], i["TemplateType"]) for i in client.list_templates(**kwargs)["TemplatesResponse"]["Item"]]

    assert names(Prefix="al") == [("al_x", "SMS"), ("alpha", "EMAIL"), ("alpha", "SMS"), ("alpine", "SMS")]
    assert names(Prefix="al_") == [("al_x", "SMS")]  # `_` is a character, not a wildcard
    assert names(TemplateType="EMAIL") == [("alpha", "EMAIL")]
    assert names(Prefix="alp", TemplateType="SMS") == [("alpha", "SMS"), ("alpine", "SMS")]

    seen, token, pages = [], None, 0
    while True:
        page = client.list_templates(PageSize="4", **({"NextToken": token} if token else {}))["TemplatesResponse"]
        seen += [(i["TemplateName"], i["TemplateType"]) for i in page["Item"]]
        assert all(set(i) == {"CreationDate", "LastModifiedDate", "TemplateName", "TemplateType", "Version"}
                   for i in page["Item"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6 and pages == 2


def test_list_template_versions_pages_newest_first(client):
    sms(client, "paged", "1")
    for n in range(2, 6):
        client.update_sms_template(TemplateName="paged", CreateNewVersion=True, SMSTemplateRequest={"Body": str(n)})
    seen, token = [], None
    while True:
        page = client.list_template_versions(TemplateName="paged", TemplateType="SMS", PageSize="2",
                                             **({"NextToken": token} if token else {}))["TemplateVersionsResponse"]
        seen += [i["Version"] for i in page["Item"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == ["5", "4", "3", "2", "1"]


def test_template_tags(client):
    sms(client, "tagged", "b", tags={"team": "growth"})
    arn = client.get_sms_template(TemplateName="tagged")["SMSTemplateResponse"]["Arn"]
    client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"env": "prod"}})
    assert client.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"team": "growth", "env": "prod"}
    # Pinpoint ignores tags on update.
    client.update_sms_template(TemplateName="tagged", SMSTemplateRequest={"Body": "c", "tags": {"x": "y"}})
    assert client.get_sms_template(TemplateName="tagged")["SMSTemplateResponse"]["tags"] == {
        "team": "growth", "env": "prod"}
    client.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert client.get_sms_template(TemplateName="tagged")["SMSTemplateResponse"]["tags"] == {"env": "prod"}
    # A deleted template's tags go with it.
    client.delete_sms_template(TemplateName="tagged")
    assert error_of(lambda: client.list_tags_for_resource(ResourceArn=arn))[:2] == ("NotFoundException", 404)
    sms(client, "tagged", "again")
    assert client.get_sms_template(TemplateName="tagged")["SMSTemplateResponse"]["tags"] == {}
    assert error_of(lambda: sms(client, "badtags", "b", tags={"aws:x": "1"}))[:2] == ("BadRequestException", 400)


def test_unknown_templates_and_versions_are_404(client):
    missing = [
        lambda: client.get_email_template(TemplateName="nope"),
        lambda: client.update_sms_template(TemplateName="nope", SMSTemplateRequest={"Body": "b"}),
        lambda: client.delete_push_template(TemplateName="nope"),
        lambda: client.list_template_versions(TemplateName="nope", TemplateType="VOICE"),
        lambda: client.update_template_active_version(TemplateName="nope", TemplateType="SMS",
                                                      TemplateActiveVersionRequest={"Version": "1"}),
        lambda: client.get_in_app_template(TemplateName="nope"),
    ]
    for call in missing:
        assert error_of(call)[:2] == ("NotFoundException", 404)
    sms(client, "exists", "b")
    assert error_of(lambda: client.get_email_template(TemplateName="exists"))[:2] == ("NotFoundException", 404)
    assert error_of(lambda: sms_body(client, "exists", Version="2"))[:2] == ("NotFoundException", 404)
    assert error_of(lambda: client.update_template_active_version(
        TemplateName="exists", TemplateType="SMS", TemplateActiveVersionRequest={"Version": "2"}))[1] == 404
    assert error_of(lambda: client.list_template_versions(TemplateName="exists", TemplateType="FAX"))[1] == 400


@pytest.mark.parametrize("body, place", [
    ("Hello {{User.UserAttributes.FirstName}}\nYour code: {{#if Attributes.Code}}{{Attributes.Code}}", "line 2, column 12"),
    ("Hi {{shout Attributes.Name}}", "unknown helper 'shout'"),
    ("Hi\n  {{abbreviate \"Alejandro\" 2}}", "line 2, column 5"),
    ("{{> missingPartial}}", "unknown partial 'missingPartial'"),
    ("{{dateFormat \"2020-01-01\" tz=\"Nowhere/City\"}}", "unknown time zone"),
])
def test_broken_templates_are_refused_naming_the_place(client, body, place):
    code, status, message = error_of(lambda: sms(client, "broken", body))
    assert (code, status) == ("BadRequestException", 400)
    assert "'broken'" in message and "Body" in message and place in message
    assert error_of(lambda: client.get_sms_template(TemplateName="broken"))[1] == 404


def test_a_broken_update_changes_nothing(client):
    client.create_email_template(TemplateName="mail", EmailTemplateRequest={"Subject": "ok", "HtmlPart": "<p>ok</p>"})
    code, _, message = error_of(lambda: client.update_email_template(
        TemplateName="mail", EmailTemplateRequest={"Subject": "ok", "HtmlPart": "<p>{{#each x}}</p>"}))
    assert code == "BadRequestException" and "HtmlPart" in message and "line 1, column 4" in message
    assert client.get_email_template(TemplateName="mail")["EmailTemplateResponse"]["HtmlPart"] == "<p>ok</p>"


@pytest.mark.parametrize("name", ["-starts-with-hyphen", "has space", "x" * 129, "dot.ted"])
def test_bad_template_names_are_400(client, name):
    assert error_of(lambda: sms(client, name, "b"))[:2] == ("BadRequestException", 400)


def test_content_limits_are_400(client):
    too_long = error_of(lambda: sms(client, "long", "x" * 1601))
    assert too_long[:2] == ("BadRequestException", 400) and "1600" in too_long[2]
    sms(client, "long", "x" * 1600)
    assert error_of(lambda: client.create_email_template(TemplateName="h", EmailTemplateRequest={
        "Subject": "s", "Headers": [{"Name": f"X-{i}", "Value": "v"} for i in range(16)]}))[1] == 400
    assert error_of(lambda: sms(client, "defaults", "b", DefaultSubstitutions="{not json"))[1] == 400
    assert error_of(lambda: sms(client, "defaults", "b", DefaultSubstitutions='["a"]'))[1] == 400
    sms(client, "defaults", "b", DefaultSubstitutions='{"Attributes.Plan": "free"}')


def test_template_count_limit(client, monkeypatch):
    monkeypatch.setattr(template_rules, "MAX_TEMPLATES", 2)
    sms(client, "one", "b")
    sms(client, "two", "b")
    assert error_of(lambda: sms(client, "three", "b"))[:2] == ("BadRequestException", 400)


def test_templates_survive_app_deletion(client, app_id):
    sms(client, "kept", "b", tags={"k": "v"})
    client.delete_app(ApplicationId=app_id)
    assert client.get_sms_template(TemplateName="kept")["SMSTemplateResponse"]["tags"] == {"k": "v"}


def test_a_key_scoped_to_apps_reads_templates_but_cannot_change_them(server, client, app_id):
    sms(client, "shared", "b")
    service = server.service
    with service.store.write() as conn:
        key_store.insert(conn, service.vault, "AKCLSCOPEDTEMPLATES1", "scoped-secret", apps=[app_id],
                         description="test", root=False, created=iso(service.clock.now()))
    scoped = server.client("AKCLSCOPEDTEMPLATES1", "scoped-secret")
    assert scoped.get_sms_template(TemplateName="shared")["SMSTemplateResponse"]["Body"] == "b"
    assert scoped.list_templates()["TemplatesResponse"]["Item"][0]["TemplateName"] == "shared"
    for call in (lambda: sms(scoped, "new", "b"),
                 lambda: scoped.update_sms_template(TemplateName="shared", SMSTemplateRequest={"Body": "x"}),
                 lambda: scoped.delete_sms_template(TemplateName="shared")):
        assert error_of(call)[:2] == ("ForbiddenException", 403)
    assert sms_body(client, "shared") == "b"


def test_the_send_path_renders_the_active_or_a_pinned_version(server, client):
    """What SendMessages will do: load the template by name (and optional version), render it."""
    from clarion.operations.templates import template_document
    from clarion.protocol.errors import NotFound

    client.create_email_template(TemplateName="receipt", EmailTemplateRequest={
        "Subject": "Thanks {{User.UserAttributes.FirstName}}", "HtmlPart": "<p>{{Attributes.Item}}</p>",
        "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "friend"}'})
    client.update_email_template(TemplateName="receipt", CreateNewVersion=True,
                                 EmailTemplateRequest={"Subject": "v2 {{Address}}"})
    service = server.service
    endpoint = {"Address": "a@example.com", "Attributes": {"Item": ["Tea & cake"]}}
    with service.store.read() as conn:
        active, pinned = template_document(conn, "receipt", "EMAIL"), template_document(conn, "receipt", "EMAIL", "2")
        with pytest.raises(NotFound):
            template_document(conn, "receipt", "EMAIL", "3")
    now = service.clock.now()
    assert service.templates.render_message(active, endpoint, None, now=now) == {
        "Subject": "Thanks friend", "HtmlPart": "<p>Tea &amp; cake</p>"}
    assert service.templates.render_message(pinned, endpoint, {"Address": ["b@example.com"]}, now=now) == {
        "Subject": "v2 b@example.com"}
