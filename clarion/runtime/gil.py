"""How soon a thread holding the GIL hands it to one that waits, in `serve` and `worker`.

The transports' event loop thread (`channels.registry`: SMTP replies, push responses) shares
the GIL with the threads that prepare and render campaign pages. CPython lets a waiting thread
wait up to the switch interval (5 ms by default) before the holder must let go, so a reply that
arrives while a page renders waits that long, and the mail server idles meanwhile. At 0.2 ms,
a 60,000-endpoint campaign into SMTP went from 2,405 to 2,680 messages/s (the mean of three
runs each, bench/campaign.py), with no more CPU per message; 0.1 ms was slower again.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL = 0.0002  # seconds


def hand_over_often() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
