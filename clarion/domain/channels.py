"""What a channel update must satisfy, per platform: pure rules, no I/O.

Pinpoint checks push credentials with Apple, Google, Amazon and Baidu when a channel is
updated. Clarion runs without reaching them, so it checks credentials for *shape* only: a
certificate must be PEM X.509 that has not expired and matches its private key, an APNs token
key must be a PEM EC (P-256) private key, an FCM service account must be the JSON Google
issues, identifiers must look like Apple's. Malformed values get a 400 and change nothing;
well-formed but revoked credentials are only discovered when a message is sent.

`check(platform, sent, settings, credentials, now)` gets the request as sent plus the merged
result (stored values overlaid by the request) and returns the members it derives
(`DefaultAuthenticationMethod`, upper-cased as sent; for GCM defaulted as the model says).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parseaddr

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..protocol.errors import BadRequest

APNS_CERTIFICATE_SET = ("Certificate", "PrivateKey")
APNS_TOKEN_SET = ("TokenKey", "TokenKeyId", "TeamId", "BundleId")
APNS_METHODS = {"CERTIFICATE": APNS_CERTIFICATE_SET, "TOKEN": APNS_TOKEN_SET}
GCM_METHODS = {"KEY": ("ApiKey",), "TOKEN": ("ServiceJson",)}

_APPLE_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_SES_IDENTITY = re.compile(r"arn:aws[a-z-]*:ses:[a-z0-9-]+:\d{12}:identity/\S+")
_IAM_ROLE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,11}")
_SHORT_CODE = re.compile(r"\d{3,8}|\+[1-9]\d{7,14}")
_SERVICE_ACCOUNT_KEYS = ("project_id", "client_email", "private_key")


def check(platform: str, sent: dict, settings: dict, credentials: dict, now: datetime) -> dict:
    """Raise BadRequest if the channel would be malformed; else the members derived from it."""
    if platform.startswith("APNS"):
        return _apns(sent, settings, credentials, now)
    rule = _RULES.get(platform)
    return rule(sent, settings, credentials) if rule else {}


# -- APNs (all four flavours) ---------------------------------------------------------------

def _apns(sent: dict, settings: dict, credentials: dict, now: datetime) -> dict:
    _not_blank(sent, APNS_CERTIFICATE_SET + APNS_TOKEN_SET)
    if any(k in sent for k in APNS_CERTIFICATE_SET):
        _require_set(credentials, APNS_CERTIFICATE_SET, "certificate authentication")
        _check_certificate_pair(credentials["Certificate"], credentials["PrivateKey"], now)
    if any(k in sent for k in APNS_TOKEN_SET):
        _require_set(credentials, APNS_TOKEN_SET, "token authentication")
        _check_token_set(credentials)
    complete = [m for m, members in APNS_METHODS.items() if all(credentials.get(k) for k in members)]
    if settings.get("Enabled") and not complete:
        raise BadRequest("Missing credentials: an enabled APNs channel needs either Certificate and PrivateKey, "
                         "or TokenKey, TokenKeyId, TeamId and BundleId")
    # Not derived when never sent: Pinpoint leaves it unset, and a sender tries what is complete.
    method = _method(sent, settings, APNS_METHODS, complete)
    return {"DefaultAuthenticationMethod": method} if method else {}


def _check_certificate_pair(certificate: str, private_key: str, now: datetime) -> None:
    try:
        certs = x509.load_pem_x509_certificates(certificate.encode())
    except ValueError:
        raise BadRequest("Certificate is not a PEM-encoded X.509 certificate") from None
    key = _private_key(private_key, "PrivateKey")
    cert = certs[0]
    if cert.not_valid_after_utc < now:
        raise BadRequest(f"Certificate expired on {cert.not_valid_after_utc.isoformat()}")
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise BadRequest("PrivateKey does not match the Certificate's public key")


def _check_token_set(credentials: dict) -> None:
    key = _private_key(credentials["TokenKey"], "TokenKey")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise BadRequest("TokenKey must be the P-256 EC private key (.p8 file) Apple issues for APNs tokens")
    for member in ("TokenKeyId", "TeamId"):
        if not _APPLE_ID.fullmatch(credentials[member]):
            raise BadRequest(f"{member} must be Apple's 10-character identifier (upper-case letters and digits)")
    if not _BUNDLE_ID.fullmatch(credentials["BundleId"]):
        raise BadRequest("BundleId must be an app bundle identifier such as com.example.app")


# -- FCM / GCM ------------------------------------------------------------------------------

def _gcm(sent: dict, settings: dict, credentials: dict) -> dict:
    _not_blank(sent, ("ApiKey", "ServiceJson"))
    if "ServiceJson" in sent:
        _check_service_json(sent["ServiceJson"])
    complete = [m for m, members in GCM_METHODS.items() if all(credentials.get(k) for k in members)]
    if settings.get("Enabled") and not complete:
        raise BadRequest("Missing credentials: an enabled GCM channel needs an ApiKey or a ServiceJson")
    # The model says KEY is the default; a channel with only a service account can only use TOKEN.
    method = _method(sent, settings, GCM_METHODS, complete)
    if method not in complete:
        method = "TOKEN" if complete == ["TOKEN"] else "KEY"
    return {"DefaultAuthenticationMethod": method}


def _check_service_json(text: str) -> None:
    try:
        account = json.loads(text)
    except ValueError:
        account = None
    if not isinstance(account, dict) or account.get("type") != "service_account":
        raise BadRequest("ServiceJson must be the JSON key file of a Google service account "
                         "(with \"type\": \"service_account\")")
    missing = [k for k in _SERVICE_ACCOUNT_KEYS if not isinstance(account.get(k), str) or not account[k]]
    if missing:
        raise BadRequest(f"ServiceJson is missing {', '.join(missing)}")
    _private_key(account["private_key"], "ServiceJson private_key")


# -- Methods shared by APNs and GCM ---------------------------------------------------------

def _method(sent: dict, settings: dict, methods: dict, complete: list[str]) -> str | None:
    """The default authentication method as sent (checked against the credentials), else as stored."""
    requested = sent.get("DefaultAuthenticationMethod")
    if requested is None:
        return settings.get("DefaultAuthenticationMethod")
    method = requested.upper()
    if method not in methods:
        raise BadRequest(f"Invalid DefaultAuthenticationMethod '{requested}': expected one of {', '.join(methods)}")
    if method not in complete:
        raise BadRequest(f"DefaultAuthenticationMethod {method} needs {', '.join(methods[method])}")
    return method


# -- The others -----------------------------------------------------------------------------

def _email(sent: dict, settings: dict, credentials: dict) -> dict:
    name, address = parseaddr(sent["FromAddress"])
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise BadRequest(f"FromAddress '{sent['FromAddress']}' is not a valid email address")
    if not _SES_IDENTITY.fullmatch(sent["Identity"]):
        raise BadRequest("Identity must be the ARN of an email identity, "
                         "arn:aws:ses:<region>:<account>:identity/<address or domain>")
    for member in ("RoleArn", "OrchestrationSendingRoleArn"):
        if sent.get(member) and not _IAM_ROLE.fullmatch(sent[member]):
            raise BadRequest(f"{member} must be an IAM role ARN, arn:aws:iam::<account>:role/<name>")
    if sent.get("ConfigurationSet") and not _CONFIGURATION_SET.fullmatch(sent["ConfigurationSet"]):
        raise BadRequest("ConfigurationSet must be 1 to 64 letters, digits, '_' or '-'")
    return {}


def _sms(sent: dict, settings: dict, credentials: dict) -> dict:
    if sent.get("SenderId") and not _SENDER_ID.fullmatch(sent["SenderId"]):
        raise BadRequest("SenderId must be 1 to 11 letters and digits, with at least one letter")
    if sent.get("ShortCode") and not _SHORT_CODE.fullmatch(sent["ShortCode"]):
        raise BadRequest("ShortCode must be a short code (3 to 8 digits) or an E.164 number")
    return {}


def _blank_check(*members: str):
    def rule(sent: dict, settings: dict, credentials: dict) -> dict:
        _not_blank(sent, members)
        return {}
    return rule


_RULES = {
    "ADM": _blank_check("ClientId", "ClientSecret"),
    "BAIDU": _blank_check("ApiKey", "SecretKey"),
    "GCM": _gcm,
    "EMAIL": _email,
    "SMS": _sms,
}


# -- Helpers --------------------------------------------------------------------------------

def _not_blank(sent: dict, members) -> None:
    for member in members:
        if member in sent and not sent[member].strip():
            raise BadRequest(f"{member} must not be empty")


def _require_set(credentials: dict, members: tuple[str, ...], purpose: str) -> None:
    missing = [k for k in members if not credentials.get(k)]
    if missing:
        raise BadRequest(f"APNs {purpose} needs {', '.join(members)}; missing {', '.join(missing)}")


def _private_key(text: str, member: str):
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise BadRequest(f"{member} is encrypted: provide the private key without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest(f"{member} is not a PEM-encoded private key") from None


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
