"""Shared steps of the delivery tests: channels, endpoints, the outbox, KPIs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clarion.channels import outbox

IDENTITY = "arn:aws:ses:us-east-1:000000000000:identity/example.com"


def enable_email(client, app_id: str, from_address: str = "Clarion <noreply@example.com>", enabled: bool = True):
    client.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": from_address, "Identity": IDENTITY, "Enabled": enabled})


def enable_sms(client, app_id: str, **extra):
    client.update_sms_channel(ApplicationId=app_id, SMSChannelRequest={"Enabled": True, **extra})


def put_endpoint(client, app_id: str, endpoint_id: str, address: str, channel: str = "EMAIL", **extra):
    request = {"Address": address, "ChannelType": channel, **extra}
    client.update_endpoint(ApplicationId=app_id, EndpointId=endpoint_id, EndpointRequest=request)


def sent(service, channel: str | None = None, app_id: str | None = None) -> list[dict]:
    """What the sandbox recorded, oldest first."""
    with service.store.read() as conn:
        return outbox.recent(conn, channel=channel, app_id=app_id, limit=1000)


def kpi(client, app_id: str, name: str) -> float | None:
    """A single-value application KPI over the last day; None when it has no row."""
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(days=1), now + timedelta(minutes=5)
    answer = client.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name, StartTime=start, EndTime=end)
    rows = answer["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]
    return float(rows[0]["Values"][0]["Value"]) if rows else None


def events(service, app_id: str, event_type: str | None = None) -> list[dict]:
    """The app's events as {event_type, endpoint_id, attributes}."""
    sql = "SELECT event_type, endpoint_id, attributes FROM events WHERE app_id = ?"
    params = [app_id]
    if event_type:
        sql += " AND event_type = ?"
        params.append(event_type)
    return [{"event_type": t, "endpoint_id": e, "attributes": dict(a or {})}
            for t, e, a in service.events.query(sql + " ORDER BY event_time, event_type", params)]
