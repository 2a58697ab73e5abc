"""PhoneNumberValidate through boto3 against a live server (offline, libphonenumber)."""

import pytest

from .conftest import LiveServer
from .test_endpoints import rejected


@pytest.fixture
def client(sqlite_service):
    """The operation touches no store: one backend is enough."""
    live = LiveServer(sqlite_service).start()
    yield live.client()
    live.stop()


def validate(client, number, country=None):
    request = {"PhoneNumber": number} | ({"IsoCountryCode": country} if country else {})
    answer = client.phone_number_validate(NumberValidateRequest=request)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    return answer["NumberValidateResponse"]


def test_a_mobile_number_with_its_carrier(client):
    assert validate(client, "+49 151 23456789") == {
        "OriginalPhoneNumber": "+49 151 23456789", "CleansedPhoneNumberE164": "+4915123456789",
        "CleansedPhoneNumberNational": "15123456789", "Country": "Germany", "CountryCodeIso2": "DE",
        "CountryCodeNumeric": "49", "Carrier": "T-Mobile", "Timezone": "Europe/Berlin",
        "PhoneType": "MOBILE", "PhoneTypeCode": 0}


def test_a_national_number_with_its_country_and_a_landline(client):
    answer = validate(client, "020 7946 0881", "GB")
    assert answer["CleansedPhoneNumberE164"] == "+442079460881"
    assert answer["CleansedPhoneNumberNational"] == "2079460881"
    assert answer["OriginalPhoneNumber"] == "020 7946 0881" and answer["OriginalCountryCodeIso2"] == "GB"
    assert (answer["PhoneType"], answer["PhoneTypeCode"]) == ("LANDLINE", 1)
    assert answer["City"] == "London" and answer["Timezone"] == "Europe/London"


def test_north_american_numbers(client):
    answer = validate(client, "+1 650-253-0000")
    assert answer["CleansedPhoneNumberE164"] == "+16502530000" and answer["CountryCodeIso2"] == "US"
    assert answer["Country"] == "United States" and answer["CountryCodeNumeric"] == "1"
    assert answer["City"] == "Mountain View" and answer["Timezone"] == "America/Los_Angeles"
    assert (answer["PhoneType"], answer["PhoneTypeCode"]) == ("MOBILE", 0)
    toll_free = validate(client, "+18005550100")
    assert (toll_free["PhoneType"], toll_free["PhoneTypeCode"]) == ("OTHER", 4)


def test_invalid_numbers(client):
    assert validate(client, "+440163296076") == {  # Pinpoint's own example of an invalid number
        "OriginalPhoneNumber": "+440163296076", "CleansedPhoneNumberE164": "+44163296076",
        "CleansedPhoneNumberNational": "163296076", "Country": "United Kingdom", "CountryCodeIso2": "GB",
        "CountryCodeNumeric": "44", "PhoneType": "INVALID", "PhoneTypeCode": 3}
    assert validate(client, "call me maybe", "US") == {
        "OriginalPhoneNumber": "call me maybe", "OriginalCountryCodeIso2": "US",
        "PhoneType": "INVALID", "PhoneTypeCode": 3}
    assert validate(client, "2065550100")["PhoneType"] == "INVALID"  # no country to read it in


def test_a_phone_number_is_required(client):
    rejected(lambda: client.phone_number_validate(NumberValidateRequest={"IsoCountryCode": "US"}),
             "PhoneNumber is required")
