"""Channels through boto3 against a live server, on both store backends: the ten channel kinds
round-trip Update/Get/Delete, credentials are write-only, Update merges, bad input is a 400."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import botocore.config
import pytest
from botocore import xform_name
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from clarion.clock import FixedClock
from clarion.store import channels as channel_store
from clarion.store.schema import channels as channels_table

IDENTITY = "arn:aws:ses:us-east-1:000000000000:identity/example.com"


def _pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _certificate(key, *, valid_days: int = 365) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Push Services: com.example.app")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=400))
            .not_valid_after(now + timedelta(days=valid_days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def secrets():
    """Well-formed credentials of every kind, generated once."""
    cert_key, token_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service_json = json.dumps({"type": "service_account", "project_id": "clarion-test", "private_key_id": "k1",
                               "private_key": _pem_key(rsa_key),
                               "client_email": "push@clarion-test.iam.gserviceaccount.com"})
    return {
        "certificate": {"Certificate": _certificate(cert_key), "PrivateKey": _pem_key(cert_key)},
        "token": {"TokenKey": _pem_key(token_key), "TokenKeyId": "ABC123DEFG", "TeamId": "TEAM123456",
                  "BundleId": "com.example.app"},
        "expired_certificate": {"Certificate": _certificate(cert_key, valid_days=-1), "PrivateKey": _pem_key(cert_key)},
        "other_key": _pem_key(other_key),
        "rsa_key": _pem_key(rsa_key),
        "service_json": service_json,
    }


def channel_requests(secrets) -> dict[str, tuple[dict, dict]]:
    """family -> (a valid request's settings, its write-only credentials)."""
    return {
        "Adm": ({}, {"ClientId": "amzn1.application-oa2-client.x1", "ClientSecret": "adm-client-secret-1"}),
        "Apns": ({}, secrets["certificate"]),
        "ApnsSandbox": ({}, secrets["token"]),
        "ApnsVoip": ({"DefaultAuthenticationMethod": "CERTIFICATE"}, secrets["certificate"]),
        "ApnsVoipSandbox": ({"DefaultAuthenticationMethod": "TOKEN"}, secrets["token"]),
        "Baidu": ({}, {"ApiKey": "baidu-api-key-1", "SecretKey": "baidu-secret-key-1"}),
        "Email": ({"FromAddress": "news@example.com", "Identity": IDENTITY, "ConfigurationSet": "clarion-events",
                   "RoleArn": "arn:aws:iam::000000000000:role/pinpoint-events"}, {}),
        "Gcm": ({}, {"ApiKey": "AIzaSyGcmServerKey-secret-1"}),
        "Sms": ({"SenderId": "Clarion", "ShortCode": "12345"}, {}),
        "Voice": ({}, {}),
    }


FAMILIES = ["Adm", "Apns", "ApnsSandbox", "ApnsVoip", "ApnsVoipSandbox", "Baidu", "Email", "Gcm", "Sms", "Voice"]
PLATFORMS = dict(zip(FAMILIES, ["ADM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "EMAIL",
                                "GCM", "SMS", "VOICE"]))


class Channel:
    """boto3 calls for one channel family: update(app, **request), get(app), delete(app)."""

    def __init__(self, client, family: str):
        self.client, self.family = client, family
        model = client.meta.service_model.operation_model(f"Update{family}Channel")
        self.request_member = model.input_shape.serialization["payload"]

    def _call(self, verb: str, app_id: str, **kwargs) -> dict:
        response = getattr(self.client, xform_name(f"{verb}{self.family}Channel"))(ApplicationId=app_id, **kwargs)
        return next(v for k, v in response.items() if k != "ResponseMetadata")

    def update(self, app_id: str, **request) -> dict:
        return self._call("Update", app_id, **{self.request_member: request})

    def get(self, app_id: str) -> dict:
        return self._call("Get", app_id)

    def delete(self, app_id: str) -> dict:
        return self._call("Delete", app_id)


@pytest.fixture
def raw_bodies(client):
    """Every raw response body the client receives: boto3 drops members the model lacks, so
    a leaked secret would be invisible in parsed responses."""
    bodies = []
    client.meta.events.register("after-call.pinpoint", lambda http_response, **_: bodies.append(http_response.content))
    return bodies


@pytest.fixture
def clock(service):
    """A clock that moves only when told, starting now (signatures are checked against it)."""
    service.clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    return service.clock


def _error(excinfo) -> tuple[int, str, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_channel_round_trips_and_never_returns_credentials(client, app_id, secrets, raw_bodies, family):
    settings, credentials = channel_requests(secrets)[family]
    channel = Channel(client, family)
    updated = channel.update(app_id, **settings, **credentials)

    assert updated["Platform"] == PLATFORMS[family] and updated["Id"] == PLATFORMS[family].lower()
    assert updated["ApplicationId"] == app_id and updated["Enabled"] is True and updated["IsArchived"] is False
    assert updated["Version"] == 1 and updated["CreationDate"] == updated["LastModifiedDate"]
    assert updated["HasCredential"] is bool(credentials)
    for member, value in settings.items():
        assert updated[member] == value
    assert channel.get(app_id) == updated
    summary = client.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"]
    assert list(summary) == [PLATFORMS[family]]
    assert summary[PLATFORMS[family]]["Version"] == 1
    assert summary[PLATFORMS[family]]["HasCredential"] is bool(credentials)

    assert channel.delete(app_id) == updated
    for call in (channel.get, channel.delete):
        with pytest.raises(client.exceptions.NotFoundException):
            call(app_id)
    assert client.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"] == {}
    leaked = [name for name, value in credentials.items() for body in raw_bodies if value.encode() in body]
    assert leaked == [] and all(b"BEGIN" not in body for body in raw_bodies)


def test_credentials_are_sealed_at_rest_and_loaded_for_senders(client, app_id, service):
    Channel(client, "Baidu").update(app_id, ApiKey="baidu-api-key-1", SecretKey="baidu-secret-key-1")
    with service.store.read() as conn:
        stored = conn.execute(channels_table.select().where(channels_table.c.app_id == app_id)).one()
        doc, credentials = channel_store.load(conn, service.vault, app_id, "baidu")
    assert "baidu-secret-key-1" not in stored.credentials and "baidu-secret-key-1" not in json.dumps(stored.doc)
    assert credentials == {"ApiKey": "baidu-api-key-1", "SecretKey": "baidu-secret-key-1"}
    assert doc["Platform"] == "BAIDU"


def test_update_merges_and_counts_versions(client, app_id, clock):
    sms = Channel(client, "Sms")
    first = sms.update(app_id, SenderId="Clarion", ShortCode="12345")
    clock.advance(seconds=5)
    second = sms.update(app_id, Enabled=False)
    assert second["SenderId"] == "Clarion" and second["ShortCode"] == "12345" and second["Enabled"] is False
    assert second["Version"] == 2 and second["CreationDate"] == first["CreationDate"]
    assert second["LastModifiedDate"] > first["LastModifiedDate"]
    clock.advance(seconds=5)
    third = sms.update(app_id, SenderId="Shop")
    assert (third["SenderId"], third["Enabled"], third["Version"]) == ("Shop", False, 3)
    assert sms.get(app_id) == third


def test_credentials_are_kept_unless_replaced(client, app_id, service, secrets):
    gcm = Channel(client, "Gcm")
    gcm.update(app_id, ApiKey="AIza-first-key")
    kept = gcm.update(app_id, Enabled=False)
    assert kept["HasCredential"] is True and kept["DefaultAuthenticationMethod"] == "KEY"
    replaced = gcm.update(app_id, ServiceJson=secrets["service_json"], DefaultAuthenticationMethod="TOKEN")
    assert replaced["HasFcmServiceCredentials"] is True and replaced["DefaultAuthenticationMethod"] == "TOKEN"
    with service.store.read() as conn:
        _, credentials = channel_store.load(conn, service.vault, app_id, "gcm")
    assert credentials == {"ApiKey": "AIza-first-key", "ServiceJson": secrets["service_json"]}


def test_apns_token_and_certificate_flags(client, app_id, secrets):
    apns = Channel(client, "Apns")
    token_only = apns.update(app_id, **secrets["token"])
    assert token_only["HasTokenKey"] is True and token_only["HasCredential"] is True
    assert "DefaultAuthenticationMethod" not in token_only
    both = apns.update(app_id, DefaultAuthenticationMethod="certificate", **secrets["certificate"])
    assert both["HasTokenKey"] is True and both["DefaultAuthenticationMethod"] == "CERTIFICATE"
    certificate_only = Channel(client, "ApnsSandbox").update(app_id, **secrets["certificate"])
    assert certificate_only["HasTokenKey"] is False and certificate_only["HasCredential"] is True


def _apns_bad_requests(secrets) -> dict[str, tuple[dict, str]]:
    token, certificate = secrets["token"], secrets["certificate"]
    return {
        "no credentials": ({"Enabled": True}, "Missing credentials"),
        "certificate without key": ({"Certificate": certificate["Certificate"]}, "missing PrivateKey"),
        "token set incomplete": ({"TokenKey": token["TokenKey"], "TeamId": token["TeamId"]}, "missing TokenKeyId"),
        "certificate not PEM": ({"Certificate": "MIIB-not-pem", "PrivateKey": certificate["PrivateKey"]},
                                "not a PEM-encoded X.509 certificate"),
        "key not PEM": ({"Certificate": certificate["Certificate"], "PrivateKey": "secret"}, "not a PEM-encoded"),
        "key of another certificate": ({"Certificate": certificate["Certificate"], "PrivateKey": secrets["other_key"]},
                                       "does not match"),
        "expired certificate": (secrets["expired_certificate"], "expired"),
        "RSA token key": ({**token, "TokenKey": secrets["rsa_key"]}, "P-256 EC private key"),
        "short key id": ({**token, "TokenKeyId": "ABC"}, "TokenKeyId"),
        "method without its credentials": ({**token, "DefaultAuthenticationMethod": "CERTIFICATE"},
                                           "CERTIFICATE needs Certificate, PrivateKey"),
        "unknown method": ({**token, "DefaultAuthenticationMethod": "PASSWORD"}, "Invalid DefaultAuthenticationMethod"),
    }


APNS_BAD_CASES = ["no credentials", "certificate without key", "token set incomplete", "certificate not PEM",
                  "key not PEM", "key of another certificate", "expired certificate", "RSA token key", "short key id",
                  "method without its credentials", "unknown method"]


@pytest.mark.parametrize("case", APNS_BAD_CASES)
def test_malformed_apns_credentials_are_rejected_and_change_nothing(client, app_id, secrets, case):
    request, message = _apns_bad_requests(secrets)[case]
    apns = Channel(client, "ApnsVoip")
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        apns.update(app_id, **request)
    assert message in _error(excinfo)[2]
    with pytest.raises(client.exceptions.NotFoundException):
        apns.get(app_id)


def test_a_disabled_apns_channel_needs_no_credentials_yet(client, app_id):
    disabled = Channel(client, "Apns").update(app_id, Enabled=False)
    assert disabled["Enabled"] is False and disabled["HasCredential"] is False


def test_a_rejected_update_leaves_the_channel_as_it_was(client, app_id, secrets):
    apns = Channel(client, "Apns")
    before = apns.update(app_id, **secrets["certificate"])
    with pytest.raises(client.exceptions.BadRequestException):
        apns.update(app_id, TokenKey="not a key", TokenKeyId="ABC123DEFG", TeamId="TEAM123456", BundleId="com.x.y")
    assert apns.get(app_id) == before


@pytest.mark.parametrize("family, request_, message", [
    ("Email", {"FromAddress": "not an address", "Identity": IDENTITY}, "FromAddress"),
    ("Email", {"FromAddress": "news@example.com", "Identity": "example.com"}, "Identity must be the ARN"),
    ("Email", {"FromAddress": "news@example.com", "Identity": IDENTITY, "RoleArn": "role"}, "RoleArn"),
    ("Sms", {"SenderId": "ThisIsTooLong"}, "SenderId"),
    ("Sms", {"SenderId": "12345"}, "at least one letter"),
    ("Sms", {"ShortCode": "12ab"}, "ShortCode"),
    ("Gcm", {"Enabled": True}, "Missing credentials"),
    ("Gcm", {"ServiceJson": "{\"type\": \"authorized_user\"}"}, "service account"),
    ("Gcm", {"ServiceJson": "not json"}, "service account"),
    ("Gcm", {"ApiKey": "AIza-key", "DefaultAuthenticationMethod": "TOKEN"}, "TOKEN needs ServiceJson"),
    ("Adm", {"ClientId": " ", "ClientSecret": "secret"}, "ClientId must not be empty"),
])
def test_malformed_channel_settings_are_rejected(client, app_id, family, request_, message):
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        Channel(client, family).update(app_id, **request_)
    assert message in _error(excinfo)[2]


def test_model_required_members_are_enforced(server, app_id):
    """EmailChannelRequest requires FromAddress and Identity; boto3 is told not to check first."""
    key_id, secret = server.service.root_credentials
    client = boto3.client("pinpoint", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key_id,
                          aws_secret_access_key=secret, config=botocore.config.Config(parameter_validation=False))
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        Channel(client, "Email").update(app_id, FromAddress="news@example.com")
    assert "Identity" in _error(excinfo)[2]


def test_unknown_app_and_unconfigured_channel_are_404(client, app_id):
    email = Channel(client, "Email")
    for call in (lambda: email.get("0" * 32), lambda: email.delete("0" * 32),
                 lambda: email.update("0" * 32, FromAddress="a@example.com", Identity=IDENTITY),
                 lambda: client.get_channels(ApplicationId="0" * 32)):
        with pytest.raises(client.exceptions.NotFoundException) as excinfo:
            call()
        assert "Application not found" in _error(excinfo)[2]
    with pytest.raises(client.exceptions.NotFoundException):
        email.get(app_id)
    assert client.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"] == {}


def test_get_channels_summarises_each_configured_channel(client, app_id, secrets):
    Channel(client, "Email").update(app_id, FromAddress="news@example.com", Identity=IDENTITY)
    Channel(client, "Apns").update(app_id, **secrets["token"])
    Channel(client, "Sms").update(app_id, Enabled=False)
    channels = client.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"]
    assert sorted(channels) == ["APNS", "EMAIL", "SMS"]
    assert channels["SMS"]["Enabled"] is False and channels["APNS"]["HasCredential"] is True
    assert "FromAddress" not in channels["EMAIL"] and channels["EMAIL"]["Id"] == "email"


def test_deleting_the_app_removes_its_channels(client, app_id, service):
    Channel(client, "Gcm").update(app_id, ApiKey="AIza-key")
    client.delete_app(ApplicationId=app_id)
    with service.store.read() as conn:
        assert channel_store.load(conn, service.vault, app_id, "gcm") is None
