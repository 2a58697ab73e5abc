"""One-time passwords: SendOTPMessage and VerifyOTPMessage.

SendOTPMessage makes a random numeric code, keeps only an HMAC of it (keyed with a key derived
from the master key, bound to the app, destination and reference id), and sends it by SMS
through the normal send path (so the SMS channel must be enabled, and the sandbox records it):
"This is your One Time Password: 123456 from ExampleCorp", in the request's Language.
EntityId, TemplateId and OriginationIdentity (a number or short code; letters make it a sender
ID) go to the SMS provider. A new code for the same destination and reference id replaces the
previous one. The answer is a MessageResponse with the destination's result.

VerifyOTPMessage answers `{"Valid": true}` only for the latest code of that destination and
reference id, before it expires, within its allowed attempts, and once: each wrong code uses
an attempt, and a verified code is used up. Everything else is `{"Valid": false}` (not an error).

Limits and defaults follow Pinpoint's developer guide (UNCONFIRMED, from its OTP page):
CodeLength 5-8 digits (default 6), ValidityPeriod 5-60 minutes (default 15), AllowedAttempts
1-5 (default 3), BrandName at most 20 characters, ReferenceId at most 48, Language a BCP-47 tag
among the supported ones (default en-US).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

import phonenumbers
from sqlalchemy import and_, delete, select, update

from ..clock import iso
from ..delivery import DeliveryItem, Sender
from ..protocol.errors import BadRequest
from ..store.schema import otp_codes
from . import operation
from .apps import require_app

RANGES = {"CodeLength": (5, 8, 6), "ValidityPeriod": (5, 60, 15), "AllowedAttempts": (1, 5, 3)}
MAX_BRAND, MAX_REFERENCE = 20, 48
# The message in each supported language; `{{OTP.Code}}` and `{{OTP.Brand}}` are filled per send.
MESSAGES = {
    "en-US": "This is your One Time Password: {{OTP.Code}} from {{OTP.Brand}}",
    "en-GB": "This is your One Time Password: {{OTP.Code}} from {{OTP.Brand}}",
    "de-DE": "Dies ist Ihr Einmalpasswort: {{OTP.Code}} von {{OTP.Brand}}",
    "es-ES": "Esta es su contraseña de un solo uso: {{OTP.Code}} de {{OTP.Brand}}",
    "es-419": "Esta es su contraseña de un solo uso: {{OTP.Code}} de {{OTP.Brand}}",
    "fr-FR": "Voici votre mot de passe à usage unique : {{OTP.Code}} de {{OTP.Brand}}",
    "fr-CA": "Voici votre mot de passe à usage unique : {{OTP.Code}} de {{OTP.Brand}}",
    "it-IT": "Questa è la tua password monouso: {{OTP.Code}} da {{OTP.Brand}}",
    "pt-BR": "Esta é a sua senha de uso único: {{OTP.Code}} de {{OTP.Brand}}",
    "ja-JP": "{{OTP.Brand}} からのワンタイムパスワード: {{OTP.Code}}",
    "ko-KR": "{{OTP.Brand}}의 일회용 비밀번호: {{OTP.Code}}",
    "zh-CN": "这是来自 {{OTP.Brand}} 的一次性密码：{{OTP.Code}}",
    "zh-TW": "這是來自 {{OTP.Brand}} 的一次性密碼：{{OTP.Code}}",
}
_LANGUAGES = {tag.lower(): tag for tag in MESSAGES}
_SENDER_ID = re.compile(r"[A-Za-z0-9 ]*[A-Za-z][A-Za-z0-9 ]*")
_C = otp_codes.c


@operation("SendOTPMessage")
def send_otp_message(ctx, application_id: str, send_otp_message_request_parameters: dict) -> dict:
    request = send_otp_message_request_parameters
    options = _options(request)
    destination = e164(request["DestinationIdentity"], "DestinationIdentity")
    code = "".join(secrets.choice("0123456789") for _ in range(options["CodeLength"]))
    now = ctx.service.clock.now()
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        _save(conn, ctx, app_id, destination, request["ReferenceId"], code, now, options)
    item = DeliveryItem(endpoint={"Address": destination, "ChannelType": "SMS"}, channel_type="SMS",
                        message_configuration={"SMSMessage": _sms(request, options["Language"])},
                        substitutions={"OTP.Code": [code], "OTP.Brand": [request["BrandName"]]},
                        event_attributes={"otp_reference_id": request["ReferenceId"]})
    result = Sender(ctx.service).send(app_id, [item])[0]
    return {"ApplicationId": app_id, "RequestId": ctx.request_id,
            "Result": {request["DestinationIdentity"]: result.message_result()}}


@operation("VerifyOTPMessage")
def verify_otp_message(ctx, application_id: str, verify_otp_message_request_parameters: dict) -> dict:
    request = verify_otp_message_request_parameters
    destination = e164(request["DestinationIdentity"], "DestinationIdentity")
    now = iso(ctx.service.clock.now())
    with ctx.store.write() as conn:
        app_id = require_app(conn, application_id)["Id"]
        key = and_(_C.app_id == app_id, _C.destination == destination, _C.reference_id == request["ReferenceId"])
        row = conn.execute(select(otp_codes).where(key).with_for_update()).first()
        if row is None or row.verified or row.attempts_left <= 0 or row.expires <= now:
            return {"Valid": False}
        digest = _digest(ctx, app_id, destination, request["ReferenceId"], request["Otp"])
        valid = hmac.compare_digest(digest, row.code_hash)
        change = {"verified": True} if valid else {"attempts_left": row.attempts_left - 1}
        conn.execute(update(otp_codes).where(key).values(**change))
    return {"Valid": valid}


def _options(request: dict) -> dict:
    if (request.get("Channel") or "").upper() != "SMS":
        raise BadRequest(f"Invalid Channel '{request.get('Channel')}': one-time passwords are sent by SMS only")
    if not request["BrandName"].strip() or len(request["BrandName"]) > MAX_BRAND:
        raise BadRequest(f"BrandName must have 1 to {MAX_BRAND} characters")
    if not request["ReferenceId"] or len(request["ReferenceId"]) > MAX_REFERENCE:
        raise BadRequest(f"ReferenceId must have 1 to {MAX_REFERENCE} characters")
    options = {}
    for name, (low, high, default) in RANGES.items():
        value = request.get(name)
        options[name] = default if value is None else value
        if not low <= options[name] <= high:
            raise BadRequest(f"{name} must be from {low} to {high}, not {value}")
    language = request.get("Language") or "en-US"
    if language.lower() not in _LANGUAGES:
        raise BadRequest(f"Unsupported Language '{language}': use one of {', '.join(MESSAGES)}")
    options["Language"] = _LANGUAGES[language.lower()]
    return options


def e164(number: str, member: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise BadRequest(f"{member} must be a phone number in E.164 format, such as +12065550100")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _sms(request: dict, language: str) -> dict:
    origination = request["OriginationIdentity"]
    sender = {"SenderId": origination} if _SENDER_ID.fullmatch(origination) else {"OriginationNumber": origination}
    message = {"Body": MESSAGES[language], "MessageType": "TRANSACTIONAL", **sender}
    message.update({k: request[k] for k in ("EntityId", "TemplateId") if request.get(k)})
    return message


def _digest(ctx, app_id: str, destination: str, reference_id: str, code: str) -> str:
    key = ctx.vault.derive_key("otp")
    return hmac.new(key, "\x00".join((app_id, destination, reference_id, code)).encode(), hashlib.sha256).hexdigest()


def _save(conn, ctx, app_id: str, destination: str, reference_id: str, code: str, now, options: dict) -> None:
    """Replace the destination's code for this reference id; drop the app's expired codes."""
    conn.execute(delete(otp_codes).where(_C.app_id == app_id, _C.expires <= iso(now)))
    conn.execute(delete(otp_codes).where(_C.app_id == app_id, _C.destination == destination,
                                         _C.reference_id == reference_id))
    conn.execute(otp_codes.insert().values(
        app_id=app_id, destination=destination, reference_id=reference_id,
        code_hash=_digest(ctx, app_id, destination, reference_id, code), created=iso(now),
        expires=iso(now + timedelta(minutes=options["ValidityPeriod"])),
        attempts_left=options["AllowedAttempts"], verified=False))
