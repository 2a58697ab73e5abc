"""HMAC-SHA256 signatures on outbound webhooks (SMS webhook provider, custom channel).

Every POST carries `X-Clarion-Signature: t=<unix seconds>,v1=<hex digest>` where the digest is
HMAC-SHA256 with the shared secret over `<t>.` followed by the raw request body. A receiver
recomputes it over the bytes it received, compares in constant time, and rejects timestamps
older than a few minutes (replay). `verify()` below is the reference implementation.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Clarion-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(secret: str | bytes, body: bytes, header: str, now: float,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when `header` signs `body` with `secret` and is at most `tolerance` seconds old."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(_digest(secret, body, timestamp), fields.get("v1", ""))


def _digest(secret: str | bytes, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
