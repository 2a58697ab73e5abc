"""SendMessages through real transports against local stand-ins, asserting what each received:
an SMTP server (aiosmtpd), an SMS webhook provider, FCM (HTTP v1 with OAuth) and APNs (HTTP/2,
token auth), all on loopback."""

from __future__ import annotations

import email
import email.policy
import time

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from clarion.channels import signing
from clarion.channels.registry import Channels
from clarion.service import build
from tests.channels.servers import HttpServer, SmtpServer, json_reply, make_certificate
from tests.channels.test_apns import apns_reply
from tests.channels.test_fcm import FakeFcm, service_json
from tests.conftest import make_settings

from .helpers import enable_email, enable_sms, events, kpi, put_endpoint

SMS_SECRET = "sms-signing-secret"


def sms_reply(request):
    to = orjson.loads(request.body)["to"]
    if to == "+12065550666":
        return json_reply(400, {"error": "invalid number"})
    return json_reply(200, {"message_id": f"gw-{to[-4:]}"})


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def sms_gateway():
    with HttpServer(sms_reply) as server:
        yield server


@pytest.fixture
def service(tmp_path, database_url, smtp, sms_gateway):
    settings = make_settings(tmp_path, database_url,
                             email_transport=f"smtp://127.0.0.1:{smtp.port}?tls=none&pool=2",
                             sms_transport=f"webhook+{sms_gateway.url}/send?secret={SMS_SECRET}")
    svc = build(settings)
    yield svc
    svc.close()


def test_smtp_receives_one_personalised_message_per_recipient(client, service, app_id, smtp):
    enable_email(client, app_id, from_address="Shop <shop@example.com>")
    client.create_email_template(TemplateName="receipt", EmailTemplateRequest={
        "Subject": "Receipt for {{Attributes.Name}}", "TextPart": "Thanks {{Attributes.Name}}",
        "HtmlPart": "<b>Thanks {{Attributes.Name}}</b>",
        "Headers": [{"Name": "X-Order", "Value": "{{Attributes.Order}}"}]})
    for name, order in (("Ada", "1"), ("Bob", "2"), ("Cy", "3")):
        put_endpoint(client, app_id, name.lower(), f"{name.lower()}@example.com",
                     Attributes={"Name": [name], "Order": [order]})
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"ada": {}, "bob": {}, "cy": {}}, "MessageConfiguration": {},
        "TemplateConfiguration": {"EmailTemplate": {"Name": "receipt"}}})
    results = answer["MessageResponse"]["EndpointResult"]
    assert {r["DeliveryStatus"] for r in results.values()} == {"SUCCESSFUL"}, results
    assert sorted(r.rcpt_tos for r in smtp.sink.received) == [["ada@example.com"], ["bob@example.com"],
                                                              ["cy@example.com"]]
    by_rcpt = {r.rcpt_tos[0]: r for r in smtp.sink.received}
    mail = email.message_from_bytes(by_rcpt["bob@example.com"].data, policy=email.policy.default)
    assert by_rcpt["bob@example.com"].mail_from == "shop@example.com"
    assert mail["Subject"] == "Receipt for Bob" and mail["X-Order"] == "2"
    assert mail["From"] == "Shop <shop@example.com>" and mail["To"] == "bob@example.com"
    assert mail["Message-ID"].startswith(f"<{results['bob']['MessageId']}@")
    assert mail.get_body(("plain",)).get_content().strip() == "Thanks Bob"
    assert mail.get_body(("html",)).get_content().strip() == "<b>Thanks Bob</b>"


