"""A 202 from PutEvents means the events are on disk: `kill -9` right after it loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import boto3
import botocore.config
import duckdb
import httpx

from tests.conftest import free_port

KEY = ("AKIDDURABILITY000001", "durability-secret-0123456789")


class Serve:
    """`clarion serve` in a subprocess, its output in a log file."""

    def __init__(self, data_dir, port):
        env = {**os.environ, "CLARION_ACCESS_KEY_ID": KEY[0], "CLARION_SECRET_ACCESS_KEY": KEY[1],
               "CLARION_LOG_LEVEL": "warning"}
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(data_dir.parent / f"serve-{port}.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "clarion", "serve", "--port", str(port),
                                         "--data-dir", str(data_dir)], stdout=self.log, stderr=subprocess.STDOUT,
                                        env=env)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (data_dir.parent / f"serve-{port}.log").read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "clarion serve did not start"
            time.sleep(0.1)

    def client(self):
        return boto3.client("pinpoint", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=KEY[0],
                            aws_secret_access_key=KEY[1], config=botocore.config.Config(retries={"max_attempts": 1}))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()


def put(client, app_id, first: int, count: int) -> None:
    now = datetime.now(timezone.utc).isoformat()  # recent: the retention purge at start-up keeps it
    events = {f"e{n:04d}": {"EventType": "level.complete", "Timestamp": now,
                            "Attributes": {"level": str(n)}} for n in range(first, first + count)}
    results = client.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {
        "device": {"Endpoint": {}, "Events": events}}})["EventsResponse"]["Results"]
    assert {r["StatusCode"] for r in results["device"]["EventsItemResponse"].values()} == {202}


def stored_ids(path) -> list[str]:
    with duckdb.connect(str(path)) as con:
        return [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY event_id").fetchall()]


def test_kill_9_right_after_a_202_loses_no_event(tmp_path):
    data_dir = tmp_path / "data"
    server = Serve(data_dir, free_port())
    try:
        client = server.client()
        app_id = client.create_app(CreateApplicationRequest={"Name": "durable"})["ApplicationResponse"]["Id"]
        for first in range(0, 300, 100):
            put(client, app_id, first, 100)
    finally:
        server.kill()  # no shutdown: only what was durable at each 202 remains on disk

    again = Serve(data_dir, free_port())  # starts on that data, recovers, and takes more events
    try:
        put(again.client(), app_id, 300, 10)
    finally:
        again.stop()
    assert stored_ids(data_dir / "events.duckdb") == [f"e{n:04d}" for n in range(310)]
