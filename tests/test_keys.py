"""API keys: `clarion keys create | list | revoke` on a data dir, and what a live server on the
same data dir does with those keys (scopes, revocation); and where secrets must never appear."""

from __future__ import annotations

import configparser
import logging
import os
import re
import stat

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from sqlalchemy import select

from clarion.cli import main
from clarion.config import Settings
from clarion.service import build
from clarion.store.schema import keys as keys_table

from .conftest import LiveServer


def clarion(settings: Settings, *args: str, ok: bool = True):
    """Run the CLI on the service's data dir and store, with no credentials in the environment."""
    env = {"CLARION_DATABASE_URL": settings.database_url, "CLARION_ACCESS_KEY_ID": None,
           "CLARION_SECRET_ACCESS_KEY": None, "CLARION_DATA_DIR": None, "CLARION_MASTER_KEY": None}
    result = CliRunner().invoke(main, [*args, "--data-dir", str(settings.data_dir)], env=env)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def create_key(settings: Settings, *apps: str) -> tuple[str, str]:
    output = clarion(settings, "keys", "create", *[a for app in apps for a in ("--app", app)])
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(" = ") for line in output.splitlines())}
    return fields["aws_access_key_id"], fields["aws_secret_access_key"]


def error_code(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]


def new_app(client, name: str) -> str:
    return client.create_app(CreateApplicationRequest={"Name": name})["ApplicationResponse"]["Id"]


def test_a_key_scoped_to_one_app_cannot_touch_another(server, client):
    app_a, app_b = new_app(client, "a"), new_app(client, "b")
    scoped = server.client(*create_key(server.service.settings, app_a))
    assert scoped.get_app(ApplicationId=app_a)["ApplicationResponse"]["Id"] == app_a
    assert error_code(lambda: scoped.get_app(ApplicationId=app_b)) == ("ForbiddenException", 403)
    assert error_code(lambda: scoped.delete_app(ApplicationId=app_b)) == ("ForbiddenException", 403)
    assert client.get_app(ApplicationId=app_b)["ApplicationResponse"]["Id"] == app_b  # still there
    assert [a["Id"] for a in scoped.get_apps()["ApplicationsResponse"]["Item"]] == [app_a]
    assert error_code(lambda: scoped.create_app(CreateApplicationRequest={"Name": "c"})) == ("ForbiddenException", 403)
    assert sorted(a["Name"] for a in client.get_apps()["ApplicationsResponse"]["Item"]) == ["a", "b"]


def test_a_key_scoped_to_several_apps_sees_each_of_them(server, client):
    app_a, app_b, app_c = new_app(client, "a"), new_app(client, "b"), new_app(client, "c")
    scoped = server.client(*create_key(server.service.settings, app_a, app_c))
    assert sorted(a["Id"] for a in scoped.get_apps()["ApplicationsResponse"]["Item"]) == sorted([app_a, app_c])
    assert error_code(lambda: scoped.get_app(ApplicationId=app_b))[0] == "ForbiddenException"


def test_a_key_for_an_unknown_app_is_not_created(server, client):
    output = clarion(server.service.settings, "keys", "create", "--app", "0" * 32, ok=False)
    assert "no such app" in output
    assert "AKCL" not in clarion(server.service.settings, "keys", "list").replace(
        server.service.root_credentials[0], "")


def test_a_revoked_key_is_refused(server, client):
    settings = server.service.settings
    key_id, secret = create_key(settings)
    keyed = server.client(key_id, secret)
    assert keyed.get_apps()["ApplicationsResponse"]["Item"] == []
    assert clarion(settings, "keys", "revoke", key_id).strip() == f"revoked {key_id}"
    server.service.forget_keys()  # the service reuses a key lookup for up to 2 s
    assert error_code(keyed.get_apps) == ("UnrecognizedClientException", 403)
    assert "no active key" in clarion(settings, "keys", "revoke", key_id, ok=False)
    assert key_id not in clarion(settings, "keys", "list")
    row = next(line for line in clarion(settings, "keys", "list", "--all").splitlines() if key_id in line)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+Z", row)) == 2  # created, revoked