def test_smtp_refusals_become_bounces_in_results_events_and_kpis(client, service, app_id, smtp):
    enable_email(client, app_id)
    smtp.sink.refuse_rcpt["gone@example.com"] = "550 5.1.1 No such user"
    smtp.sink.refuse_rcpt["full@example.com"] = "452 4.2.2 Mailbox full"
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {a: {"ChannelType": "EMAIL"} for a in ("ok@example.com", "gone@example.com", "full@example.com")},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "Hi"},
                                                                  "TextPart": {"Data": "Body"}}}}})
    result = answer["MessageResponse"]["Result"]
    assert result["ok@example.com"]["DeliveryStatus"] == "SUCCESSFUL"
    assert (result["gone@example.com"]["DeliveryStatus"], result["gone@example.com"]["StatusCode"]) == \
        ("PERMANENT_FAILURE", 550)
    assert "No such user" in result["gone@example.com"]["StatusMessage"]
    assert (result["full@example.com"]["DeliveryStatus"], result["full@example.com"]["StatusCode"]) == \
        ("TEMPORARY_FAILURE", 452)
    outcomes = {e["endpoint_id"]: e["event_type"] for e in events(service, app_id) if e["event_type"] != "_email.send"}
    assert outcomes == {"ok@example.com": "_email.delivered", "gone@example.com": "_email.hardbounce",
                        "full@example.com": "_email.softbounce"}
    assert kpi(client, app_id, "txn-emails-sent") == 3.0
    assert kpi(client, app_id, "txn-emails-delivered") == 1.0
    assert kpi(client, app_id, "txn-emails-hard-bounced") == 1.0
    assert kpi(client, app_id, "txn-emails-soft-bounced") == 1.0
    assert len(smtp.sink.received) == 1


def test_sms_provider_receives_signed_personalised_messages(client, service, app_id, sms_gateway):
    enable_sms(client, app_id, ShortCode="12345")
    put_endpoint(client, app_id, "p1", "+12065550101", channel="SMS", Attributes={"Name": ["Ana"]})
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"p1": {}}, "Addresses": {"+12065550666": {"ChannelType": "SMS"}},
        "MessageConfiguration": {"SMSMessage": {"Body": "Hi {{Attributes.Name}}", "EntityId": "E1",
                                                "TemplateId": "T1"}}})
    response = answer["MessageResponse"]
    assert response["EndpointResult"]["p1"]["MessageId"] == "gw-0101"
    assert response["Result"]["+12065550666"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    bodies = {}
    for request in sms_gateway.requests:
        assert signing.verify(SMS_SECRET, request.body, request.headers["x-clarion-signature"], time.time())
        body = orjson.loads(request.body)
        bodies[body["to"]] = body
    assert bodies["+12065550101"]["body"] == "Hi Ana" and bodies["+12065550666"]["body"] == "Hi "
    assert (bodies["+12065550101"]["from"], bodies["+12065550101"]["entity_id"],
            bodies["+12065550101"]["template_id"]) == ("12345", "E1", "T1")
    failure = events(service, app_id, "_SMS.FAILURE")[0]["attributes"]
    assert failure["record_status"] == "INVALID" and failure["destination_phone_number"] == "+12065550666"
    assert kpi(client, app_id, "txn-sms-sent") == 2.0 and kpi(client, app_id, "txn-sms-delivered") == 1.0


# -- push -----------------------------------------------------------------------------------------

@pytest.fixture
def fcm():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeFcm(key.public_key())
    with HttpServer(fake) as server:
        fake.server = server
        fake.key = key
        yield fake


@pytest.fixture
def apns(tmp_path):
    certificate = make_certificate(tmp_path / "apns")
    with HttpServer(apns_reply, certificate=certificate) as server:
        server.certificate_path = str(certificate.cert_path)
        yield server


@pytest.fixture
def push_channels(service, fcm, apns):
    """The service's transports, with APNs and FCM pointed at the stand-ins."""
    service.channels.close()
    service.channels = Channels(service.settings, service.store, service.clock, apns_base_url=apns.url,
                                fcm_base_url=fcm.server.url, verify=apns.certificate_path)
    yield service.channels
    service.channels.close()  # before the stand-ins stop: they wait for open connections


def test_fcm_receives_personalised_data_messages_and_unregistered_tokens_deactivate(
        client, service, app_id, fcm, push_channels):
    client.update_gcm_channel(ApplicationId=app_id, GCMChannelRequest={
        "ServiceJson": service_json(fcm.key, fcm.server), "DefaultAuthenticationMethod": "TOKEN", "Enabled": True})
    put_endpoint(client, app_id, "phone", "ok", channel="GCM", Attributes={"Name": ["Kim"]})
    put_endpoint(client, app_id, "old", "gone", channel="GCM")
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"phone": {"Context": {"screen": "cart"}}, "old": {}},
        "MessageConfiguration": {"GCMMessage": {"Title": "Hi {{Attributes.Name}}", "Body": "Your cart misses you",
                                                "Action": "URL", "Url": "https://example.com/cart",
                                                "Priority": "high", "Data": {"sku": "42"}}}})
    results = answer["MessageResponse"]["EndpointResult"]
    assert results["phone"]["DeliveryStatus"] == "SUCCESSFUL"
    assert results["phone"]["MessageId"] == "projects/proj-1/messages/ok"
    assert (results["old"]["DeliveryStatus"], results["old"]["StatusCode"]) == ("PERMANENT_FAILURE", 404)
    sends = [r for r in fcm.server.requests if r.path.endswith("messages:send")]
    message = next(orjson.loads(r.body)["message"] for r in sends if b'"ok"' in r.body)
    assert message["data"]["pinpoint.notification.title"] == "Hi Kim"
    assert message["data"]["pinpoint.url"] == "https://example.com/cart"
    assert message["data"]["pinpoint.screen"] == "cart" and message["data"]["sku"] == "42"
    assert message["android"]["priority"] == "HIGH"
    assert all(r.headers["authorization"] == f"Bearer {fcm.issued[0]}" for r in sends)
    endpoint = client.get_endpoint(ApplicationId=app_id, EndpointId="old")["EndpointResponse"]
    assert endpoint["EndpointStatus"] == "INACTIVE"
    assert [e["endpoint_id"] for e in events(service, app_id, "_push.send")] == ["phone"]


