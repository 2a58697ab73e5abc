"""SendMessages and SendUsersMessages through boto3, into the sandbox transport."""

from __future__ import annotations

import botocore.exceptions
import pytest

from .helpers import enable_email, enable_sms, events, kpi, put_endpoint, sent


def create_email_template(client, name="welcome", **content):
    request = {"Subject": "Hi {{User.UserAttributes.FirstName}}",
               "HtmlPart": "<p>Hello {{User.UserAttributes.FirstName}} from {{Attributes.City}}</p>",
               "TextPart": "Hello {{User.UserAttributes.FirstName}}",
               "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "friend"}', **content}
    client.create_email_template(TemplateName=name, EmailTemplateRequest=request)


def test_email_template_personalised_per_recipient(client, service, app_id):
    enable_email(client, app_id)
    create_email_template(client)
    put_endpoint(client, app_id, "ep-ada", "ada@example.com", Attributes={"City": ["Paris"]},
                 User={"UserId": "u-ada", "UserAttributes": {"FirstName": ["Ada"]}})
    put_endpoint(client, app_id, "ep-bob", "bob@example.com", Attributes={"City": ["Oslo"]})
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"ep-ada": {}, "ep-bob": {}},
        "Addresses": {"carol@example.com": {"ChannelType": "EMAIL",
                                            "Substitutions": {"User.UserAttributes.FirstName": ["Carol"]}}},
        "MessageConfiguration": {}, "TemplateConfiguration": {"EmailTemplate": {"Name": "welcome"}}})
    response = answer["MessageResponse"]
    assert response["ApplicationId"] == app_id and response["RequestId"]
    ada = response["EndpointResult"]["ep-ada"]
    assert ada["DeliveryStatus"] == "SUCCESSFUL" and ada["StatusCode"] == 200
    assert ada["Address"] == "ada@example.com" and ada["StatusMessage"] == f"MessageId: {ada['MessageId']}"
    assert response["Result"]["carol@example.com"]["DeliveryStatus"] == "SUCCESSFUL"
    mail = {row["address"]: row["content"] for row in sent(service, "email")}
    assert sorted(mail) == ["ada@example.com", "bob@example.com", "carol@example.com"]
    assert mail["ada@example.com"]["subject"] == "Hi Ada"
    assert mail["ada@example.com"]["html"] == "<p>Hello Ada from Paris</p>"
    assert mail["bob@example.com"]["text"] == "Hello friend"  # the template's default value
    assert mail["carol@example.com"]["subject"] == "Hi Carol"  # the recipient's substitution
    assert mail["carol@example.com"]["from_address"] == "Clarion <noreply@example.com>"


def test_channel_message_overrides_template_parts_and_recipient_overrides_win(client, service, app_id):
    enable_email(client, app_id)
    create_email_template(client)
    client.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"a@example.com": {"ChannelType": "EMAIL"},
                      "b@example.com": {"ChannelType": "EMAIL", "TitleOverride": "Just for {{Address}}",
                                        "BodyOverride": "Plain body"}},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "News <news@example.com>", "Substitutions": {"User.UserAttributes.FirstName": ["Reader"]},
            "SimpleEmail": {"Subject": {"Data": "Weekly news for {{User.UserAttributes.FirstName}}"},
                            "Headers": [{"Name": "X-Campaign", "Value": "weekly-{{Address}}"}]}}},
        "TemplateConfiguration": {"EmailTemplate": {"Name": "welcome"}}})
    mail = {row["address"]: row["content"] for row in sent(service, "email")}
    first = mail["a@example.com"]
    assert first["subject"] == "Weekly news for Reader"  # the message's subject over the template's
    assert first["html"] == "<p>Hello Reader from </p>"  # the template's body, message variables
    assert first["from_address"] == "News <news@example.com>"
    assert ["X-Campaign", "weekly-a@example.com"] in first["headers"]
    second = mail["b@example.com"]
    assert second["subject"] == "Just for b@example.com" and second["text"] == "Plain body"
    assert "html" not in second


