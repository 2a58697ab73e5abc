"""`kill -9` of a real `clarion serve` in the middle of a campaign, a restart, and every
eligible endpoint gets its message: the run resumes from its last saved page and the
deliveries table keeps it from sending again what was recorded.

What no sender can know after a kill is whether the messages it had handed to the mail server
just then were accepted: those (at most the run's in-flight batches) are sent again after the
restart with the same Message-ID, so the mailbox gets one message, sometimes as two copies of
it (see docs/campaigns.md). The test checks exactly that: one distinct message per eligible
endpoint, copies only within the in-flight bound, nothing for anyone else.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import boto3
import botocore.config
import httpx

from clarion.runtime.campaigns import pipeline, run

from ..channels.servers import SmtpServer
from ..conftest import REGION, free_port
from .helpers import IDENTITY, email_endpoint, produced_balance

SIZE = 3000
KEY, SECRET = "AKIDCLARIONCRASH0001", "crash-test-secret-0123456789"


class Serve:
    """`clarion serve` in a subprocess, on a fixed port and data directory."""

    def __init__(self, data_dir, port: int, smtp_port: int):
        self.port, self.log = port, data_dir.parent / "serve.log"
        self.env = {**os.environ, "CLARION_DATA_DIR": str(data_dir), "CLARION_PORT": str(port),
                    "CLARION_ACCESS_KEY_ID": KEY, "CLARION_SECRET_ACCESS_KEY": SECRET, "CLARION_LOG_LEVEL": "warning",
                    "CLARION_EMAIL_TRANSPORT": f"smtp://127.0.0.1:{smtp_port}?tls=none&pool=4"}
        self.process = None

    def start(self) -> "Serve":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "clarion", "serve"], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._ready(), "the server to start", 60)
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"clarion serve exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self):
        return boto3.client("pinpoint", endpoint_url=f"http://127.0.0.1:{self.port}", region_name=REGION,
                            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                            config=botocore.config.Config(retries={"max_attempts": 3}))


def wait_for(condition, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def seed(client) -> tuple[str, str, set[str]]:
    app_id = client.create_app(CreateApplicationRequest={"Name": "crash"})["ApplicationResponse"]["Id"]
    client.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "news@example.com", "Identity": IDENTITY, "Enabled": True})
    eligible = set()
    items = []
    for i in range(SIZE):
        extra = {"OptOut": "ALL"} if i % 10 == 9 else {}
        items.append(email_endpoint(f"ep-{i:05d}", f"m{i}@example.com", **extra))
        if not extra:
            eligible.add(f"m{i}@example.com")
    for start in range(0, SIZE, 100):
        client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items[start:start + 100]})
    segment_id = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "all", "Dimensions": {}})["SegmentResponse"]["Id"]
    return app_id, segment_id, eligible


def message_ids(smtp) -> dict[str, list[str]]:
    ids = defaultdict(list)
    for envelope in list(smtp.sink.received):
        message = email.message_from_bytes(envelope.data, policy=email.policy.default)
        for rcpt in envelope.rcpt_tos:
            ids[rcpt].append(message["Message-ID"])
    return ids


def test_kill_9_in_the_middle_of_a_run_then_restart(tmp_path):
    with SmtpServer() as smtp:
        server = Serve(tmp_path / "data", free_port(), smtp.port).start()
        try:
            client = server.client()
            app_id, segment_id, eligible = seed(client)
            campaign = client.create_campaign(ApplicationId=app_id, WriteCampaignRequest={
                "Name": "crash", "SegmentId": segment_id, "Schedule": {"StartTime": "IMMEDIATE"},
                "MessageConfiguration": {"EmailMessage": {"Title": "Hello {{Address}}", "HtmlBody": "<p>Hi</p>"}}
            })["CampaignResponse"]
            wait_for(lambda: len(smtp.sink.received) >= SIZE // 5, "the run to be under way", 120)
            server.kill()
            before = len(smtp.sink.received)
            assert before < len(eligible), "the run finished before the kill: make SIZE bigger"

            server.start()  # the run's job is claimed again once its lease expires
            client = server.client()

            def finished():
                runs = client.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign["Id"])
                return runs["ActivitiesResponse"]["Item"][0]["State"] == "COMPLETED"

            wait_for(finished, "the resumed run to complete", 180)
            (activity,) = client.get_campaign_activities(
                ApplicationId=app_id, CampaignId=campaign["Id"])["ActivitiesResponse"]["Item"]
        finally:
            server.stop()
        received = message_ids(smtp)
    assert set(received) == eligible  # everyone eligible, no one else
    assert all(len(set(ids)) == 1 for ids in received.values())  # one message each, by Message-ID
    copies = sum(len(ids) - 1 for ids in received.values())
    assert copies <= run.IN_FLIGHT * pipeline.SEND_BATCH  # only what was in flight at the kill
    assert activity["SuccessfulEndpointCount"] == len(eligible) and produced_balance(activity) == 0
    assert activity["ExecutionMetrics"]["ENDPOINT_OPT_OUT"] == str(SIZE - len(eligible))
