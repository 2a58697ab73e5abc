"""Campaign runs: the durable pipeline that turns a scheduled run (or a matching event) into
messages, once per endpoint, across crashes and restarts.

- `run`: the `campaign_run` job (one activity: one treatment's run), page by page;
- `event_run`: the `campaign_event` job (an EVENT campaign's message to one endpoint);
- `triggers`: matching incoming events to EVENT campaigns (the service's event listener);
- `pipeline`: one page, from endpoints to messages (screening, duplicates, hook, caps,
  MaximumDuration, quiet time, the deliveries table, the Sender, `_campaign.send` events);
- `audience`, `screening`, `treatment`, `tally`, `pacing`, `hook`, `lifecycle`, `event_filter`.

`CampaignRuntime` is what the service holds (`service.campaigns`): the Sender the runs use
(replaceable, e.g. by tests), the per-campaign rate limiters and the trigger index.
"""

from __future__ import annotations

from .pacing import Limiters
from .triggers import TriggerIndex


class CampaignRuntime:
    def __init__(self, service, sender=None):
        self.service = service
        self._sender = sender
        self.limiters = Limiters()
        self.triggers = TriggerIndex(service)

    @property
    def sender(self):
        """`clarion.delivery.Sender` unless one was given."""
        if self._sender is None:
            from ...delivery import Sender

            self._sender = Sender(self.service)
        return self._sender

    @sender.setter
    def sender(self, sender) -> None:
        self._sender = sender

    def attach(self) -> None:
        """Listen to events (EVENT campaigns) and to campaign changes (the trigger cache)."""
        service = self.service
        service.event_listeners.append(self.triggers.on_events)
        service.events.listeners.append(self.triggers.on_stored)
        service.campaign_change_hooks.append(self.triggers.invalidate)
