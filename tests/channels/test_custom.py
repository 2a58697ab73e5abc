"""The custom channel: signed webhook POSTs, and Lambda through boto3 + AWS_ENDPOINT_URL_LAMBDA."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson

from clarion.channels import signing
from clarion.channels.base import PERMANENT_FAILURE, SUCCESSFUL, TEMPORARY_FAILURE, OutboundCustom
from clarion.channels.custom import CustomTransport
from clarion.clock import FixedClock

from .servers import HttpServer, json_reply

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ENDPOINTS = {"ep-1": {"ChannelType": "CUSTOM", "Address": "user-1", "Attributes": {"plan": ["pro"]}},
             "ep-2": {"ChannelType": "CUSTOM", "Address": "user-2"}}


def call(uri: str, i: int = 0) -> OutboundCustom:
    return OutboundCustom(message_id=f"c-{i}", delivery_uri=uri, endpoints=ENDPOINTS, data="promo-42",
                          campaign_id="camp-1", treatment_id="0", activity_id="act-1",
                          scheduled_time="2024-05-01T12:00:00.000Z", app_id="app-1")


def send(transport, messages):
    async def go():
        try:
            return await transport.send_batch(messages)
        finally:
            await transport.close()
    return asyncio.run(go())


def transport() -> CustomTransport:
    return CustomTransport(secret="hook-secret", clock=FixedClock(NOW), region="us-east-1")


def test_webhook_post_is_signed_and_carries_pinpoints_payload():
    def reply(request):
        if request.path == "/fail":
            return json_reply(500, {})
        return json_reply(200, {"ep-1": {"EventAttributes": {"clicked": "yes"}}})

    with HttpServer(reply) as server:
        results = send(transport(), [call(f"{server.url}/hook", 0), call(f"{server.url}/fail", 1),
                                     call("http://example.com/hook", 2), call("ftp://example.com/x", 3)])

    assert [(r.status, r.status_code) for r in results] == [(SUCCESSFUL, 200), (TEMPORARY_FAILURE, 500),
                                                            (PERMANENT_FAILURE, 400), (PERMANENT_FAILURE, 400)]
    assert results[0].response == {"ep-1": {"EventAttributes": {"clicked": "yes"}}}
    assert "https" in results[2].status_message
    request = server.requests[0]
    assert signing.verify("hook-secret", request.body, request.headers["x-clarion-signature"], NOW.timestamp())
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.body) == {
        "Message": {}, "Data": "promo-42", "ApplicationId": "app-1", "Endpoints": ENDPOINTS,
        "CampaignId": "camp-1", "TreatmentId": "0", "ActivityId": "act-1", "ScheduledTime": "2024-05-01T12:00:00.000Z"}


def test_lambda_is_invoked_through_boto3_at_aws_endpoint_url_lambda(monkeypatch):
    def reply(request):
        if "broken" in request.path:
            return 200, {"x-amz-function-error": "Unhandled", "content-type": "application/json"}, \
                orjson.dumps({"errorMessage": "boom", "errorType": "Exception"})
        if "missing" in request.path:
            return json_reply(404, {"Type": "User", "Message": "Function not found"},
                              {"x-amzn-errortype": "ResourceNotFoundException"})
        return json_reply(200, {"ep-2": {"EventAttributes": {"score": "7"}}})

    with HttpServer(reply) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDATEST")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lambda-secret")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        results = send(transport(), [
            call("arn:aws:lambda:eu-west-1:123456789012:function:deliver", 0),
            call("deliver-broken", 1),
            call("arn:aws:lambda:us-east-1:123456789012:function:missing:live", 2),
        ])

    assert [(r.status, r.status_code) for r in results] == [(SUCCESSFUL, 200), (PERMANENT_FAILURE, 502),
                                                            (PERMANENT_FAILURE, 404)]
    assert results[0].response == {"ep-2": {"EventAttributes": {"score": "7"}}}
    assert "boom" in results[1].status_message
    by_path = {r.path: r for r in server.requests}
    first = by_path["/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:deliver/invocations"]
    assert first.headers["x-amz-invocation-type"] == "RequestResponse"
    assert first.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLAMBDATEST/")
    assert "/eu-west-1/lambda/" in first.headers["authorization"]  # the ARN's region
    bare = by_path["/2015-03-31/functions/deliver-broken/invocations"]
    assert "/us-east-1/lambda/" in bare.headers["authorization"]  # a bare name: the server's region
    assert orjson.loads(first.body)["Endpoints"] == ENDPOINTS
