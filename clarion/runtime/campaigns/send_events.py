"""`_campaign.send`: one event per endpoint a run attempted or let expire (reference §12.2).

Attributes: `campaign_id`, `campaign_activity_id`, `treatment_id`, `campaign_send_status`
(SUCCESS when the channel accepted the message; else its DeliveryStatus, or EXPIRED when
MaximumDuration ran out), `delivery_type` (the endpoint's channel type, CUSTOM for the custom
channel) and `message_id`. The channel's own events (`_email.send`, `_SMS.SUCCESS`, ...) are
written by the Sender with the same campaign attributes.

The events are built here in the event store's line format (`events.rows`) with the message id
as the event id. An attempted message's event goes into the Sender's line for it (`event`,
given as the item's `also_record`): one line, one endpoint context and one append per message
for the channel's events and the campaign's. An expired endpoint's event is a line of its own
(`encode`).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from ...events.context import context as endpoint_columns
from ...events.rows import Encoded, micros


def event(base_attributes: dict, channel: str, status: str, message_id: str | None, fallback_id: str,
          moment: int) -> dict:
    """The `_campaign.send` event of one endpoint (`fallback_id`, its key, names the event when
    there is no message id)."""
    attributes = {**base_attributes, "campaign_send_status": status, "delivery_type": channel}
    if message_id:
        attributes["message_id"] = message_id
    return {"id": f"{message_id or fallback_id}-campaign-send", "t": moment, "ss": None, "sp": None,
            "e": {"EventType": "_campaign.send", "Attributes": attributes}}


def encode(app_id: str, base_attributes: dict, sends: list[tuple], now: datetime) -> Encoded:
    """Lines of their own, one per endpoint. sends: (endpoint key, endpoint document, channel,
    status, message id)."""
    moment = micros(now)
    lines = []
    for key, endpoint, channel, status, message_id in sends:
        line = {"a": app_id, "arr": moment, "ep": key, "ctx": endpoint_columns(endpoint, None),
                "ev": [event(base_attributes, channel, status, message_id, key, moment)]}
        lines.append(orjson.dumps(line))
    lines.append(b"")
    return Encoded(b"\n".join(lines), len(sends))
