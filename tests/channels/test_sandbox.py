"""The sandbox transport and its outbox (on SQLite and PostgreSQL), `clarion outbox`, the
registry that builds transports from the configuration, and the interface's fit to the model."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
import pytest
from click.testing import CliRunner

from clarion.channels import base, outbox
from clarion.channels.base import (PERMANENT_FAILURE, RECIPIENT_REFUSED, SUCCESSFUL, ConfigurationError, OutboundCustom,
                                   OutboundEmail, OutboundPush, OutboundSms, OutboundVoice)
from clarion.channels.registry import Channels, load_webhook_secret
from clarion.channels.sandbox import SandboxTransport
from clarion.channels.smtp import SmtpTransport
from clarion.cli import main
from clarion.protocol import model

from ..conftest import make_settings


def send(transport, messages):
    return asyncio.run(transport.send_batch(messages))


def email(i: int, to: str | None = None, app_id: str = "app-1") -> OutboundEmail:
    return OutboundEmail(message_id=f"e-{i}", to=to or f"user{i}@example.org", from_address="shop@example.com",
                         subject=f"Order {i} shipped", text=f"Hi {i}", html=f"<p>Hi {i}</p>", app_id=app_id,
                         headers=[("X-Campaign", "spring")], list_unsubscribe="<https://example.com/u>")


def test_delivery_statuses_and_result_members_are_the_models():
    pinpoint = model.load()
    assert set(base.DELIVERY_STATUSES) == set(pinpoint.shape("DeliveryStatus").enum)
    members = set(pinpoint.shape("EndpointMessageResult").members) - {"Address"}
    result = base.DeliveryResult(SUCCESSFUL, 200, "MessageId: x", "x", updated_token="t")
    assert set(result.to_wire()) == members
    assert set(result.to_wire()) == set(pinpoint.shape("MessageResult").members)


def test_sandbox_records_every_channel_durably(service):
    sandbox = {kind: SandboxTransport(service.store, _clock(), kind)
               for kind in ("email", "sms", "push", "voice", "custom")}
    results = send(sandbox["email"], [email(1), email(2), email(3, to="bounce@simulator.amazonses.com")])
    results += send(sandbox["sms"], [OutboundSms(message_id="s-1", destination="+15550100", body="Code 1234",
                                                 origination="+15559999", keyword="JOIN", app_id="app-1")])
    results += send(sandbox["push"], [OutboundPush(message_id="p-1", platform="GCM", token="tok-1", title="T",
                                                   body="B", data={"k": "v"}, app_id="APP-2")])
    results += send(sandbox["voice"], [OutboundVoice(message_id="v-1", destination="+15550101",
                                                     body="<speak>Hello</speak>", language_code="en-US",
                                                     voice_id="Joanna", app_id="app-1")])
    results += send(sandbox["custom"], [OutboundCustom(message_id="c-1", delivery_uri="https://hooks.example.com/x",
                                                       endpoints={"ep": {"Address": "a"}}, data="d", app_id="app-1")])
    assert [r.status for r in results] == [SUCCESSFUL] * 2 + [PERMANENT_FAILURE] + [SUCCESSFUL] * 4
    assert (results[2].status_code, results[2].reason) == (550, RECIPIENT_REFUSED)

    with service.store.read() as conn:
        rows = outbox.recent(conn, limit=100)
        assert [r["channel"] for r in rows] == ["email"] * 3 + ["sms", "push", "voice", "custom"]
        first = rows[0]
        assert (first["address"], first["message_id"], first["app_id"]) == ("user1@example.org", "e-1", "app-1")
        assert first["created"] == "2024-05-01T12:00:00.000Z"
        assert first["content"] == {
            "to": "user1@example.org", "from_address": "shop@example.com", "subject": "Order 1 shipped",
            "text": "Hi 1", "html": "<p>Hi 1</p>", "list_unsubscribe": "<https://example.com/u>",
            "list_unsubscribe_one_click": False,
            "headers": [["X-Campaign", "spring"], ["List-Unsubscribe", "<https://example.com/u>"]]}
        assert rows[3]["content"]["keyword"] == "JOIN"
        assert rows[4]["app_id"] == "app-2"
        assert rows[4]["content"]["payload"]["data"]["pinpoint.notification.title"] == "T"  # what FCM would get
        assert rows[5]["content"]["body"] == "<speak>Hello</speak>"
        assert outbox.recent(conn, channel="email", address="user2@example.org")[0]["message_id"] == "e-2"
        assert [r["message_id"] for r in outbox.recent(conn, channel="email", limit=2)] == ["e-2", "e-3"]
        assert outbox.count(conn, app_id="APP-1") == 6


def test_deleting_the_app_clears_its_outbox(service, client, app_id):
    send(SandboxTransport(service.store, service.clock, "email"), [email(1, app_id=app_id), email(2, app_id="other")])
    client.delete_app(ApplicationId=app_id)
    with service.store.read() as conn:
        assert [r["message_id"] for r in outbox.recent(conn)] == ["e-2"]


def test_outbox_cli(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    channels_store = Channels(settings, _store(settings), _clock())
    try:
        channels_store.send(channels_store.email, [email(i) for i in range(5)])
        channels_store.send(channels_store.sms, [OutboundSms(message_id="s-1", destination="+15550100", body="Hi")])
    finally:
        channels_store.close()
        channels_store.store.close()
    monkeypatch.delenv("CLARION_DATABASE_URL", raising=False)
    runner = CliRunner()
    data_dir = str(settings.data_dir)

    as_json = runner.invoke(main, ["outbox", "--data-dir", data_dir, "--json", "--channel", "email", "--limit", "2"])
    assert as_json.exit_code == 0, as_json.output
    records = orjson.loads(as_json.output)
    assert [r["message_id"] for r in records] == ["e-3", "e-4"]
    assert records[0]["content"]["subject"] == "Order 3 shipped"

    table = runner.invoke(main, ["outbox", "--data-dir", data_dir, "--to", "+15550100"], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "+15550100" in table.output and "s-1" in table.output and "Order" not in table.output

    empty = runner.invoke(main, ["outbox", "--data-dir", data_dir, "--to", "nobody@example.org"])
    assert "No matching messages." in empty.output
    bad = runner.invoke(main, ["outbox", "--data-dir", data_dir, "--channel", "fax"])
    assert bad.exit_code == 2


def test_registry_builds_transports_from_the_configuration(tmp_path):
    settings = replace(make_settings(tmp_path), email_transport="smtp://127.0.0.1:2525?pool=2",
                       sms_transport="twilio://AC1:tok@api.twilio.com")
    channels = Channels(settings, _store(settings), _clock(), webhook_secret="s")
    assert isinstance(channels.email, SmtpTransport) and channels.email.config.pool == 2
    assert channels.sms.provider.name == "twilio"
    assert isinstance(channels.voice, SandboxTransport) and channels.voice.channel == "voice"
    assert channels.transport("custom") is channels.custom
    with pytest.raises(ConfigurationError):
        Channels(replace(settings, email_transport="sendmail:///usr/sbin/sendmail"), None, _clock())
    with pytest.raises(ConfigurationError):
        Channels(replace(settings, sms_transport="webhook+https://h/p"), None, _clock())
    channels.store.close()


def test_push_transports_follow_the_apps_channel_credentials(tmp_path):
    settings = make_settings(tmp_path)
    channels = Channels(settings, _store(settings), _clock(), webhook_secret="s")
    gcm = {"ApiKey": "key-1"}
    first = channels.push_transport("App-1", "GCM", {"DefaultAuthenticationMethod": "KEY"}, gcm)
    assert channels.push_transport("app-1", "GCM", {"DefaultAuthenticationMethod": "KEY"}, dict(gcm)) is first
    changed = channels.push_transport("app-1", "GCM", {}, {"ApiKey": "key-2"})
    assert changed is not first and changed.api_key == "key-2"
    assert channels.push_transport("app-1", "BAIDU", {}, {"ApiKey": "k", "SecretKey": "s"}).channel == "push"
    sandboxed = Channels(settings, channels.store, _clock(), push="sandbox", webhook_secret="s")
    transport = sandboxed.push_transport("app-1", "APNS", {}, {"TokenKey": "k"})
    results = sandboxed.send(transport, [OutboundPush(message_id="p", platform="APNS", token="t", body="b")])
    assert results[0].status == SUCCESSFUL
    for c in (channels, sandboxed):
        c.close()
    channels.store.close()


def test_webhook_secret_is_created_once_and_kept_private(tmp_path):
    secret = load_webhook_secret(tmp_path)
    assert len(secret) >= 40 and load_webhook_secret(tmp_path) == secret
    assert (tmp_path / "webhook.secret").stat().st_mode & 0o777 == 0o600


def _store(settings):
    from clarion.store import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    store.migrate()
    return store


def _clock():
    from datetime import datetime, timezone

    from clarion.clock import FixedClock

    return FixedClock(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