def test_pinned_template_version_and_active_version(client, service, app_id):
    enable_sms(client, app_id)
    client.create_sms_template(TemplateName="code", SMSTemplateRequest={"Body": "v1 {{Address}}"})
    client.update_sms_template(TemplateName="code", CreateNewVersion=True, SMSTemplateRequest={"Body": "v2"})
    request = {"Addresses": {"+12065550100": {"ChannelType": "SMS"}}, "MessageConfiguration": {}}
    client.send_messages(ApplicationId=app_id, MessageRequest={
        **request, "TemplateConfiguration": {"SMSTemplate": {"Name": "code"}}})
    client.send_messages(ApplicationId=app_id, MessageRequest={
        **request, "TemplateConfiguration": {"SMSTemplate": {"Name": "code", "Version": "2"}}})
    assert [row["content"]["body"] for row in sent(service, "sms")] == ["v1 +12065550100", "v2"]


def test_sms_settings_reach_the_transport_and_write_events(client, service, app_id):
    enable_sms(client, app_id, SenderId="Clarion")
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"+447700900123": {"ChannelType": "SMS", "Context": {"order": "42"}}},
        "Context": {"source": "checkout"}, "TraceId": "trace-1",
        "MessageConfiguration": {"DefaultMessage": {"Body": "ignored"}, "SMSMessage": {
            "Body": "Order {{order}} shipped", "MessageType": "PROMOTIONAL", "OriginationNumber": "+12065550199",
            "Substitutions": {"order": ["A-7"]}}}})
    result = answer["MessageResponse"]["Result"]["+447700900123"]
    [row] = sent(service, "sms")
    assert row["content"]["body"] == "Order A-7 shipped"
    assert row["content"]["origination"] == "+12065550199" and row["content"]["message_type"] == "PROMOTIONAL"
    assert row["content"]["sender_id"] == "Clarion"
    [event] = events(service, app_id, "_SMS.SUCCESS")
    attributes = event["attributes"]
    assert attributes["message_id"] == result["MessageId"]
    assert attributes["iso_country_code"] == "GB" and attributes["number_of_message_parts"] == "1"
    assert attributes["order"] == "42" and attributes["source"] == "checkout" and attributes["trace_id"] == "trace-1"
    assert kpi(client, app_id, "txn-sms-sent") == 1.0
    assert kpi(client, app_id, "txn-sms-delivered") == 1.0


def test_opt_out_inactive_duplicate_and_unknown_endpoints(client, service, app_id):
    enable_email(client, app_id)
    put_endpoint(client, app_id, "ok", "same@example.com")
    put_endpoint(client, app_id, "out", "out@example.com", OptOut="ALL")
    put_endpoint(client, app_id, "off", "off@example.com", EndpointStatus="INACTIVE")
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"SAME@example.com": {"ChannelType": "EMAIL"}},
        "Endpoints": {"ok": {}, "out": {}, "off": {}, "nobody": {}},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"},
                                                                  "TextPart": {"Data": "t"}}}}})
    response = answer["MessageResponse"]
    assert response["Result"]["SAME@example.com"]["DeliveryStatus"] == "SUCCESSFUL"
    results = response["EndpointResult"]
    assert results["ok"]["DeliveryStatus"] == "DUPLICATE"
    assert results["out"]["DeliveryStatus"] == "OPT_OUT"
    assert results["off"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert results["nobody"] == {"DeliveryStatus": "PERMANENT_FAILURE", "StatusCode": 404,
                                 "StatusMessage": "Endpoint does not exist"}
    assert [row["address"] for row in sent(service, "email")] == ["SAME@example.com"]
    assert kpi(client, app_id, "txn-emails-sent") == 1.0


def test_disabled_or_missing_channel_fails_each_recipient(client, service, app_id):
    enable_email(client, app_id, enabled=False)
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"a@example.com": {"ChannelType": "EMAIL"}, "+12065550100": {"ChannelType": "SMS"}},
        "MessageConfiguration": {"DefaultMessage": {"Body": "hello"}}})
    result = answer["MessageResponse"]["Result"]
    assert result["a@example.com"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "disabled" in result["a@example.com"]["StatusMessage"]
    assert "not configured" in result["+12065550100"]["StatusMessage"]
    assert sent(service) == []


def test_bad_requests_change_nothing(client, service, app_id):
    enable_email(client, app_id)
    cases = [
        ({"MessageConfiguration": {}}, "no recipients"),
        ({"Addresses": {f"u{i}@example.com": {"ChannelType": "EMAIL"} for i in range(101)},
          "MessageConfiguration": {}}, "at most 100"),
        ({"Addresses": {"a@example.com": {}}, "MessageConfiguration": {}}, "ChannelType"),
        ({"Addresses": {"a@example.com": {"ChannelType": "EMAIL"}},
          "MessageConfiguration": {"DefaultMessage": {"Body": "{{#if}}broken"}}}, "cannot be rendered"),
    ]
    for request, words in cases:
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            client.send_messages(ApplicationId=app_id, MessageRequest=request)
        assert raised.value.response["Error"]["Code"] == "BadRequestException"
        assert words in raised.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.NotFoundException):
        client.send_messages(ApplicationId=app_id, MessageRequest={
            "Addresses": {"a@example.com": {"ChannelType": "EMAIL"}}, "MessageConfiguration": {},
            "TemplateConfiguration": {"EmailTemplate": {"Name": "missing"}}})
    assert sent(service) == []


