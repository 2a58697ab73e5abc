"""The send path as campaign runs use it: `Sender(service).send(app_id, items)` with campaign
message configurations, campaign attributes, custom channel webhooks and per-recipient failures."""

from __future__ import annotations

import orjson
import pytest

from clarion.channels import signing
from clarion.channels.registry import Channels
from clarion.delivery import DeliveryItem, Sender
from clarion.operations import Caller, Context
from clarion.operations import apps as app_operations
from clarion.store import channels as channel_store
from tests.channels.servers import HttpServer, json_reply

from .helpers import events, sent

CAMPAIGN = {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "0"}


@pytest.fixture
def app_id(service):
    app = app_operations.create_app(Context(service, Caller("test"), "req"), {"Name": "sender"})["Id"]
    with service.store.write() as conn:
        channel_store.put(conn, service.vault, app, "email", {"Enabled": True, "FromAddress": "a@example.com"}, {})
        channel_store.put(conn, service.vault, app, "sms", {"Enabled": True}, {})
        channel_store.put(conn, service.vault, app, "gcm", {"Enabled": True}, {"ApiKey": "k"})
    return app


def endpoint(n: int, channel: str = "EMAIL", **extra) -> dict:
    address = f"user{n}@example.com" if channel == "EMAIL" else f"token-{n}"
    return {"Id": f"e{n}", "Address": address, "ChannelType": channel, "EndpointStatus": "ACTIVE",
            "OptOut": "NONE", **extra}


def test_campaign_messages_carry_the_campaign_and_are_not_transactional(service, app_id):
    configuration = {"EmailMessage": {"Title": "Hello {{Attributes.Name}}", "HtmlBody": "<p>{{Attributes.Name}}</p>",
                                      "FromAddress": "News <news@example.com>"}}
    items = [DeliveryItem(endpoint=endpoint(n, Attributes={"Name": [f"N{n}"]}), channel_type="EMAIL",
                          message_configuration=configuration, event_attributes=CAMPAIGN) for n in range(3)]
    results = Sender(service).send(app_id, items)
    assert [r.status for r in results] == ["SUCCESSFUL"] * 3
    assert [r.address for r in results] == ["user0@example.com", "user1@example.com", "user2@example.com"]
    mail = sent(service, "email")
    assert [m["content"]["subject"] for m in mail] == ["Hello N0", "Hello N1", "Hello N2"]
    assert mail[0]["content"]["from_address"] == "News <news@example.com>"
    delivered = events(service, app_id, "_email.delivered")
    assert len(delivered) == 3
    assert {(e["endpoint_id"], e["attributes"]["campaign_id"], e["attributes"]["treatment_id"]) for e in delivered} \
        == {("e0", "c1", "0"), ("e1", "c1", "0"), ("e2", "c1", "0")}


def test_push_carries_campaign_and_context_in_the_pinpoint_data(service, app_id):
    service.channels.close()
    service.channels = Channels(service.settings, service.store, service.clock, push="sandbox")
    configuration = {"GCMMessage": {"Title": "T", "Body": "B", "JsonBody": '{"k": "v"}'}}
    [result] = Sender(service).send(app_id, [DeliveryItem(
        endpoint=endpoint(1, "GCM"), channel_type="GCM", message_configuration=configuration,
        event_attributes={**CAMPAIGN, "screen": "home"})])
    assert result.ok
    data = sent(service, "push")[0]["content"]["payload"]["data"]
    assert data["pinpoint.campaign.campaign_id"] == "c1" and data["pinpoint.screen"] == "home"
    assert orjson.loads(data["pinpoint.jsonBody"]) == {"k": "v"}


def test_one_recipient_failing_to_render_does_not_stop_the_others(service, app_id):
    configuration = {"SMSMessage": {"Body": "{{Attributes.Code}}"}}
    items = [DeliveryItem(endpoint={"Address": f"+1206555010{n}", "ChannelType": "SMS",
                                    **({"Attributes": {"Code": ["123"]}} if n else {})},
                          channel_type="SMS", message_configuration=configuration) for n in range(2)]
    first, second = Sender(service).send(app_id, items)
    assert (first.status, first.status_message) == ("PERMANENT_FAILURE", "The SMS message has no body")
    assert second.ok and [m["content"]["body"] for m in sent(service, "sms")] == ["123"]


def test_custom_channel_calls_the_webhook_with_up_to_50_endpoints(service, app_id):
    with HttpServer(lambda request: json_reply(200, {"ok": True})) as hook:
        configuration = {"CustomMessage": {"Data": "payload"},
                         "CustomDeliveryConfiguration": {"DeliveryUri": f"{hook.url}/hook"}}
        items = [DeliveryItem(endpoint=endpoint(n, "CUSTOM"), channel_type="CUSTOM",
                              message_configuration=configuration, event_attributes=CAMPAIGN) for n in range(120)]
        results = Sender(service).send(app_id, items)
        service.channels.close()
    assert {r.status for r in results} == {"SUCCESSFUL"}
    bodies = [orjson.loads(r.body) for r in hook.requests]
    assert sorted(len(b["Endpoints"]) for b in bodies) == [20, 50, 50]
    assert bodies[0]["Data"] == "payload" and bodies[0]["CampaignId"] == "c1" and bodies[0]["ApplicationId"] == app_id
    secret = service.channels.custom.secret
    assert all(signing.verify(secret, r.body, r.headers["x-clarion-signature"], service.clock.now().timestamp())
               for r in hook.requests)
    assert len(events(service, app_id, "_custom.send")) == 120
