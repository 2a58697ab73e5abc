"""Shared fixtures: a fresh service per test, a live server on a free port, boto3 clients,
and the store backends (SQLite always; PostgreSQL from a throw-away cluster)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import boto3
import botocore.config
import psycopg
import pytest
import uvicorn

from clarion.config import Settings
from clarion.protocol.http import server_config
from clarion.service import build

from . import pg

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server for the session, or a skip when none can be had locally.
    CI sets CLARION_TEST_POSTGRES=required, which turns that skip into a failure."""
    url = os.environ.get("CLARION_TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        cluster = pg.Cluster().start()
    except (RuntimeError, OSError, Exception) as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        if os.environ.get("CLARION_TEST_POSTGRES") == "required":
            raise
        pytest.skip(f"no PostgreSQL available: {exc}")
    try:
        pg.wait_for(cluster.url)
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each store-backed test runs on both backends; on PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        return None  # the default: SQLite in the data dir
    base = request.getfixturevalue("postgres_url")
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}"


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    access_key_id="AKIDCLARIONTEST00001", secret_access_key="test-secret-key-0123456789",
                    region=REGION, **overrides)


@pytest.fixture
def service(tmp_path, database_url):
    svc = build(make_settings(tmp_path, database_url))
    yield svc
    svc.close()


@pytest.fixture
def sqlite_service(tmp_path):
    """For tests that do not touch the store's dialect-specific paths."""
    svc = build(make_settings(tmp_path))
    yield svc
    svc.close()


class LiveServer:
    """The service under uvicorn on a free loopback port, in a background thread."""

    def __init__(self, service):
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = service.asgi()
        config = server_config(self.app, host="127.0.0.1", port=self.port)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self, key_id: str | None = None, secret: str | None = None, service_name: str = "pinpoint"):
        key_id = key_id or self.service.root_credentials[0]
        secret = secret or self.service.root_credentials[1]
        return boto3.client(service_name, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret,
                            config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture
def server(service):
    live = LiveServer(service).start()
    yield live
    live.stop()


@pytest.fixture
def client(server):
    """A boto3 Pinpoint client signed with the root key, against a live server."""
    return server.client()


@pytest.fixture
def app_id(client):
    return client.create_app(CreateApplicationRequest={"Name": "test-app"})["ApplicationResponse"]["Id"]


@pytest.fixture
def timed_server(tmp_path, database_url, clock):
    """A live server whose domain clock moves only when the test says so; a module provides
    the `clock` fixture (a `clarion.clock.FixedClock`)."""
    svc = build(make_settings(tmp_path, database_url), clock=clock)
    live = LiveServer(svc).start()
    yield live
    live.stop()
    svc.close()
