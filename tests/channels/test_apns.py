"""APNs over HTTP/2 against a local TLS stand-in (hypercorn), token and certificate auth."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clarion.channels.apns import PRODUCTION, SANDBOX, ApnsTransport
from clarion.channels.base import (PERMANENT_FAILURE, SUCCESSFUL, TEMPORARY_FAILURE, THROTTLED, UNREGISTERED,
                                   ConfigurationError, OutboundPush)
from clarion.clock import FixedClock

from .servers import HttpServer, json_reply, make_certificate

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def token_key():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


@pytest.fixture
def server_certificate(tmp_path):
    return make_certificate(tmp_path / "server")


def apns_reply(request):
    token = request.path.rsplit("/", 1)[-1]
    replies = {
        "gone": json_reply(410, {"reason": "Unregistered", "timestamp": 1714564800000}),
        "bad": json_reply(400, {"reason": "BadDeviceToken"}),
        "busy": json_reply(429, {"reason": "TooManyRequests"}),
        "down": json_reply(503, {"reason": "ServiceUnavailable"}),
        "huge": json_reply(413, {"reason": "PayloadTooLarge"}),
    }
    if token in replies:
        return replies[token]
    return 200, {"apns-id": request.headers.get("apns-id", f"apns-{token}")}, b""


def push(token: str, **overrides) -> OutboundPush:
    values = dict(message_id=f"m-{token}", platform="APNS", token=token, title="Hello", body="World")
    values.update(overrides)
    return OutboundPush(**values)


def send(transport, *batches):
    async def go():
        try:
            return [await transport.send_batch(batch) for batch in batches]
        finally:
            await transport.close()
    return asyncio.run(go())


def token_credentials(pem: str) -> dict:
    return {"TokenKey": pem, "TokenKeyId": "ABC123DEFG", "TeamId": "TEAM123456", "BundleId": "com.example.app"}


def test_token_auth_over_http2_with_per_recipient_results(token_key, server_certificate):
    pem, public_key = token_key
    clock = FixedClock(NOW)
    message_uuid = str(uuid.UUID(int=7))
    with HttpServer(apns_reply, certificate=server_certificate) as server:
        transport = ApnsTransport(token_credentials(pem), sandbox=False, clock=clock, base_url=server.url,
                                  verify=str(server_certificate.cert_path))
        [results] = send(transport, [
            push("good", message_id=message_uuid, ttl=3600, collapse_id="news", badge=3, sound="default",
                 action="DEEP_LINK", url="myapp://orders/42", data={"order": "42"},
                 campaign={"campaign_id": "c1", "treatment_id": "0"}, context={"trace": "t-1"}),
            push("gone"), push("bad"), push("busy"), push("down"), push("huge"),
            push("quiet", silent=True, title=None, body=None, data={"sync": "1"}),
        ])

    outcome = [(r.status, r.status_code, r.reason) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, None),
        (PERMANENT_FAILURE, 410, UNREGISTERED),
        (PERMANENT_FAILURE, 400, UNREGISTERED),
        (THROTTLED, 429, "throttled"),
        (TEMPORARY_FAILURE, 503, "provider_error"),
        (PERMANENT_FAILURE, 413, "provider_error"),
        (SUCCESSFUL, 200, None),
    ]
    assert results[0].message_id == message_uuid  # APNs echoes our apns-id
    assert results[0].updated_token is None  # UpdatedToken is GCM-only in Pinpoint
    assert results[1].status_message == "Unregistered"
    assert results[6].message_id == "apns-quiet"

    requests = {r.path.rsplit("/", 1)[-1]: r for r in server.requests}
    assert all(r.http_version == "2" and r.method == "POST" for r in server.requests)
    good = requests["good"]
    assert good.path == "/3/device/good"
    assert {k: v for k, v in good.headers.items() if k.startswith("apns-")} == {
        "apns-push-type": "alert", "apns-priority": "10", "apns-topic": "com.example.app",
        "apns-expiration": str(int(NOW.timestamp()) + 3600), "apns-collapse-id": "news", "apns-id": message_uuid}
    assert orjson.loads(good.body) == {
        "aps": {"alert": {"title": "Hello", "body": "World"}, "sound": "default", "badge": 3},
        "data": {"pinpoint": {"trace": "t-1", "deeplink": "myapp://orders/42",
                              "campaign": {"campaign_id": "c1", "treatment_id": "0"}, "jsonBody": {"order": "42"}}}}
    quiet = requests["quiet"]
    assert (quiet.headers["apns-push-type"], quiet.headers["apns-priority"]) == ("background", "5")
    assert orjson.loads(quiet.body) == {"aps": {"content-available": 1},
                                        "data": {"pinpoint": {"jsonBody": {"sync": "1"}}}}

    tokens = {r.headers["authorization"] for r in server.requests}
    assert len(tokens) == 1  # one provider token, reused
    scheme, token = tokens.pop().split(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ABC123DEFG", "typ": "JWT"}
    claims = jwt.decode(token, public_key, algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "TEAM123456", "iat": int(NOW.timestamp())}


def test_provider_token_is_renewed_after_50_minutes_and_when_apple_says_expired(token_key, server_certificate):
    pem, public_key = token_key
    clock = FixedClock(NOW)
    expired_once = []

    def reply(request):
        if request.path.endswith("/stale") and not expired_once:
            expired_once.append(request.headers["authorization"])
            return json_reply(403, {"reason": "ExpiredProviderToken"})
        return apns_reply(request)

    with HttpServer(reply, certificate=server_certificate) as server:
        transport = ApnsTransport(token_credentials(pem), sandbox=True, clock=clock, base_url=server.url,
                                  verify=str(server_certificate.cert_path))

        async def go():
            first = await transport.send_batch([push("a")])
            clock.advance(minutes=49)
            second = await transport.send_batch([push("b")])
            clock.advance(minutes=2)
            third = await transport.send_batch([push("c")])
            fourth = await transport.send_batch([push("stale")])
            await transport.close()
            return first + second + third + fourth

        results = asyncio.run(go())
    assert [r.status for r in results] == [SUCCESSFUL] * 4
    auth = [r.headers["authorization"] for r in server.requests]
    assert auth[0] == auth[1] != auth[2]  # reused at 49 minutes, renewed at 51
    assert auth[3] == auth[2] == expired_once[0] != auth[4]  # renewed after ExpiredProviderToken
    iat = [jwt.decode(a.split(" ")[1], public_key, algorithms=["ES256"], options={"verify_iat": False})["iat"]
           for a in auth]
    assert iat[2] - iat[0] == 51 * 60


def test_voip_topic_and_push_type(token_key, server_certificate):
    pem, _ = token_key
    with HttpServer(apns_reply, certificate=server_certificate) as server:
        transport = ApnsTransport(token_credentials(pem), sandbox=False, clock=FixedClock(NOW), base_url=server.url,
                                  verify=str(server_certificate.cert_path))
        send(transport, [push("call", platform="APNS_VOIP", priority="normal", ttl=0)])
    headers = server.requests[0].headers
    assert (headers["apns-topic"], headers["apns-push-type"], headers["apns-priority"], headers["apns-expiration"]) \
        == ("com.example.app.voip", "voip", "5", "0")


def test_certificate_auth_presents_the_client_certificate(tmp_path, server_certificate):
    client = make_certificate(tmp_path / "client", "com.example.app", client=True)
    stranger = make_certificate(tmp_path / "stranger", "com.example.other", client=True)
    with HttpServer(apns_reply, certificate=server_certificate, client_ca=client.cert_path) as server:
        def transport(cert):
            return ApnsTransport({"Certificate": cert.cert_pem, "PrivateKey": cert.key_pem}, sandbox=True,
                                 clock=FixedClock(NOW), base_url=server.url, verify=str(server_certificate.cert_path))

        [accepted] = send(transport(client), [push("good", apns_topic="com.example.app")])
        [refused] = send(transport(stranger), [push("good")])
    assert accepted[0].status == SUCCESSFUL
    assert (refused[0].status, refused[0].reason) == (TEMPORARY_FAILURE, "connection_failed")
    assert len(server.requests) == 1
    request = server.requests[0]
    assert "authorization" not in request.headers
    assert request.headers["apns-topic"] == "com.example.app"
    assert request.http_version == "2"


def test_preferred_authentication_method_picks_the_credentials(token_key, tmp_path):
    pem, _ = token_key
    cert = make_certificate(tmp_path / "client", "com.example.app", client=True)
    credentials = {**token_credentials(pem), "Certificate": cert.cert_pem, "PrivateKey": cert.key_pem}
    transport = ApnsTransport(credentials, sandbox=False, clock=FixedClock(NOW), default_method="CERTIFICATE")
    assert transport.base_url == PRODUCTION
    assert transport._method(None) == "CERTIFICATE"
    assert transport._method("TOKEN") == "TOKEN"
    assert "authorization" in transport.headers(push("x"), "TOKEN")
    assert ApnsTransport(token_credentials(pem), sandbox=True, clock=FixedClock(NOW)).base_url == SANDBOX
    with pytest.raises(ConfigurationError):
        ApnsTransport({"BundleId": "com.example.app"}, sandbox=True, clock=FixedClock(NOW))


def test_raw_content_is_sent_as_the_payload(token_key, server_certificate):
    pem, _ = token_key
    raw = '{"aps": {"alert": "raw!", "content-available": 0}, "custom": {"k": 1}}'
    with HttpServer(apns_reply, certificate=server_certificate) as server:
        transport = ApnsTransport(token_credentials(pem), sandbox=False, clock=FixedClock(NOW), base_url=server.url,
                                  verify=str(server_certificate.cert_path))
        [results] = send(transport, [push("good", raw_content=raw), push("good2", raw_content="{not json")])
    assert results[0].status == SUCCESSFUL
    assert (results[1].status, results[1].status_code) == (PERMANENT_FAILURE, 400)
    assert [orjson.loads(r.body) for r in server.requests] == [orjson.loads(raw)]
