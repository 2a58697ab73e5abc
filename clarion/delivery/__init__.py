"""Message delivery: the one send path for direct sends, one-time passwords and campaigns.

`Sender(service).send(app_id, items)` takes one `DeliveryItem` per recipient and returns one
`DeliveryResult` per item (see `sender` for the steps, `content` for how a message's content is
merged, `events` for what is recorded, `tracking` for email open and click tracking).
"""

from .items import DeliveryItem, DeliveryResult
from .sender import Sender

__all__ = ["DeliveryItem", "DeliveryResult", "Sender"]
