"""SigV4: what a live server accepts and refuses, and the canonical request checked against
botocore's own signer.

Refusals are 403 with API Gateway's error types (docs/security.md). Requests are signed by
botocore; the tampering tests change a request after it was signed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.config
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from clarion.protocol import sigv4
from clarion.protocol.errors import InvalidSignature

from .samples import ARN
from .wire import Wire, error_of

AUTH_ERRORS = {"MissingAuthenticationTokenException", "UnrecognizedClientException",
               "InvalidSignatureException", "IncompleteSignatureException"}


@pytest.fixture
def wire(server):
    w = Wire(server)
    yield w
    w.close()


def refused(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 403, response.text
    return error_of(response, AUTH_ERRORS)


def tampered(prepared, **changes):
    """The signed request with some parts changed afterwards (httpx recomputes Content-Length)."""
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    return dataclasses.replace(prepared, headers=changes.pop("headers", headers), **changes)


# -- refusals ---------------------------------------------------------------------------------------

def test_a_wrong_secret_is_refused(wire, server):
    key_id, _ = server.service.root_credentials
    error_type, message = refused(wire.request("GET", "/v1/apps", key=(key_id, "not-the-secret")))
    assert error_type == "InvalidSignatureException" and "signature" in message


def test_an_unknown_key_is_refused(wire):
    error_type, _ = refused(wire.request("GET", "/v1/apps", key=("AKIDUNKNOWN000000000", "whatever")))
    assert error_type == "UnrecognizedClientException"


def test_boto3_with_a_wrong_secret_gets_a_client_error(server):
    bad = server.client(server.service.root_credentials[0], "wrong-secret")
    with pytest.raises(ClientError) as error:
        bad.get_apps()
    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("skew", [timedelta(minutes=-20), timedelta(minutes=20)], ids=["late", "early"])
def test_a_request_dated_20_minutes_off_is_refused(wire, monkeypatch, skew):
    signing_time = datetime.now(timezone.utc).replace(tzinfo=None) + skew
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signing_time)
    error_type, message = refused(wire.request("GET", "/v1/apps"))
    assert error_type == "InvalidSignatureException" and "expired" in message


def test_a_request_without_authorization_is_refused(server):
    response = httpx.get(f"{server.url}/v1/apps")
    assert refused(response)[0] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("authorization", [
    "Basic dXNlcjpwYXNz",
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/mobiletargeting/aws4_request",
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
])
def test_an_incomplete_authorization_header_is_refused(server, authorization):
    response = httpx.get(f"{server.url}/v1/apps", headers={"Authorization": authorization,
                                                          "X-Amz-Date": "20240101T000000Z"})
    assert refused(response)[0] == "IncompleteSignatureException"


def test_a_signature_for_another_service_is_refused(wire, server):
    prepared = wire.prepare("GET", "/v1/apps")
    auth = prepared.headers["Authorization"].replace("/mobiletargeting/", "/s3/")
    response = wire.send(tampered(prepared, headers=prepared.headers | {"Authorization": auth}))
    assert refused(response)[0] == "InvalidSignatureException"


def test_a_tampered_body_is_refused(wire, client):
    prepared = wire.prepare("POST", "/v1/apps", body={"Name": "signed"})
    response = wire.send(tampered(prepared, body=b'{"Name": "tampered"}'))
    assert refused(response)[0] == "InvalidSignatureException"
    assert [a["Name"] for a in client.get_apps()["ApplicationsResponse"]["Item"]] == []


def test_a_tampered_path_is_refused(wire, app_id, client):
    other = client.create_app(CreateApplicationRequest={"Name": "other"})["ApplicationResponse"]["Id"]
    prepared = wire.prepare("DELETE", f"/v1/apps/{app_id}")
    response = wire.send(tampered(prepared, url=prepared.url.replace(app_id, other)))
    assert refused(response)[0] == "InvalidSignatureException"
    assert client.get_app(ApplicationId=other)["ApplicationResponse"]["Id"] == other


def test_a_tampered_query_is_refused(wire):
    prepared = wire.prepare("GET", "/v1/apps", "page-size=1")
    response = wire.send(tampered(prepared, url=prepared.url.replace("page-size=1", "page-size=2")))
    assert refused(response)[0] == "InvalidSignatureException"
    response = wire.send(tampered(prepared, url=prepared.url + "&token=extra"))
    assert refused(response)[0] == "InvalidSignatureException"


def test_a_tampered_signed_header_is_refused(wire):
    prepared = wire.prepare("GET", "/v1/apps", headers={"X-Clarion-Note": "signed"})
    headers = prepared.headers | {"X-Clarion-Note": "changed"}
    assert refused(wire.send(tampered(prepared, headers=headers)))[0] == "InvalidSignatureException"


def test_a_content_hash_that_does_not_match_the_body_is_refused(wire):
    prepared = wire.prepare("POST", "/v1/apps", body={"Name": "x"},
                            headers={"X-Amz-Content-SHA256": "0" * 64})
    error_type, message = refused(wire.send(prepared))
    assert error_type == "InvalidSignatureException" and "x-amz-content-sha256" in message


# -- what is accepted -------------------------------------------------------------------------------

def test_headers_signed_and_sent_in_mixed_case(wire, server):
    prepared = wire.prepare("POST", "/v1/apps", body={"Name": "mixed"},
                            headers={"X-CLARION-Note": "Some   Value", "cOnTeNt-TyPe": "application/json"})
    headers = {("".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(k))): v
               for k, v in prepared.headers.items()}
    response = wire.send(tampered(prepared, headers=headers))
    assert response.status_code == 201, response.text


def test_a_request_with_its_content_hash(wire):
    body = b'{"Name": "hashed"}'
    prepared = wire.prepare("POST", "/v1/apps", body=body,
                            headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert wire.send(prepared).status_code == 201


def test_percent_encoded_labels_are_signed_as_sdks_sign_them(client):
    """The label is matched and checked on the raw path: an ARN, a user id with spaces, an id
    that does not exist (so the handler runs and answers its own 404)."""
    with pytest.raises(ClientError) as error:
        client.get_app(ApplicationId="no such/app:x+y é")
    assert error.value.response["Error"]["Code"] == "NotFoundException"
    for call in (lambda: client.tag_resource(ResourceArn=ARN, TagsModel={"tags": {"k": "v"}}),
                 lambda: client.list_tags_for_resource(ResourceArn=ARN),
                 lambda: client.get_user_endpoints(ApplicationId="app", UserId="user one+two")):
        try:
            call()
        except ClientError as error:  # whatever the handler says, the signature was accepted
            assert error.response["Error"]["Code"] not in AUTH_ERRORS


def test_query_strings_with_repeated_and_unsorted_keys(wire, client):
    # Unknown parameters are ignored, but they are signed like any other.
    for query in ("page-size=5&page-size=6", "page-size=10&page-size=3", "zeta=1&alpha=%2F%20x&page-size=3&alpha=0"):
        response = wire.request("GET", "/v1/apps", query)
        assert response.status_code == 200, response.text
    try:
        client.untag_resource(ResourceArn=ARN, TagKeys=["b", "a", "a b", "c&d=e"])
    except ClientError as error:
        assert error.response["Error"]["Code"] not in AUTH_ERRORS


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2"])
def test_the_region_comes_from_the_credential_scope(server, wire, region):
    key_id, secret = server.service.root_credentials
    client = boto3.client("pinpoint", endpoint_url=server.url, region_name=region, aws_access_key_id=key_id,
                          aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))
    assert client.get_apps()["ApplicationsResponse"]["Item"] == []
    assert wire.request("GET", "/v1/apps", region=region).status_code == 200


# -- canonicalisation, against botocore's own canonical request --------------------------------------

class RecordingSigV4(SigV4Auth):
    def canonical_request(self, request):
        self.recorded = super().canonical_request(request)
        return self.recorded


REQUESTS = [
    ("GET", "/v1/apps", "", b"", {}),
    ("GET", "/v1/apps", "token=abc%2Fdef%3D%3D&page-size=5", b"", {}),
    ("GET", "/v1/tags/arn%3Aaws%3Amobiletargeting%3Aus-east-1%3A000000000000%3Aapps%2Fabc%2Fcampaigns%2Fc1",
     "", b"", {}),
    ("DELETE", "/v1/tags/arn%3Aaws%3Amobiletargeting%3Aus-east-1%3A0%3Aapps%2Fabc",
     "tagKeys=b&tagKeys=a&tagKeys=a%20b&tagKeys=c%26d%3De", b"", {}),
    ("GET", "/v1/apps/app/users/user%20one%2Btwo%C3%A9", "", b"", {}),
    ("GET", "/v1/apps/app/kpis/daterange/kpi", "start-time=2024-05-06T07%3A08%3A09Z&end-time=&flag", b"", {}),
    ("GET", "/v1/apps/a~b/./x/../campaigns", "", b"", {}),
    ("PUT", "/v1/apps/app/endpoints/ep%201", "", '{"Address": "é@example.com"}'.encode(),
     {"Content-Type": "application/json", "X-Clarion-Note": "Some   spaced  value", "x-LOWER-upper": "v"}),
    ("POST", "/v1/apps", "", b'{"Name": "shop"}', {"X-Amz-Content-SHA256":
                                                    "8e6be8b1c0a0c8c3b7f1ec2b6c6c4bc2d1ad8ebf2e8d9cbd6ea0f4f3c8f4f0f4"}),
]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
@pytest.mark.parametrize("method,path,query,body,headers", REQUESTS)
def test_canonical_request_matches_botocore(method, path, query, body, headers, region):
    url = f"http://127.0.0.1:8080{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = RecordingSigV4(Credentials("AKIDCANON", "canon-secret"), "mobiletargeting", region)
    signer.add_auth(request)
    lines = signer.recorded.split("\n")
    assert sigv4.canonical_path(path) == lines[1]
    assert sigv4.canonical_query(query) == lines[2]
    # The whole canonical request (headers, signed list, payload hash) agrees iff the signature does.
    received = {k.lower(): v for k, v in request.headers.items()} | {"host": urlsplit(url).netloc}
    signed = sigv4.parse_authorization(received)
    assert (signed.access_key_id, signed.region) == ("AKIDCANON", region)
    if "x-amz-content-sha256" in received:
        with pytest.raises(InvalidSignature):  # a claimed hash that is not the body's
            sigv4.verify(signed, "canon-secret", method, path, query, received, body)
        return
    sigv4.verify(signed, "canon-secret", method, path, query, received, body)
    with pytest.raises(InvalidSignature):
        sigv4.verify(signed, "another-secret", method, path, query, received, body)


def test_an_unsigned_payload_is_refused(wire):
    """UNSIGNED-PAYLOAD belongs to S3: here it would let anyone change a signed request's body."""
    prepared = wire.prepare("POST", "/v1/apps", body={"Name": "x"},
                            headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    error_type, message = refused(wire.send(prepared))
    assert error_type == "InvalidSignatureException" and "UNSIGNED-PAYLOAD" in message


def test_repeated_headers_are_read_as_sigv4_joins_them():
    from clarion.protocol.gateway import Request

    scope = {"method": "GET", "path": "/v1/apps", "raw_path": b"/v1/apps", "query_string": b"",
             "headers": [(b"x-note", b"a"), (b"host", b"h"), (b"x-note", b"b")]}
    assert Request(scope, b"", "r").headers == {"x-note": "a,b", "host": "h"}
