"""AWS Signature Version 4 verification for the `mobiletargeting` signing name.

The canonical request is rebuilt from what arrived on the wire: the raw (still percent-encoded)
path encoded once more as SDKs do for every service but S3, the query re-encoded per RFC 3986
and sorted, the signed headers looked up case-insensitively, and the payload's SHA-256 (checked
against `x-amz-content-sha256` when the client sends it).

Every request pays for this, so the common case is kept short: the Authorization header in the
form every SDK writes is read by one regular expression (anything else takes the general
parser, which gives the error messages), the X-Amz-Date of the current second is parsed once,
and the derived signing key is kept per day, region and secret.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from .errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken

SIGNING_NAME = "mobiletargeting"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
EMPTY_PAYLOAD_HASH = hashlib.sha256(b"").hexdigest()  # GET and DELETE: most requests

# `AWS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/mobiletargeting/aws4_request,
# SignedHeaders=<a;b>, Signature=<hex>` exactly as SDKs write it. Only a header that the general
# parser reads the same way matches (no ',', '/' or spaces inside a value; the right service).
_SDK_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/, =]+)/([0-9]{8})/([^/, ]+)/mobiletargeting/aws4_request, ?"
    r"SignedHeaders=([^, ]+), ?Signature=([0-9a-f]+)")


class SignedRequest(NamedTuple):
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
    sdk = _SDK_AUTHORIZATION.fullmatch(auth)
    if sdk is not None:
        key_id, date, region, signed_headers, signature = sdk.groups()
        signed_headers = tuple(signed_headers.split(";"))
        amz_date = headers.get("x-amz-date")
        if "host" in signed_headers and amz_date:
            return SignedRequest(key_id, date, region, signed_headers, signature, amz_date)
    return _parse_any_authorization(auth, headers)


def _parse_any_authorization(auth: str, headers: dict[str, str]) -> SignedRequest:
    """The general reading of the Authorization header, and every refusal's message."""
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
    try:
        when = _amz_time(signed.amz_date)
    except ValueError:
        raise IncompleteSignature(f"Invalid X-Amz-Date '{signed.amz_date}'") from None
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignature(
            f"Signature expired: {signed.amz_date} is now earlier or later than "
            f"{now.strftime('%Y%m%dT%H%M%SZ')} by more than 15 minutes"
        )
    if signed.amz_date[:8] != signed.date:
        raise InvalidSignature("The credential scope date does not match X-Amz-Date")


@functools.lru_cache(maxsize=64)  # requests signed in the same second share their X-Amz-Date
def _amz_time(d: str) -> datetime:
    # Slicing beats strptime by 20x. A refusal (ValueError) is not cached.
    if len(d) != 16 or d[8] != "T" or d[15] != "Z":
        raise ValueError(d)
    return datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]),
                    tzinfo=timezone.utc)


def verify(signed: SignedRequest, secret: str, method: str, raw_path: str, raw_query: str,
           headers: dict[str, str], body: bytes) -> None:
    """Recompute the signature with `secret`; raise InvalidSignature unless it matches."""
    payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_PAYLOAD_HASH
    claimed = headers.get("x-amz-content-sha256")
    # UNSIGNED-PAYLOAD is S3's alone: accepting it here would leave the body unprotected.
    if claimed and claimed != payload_hash:
        raise InvalidSignature("The provided x-amz-content-sha256 header does not match the body "
                               "(UNSIGNED-PAYLOAD is not accepted)")
    names = signed.signed_headers
    # One join: method, path, query, "name:value" per signed header, a blank line, the names, hash.
    canonical = "\n".join((
        method,
        canonical_path(raw_path),
        canonical_query(raw_query),
        *[f"{name}:{' '.join(headers.get(name, '').split())}" for name in names],
        "",
        ";".join(names),
        claimed or payload_hash,
    ))
    date, region = signed.date, signed.region
    string_to_sign = (f"{ALGORITHM}\n{signed.amz_date}\n{date}/{region}/{SIGNING_NAME}/aws4_request\n"
                      f"{hashlib.sha256(canonical.encode()).hexdigest()}")
    expected = _day_key(secret, date, region).sign(string_to_sign.encode())
    # (compare_digest refuses non-ASCII text: such a signature is simply wrong, not a server error)
    if not (signed.signature.isascii() and hmac.compare_digest(expected, signed.signature)):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )


class _DayKey(NamedTuple):
    """A derived signing key with its HMAC-SHA256 inner and outer hash states (RFC 2104 written
    out): each signature then costs two copied SHA-256 states, not a keyed-MAC set-up, which
    OpenSSL 3 makes cost more than the hashing itself."""

    key: bytes
    inner: "hashlib._Hash"
    outer: "hashlib._Hash"

    @classmethod
    def derive(cls, secret: str, date: str, region: str) -> "_DayKey":
        key = _hmac(("AWS4" + secret).encode(), date)
        for part in (region, SIGNING_NAME, "aws4_request"):
            key = _hmac(key, part)
        block = key.ljust(64, b"\0")  # a 32-byte key padded to SHA-256's block
        return cls(key, hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD)))

    def sign(self, message: bytes) -> str:
        """HMAC-SHA256(key, message) in hex."""
        inner, outer = self.inner.copy(), self.outer.copy()
        inner.update(message)
        outer.update(inner.digest())
        return outer.hexdigest()


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_KEY_CACHE: dict[tuple[str, str, str], _DayKey] = {}


def _day_key(secret: str, date: str, region: str) -> _DayKey:
    """The derived key for a day and region; cached, since it changes once a day."""
    cache_key = (secret, date, region)
    day_key = _KEY_CACHE.get(cache_key)
    if day_key is None:
        day_key = _DayKey.derive(secret, date, region)
        if len(_KEY_CACHE) > 1024:
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = day_key
    return day_key


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

