"""Issue 2's acceptance flow, as a user runs it: boto3 and the AWS CLI against a live server.

Create an app, configure email, SMS, APNs and FCM channels, upsert 10,000 endpoints with
UpdateEndpointsBatch, read them back, list and delete a user's endpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def channel_settings() -> dict:
    token_key = _pem(ec.generate_private_key(ec.SECP256R1()))
    service_json = json.dumps({"type": "service_account", "project_id": "clarion-accept", "private_key_id": "k",
                               "private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                               "client_email": "push@clarion-accept.iam.gserviceaccount.com"})
    return {
        "email": {"FromAddress": "news@example.com", "Identity": "arn:aws:ses:us-east-1:000000000000:identity/example.com",
                  "Enabled": True},
        "sms": {"SenderId": "CLARION", "Enabled": True},
        "apns": {"TokenKey": token_key, "TokenKeyId": "ABC123DEFG", "TeamId": "TEAM123456",
                 "BundleId": "com.example.app", "DefaultAuthenticationMethod": "TOKEN", "Enabled": True},
        "gcm": {"ServiceJson": service_json, "DefaultAuthenticationMethod": "TOKEN", "Enabled": True},
    }


def endpoint(i: int) -> dict:
    item = {"Id": f"device-{i:05d}", "ChannelType": ["EMAIL", "SMS", "APNS", "GCM"][i % 4],
            "Address": f"user{i}@example.com" if i % 4 == 0 else f"addr-{i}",
            "Attributes": {"plan": ["pro" if i % 3 else "free"]}, "Metrics": {"visits": float(i % 50)},
            "Demographic": {"Platform": ["ios", "android", "web"][i % 3], "Timezone": "Europe/Paris"},
            "Location": {"Country": "FR", "Latitude": 48.86, "Longitude": 2.35}}
    if i % 10 == 0:
        item["User"] = {"UserId": f"user-{i // 100}", "UserAttributes": {"tier": ["gold"]}}  # 10 endpoints each
    return item


def test_boto3_acceptance_flow(client):
    app_id = client.create_app(CreateApplicationRequest={"Name": "acceptance"})["ApplicationResponse"]["Id"]
    settings = channel_settings()
    client.update_email_channel(ApplicationId=app_id, EmailChannelRequest=settings["email"])
    client.update_sms_channel(ApplicationId=app_id, SMSChannelRequest=settings["sms"])
    client.update_apns_channel(ApplicationId=app_id, APNSChannelRequest=settings["apns"])
    client.update_gcm_channel(ApplicationId=app_id, GCMChannelRequest=settings["gcm"])
    channels = client.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"]
    assert {"EMAIL", "SMS", "APNS", "GCM"} <= set(channels)
    apns = client.get_apns_channel(ApplicationId=app_id)["APNSChannelResponse"]
    assert apns["HasTokenKey"] is True and "TokenKey" not in apns

    items = [endpoint(i) for i in range(10_000)]
    for start in range(0, len(items), 100):
        response = client.update_endpoints_batch(ApplicationId=app_id,
                                                 EndpointBatchRequest={"Item": items[start:start + 100]})
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert response["MessageBody"]["Message"] == "Accepted"

    for i in (0, 1, 4321, 9999):
        got = client.get_endpoint(ApplicationId=app_id, EndpointId=items[i]["Id"])["EndpointResponse"]
        sent = items[i]
        assert got["Id"] == sent["Id"] and got["ChannelType"] == sent["ChannelType"]
        assert got["Address"] == sent["Address"] and got["Attributes"] == sent["Attributes"]
        assert got["Location"]["Latitude"] == 48.9 and got["Location"]["Longitude"] == 2.4  # one decimal
        assert got["EndpointStatus"] == "ACTIVE" and got["OptOut"] == "NONE" and 0 <= int(got["CohortId"]) <= 99

    user = client.get_user_endpoints(ApplicationId=app_id, UserId="user-42")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in user) == [f"device-{i:05d}" for i in range(4200, 4300, 10)]
    assert all(e["User"]["UserAttributes"] == {"tier": ["gold"]} for e in user)
    deleted = client.delete_user_endpoints(ApplicationId=app_id, UserId="user-42")["EndpointsResponse"]["Item"]
    assert len(deleted) == 10
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_endpoint(ApplicationId=app_id, EndpointId="device-04200")
    assert client.get_endpoint(ApplicationId=app_id, EndpointId="device-04201")["EndpointResponse"]["Id"]


def aws(server, *args: str) -> dict:
    """Run the AWS CLI the way a user would, with a credentials file and --endpoint-url."""
    key_id, secret = server.service.root_credentials
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_PROFILE", None)
    cli = Path(sys.executable).with_name("aws")
    done = subprocess.run([str(cli), "pinpoint", *args, "--endpoint-url", server.url, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli_acceptance_flow(server, tmp_path):
    app_id = aws(server, "create-app", "--create-application-request", "Name=cli-app")["ApplicationResponse"]["Id"]
    settings = channel_settings()
    for name, flag in (("email", "--email-channel-request"), ("sms", "--sms-channel-request"),
                       ("apns", "--apns-channel-request"), ("gcm", "--gcm-channel-request")):
        request = tmp_path / f"{name}.json"
        request.write_text(json.dumps(settings[name]))
        aws(server, f"update-{name}-channel", "--application-id", app_id, flag, f"file://{request}")
    assert {"EMAIL", "SMS", "APNS", "GCM"} <= set(aws(server, "get-channels", "--application-id", app_id)
                                                  ["ChannelsResponse"]["Channels"])
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"Item": [endpoint(i) for i in range(100)]}))
    accepted = aws(server, "update-endpoints-batch", "--application-id", app_id, "--endpoint-batch-request",
                   f"file://{batch}")
    assert accepted["MessageBody"]["Message"] == "Accepted"
    got = aws(server, "get-endpoint", "--application-id", app_id, "--endpoint-id", "device-00007")
    assert got["EndpointResponse"]["Address"] == "addr-7"
    users = aws(server, "get-user-endpoints", "--application-id", app_id, "--user-id", "user-0")
    assert len(users["EndpointsResponse"]["Item"]) == 10
    aws(server, "delete-user-endpoints", "--application-id", app_id, "--user-id", "user-0")
    assert len(aws(server, "get-apps")["ApplicationsResponse"]["Item"]) == 1
