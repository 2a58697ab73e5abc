"""CampaignHook in FILTER mode (reference §4.7): before sending, the run hands the endpoints
to a function, at most 50 per call, and sends only to the endpoints it returns (with the
definitions it returns, so it can personalise them).

The function is a web URL (`WebUrl`: an HTTP POST of the JSON payload, the JSON reply) or an
AWS Lambda function (`LambdaFunctionName`, invoked with boto3, which honours
`AWS_ENDPOINT_URL_LAMBDA` and the usual AWS credential chain). Payload:
`{MessageConfiguration, ApplicationId, CampaignId, TreatmentId, ActivityId, ScheduledTime,
Endpoints: {id: endpoint}}`; reply: `{id: endpoint}`. A call that takes more than 15 s,
answers something that is not such a map, or fails three times fails its endpoints
(`HOOK_FAILURE`); they are not sent.
"""

from __future__ import annotations

import logging

import httpx
import orjson

from ...clock import iso
from .treatment import RunSettings

log = logging.getLogger("clarion.campaigns.hook")
BATCH = 50
TIMEOUT_SECONDS = 15.0
ATTEMPTS = 3


class HookError(Exception):
    """The function could not be called, or its answer is not an endpoint map."""


class Hook:
    def __init__(self, hook: dict, region: str):
        self.hook = hook
        self.region = region
        self._lambda = None

    def filter(self, settings: RunSettings, endpoints: dict[str, dict],
               heartbeat=None) -> tuple[dict[str, dict], set[str]]:
        """(the endpoints to send to, by id, as the function returned them; the ids whose call
        failed)."""
        kept, failed = {}, set()
        ids = list(endpoints)
        for start in range(0, len(ids), BATCH):
            if heartbeat and start:
                heartbeat()
            chunk = {i: endpoints[i] for i in ids[start:start + BATCH]}
            try:
                answer = self._call(self._payload(settings, chunk))
            except HookError as exc:
                log.warning("campaign %s hook failed: %s", settings.campaign_id, exc)
                failed.update(chunk)
                continue
            for endpoint_id, endpoint in answer.items():
                if endpoint_id in chunk and isinstance(endpoint, dict):
                    kept[endpoint_id] = {**chunk[endpoint_id], **endpoint, "Id": chunk[endpoint_id]["Id"]}
        return kept, failed

    @staticmethod
    def _payload(settings: RunSettings, endpoints: dict) -> dict:
        return {"MessageConfiguration": settings.message_configuration or {}, "ApplicationId": settings.app_id,
                "CampaignId": settings.campaign_id, "TreatmentId": settings.treatment_id,
                "ActivityId": settings.activity_id, "ScheduledTime": iso(settings.scheduled_start),
                "Endpoints": endpoints}

    def _call(self, payload: dict) -> dict:
        body = orjson.dumps(payload)
        error = None
        for _ in range(ATTEMPTS):
            try:
                raw = self._post(body) if self.hook.get("WebUrl") else self._invoke(body)
                answer = orjson.loads(raw)
            except (HookError, httpx.HTTPError, orjson.JSONDecodeError, OSError) as exc:
                error = exc
                continue
            if not isinstance(answer, dict):
                raise HookError("the function did not return a map of endpoints")
            return answer
        raise HookError(f"{type(error).__name__}: {error}")

    def _post(self, body: bytes) -> bytes:
        response = httpx.post(self.hook["WebUrl"], content=body, timeout=TIMEOUT_SECONDS,
                              headers={"content-type": "application/json"})
        if response.status_code >= 300:
            raise HookError(f"HTTP {response.status_code}")
        return response.content

    def _invoke(self, body: bytes) -> bytes:
        import boto3
        import botocore.config
        import botocore.exceptions

        if self._lambda is None:
            config = botocore.config.Config(read_timeout=TIMEOUT_SECONDS, connect_timeout=5,
                                            retries={"max_attempts": 1})
            self._lambda = boto3.client("lambda", region_name=self.region, config=config)
        try:
            reply = self._lambda.invoke(FunctionName=self.hook["LambdaFunctionName"], Payload=body)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise HookError(str(exc)) from None
        if reply.get("FunctionError"):
            raise HookError(f"the function failed ({reply['FunctionError']})")
        return reply["Payload"].read()