def test_keys_list_shows_ids_and_scopes_but_never_a_secret(server, client):
    settings = server.service.settings
    app_a = new_app(client, "a")
    scoped_id, scoped_secret = create_key(settings, app_a)
    open_id, open_secret = create_key(settings)
    listed = clarion(settings, "keys", "list")
    for key_id in (scoped_id, open_id, server.service.root_credentials[0]):
        assert key_id in listed
    assert app_a in listed and "all apps" in listed and "root" in listed
    for secret in (scoped_secret, open_secret, server.service.root_credentials[1]):
        assert secret not in listed


def test_secrets_are_never_logged(server, client, caplog):
    caplog.set_level(logging.DEBUG, logger="clarion")
    app_a, app_b = new_app(client, "a"), new_app(client, "b")
    key_id, secret = create_key(server.service.settings, app_a)
    scoped = server.client(key_id, secret)
    scoped.get_app(ApplicationId=app_a)
    error_code(lambda: scoped.get_app(ApplicationId=app_b))
    error_code(lambda: server.client(key_id, secret[::-1]).get_apps())
    server.app.access_log.flush()  # lines are written in batches
    access = [r.getMessage() for r in caplog.records if r.name == "clarion.access"]
    assert any(f"key={key_id}" in line for line in access), access  # the log is really captured
    for secret_value in (secret, server.service.root_credentials[1]):
        assert secret_value not in caplog.text
        assert not any(secret_value in r.getMessage() for r in caplog.records)


def test_secrets_are_not_stored_in_clear(server, client):
    key_id, secret = create_key(server.service.settings)
    with server.service.store.read() as conn:
        rows = conn.execute(select(keys_table)).all()
    stored = repr(rows)
    assert key_id in stored
    for secret_value in (secret, server.service.root_credentials[1]):
        assert secret_value not in stored


def test_the_sqlite_file_holds_no_secret_in_clear(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    service = build(settings)
    try:
        key_id, secret = create_key(settings)
        root_secret = service.root_credentials[1]
    finally:
        service.close()
    files = [p for p in settings.data_dir.iterdir() if p.name.startswith("clarion.db")]
    raw = b"".join(p.read_bytes() for p in files)
    assert key_id.encode() in raw  # the right files, readable
    assert secret.encode() not in raw and root_secret.encode() not in raw


def test_the_credentials_file_is_private_and_works_with_boto3(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data")
    service = build(settings)
    path = settings.data_dir / "credentials"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser.sections() == ["clarion"]
    assert (parser["clarion"]["aws_access_key_id"], parser["clarion"]["aws_secret_access_key"]) == \
        service.root_credentials
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    server = LiveServer(service).start()
    try:
        session = boto3.Session(profile_name="clarion", region_name="us-east-1")
        pinpoint = session.client("pinpoint", endpoint_url=server.url)
        app = pinpoint.create_app(CreateApplicationRequest={"Name": "from-profile"})["ApplicationResponse"]
        assert pinpoint.get_app(ApplicationId=app["Id"])["ApplicationResponse"]["Name"] == "from-profile"
    finally:
        server.stop()
        service.close()
    # A restart keeps the same root key and leaves the file as it was.
    before = path.read_bytes()
    again = build(settings)
    try:
        assert again.root_credentials == service.root_credentials and path.read_bytes() == before
    finally:
        again.close()


def test_the_cli_uses_the_same_root_key_as_the_server(server):
    """`clarion keys` on a data dir whose root key came from the environment does not make another."""
    settings = server.service.settings
    clarion(settings, "keys", "list")
    root_rows = [line for line in clarion(settings, "keys", "list").splitlines() if "root" in line]
    assert len(root_rows) == 1 and server.service.root_credentials[0] in root_rows[0]
    parser = configparser.ConfigParser()
    parser.read(settings.data_dir / "credentials")
    assert parser["clarion"]["aws_access_key_id"] == server.service.root_credentials[0]
