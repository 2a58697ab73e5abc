"""FCM HTTP v1 (service-account OAuth) and the legacy server-key API against a local stand-in."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from urllib.parse import parse_qs

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clarion.channels.base import (PERMANENT_FAILURE, SUCCESSFUL, TEMPORARY_FAILURE, THROTTLED, UNREGISTERED,
                                   ConfigurationError, OutboundPush)
from clarion.channels.fcm import SCOPE, FcmTransport
from clarion.clock import FixedClock

from .servers import HttpServer, json_reply

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def v1_error(status: int, code: str, error_code: str | None = None):
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}] \
        if error_code else []
    return json_reply(status, {"error": {"code": status, "message": f"{code} happened", "status": code,
                                         "details": details}})


class FakeFcm:
    """Issues access tokens at /token (checking the JWT assertion) and accepts sends."""

    def __init__(self, public_key):
        self.public_key = public_key
        self.issued: list[str] = []
        self.assertions: list[dict] = []
        self.server: HttpServer | None = None

    def __call__(self, request):
        if request.path == "/token":
            return self.token(request)
        if request.path == "/v1/projects/proj-1/messages:send":
            return self.send_v1(request)
        if request.path == "/fcm/send":
            return self.send_legacy(request)
        return json_reply(404, {})

    def token(self, request):
        form = parse_qs(request.body.decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(form["assertion"][0], self.public_key, algorithms=["RS256"],
                            audience=f"{self.server.url}/token", options={"verify_exp": False, "verify_iat": False})
        self.assertions.append({"claims": claims, "header": jwt.get_unverified_header(form["assertion"][0])})
        token = f"ya29.token-{len(self.issued)}"
        self.issued.append(token)
        return json_reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def send_v1(self, request):
        if request.headers.get("authorization") != f"Bearer {self.issued[-1]}":
            return v1_error(401, "UNAUTHENTICATED")
        token = orjson.loads(request.body)["message"]["token"]
        return {
            "gone": v1_error(404, "NOT_FOUND", "UNREGISTERED"),
            "quota": v1_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
            "down": v1_error(503, "UNAVAILABLE", "UNAVAILABLE"),
            "invalid": v1_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        }.get(token, json_reply(200, {"name": f"projects/proj-1/messages/{token}"}))

    def send_legacy(self, request):
        assert request.headers["authorization"] == "key=server-key-1"
        token = orjson.loads(request.body)["to"]
        result = {"gone": {"error": "NotRegistered"}, "busy": {"error": "DeviceMessageRateExceeded"},
                  "down": {"error": "Unavailable"}, "moved": {"message_id": "0:2", "registration_id": "new-token"},
                  }.get(token, {"message_id": "0:1"})
        return json_reply(200, {"multicast_id": 1, "success": int("message_id" in result),
                                "failure": int("error" in result), "canonical_ids": 0, "results": [result]})


@pytest.fixture
def fcm(rsa_key):
    fake = FakeFcm(rsa_key.public_key())
    with HttpServer(fake) as server:
        fake.server = server
        yield fake


def service_json(rsa_key, server) -> str:
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return orjson.dumps({"type": "service_account", "project_id": "proj-1", "private_key_id": "kid-1",
                         "private_key": pem, "client_email": "sender@proj-1.iam.gserviceaccount.com",
                         "token_uri": f"{server.url}/token"}).decode()


def push(token: str, **overrides) -> OutboundPush:
    values = dict(message_id=f"m-{token}", platform="GCM", token=token, title="Hi", body="There")
    values.update(overrides)
    return OutboundPush(**values)


def run(transport, steps):
    async def go():
        try:
            return await steps(transport)
        finally:
            await transport.close()
    return asyncio.run(go())


def test_http_v1_with_service_account_oauth(fcm, rsa_key):
    clock = FixedClock(NOW)
    transport = FcmTransport({"ServiceJson": service_json(rsa_key, fcm.server)}, clock=clock,
                             base_url=fcm.server.url)

    async def steps(t):
        first = await t.send_batch([
            push("ok", priority="high", ttl=600, collapse_id="news", action="URL", url="https://example.com/sale",
                 data={"sku": "42"}, campaign={"campaign_id": "c1"}, context={"trace": "t-1"},
                 image_url="https://i/x.png"),
            push("gone"), push("quota"), push("down"), push("invalid"),
        ])
        clock.advance(minutes=58)  # the access token (3599 s) is still good for a minute more
        second = await t.send_batch([push("later")])
        clock.advance(minutes=2)
        third = await t.send_batch([push("renewed")])
        return first + second + third

    results = run(transport, steps)
    outcome = [(r.status, r.status_code, r.reason) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, None),
        (PERMANENT_FAILURE, 404, UNREGISTERED),
        (THROTTLED, 429, "throttled"),
        (TEMPORARY_FAILURE, 503, "provider_error"),
        (PERMANENT_FAILURE, 400, "provider_error"),
        (SUCCESSFUL, 200, None),
        (SUCCESSFUL, 200, None),
    ]
    assert results[0].message_id == "projects/proj-1/messages/ok"
    assert fcm.issued == ["ya29.token-0", "ya29.token-1"]  # cached for the first batches, renewed after expiry
    assertion = fcm.assertions[0]
    assert assertion["header"]["kid"] == "kid-1" and assertion["header"]["alg"] == "RS256"
    claims = assertion["claims"]
    assert (claims["iss"], claims["scope"], claims["iat"], claims["exp"]) == (
        "sender@proj-1.iam.gserviceaccount.com", SCOPE, int(NOW.timestamp()), int(NOW.timestamp()) + 3600)

    sends = [r for r in fcm.server.requests if r.path.endswith("messages:send")]
    message = orjson.loads(sends[0].body)["message"]
    assert message == {
        "token": "ok",
        "data": {"sku": "42", "pinpoint.notification.title": "Hi", "pinpoint.notification.body": "There",
                 "pinpoint.notification.imageUrl": "https://i/x.png", "pinpoint.notification.silentPush": "0",
                 "pinpoint.url": "https://example.com/sale", "pinpoint.campaign.campaign_id": "c1",
                 "pinpoint.jsonBody": '{"sku":"42"}', "pinpoint.trace": "t-1"},
        "android": {"priority": "HIGH", "ttl": "600s", "collapse_key": "news"},
    }


def test_a_rejected_access_token_is_renewed_once(fcm, rsa_key):
    transport = FcmTransport({"ServiceJson": service_json(rsa_key, fcm.server)}, clock=FixedClock(NOW),
                             base_url=fcm.server.url)

    async def steps(t):
        await t.send_batch([push("a")])
        fcm.issued.append("ya29.issued-elsewhere")  # the token we hold is no longer the valid one
        return await t.send_batch([push("b")])

    results = run(transport, steps)
    assert results[0].status == SUCCESSFUL
    assert len(fcm.assertions) == 2


def test_legacy_server_key_api_and_canonical_ids(fcm):
    transport = FcmTransport({"ApiKey": "server-key-1"}, clock=FixedClock(NOW), base_url=fcm.server.url)
    results = run(transport, lambda t: t.send_batch(
        [push("ok", priority="normal", ttl=0), push("moved"), push("gone"), push("busy"), push("down")]))
    outcome = [(r.status, r.status_code, r.message_id, r.updated_token, r.reason) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, "0:1", None, None),
        (SUCCESSFUL, 200, "0:2", "new-token", None),  # Pinpoint's UpdatedToken: the canonical registration id
        (PERMANENT_FAILURE, 410, None, None, UNREGISTERED),
        (THROTTLED, 429, None, None, "throttled"),
        (TEMPORARY_FAILURE, 503, None, None, "provider_error"),
    ]
    assert results[1].to_wire()["UpdatedToken"] == "new-token"
    body = orjson.loads(fcm.server.requests[0].body)
    assert (body["to"], body["priority"], body["time_to_live"]) == ("ok", "normal", 0)
    assert body["data"]["pinpoint.notification.title"] == "Hi"
    assert body["data"]["pinpoint.openApp"] == "true"


def test_method_choice_and_raw_content(fcm, rsa_key):
    credentials = {"ApiKey": "server-key-1", "ServiceJson": service_json(rsa_key, fcm.server)}
    transport = FcmTransport(credentials, clock=FixedClock(NOW), base_url=fcm.server.url, default_method="KEY")
    raw = '{"notification": {"title": "Raw"}, "data": {"n": 1}, "priority": "high", "time_to_live": 60}'
    results = run(transport, lambda t: t.send_batch([
        push("via-key"), push("via-token", auth_method="TOKEN", raw_content=raw)]))
    assert [r.status for r in results] == [SUCCESSFUL, SUCCESSFUL]
    legacy, token_req, v1 = fcm.server.requests
    assert legacy.path == "/fcm/send" and token_req.path == "/token"
    assert orjson.loads(v1.body)["message"] == {"token": "via-token", "data": {"n": "1"},
                                                "notification": {"title": "Raw"},
                                                "android": {"priority": "HIGH", "ttl": "60s"}}


def test_credentials_are_checked_when_the_transport_is_built():
    with pytest.raises(ConfigurationError):
        FcmTransport({}, clock=FixedClock(NOW))
    with pytest.raises(ConfigurationError):
        FcmTransport({"ServiceJson": '{"project_id": "p"}'}, clock=FixedClock(NOW))
