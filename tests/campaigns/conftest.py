"""Campaign runs end to end: a service with a fixed clock and no background runtime (the tests
tick the scheduler and run the jobs themselves), behind a live server, driven with boto3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from clarion.clock import FixedClock
from clarion.service import build

from ..conftest import LiveServer, make_settings
from .helpers import enable_email

NOW = datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)


@dataclass
class Env:
    service: object
    client: object
    app_id: str
    clock: FixedClock
    server: object


def make_env(tmp_path, database_url, **settings) -> Env:
    clock = FixedClock(NOW)
    service = build(make_settings(tmp_path, database_url, worker_threads=0, **settings), clock=clock)
    server = LiveServer(service).start()
    service.scheduler.stop()  # the tests tick it, with the fixed clock
    client = server.client()
    app_id = client.create_app(CreateApplicationRequest={"Name": "campaigns"})["ApplicationResponse"]["Id"]
    enable_email(client, app_id)
    return Env(service, client, app_id, clock, server)


@pytest.fixture
def env(tmp_path, database_url):
    env = make_env(tmp_path, database_url)
    yield env
    env.server.stop()
    env.service.close()
