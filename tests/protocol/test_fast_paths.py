"""The protocol layer's shortcuts give exactly the answers of the general code they skip.

Each hot-path shortcut (the SDK-shaped Authorization header read by one regular expression,
the cached day key's HMAC written out, the labels-only request parser, undecoded path labels,
header decoding without repeats) is checked against the general path on the same input,
refusals included.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

import pytest

from clarion.protocol import codec, sigv4
from clarion.protocol.errors import BadRequest, IncompleteSignature, InvalidSignature, ServiceError
from clarion.protocol.gateway import decode_headers
from clarion.protocol.model import load

MODEL = load()
SIGNATURE = "f151908dea2a44bc530734b73b9b01d86c1f7f4a1e480238eccee568500a500b"
SDK = (f"AWS4-HMAC-SHA256 Credential=AKIDCLARIONBENCH0001/20261130/us-east-1/mobiletargeting/aws4_request, "
       f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}")


def outcome(call):
    """What a call answers: its value, or its refusal's type and message."""
    try:
        return call()
    except ServiceError as error:
        return type(error).__name__, error.message


AUTHORIZATIONS = [
    SDK,
    SDK.replace(", ", ","),  # no space after the commas
    SDK.replace("host;x-amz-date", "amz-sdk-invocation-id;amz-sdk-request;host;x-amz-date"),
    SDK.replace("us-east-1", "eu-west-1"),
    SDK.replace("host;x-amz-date", "x-amz-date"),  # host not signed
    SDK.replace("host;x-amz-date", "host;;x-amz-date"),
    SDK.replace("/mobiletargeting/", "/s3/"),
    SDK.replace("aws4_request", "aws4_reqest"),
    SDK.replace("20261130/", "2026-11-30/"),
    SDK.replace("AKIDCLARIONBENCH0001/", "AKID/EXTRA/"),
    SDK.replace("AKIDCLARIONBENCH0001", "AKID=ODD"),
    SDK.replace("AKIDCLARIONBENCH0001", "AKID ODD"),
    SDK.replace(", Signature=", ", Signature=", 1).replace(SIGNATURE, SIGNATURE.upper()),
    SDK.replace(SIGNATURE, "é"),
    SDK + " ",
    " " + SDK,
    SDK + ", Extra=1",
    SDK.replace("Credential=", "Credential =", 1),
    "AWS4-HMAC-SHA256  " + SDK.split(" ", 1)[1],
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc, "
    "Credential=AKID/20261130/us-east-1/mobiletargeting/aws4_request",  # another order
    "AWS4-HMAC-SHA256 Credential=AKID/20261130/us-east-1/mobiletargeting/aws4_request",
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
    "Basic dXNlcjpwYXNz",
    "",
]


@pytest.mark.parametrize("amz_date", ["20261130T095127Z", ""])
@pytest.mark.parametrize("authorization", AUTHORIZATIONS)
def test_the_sdk_authorization_shortcut_reads_headers_as_the_general_parser_does(authorization, amz_date):
    headers = {"host": "h", "authorization": authorization} | ({"x-amz-date": amz_date} if amz_date else {})
    fast = outcome(lambda: sigv4.parse_authorization(headers))
    general = outcome(lambda: sigv4._parse_any_authorization(authorization, headers)) if authorization else \
        ("MissingAuthenticationTokenException", "Missing Authentication Token")
    assert fast == general


def test_the_shortcut_is_taken_for_what_sdks_send():
    for authorization in AUTHORIZATIONS[:4]:
        assert sigv4._SDK_AUTHORIZATION.fullmatch(authorization)
    signed = sigv4.parse_authorization({"authorization": SDK, "x-amz-date": "20261130T095127Z"})
    assert signed == ("AKIDCLARIONBENCH0001", "20261130", "us-east-1", ("host", "x-amz-date"), SIGNATURE,
                      "20261130T095127Z")


