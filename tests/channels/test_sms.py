"""SMS providers against local HTTP stand-ins: the signed webhook and a Twilio-compatible API."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timezone
from urllib.parse import parse_qs

import orjson
import pytest

from clarion.channels import signing, sms
from clarion.channels.base import (OPT_OUT, PERMANENT_FAILURE, SUCCESSFUL, TEMPORARY_FAILURE, THROTTLED,
                                   ConfigurationError, OutboundSms)
from clarion.clock import FixedClock

from .servers import HttpServer, json_reply

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CLOCK = FixedClock(NOW)


def send(transport, messages):
    async def go():
        try:
            return await transport.send_batch(messages)
        finally:
            await transport.close()
    return asyncio.run(go())


def text(to: str, i: int = 0, **overrides) -> OutboundSms:
    values = dict(message_id=f"sms-{i}", destination=to, body=f"Your code is {1000 + i}", origination="+15550100",
                  app_id="app1")
    values.update(overrides)
    return OutboundSms(**values)


# -- webhook ---------------------------------------------------------------------------------

def webhook_reply(request):
    to = orjson.loads(request.body)["to"]
    return {
        "+15550001": json_reply(200, {"message_id": "gw-1"}),
        "+15550002": json_reply(200, {"status": "OPT_OUT", "status_message": "recipient said STOP"}),
        "+15550003": json_reply(503, {"error": "busy"}),
        "+15550004": json_reply(429, {}),
        "+15550005": json_reply(400, {"error": "invalid number"}),
    }.get(to, (204, {}, b""))


def test_webhook_posts_signed_json_and_maps_replies():
    with HttpServer(webhook_reply) as server:
        transport = sms.from_url(f"webhook+{server.url}/sms/send?secret=topsecret&tenant=acme", CLOCK)
        messages = [text(f"+1555000{i}", i) for i in range(7)]
        messages[6].keyword = "JOIN"
        results = send(transport, messages)

    outcome = [(r.status, r.status_code, r.message_id) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, "sms-0"),
        (SUCCESSFUL, 200, "gw-1"),  # the gateway's id when it gives one
        (OPT_OUT, 400, "sms-2"),
        (TEMPORARY_FAILURE, 503, None),
        (THROTTLED, 429, None),
        (PERMANENT_FAILURE, 400, None),
        (SUCCESSFUL, 200, "sms-6"),
    ]
    assert results[2].status_message == "recipient said STOP"
    assert len(server.requests) == 7
    for request in server.requests:
        assert (request.method, request.path, request.query) == ("POST", "/sms/send", "tenant=acme")
        assert signing.verify("topsecret", request.body, request.headers["x-clarion-signature"], NOW.timestamp())
        assert not signing.verify("othersecret", request.body, request.headers["x-clarion-signature"],
                                  NOW.timestamp())
    body = next(orjson.loads(r.body) for r in server.requests if b"+15550006" in r.body)
    assert body == {"message_id": "sms-6", "to": "+15550006", "from": "+15550100", "body": "Your code is 1006",
                    "message_type": "TRANSACTIONAL", "sender_id": None, "keyword": "JOIN", "entity_id": None,
                    "template_id": None, "media_urls": [], "app_id": "app1"}


def test_signature_rejects_tampering_and_replays():
    header = signing.sign("k", b'{"a":1}', 1_700_000_000)
    assert signing.verify("k", b'{"a":1}', header, 1_700_000_100)
    assert not signing.verify("k", b'{"a":2}', header, 1_700_000_100)
    assert not signing.verify("k", b'{"a":1}', header, 1_700_000_000 + 301)
    assert not signing.verify("k", b'{"a":1}', "v1=abc", 1_700_000_000)


def test_unreachable_provider_is_a_temporary_failure():
    with HttpServer(webhook_reply) as server:
        url = f"webhook+{server.url}/sms?secret=s"
    results = send(sms.from_url(url, CLOCK), [text("+15550001")])
    assert (results[0].status, results[0].status_code) == (TEMPORARY_FAILURE, 503)


# -- Twilio ----------------------------------------------------------------------------------

def twilio_reply(request):
    form = parse_qs(request.body.decode())
    to = form["To"][0]
    errors = {
        "+15550002": (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
        "+15550003": (400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}),
        "+15550004": (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        "+15550005": (503, {"code": 20500, "message": "Service unavailable", "status": 503}),
    }
    if to in errors:
        return json_reply(*errors[to])
    return json_reply(201, {"sid": f"SM{to[-4:]}", "status": "queued", "to": to, "body": form["Body"][0]})


def test_twilio_compatible_provider():
    with HttpServer(twilio_reply) as server:
        url = server.url.replace("http://", "twilio+http://AC123:tok%2Fen@")
        transport = sms.from_url(url + "?from=%2B15559999", CLOCK)
        results = send(transport, [
            text("+15550001", 1),
            text("+15550002", 2),
            text("+15550003", 3),
            text("+15550004", 4),
            text("+15550005", 5),
            text("+15550006", 6, origination=None, sender_id="ACME"),
            text("+15550007", 7, origination=None),
            text("+15550008", 8, origination="MG0123456789", media_urls=["https://example.com/cat.png"]),
        ])

    outcome = [(r.status, r.status_code, r.message_id) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, "SM0001"),
        (OPT_OUT, 400, None),
        (PERMANENT_FAILURE, 400, None),
        (THROTTLED, 429, None),
        (TEMPORARY_FAILURE, 503, None),
        (SUCCESSFUL, 200, "SM0006"),
        (SUCCESSFUL, 200, "SM0007"),
        (SUCCESSFUL, 200, "SM0008"),
    ]
    assert results[1].status_message == "Destination phone number opted out"
    assert "21211" in results[2].status_message
    expected_auth = "Basic " + base64.b64encode(b"AC123:tok/en").decode()
    forms = {}
    for request in server.requests:
        assert (request.method, request.path) == ("POST", "/2010-04-01/Accounts/AC123/Messages.json")
        assert request.headers["authorization"] == expected_auth
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.body.decode())
        forms[form["To"][0]] = form
    assert forms["+15550001"] == {"To": ["+15550001"], "Body": ["Your code is 1001"], "From": ["+15550100"]}
    assert forms["+15550006"]["From"] == ["ACME"]
    assert forms["+15550007"]["From"] == ["+15559999"]
    assert forms["+15550008"]["MessagingServiceSid"] == ["MG0123456789"]
    assert forms["+15550008"]["MediaUrl"] == ["https://example.com/cat.png"]


@pytest.mark.parametrize("url", ["webhook+https://h/p", "twilio://api.twilio.com", "carrier-pigeon://x",
                                 "twilio://a:b@h?colour=blue", "webhook+https://h/p?secret=s&concurrency=x"])
def test_bad_sms_urls_are_refused_at_start(url):
    with pytest.raises(ConfigurationError):
        sms.from_url(url, CLOCK)


def test_url_forms():
    twilio = sms.from_url("twilio://AC1:tok@api.twilio.com", CLOCK)
    assert twilio.provider.url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    webhook = sms.from_url("webhook+https://gw.example.com/v1/sms?secret=s&concurrency=4", CLOCK)
    assert (webhook.provider.url, webhook.concurrency) == ("https://gw.example.com/v1/sms", 4)