def test_send_users_messages_reaches_every_endpoint_of_each_user(client, service, app_id):
    enable_email(client, app_id)
    enable_sms(client, app_id)
    user = {"UserId": "u1", "UserAttributes": {"FirstName": ["Lin"]}}
    put_endpoint(client, app_id, "mail", "lin@example.com", User=user)
    put_endpoint(client, app_id, "phone", "+12065550123", channel="SMS", User=user)
    answer = client.send_users_messages(ApplicationId=app_id, SendUsersMessageRequest={
        "Users": {"u1": {"Substitutions": {"greeting": ["Hey"]}}, "ghost": {}},
        "MessageConfiguration": {"DefaultMessage": {"Body": "{{greeting}} {{User.UserAttributes.FirstName}}"}}})
    response = answer["SendUsersMessageResponse"]
    assert response["ApplicationId"] == app_id
    assert set(response["Result"]["u1"]) == {"mail", "phone"}
    assert response["Result"]["u1"]["phone"]["Address"] == "+12065550123"
    assert response["Result"]["ghost"] == {}
    assert sent(service, "sms")[0]["content"]["body"] == "Hey Lin"
    assert sent(service, "email")[0]["content"]["text"] == "Hey Lin"


def test_recipient_reads_give_what_get_endpoint_and_get_user_endpoints_give(client, service, app_id):
    """SendMessages and SendUsersMessages read their recipients in one statement of their own:
    the endpoints must be exactly the general read's EndpointResponses (user attributes and all)."""
    from clarion.operations.messages import endpoints_by_id, endpoints_of_users

    put_endpoint(client, app_id, "Mixed-Case", "a@example.com", Attributes={"City": ["Oslo"]},
                 User={"UserId": "u1", "UserAttributes": {"FirstName": ["Ada"]}})
    put_endpoint(client, app_id, "second", "+12065550123", channel="SMS", User={"UserId": "u1"})
    put_endpoint(client, app_id, "no-user", "b@example.com")
    put_endpoint(client, app_id, "user-without-attributes", "c@example.com", User={"UserId": "u2"})
    ids = ["mixed-CASE", "second", "no-user", "user-without-attributes", "unknown"]
    found = endpoints_by_id(service.store, app_id, ids)
    assert sorted(found) == ["mixed-case", "no-user", "second", "user-without-attributes"]
    for key, endpoint in found.items():
        assert endpoint == client.get_endpoint(ApplicationId=app_id, EndpointId=key)["EndpointResponse"]
    assert found["mixed-case"]["User"]["UserAttributes"] == {"FirstName": ["Ada"]}
    by_user = endpoints_of_users(service.store, app_id, ["u1", "u2", "ghost"])
    assert sorted(by_user) == ["u1", "u2"]
    for user_id, endpoints in by_user.items():
        general = client.get_user_endpoints(ApplicationId=app_id, UserId=user_id)["EndpointsResponse"]["Item"]
        assert endpoints == sorted(general, key=lambda e: e["Id"].lower())
    assert endpoints_by_id(service.store, app_id, []) == {} and endpoints_of_users(service.store, app_id, []) == {}