def botocore_style_key(secret: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, "mobiletargeting", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@pytest.mark.parametrize("secret,date,region", [("bench-secret-key-0123456789abcdef", "20261130", "us-east-1"),
                                                ("s/+=é", "20240229", "ap-southeast-2"), ("", "19700101", "x")])
def test_the_day_key_signs_as_hmac_sha256_does(secret, date, region):
    key = botocore_style_key(secret, date, region)
    assert sigv4._day_key(secret, date, region).key == key
    for message in (b"", b"AWS4-HMAC-SHA256\n20261130T095127Z\nscope\nhash", bytes(range(256)) * 3):
        assert sigv4._day_key(secret, date, region).sign(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_a_bad_x_amz_date_is_refused_every_time():
    now = datetime(2026, 11, 30, 9, 51, 27, tzinfo=timezone.utc)
    good = sigv4.SignedRequest("K", "20261130", "us-east-1", ("host",), "s", "20261130T095127Z")
    sigv4.check_date(good, now)
    sigv4.check_date(good, now)  # the second time from the cache
    for bad in ("20261130T095127", "20261330T095127Z", "2026113OT095127Z"):
        for _ in range(2):  # a refusal is not remembered as a date
            with pytest.raises(IncompleteSignature, match="Invalid X-Amz-Date"):
                sigv4.check_date(good._replace(amz_date=bad), now)
    with pytest.raises(InvalidSignature, match="expired"):
        sigv4.check_date(good, now.replace(hour=10, minute=7))


def test_a_non_ascii_signature_is_an_invalid_signature():
    headers = {"host": "h", "x-amz-date": "20261130T095127Z", "authorization": SDK.replace(SIGNATURE, "é")}
    signed = sigv4.parse_authorization(headers)
    with pytest.raises(InvalidSignature):
        sigv4.verify(signed, "secret", "GET", "/v1/apps", "", headers, b"")


LABELS_ONLY = [name for name in MODEL.operation_names
               if all(m.serialization.get("location") == "uri" for m in MODEL.operation(name).input_shape.members.values())]


def general_parser(operation) -> codec.RequestParser:
    parser = codec.RequestParser(operation)
    parser.labels_only = None  # the member-by-member reading
    return parser


@pytest.mark.parametrize("name", LABELS_ONLY)
def test_the_labels_only_parser_answers_as_the_general_reading(name):
    operation = MODEL.operation(name)
    parser, general = codec.RequestParser(operation), general_parser(operation)
    assert parser.labels_only is not None
    wires = [m.serialization.get("name", n) for n, m in operation.input_shape.members.items()]
    labels = {wire: f"value of {wire} / é" for wire in wires}
    for query, body in (("", b""), ("page-size=3&x=y", b'{"ignored": true}')):
        assert parser(labels, query, body) == general(labels, query, body)
    for missing in wires:
        partial = {k: v for k, v in labels.items() if k != missing}
        assert outcome(lambda: parser(partial, "", b"")) == outcome(lambda: general(partial, "", b""))
        assert isinstance(outcome(lambda: parser(partial, "", b"")), tuple)  # refused, naming the label


def test_labels_only_operations_exist_and_others_read_every_member():
    assert {"GetApp", "DeleteApp", "GetEndpoint"} <= set(LABELS_ONLY)
    assert codec.RequestParser(MODEL.operation("GetApps")).labels_only is None
    assert codec.RequestParser(MODEL.operation("UpdateEndpoint")).labels_only is None


@pytest.mark.parametrize("path", ["/v1/apps/abc/endpoints/ep-1", "/v1/apps/abc/endpoints/ep%201%2Fx%C3%A9",
                                  "/v1/apps/abc/users/user+one", "/v1/tags/arn%3Aaws%3Amobiletargeting"])
def test_path_labels_are_decoded_only_when_encoded(path):
    from urllib.parse import unquote

    route, labels = MODEL.resolve("GET", path)
    match = route.pattern.fullmatch(path)
    assert labels == {label: unquote(value) for label, value in zip(route.labels, match.groups())}


@pytest.mark.parametrize("raw", [
    [(b"host", b"h"), (b"x-amz-date", b"d"), (b"authorization", b"a\xe9")],
    [(b"x-note", b"a"), (b"host", b"h"), (b"x-note", b"b"), (b"x-note", b"")],
    [],
])
def test_headers_decode_as_sigv4_reads_them(raw):
    expected: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        expected[key] = expected[key] + "," + text if key in expected else text
    assert decode_headers(raw) == expected


def test_a_missing_required_parameter_is_still_named():
    with pytest.raises(BadRequest, match="Missing required parameter application-id"):
        codec.parse_request(MODEL.operation("GetApp"), {}, "", b"")
