"""PhoneNumberValidate, offline, with libphonenumber (the `phonenumbers` package).

Pinpoint asks carriers; Clarion answers from libphonenumber's metadata, so `Carrier`, `City`
and `Timezone` appear only where that metadata knows them (carrier names for mobile ranges of
many countries; none for North America, where numbers are ported freely). Pinpoint itself
stopped returning City/Timezone for US and Canadian numbers; Clarion gives what it knows. Choices:
- `CleansedPhoneNumberNational` is the national significant number, digits only
  ("2065550142"), as in Pinpoint's examples.
- libphonenumber cannot tell mobile from landline in North America (FIXED_LINE_OR_MOBILE):
  Clarion answers MOBILE there, so SMS sign-up flows keep working. Toll-free, premium, shared
  cost, personal, pager, UAN, voicemail and unknown types are OTHER. PREPAID is never known.
- A number that parses but is not valid keeps its cleansed forms and country, with
  PhoneType INVALID and nothing else (like Pinpoint's example); one that does not parse at all
  only echoes the input.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from ..protocol.errors import BadRequest
from . import operation

_TYPES = {  # libphonenumber type -> (PhoneType, PhoneTypeCode)
    PhoneNumberType.MOBILE: ("MOBILE", 0),
    PhoneNumberType.FIXED_LINE_OR_MOBILE: ("MOBILE", 0),
    PhoneNumberType.FIXED_LINE: ("LANDLINE", 1),
    PhoneNumberType.VOIP: ("VOIP", 2),
}
_INVALID = ("INVALID", 3)
_OTHER = ("OTHER", 4)


@operation("PhoneNumberValidate")
def phone_number_validate(ctx, number_validate_request: dict) -> dict:
    original = number_validate_request.get("PhoneNumber")
    if not original:
        raise BadRequest("PhoneNumber is required")
    region = number_validate_request.get("IsoCountryCode")
    response = {"OriginalPhoneNumber": original}
    if region:
        response["OriginalCountryCodeIso2"] = region
    try:
        number = phonenumbers.parse(original, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return _typed(response, _INVALID)
    valid = phonenumbers.is_valid_number(number)
    response.update(_identity(number, valid))
    if not valid:
        return _typed(response, _INVALID)
    response.update(_whereabouts(number))
    return _typed(response, _TYPES.get(phonenumbers.number_type(number), _OTHER))


def _typed(response: dict, kind: tuple[str, int]) -> dict:
    return {**response, "PhoneType": kind[0], "PhoneTypeCode": kind[1]}


def _identity(number, valid: bool) -> dict:
    """Cleansed forms and country."""
    region = phonenumbers.region_code_for_number(number) if valid else None
    region = region or phonenumbers.region_code_for_country_code(number.country_code)
    identity = {"CleansedPhoneNumberE164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                "CleansedPhoneNumberNational": phonenumbers.national_significant_number(number),
                "CountryCodeNumeric": str(number.country_code)}
    if region and region != phonenumbers.UNKNOWN_REGION:
        identity["CountryCodeIso2"] = region
        country = _country_name(phonenumbers.example_number(region) or number)
        if country:
            identity["Country"] = country
    return identity


def _metadata():
    """libphonenumber's carrier, geocoder and time-zone data: about 100 MB once loaded, so it
    is imported by the first PhoneNumberValidate, not by every process that never needs it."""
    from phonenumbers import carrier, geocoder, timezone

    return carrier, geocoder, timezone


def _country_name(number) -> str:
    return _metadata()[1].country_name_for_number(number, "en")


def _whereabouts(number) -> dict:
    """Carrier, city and time zone, where libphonenumber's metadata knows them."""
    carrier, _, timezone = _metadata()
    found = {"Carrier": carrier.name_for_number(number, "en")}
    found["City"] = _city(number)
    zones = timezone.time_zones_for_number(number)
    if len(zones) == 1 and zones[0] != timezone.UNKNOWN_TIMEZONE:
        found["Timezone"] = zones[0]
    return {k: v for k, v in found.items() if v}


def _city(number) -> str:
    """The place libphonenumber names, when it is finer than the country. North American
    descriptions are "City, ST" or just a state, which is no city."""
    geocoder = _metadata()[1]
    place = geocoder.description_for_number(number, "en")
    if not place or place == geocoder.country_name_for_number(number, "en"):
        return ""
    if number.country_code == 1:
        return place.split(", ")[0] if ", " in place else ""
    return place
