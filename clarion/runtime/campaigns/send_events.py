"""`_campaign.send`: one event per endpoint a run attempted or let expire (reference §12.2).

Attributes: `campaign_id`, `campaign_activity_id`, `treatment_id`, `campaign_send_status`
(SUCCESS when the channel accepted the message; else its DeliveryStatus, or EXPIRED when
MaximumDuration ran out), `delivery_type` (the endpoint's channel type, CUSTOM for the custom
channel) and `message_id`. The channel's own events (`_email.send`, `_SMS.SUCCESS`, ...) are
written by the Sender with the same campaign attributes.

The lines are built here in the event store's line format (`events.rows`), one per endpoint,
with the message id as the event id: a run writes a page's events in one append and spends a
few microseconds per event, not a generic row conversion and a random id each.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from ...events.context import context as endpoint_columns
from ...events.rows import Encoded, micros


def encode(app_id: str, base_attributes: dict, sends: list[tuple], now: datetime) -> Encoded:
    """sends: (endpoint key, endpoint document, channel, status, message id)."""
    moment = micros(now)
    lines = []
    for key, endpoint, channel, status, message_id in sends:
        attributes = {**base_attributes, "campaign_send_status": status, "delivery_type": channel}
        if message_id:
            attributes["message_id"] = message_id
        event = {"id": f"{message_id or key}-campaign-send", "t": moment, "ss": None, "sp": None,
                 "e": {"EventType": "_campaign.send", "Attributes": attributes}}
        lines.append(orjson.dumps({"a": app_id, "arr": moment, "ep": key, "ctx": endpoint_columns(endpoint, None),
                                   "ev": [event]}))
    lines.append(b"")
    return Encoded(b"\n".join(lines), len(sends))
