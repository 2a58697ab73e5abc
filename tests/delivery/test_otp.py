"""SendOTPMessage / VerifyOTPMessage through boto3, with a clock the test moves."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import botocore.exceptions
import pytest
from sqlalchemy import select

from clarion.clock import FixedClock
from clarion.service import build
from clarion.store.schema import otp_codes
from tests.conftest import make_settings

from .helpers import enable_sms, sent

DESTINATION = "+12065550142"


@pytest.fixture
def clock():
    return FixedClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def service(tmp_path, database_url, clock):
    svc = build(make_settings(tmp_path, database_url), clock=clock)
    yield svc
    svc.close()


def send_otp(client, app_id, reference="login-1", **extra):
    request = {"BrandName": "ExampleCorp", "Channel": "SMS", "DestinationIdentity": DESTINATION,
               "OriginationIdentity": "+12065550100", "ReferenceId": reference, **extra}
    return client.send_otp_message(ApplicationId=app_id, SendOTPMessageRequestParameters=request)["MessageResponse"]


def verify(client, app_id, code, reference="login-1", destination=DESTINATION) -> bool:
    answer = client.verify_otp_message(ApplicationId=app_id, VerifyOTPMessageRequestParameters={
        "DestinationIdentity": destination, "Otp": code, "ReferenceId": reference})
    return answer["VerificationResponse"]["Valid"]


def last_code(service) -> str:
    body = sent(service, "sms")[-1]["content"]["body"]
    return re.search(r"\d{5,8}", body).group(0)


def test_code_is_sent_with_the_brand_and_verifies_once(client, service, app_id):
    enable_sms(client, app_id)
    response = send_otp(client, app_id, EntityId="PE1", TemplateId="TPL1")
    result = response["Result"][DESTINATION]
    assert result["DeliveryStatus"] == "SUCCESSFUL" and response["ApplicationId"] == app_id
    [row] = sent(service, "sms")
    body = row["content"]["body"]
    assert re.fullmatch(r"This is your One Time Password: \d{6} from ExampleCorp", body)
    assert (row["content"]["origination"], row["content"]["entity_id"], row["content"]["template_id"]) == \
        ("+12065550100", "PE1", "TPL1")
    code = last_code(service)
    with service.store.read() as conn:
        stored = conn.execute(select(otp_codes.c.code_hash)).scalar_one()
    assert code not in stored and len(stored) == 64  # only an HMAC is kept
    assert verify(client, app_id, code, reference="other") is False
    assert verify(client, app_id, code, destination="+12065550143") is False
    assert verify(client, app_id, code) is True
    assert verify(client, app_id, code) is False  # a code verifies once


def test_wrong_codes_use_up_the_allowed_attempts(client, service, app_id):
    enable_sms(client, app_id)
    send_otp(client, app_id, AllowedAttempts=2, CodeLength=8)
    code = last_code(service)
    assert len(code) == 8
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    assert verify(client, app_id, wrong) is False
    assert verify(client, app_id, wrong) is False
    assert verify(client, app_id, code) is False  # no attempts left, even for the right code


def test_codes_expire_and_a_new_code_replaces_the_old(client, service, app_id, clock):
    enable_sms(client, app_id)
    send_otp(client, app_id, ValidityPeriod=5)
    first = last_code(service)
    clock.advance(minutes=5, seconds=1)
    assert verify(client, app_id, first) is False
    send_otp(client, app_id, Language="de-DE")
    second = last_code(service)
    assert sent(service, "sms")[-1]["content"]["body"] == f"Dies ist Ihr Einmalpasswort: {second} von ExampleCorp"
    if second != first:
        assert verify(client, app_id, first) is False
    clock.advance(minutes=14)
    assert verify(client, app_id, second) is True


@pytest.mark.parametrize("change, words", [
    ({"Channel": "EMAIL"}, "SMS only"),
    ({"CodeLength": 4}, "CodeLength"),
    ({"ValidityPeriod": 61}, "ValidityPeriod"),
    ({"AllowedAttempts": 0}, "AllowedAttempts"),
    ({"BrandName": "B" * 21}, "BrandName"),
    ({"DestinationIdentity": "not a number"}, "E.164"),
    ({"Language": "xx-XX"}, "Language"),
])
def test_bad_requests_are_refused_and_send_nothing(client, service, app_id, change, words):
    enable_sms(client, app_id)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        send_otp(client, app_id, **change)
    assert raised.value.response["Error"]["Code"] == "BadRequestException"
    assert words in raised.value.response["Error"]["Message"]
    assert sent(service, "sms") == []
