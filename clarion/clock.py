"""Time and identifiers, injected so domain code can be tested with a fixed clock."""

from __future__ import annotations

import os
import random
import secrets
import uuid
from datetime import datetime, timedelta, timezone


def iso(moment: datetime) -> str:
    """Pinpoint's timestamp form: `2018-05-24T21:26:33.995Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Clock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock(Clock):
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta) -> None:
        self.moment += timedelta(**delta)


class Ids:
    """Random identifiers in Pinpoint's forms."""

    def __init__(self):
        # Cohorts and request ids need spread, not secrecy: one seeded generator beats a system
        # call each.
        self._random = random.Random(secrets.randbits(128))
        os.register_at_fork(after_in_child=lambda: self._random.seed(secrets.randbits(128)))  # no shared ids

    def resource_id(self) -> str:
        """32 lower-case hex characters, like app, campaign and segment ids."""
        return uuid.uuid4().hex

    def request_id(self) -> str:
        """A random (version 4) UUID, formatted directly: every request pays for it. Request ids
        must be unique, not secret: the seeded generator spares a system call per request."""
        h = "%032x" % self._random.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def cohort(self) -> int:
        """0..99: ~1% of endpoints per cohort, used for holdouts and treatments."""
        return self._random.randrange(100)
