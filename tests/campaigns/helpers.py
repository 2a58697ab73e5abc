"""Steps shared by the campaign tests."""

from __future__ import annotations

from sqlalchemy import select

from clarion.channels import outbox
from clarion.runtime.scheduler import tick
from clarion.store.schema import endpoints

IDENTITY = "arn:aws:ses:us-east-1:000000000000:identity/example.com"


def enable_email(client, app_id: str) -> None:
    client.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "Clarion <news@example.com>", "Identity": IDENTITY, "Enabled": True})


def email(title: str, body: str) -> dict:
    return {"EmailMessage": {"Title": title, "HtmlBody": body}}


def put_endpoints(client, app_id: str, items: list[dict]) -> None:
    for start in range(0, len(items), 100):
        answer = client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items[start:start + 100]})
        assert answer["MessageBody"]["Message"] == "Accepted"


def email_endpoint(endpoint_id: str, address: str, **extra) -> dict:
    return {"Id": endpoint_id, "Address": address, "ChannelType": "EMAIL", **extra}


def segment(client, app_id: str, dimensions: dict | None = None, name: str = "audience") -> str:
    return client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": name, "Dimensions": dimensions or {}})["SegmentResponse"]["Id"]


def create_campaign(client, app_id: str, segment_id: str, **request) -> dict:
    body = {"Name": "campaign", "SegmentId": segment_id, "MessageConfiguration": email("Hello", "<p>Hi</p>"),
            "Schedule": {"StartTime": "IMMEDIATE"}, **request}
    return client.create_campaign(ApplicationId=app_id, WriteCampaignRequest=body)["CampaignResponse"]


def run_due(service, rounds: int = 20) -> int:
    """Tick the scheduler and run every ready job until nothing is left; returns the jobs run."""
    ran = 0
    for _ in range(rounds):
        started = tick(service)
        done = service.workers.drain()
        ran += done
        if not started and not done:
            break
    return ran


def activities(client, app_id: str, campaign_id: str) -> list[dict]:
    return client.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)["ActivitiesResponse"]["Item"]


def by_treatment(client, app_id: str, campaign_id: str) -> dict[str, dict]:
    return {a["TreatmentId"]: a for a in activities(client, app_id, campaign_id)}


def campaign_state(client, app_id: str, campaign_id: str) -> str:
    doc = client.get_campaign(ApplicationId=app_id, CampaignId=campaign_id)["CampaignResponse"]
    return doc["State"]["CampaignStatus"]


def mailbox(service, app_id: str) -> dict[str, list[dict]]:
    """What the sandbox transport sent, by address."""
    with service.store.read() as conn:
        rows = outbox.recent(conn, channel="email", app_id=app_id, limit=100_000)
    sent: dict[str, list[dict]] = {}
    for row in rows:
        sent.setdefault(row["address"], []).append(row["content"])
    return sent


def cohorts(service, app_id: str) -> dict[str, int]:
    """Endpoint id (lower-cased) -> CohortId, as the server assigned them."""
    with service.store.read() as conn:
        rows = conn.execute(select(endpoints.c.endpoint_key, endpoints.c.cohort).where(endpoints.c.app_id == app_id))
        return {key: cohort for key, cohort in rows}


def events(service, app_id: str, event_type: str) -> list[dict]:
    rows = service.events.query("SELECT endpoint_id, attributes FROM events WHERE app_id = ? AND event_type = ?",
                                [app_id, event_type])
    return [{"endpoint_id": e, **dict(a or {})} for e, a in rows]


def produced_balance(activity: dict) -> int:
    """ENDPOINT_PRODUCED less every endpoint accounted for (attempted, or a reason): 0 when the
    run lost no one."""
    metrics = {k: int(v) for k, v in activity["ExecutionMetrics"].items()}
    statuses = ("SUCCESSFUL", "THROTTLED", "TEMPORARY_FAILURE", "PERMANENT_FAILURE", "UNKNOWN_FAILURE", "OPT_OUT",
                "DUPLICATE")
    reasons = sum(v for k, v in metrics.items() if k != "ENDPOINT_PRODUCED" and k not in statuses)
    return metrics.get("ENDPOINT_PRODUCED", 0) - reasons - activity["TotalEndpointCount"]