def test_apns_receives_token_authenticated_http2_pushes(client, service, app_id, apns, push_channels):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    client.update_apns_channel(ApplicationId=app_id, APNSChannelRequest={
        "TokenKey": pem, "TokenKeyId": "ABC123DEFG", "TeamId": "TEAM123456", "BundleId": "com.example.app",
        "DefaultAuthenticationMethod": "TOKEN", "Enabled": True})
    client.create_push_template(TemplateName="promo", PushNotificationTemplateRequest={
        "Default": {"Title": "Sale for {{User.UserAttributes.Tier}}", "Body": "Up to 50% off"},
        "APNS": {"Sound": "chime.caf"}})
    put_endpoint(client, app_id, "iphone", "devicetoken1", channel="APNS",
                 User={"UserId": "u9", "UserAttributes": {"Tier": ["gold"]}})
    answer = client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"iphone": {}}, "MessageConfiguration": {"APNSMessage": {"Badge": 2}},
        "TemplateConfiguration": {"PushTemplate": {"Name": "promo"}}})
    result = answer["MessageResponse"]["EndpointResult"]["iphone"]
    assert result["DeliveryStatus"] == "SUCCESSFUL"
    [request] = apns.requests
    assert request.http_version == "2" and request.path == "/3/device/devicetoken1"
    assert request.headers["apns-topic"] == "com.example.app" and request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-id"] == result["MessageId"]
    assert orjson.loads(request.body)["aps"] == {"alert": {"title": "Sale for gold", "body": "Up to 50% off"},
                                                 "sound": "chime.caf", "badge": 2}
    scheme, token = request.headers["authorization"].split(" ")
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert scheme == "bearer" and claims["iss"] == "TEAM123456"
