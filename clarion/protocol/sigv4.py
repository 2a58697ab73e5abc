"""AWS Signature Version 4 verification for the `mobiletargeting` signing name.

The canonical request is rebuilt from what arrived on the wire: the raw (still percent-encoded)
path encoded once more as SDKs do for every service but S3, the query re-encoded per RFC 3986
and sorted, the signed headers looked up case-insensitively, and the payload's SHA-256 (checked
against `x-amz-content-sha256` when the client sends it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from .errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken

SIGNING_NAME = "mobiletargeting"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class SignedRequest:
    """What the Authorization header claims, before the signature is checked."""

    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


def parse_authorization(headers: dict[str, str]) -> SignedRequest:
    """Read the Authorization header; refuse anything that is not a complete SigV4 header."""
    auth = headers.get("authorization")
    if not auth:
        raise MissingAuthenticationToken("Missing Authentication Token")
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"Unsupported authorization algorithm '{algorithm}'; use {ALGORITHM}")
    fields = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    try:
        key_id, date, region, service, terminator = fields["Credential"].split("/")
        signed_headers = tuple(fields["SignedHeaders"].split(";"))
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise IncompleteSignature("Authorization header requires Credential, SignedHeaders and Signature") from None
    if service != SIGNING_NAME or terminator != "aws4_request":
        raise InvalidSignature(f"Credential should be scoped to the service '{SIGNING_NAME}'")
    if "host" not in signed_headers:
        raise IncompleteSignature("The host header must be signed")
    amz_date = headers.get("x-amz-date", "")
    if not amz_date:
        raise IncompleteSignature("Missing X-Amz-Date header")
    return SignedRequest(key_id, date, region, signed_headers, signature, amz_date)


def check_date(signed: SignedRequest, now: datetime) -> None:
    """The request time must be within 15 minutes of ours and match the scope's date."""
    d = signed.amz_date
    try:  # slicing beats strptime by 20x, and this runs on every request
        if len(d) != 16 or d[8] != "T" or d[15] != "Z":
            raise ValueError(d)
        when = datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]),
                        tzinfo=timezone.utc)
    except ValueError:
        raise IncompleteSignature(f"Invalid X-Amz-Date '{signed.amz_date}'") from None
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignature(
            f"Signature expired: {signed.amz_date} is now earlier or later than "
            f"{now.strftime('%Y%m%dT%H%M%SZ')} by more than 15 minutes"
        )
    if signed.amz_date[:8] != signed.date:
        raise InvalidSignature("The credential scope date does not match X-Amz-Date")


def verify(signed: SignedRequest, secret: str, method: str, raw_path: str, raw_query: str,
           headers: dict[str, str], body: bytes) -> None:
    """Recompute the signature with `secret`; raise InvalidSignature unless it matches."""
    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    # UNSIGNED-PAYLOAD is S3's alone: accepting it here would leave the body unprotected.
    if claimed and claimed != payload_hash:
        raise InvalidSignature("The provided x-amz-content-sha256 header does not match the body "
                               "(UNSIGNED-PAYLOAD is not accepted)")
    canonical = "\n".join((
        method,
        canonical_path(raw_path),
        canonical_query(raw_query),
        "".join(f"{name}:{_header_value(headers, name)}\n" for name in signed.signed_headers),
        ";".join(signed.signed_headers),
        claimed or payload_hash,
    ))
    scope = f"{signed.date}/{signed.region}/{SIGNING_NAME}/aws4_request"
    string_to_sign = "\n".join((ALGORITHM, signed.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    key = signing_key(secret, signed.date, signed.region)
    expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()  # one-shot: no HMAC object
    if not hmac.compare_digest(expected, signed.signature):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )


_KEY_CACHE: dict[tuple[str, str, str], bytes] = {}


def signing_key(secret: str, date: str, region: str) -> bytes:
    """The derived key for a day and region; cached, since it changes once a day."""
    cache_key = (secret, date, region)
    key = _KEY_CACHE.get(cache_key)
    if key is None:
        key = _hmac(("AWS4" + secret).encode(), date)
        for part in (region, SIGNING_NAME, "aws4_request"):
            key = _hmac(key, part)
        if len(_KEY_CACHE) > 1024:
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = key
    return key


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode(), "sha256")


# Segments of unreserved characters other than '.': normalising and quoting change nothing.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-]+)+")


def canonical_path(raw_path: str) -> str:
    if _PLAIN_PATH.fullmatch(raw_path):  # nearly every Pinpoint path: ids are hex, names plain
        return raw_path
    return quote(normalize_url_path(raw_path), safe="/~")


def canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((_rfc3986(key), _rfc3986(value)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _rfc3986(value: str) -> str:
    return quote(unquote(value.replace("+", " ")), safe="-_.~")


def _header_value(headers: dict[str, str], name: str) -> str:
    return " ".join(headers.get(name, "").split())
