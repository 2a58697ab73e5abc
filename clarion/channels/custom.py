"""The custom channel: Pinpoint's payload (`{Message, Data, ApplicationId, CampaignId,
TreatmentId, ActivityId, ScheduledTime, Endpoints}`, up to 50 endpoints a call) delivered to the
campaign's DeliveryUri:

- an `https://` URL: POSTed as JSON with an `X-Clarion-Signature` header (HMAC-SHA256 with the
  server's webhook secret, see `signing.py`). Plain `http://` is accepted only for loopback
  hosts. Any 2xx is SUCCESSFUL; the reply body (JSON, if any) is kept in `response`;
- a Lambda function (ARN, or a bare name in the server's region): invoked synchronously
  through boto3 with the default credential chain; `AWS_ENDPOINT_URL_LAMBDA` redirects it
  (boto3 reads that itself). The function's returned JSON is kept in `response` (journeys
  read `{endpointId: {EventAttributes}}` from it).

A function error or a non-2xx reply fails the call: 429 THROTTLED, 5xx TEMPORARY_FAILURE,
other PERMANENT_FAILURE; an unreachable target TEMPORARY_FAILURE.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import botocore.config
import botocore.exceptions
import httpx
import orjson

from .base import (PERMANENT_FAILURE, PROVIDER_ERROR, DeliveryResult, OutboundCustom, delivered, failed)
from .http import bounded, by_status, json_or_none, make_client, unreachable
from .signing import HEADER, sign

LAMBDA_ARN = re.compile(r"arn:aws[a-z-]*:lambda:([a-z0-9-]+):\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?")
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LAMBDA_TIMEOUT = 15  # Pinpoint gives up on a function after 15 s


class CustomTransport:
    channel = "custom"

    def __init__(self, *, secret: str, clock, region: str, verify=True, concurrency: int = 16, timeout: float = 15.0,
                 boto_session=None):
        self.secret = secret
        self.clock = clock
        self.region = region
        self.concurrency = concurrency
        self._client_options = dict(verify=verify, timeout=timeout, max_connections=concurrency)
        self._client: httpx.AsyncClient | None = None
        self._boto_session = boto_session
        self._lambdas: dict[str, object] = {}

    async def send_batch(self, messages: Sequence[OutboundCustom]) -> list[DeliveryResult]:
        return await bounded(self.concurrency, messages, self._send)

    async def _send(self, message: OutboundCustom) -> DeliveryResult:
        uri = message.delivery_uri
        if uri.startswith(("https://", "http://")):
            return await self._post(message)
        if LAMBDA_ARN.fullmatch(uri) or FUNCTION_NAME.fullmatch(uri):
            return await asyncio.to_thread(self._invoke, message)
        return failed(PERMANENT_FAILURE, 400, f"DeliveryUri is neither an https URL nor a Lambda function: {uri}",
                      PROVIDER_ERROR)

    # -- webhook -------------------------------------------------------------------------------

    async def _post(self, message: OutboundCustom) -> DeliveryResult:
        parts = urlsplit(message.delivery_uri)
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            return failed(PERMANENT_FAILURE, 400, "A custom channel webhook must use https", PROVIDER_ERROR)
        if self._client is None:
            self._client = make_client(**self._client_options)
        body = orjson.dumps(message.payload())
        headers = {"Content-Type": "application/json",
                   HEADER: sign(self.secret, body, int(self.clock.now().timestamp()))}
        try:
            response = await self._client.post(message.delivery_uri, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return unreachable(exc, "Custom channel webhook")
        if not response.is_success:
            return by_status(response.status_code, f"Webhook replied {response.status_code} {response.reason_phrase}")
        result = delivered(message.message_id)
        result.response = json_or_none(response)
        return result

    # -- Lambda --------------------------------------------------------------------------------

    def _invoke(self, message: OutboundCustom) -> DeliveryResult:
        match = LAMBDA_ARN.fullmatch(message.delivery_uri)
        client = self._lambda(match.group(1) if match else self.region)
        try:
            reply = client.invoke(FunctionName=message.delivery_uri, InvocationType="RequestResponse",
                                  Payload=orjson.dumps(message.payload()))
        except botocore.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            return by_status(status, f"Lambda: {exc.response.get('Error', {}).get('Message', exc)}")
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            return unreachable(exc, "Lambda")
        payload = reply["Payload"].read()
        if reply.get("FunctionError"):
            detail = (json_loads(payload) or {}).get("errorMessage", reply["FunctionError"])
            return failed(PERMANENT_FAILURE, 502, f"Lambda function error: {detail}", PROVIDER_ERROR)
        result = delivered(message.message_id)
        result.response = json_loads(payload)
        return result

    def _lambda(self, region: str):
        client = self._lambdas.get(region)
        if client is None:
            import boto3

            session = self._boto_session or boto3.session.Session()
            config = botocore.config.Config(read_timeout=LAMBDA_TIMEOUT, retries={"max_attempts": 3})
            client = self._lambdas[region] = session.client("lambda", region_name=region, config=config)
        return client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def json_loads(payload: bytes):
    try:
        value = orjson.loads(payload) if payload else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
