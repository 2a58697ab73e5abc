"""Send benchmark: personalised email through SendMessages, against two references measured in the
same run, and personalised messages into the sandbox transport.

    .venv/bin/python bench/send.py [--seconds 8] [--warmup 2] [--clients 2] [--connections 2] [--pool 8]
                                   [--reference-messages 5000] [--sandbox-messages 30000]

Phases, one after the other, each against an `aiosmtpd` sink running in its own process on a
free loopback port (it accepts every message and counts it):
  1. the sink's ceiling: pre-serialized messages pushed by four parallel processes, each with one
     plain `smtplib` connection (measured before and after Clarion's phase; the higher counts);
  2. the hand-rolled way: one `smtplib` connection, each message built with the standard
     `email.message.EmailMessage` (personalised subject and bodies), then sent;
  3. Clarion: `clarion serve` with `CLARION_EMAIL_TRANSPORT=smtp://...?pool=8` (`--pool`);
     SigV4-signed SendMessages requests of 100 endpoints each, rendered from an email template
     with endpoint and user attributes, from `--clients` processes x `--connections` keep-alive
     connections (see _harness.py). Messages/s is
     requests/s x 100 (the better of two timed windows); the server's memory (RSS) is read after
     each window: flat means it does not keep growing.
  4. the sandbox: the send path (`clarion.delivery.Sender`, the one campaigns use) in this
     process, batches of 1,000 personalised emails recorded in the outbox with their events;
     and SendMessages over HTTP into the sandbox, for reference.
Targets: Clarion >= 0.7x the ceiling and >= 2x the hand-rolled loop; sandbox >= 5,000 messages/s.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import platform
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import boto3
import botocore.config
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Credentials, Load, Server, format_table, free_port, machine_line, run_phase  # noqa: E402

REGION = "us-east-1"
CREDS = Credentials("AKIDCLARIONBENCH0002", "bench-secret-key-0123456789abcdef", REGION)
RECIPIENTS = 100  # per SendMessages request (Pinpoint's maximum)
ENDPOINTS = 2_000
FROM = "Shop <shop@example.com>"
SUBJECT = "Your order {{Attributes.Order}} has shipped, {{User.UserAttributes.FirstName}}"
TEXT = ("Hello {{User.UserAttributes.FirstName}},\n\nyour order {{Attributes.Order}} left our warehouse in "
        "{{Attributes.City}} today. Track it any time from your account.\n\nThe Shop team\n")
HTML = ("<html><body><p>Hello <b>{{User.UserAttributes.FirstName}}</b>,</p><p>your order "
        "<a href=\"https://shop.example.com/orders/{{Attributes.Order}}\">{{Attributes.Order}}</a> left our "
        "warehouse in {{Attributes.City}} today.</p><p>The Shop team</p></body></html>")
TARGETS = {"ceiling": 0.7, "hand-rolled": 2.0, "sandbox": 5_000}


def person(n: int) -> dict:
    return {"name": f"Customer{n}", "order": f"A-{100000 + n}", "city": ("Paris", "Oslo", "Lima")[n % 3],
            "address": f"customer{n}@example.com"}


# -- the sink -------------------------------------------------------------------------------------

def _sink_main(port: int, counter) -> None:
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            counter.value += 1  # one writer (the sink's loop): no lock needed
            return "250 2.0.0 queued"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class Sink:
    """An aiosmtpd server in its own process that counts what it accepts."""

    def __init__(self):
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.counter = context.RawValue("q", 0)
        self.process = context.Process(target=_sink_main, args=(self.port, self.counter), daemon=True)

    @property
    def count(self) -> int:
        return self.counter.value

    def __enter__(self) -> "Sink":
        self.process.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the SMTP sink did not start")
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.join(5)

    def wait_for(self, total: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.count < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sink received {self.count} of {total} messages")
            time.sleep(0.005)


# -- references -------------------------------------------------------------------------------------

def build_message(n: int) -> EmailMessage:
    p = person(n)
    message = EmailMessage()
    message["From"] = FROM
    message["To"] = p["address"]
    message["Subject"] = f"Your order {p['order']} has shipped, {p['name']}"
    text = TEXT.replace("{{User.UserAttributes.FirstName}}", p["name"]).replace("{{Attributes.Order}}", p["order"])
    html = HTML.replace("{{User.UserAttributes.FirstName}}", p["name"]).replace("{{Attributes.Order}}", p["order"])
    message.set_content(text.replace("{{Attributes.City}}", p["city"]))
    message.add_alternative(html.replace("{{Attributes.City}}", p["city"]), subtype="html")
    return message


def _push(port: int, payloads: list[tuple[str, bytes]], go) -> None:
    connection = smtplib.SMTP("127.0.0.1", port)
    go.wait()
    for to, data in payloads:
        connection.sendmail("shop@example.com", [to], data)
    connection.quit()


def ceiling(sink: Sink, messages: int, senders: int = 4) -> float:
    """Messages/s the sink accepts from four parallel senders of pre-serialized messages."""
    payloads = [(person(n)["address"], build_message(n).as_bytes()) for n in range(messages)]
    context = multiprocessing.get_context("fork")
    go = context.Event()
    workers = [context.Process(target=_push, args=(sink.port, payloads[i::senders], go)) for i in range(senders)]
    for w in workers:
        w.start()
    time.sleep(0.5)  # every sender connected
    before = sink.count
    started = time.perf_counter()
    go.set()
    sink.wait_for(before + messages)
    elapsed = time.perf_counter() - started
    for w in workers:
        w.join(30)
    return messages / elapsed


def hand_rolled(sink: Sink, messages: int) -> float:
    """Messages/s of one smtplib connection building each message with EmailMessage."""
    connection = smtplib.SMTP("127.0.0.1", sink.port)
    before = sink.count
    started = time.perf_counter()
    for n in range(messages):
        connection.send_message(build_message(n))
    sink.wait_for(before + messages)
    elapsed = time.perf_counter() - started
    connection.quit()
    return messages / elapsed


# -- Clarion over HTTP -------------------------------------------------------------------------------

def pinpoint(url: str):
    return boto3.client("pinpoint", endpoint_url=url, region_name=REGION, aws_access_key_id=CREDS.key_id,
                        aws_secret_access_key=CREDS.secret, config=botocore.config.Config(retries={"max_attempts": 1}))


def set_up(client) -> str:
    app_id = client.create_app(CreateApplicationRequest={"Name": "send-bench"})["ApplicationResponse"]["Id"]
    client.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": FROM, "Identity": "arn:aws:ses:us-east-1:000000000000:identity/example.com", "Enabled": True})
    try:
        client.create_email_template(TemplateName="shipped", EmailTemplateRequest={
            "Subject": SUBJECT, "TextPart": TEXT, "HtmlPart": HTML})
    except client.exceptions.BadRequestException:
        pass  # templates are account-level: already there from the other server's data dir
    for first in range(0, ENDPOINTS, 100):
        items = []
        for n in range(first, first + 100):
            p = person(n)
            items.append({"Id": f"e{n}", "ChannelType": "EMAIL", "Address": p["address"],
                          "Attributes": {"Order": [p["order"]], "City": [p["city"]]},
                          "User": {"UserId": f"u{n}", "UserAttributes": {"FirstName": [p["name"]]}}})
        client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
    return app_id


def send_requests(app_id: str, client: int):
    body = {"MessageConfiguration": {}, "TemplateConfiguration": {"EmailTemplate": {"Name": "shipped"}}}
    requests = []
    for k in range(ENDPOINTS // RECIPIENTS):
        first = (k * RECIPIENTS + client * 700) % ENDPOINTS
        endpoints = {f"e{(first + i) % ENDPOINTS}": {} for i in range(RECIPIENTS)}
        requests.append(("POST", f"/v1/apps/{app_id}/messages", orjson.dumps({**body, "Endpoints": endpoints})))
    return requests


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_clarion(workdir: Path, load: Load, transport: str, label: str, sink: Sink | None = None):
    port = free_port()
    env = {**os.environ, "CLARION_ACCESS_KEY_ID": CREDS.key_id, "CLARION_SECRET_ACCESS_KEY": CREDS.secret,
           "CLARION_REGION": REGION, "CLARION_EMAIL_TRANSPORT": transport, "CLARION_LOG_LEVEL": "warning"}
    argv = [sys.executable, "-m", "clarion", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(workdir / f"data-{label}")]
    with Server(f"clarion-{label}", argv, port, workdir, env=env, ready_path="/healthz") as server:
        client = pinpoint(server.url)
        app_id = set_up(client)
        probe = client.send_messages(ApplicationId=app_id, MessageRequest={
            "Endpoints": {"e1": {}, "e2": {}}, "MessageConfiguration": {},
            "TemplateConfiguration": {"EmailTemplate": {"Name": "shipped"}}})["MessageResponse"]["EndpointResult"]
        statuses = {r["DeliveryStatus"] for r in probe.values()}
        if statuses != {"SUCCESSFUL"}:
            raise RuntimeError(f"the probe send failed: {probe}")
        phase = functools.partial(run_phase, f"SendMessages ({RECIPIENTS} endpoints)", label, server.host, port,
                                  CREDS, functools.partial(send_requests, app_id), load,
                                  items_per_request=RECIPIENTS, server_pid=server.pid)
        received = sink.count if sink else 0
        first = phase()
        rss = [rss_mb(server.pid)]
        second = phase()
        rss.append(rss_mb(server.pid))
        delivered = (sink.count - received) if sink else None
    best = max(first, second, key=lambda r: r.rps)
    return best, rss, delivered


# -- the sandbox, in process ------------------------------------------------------------------------

def bench_sandbox_sender(workdir: Path, messages: int) -> tuple[float, float, list[float]]:
    """(messages/s, CPU microseconds per message over all threads, RSS samples)."""
    from clarion.config import Settings
    from clarion.delivery import DeliveryItem, Sender
    from clarion.operations import Caller, Context
    from clarion.operations import apps as app_operations
    from clarion.service import build
    from clarion.store import channels as channel_store

    service = build(Settings(data_dir=workdir / "data-sender"))
    try:
        context = Context(service, Caller("bench"), "bench")
        app_id = app_operations.create_app(context, {"Name": "sandbox-bench"})["Id"]
        with service.store.write() as conn:
            channel_store.put(conn, service.vault, app_id, "email", {"Enabled": True, "FromAddress": FROM}, {})
        configuration = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": SUBJECT}, "TextPart": {"Data": TEXT},
                                                          "HtmlPart": {"Data": HTML}}}}

        def batch(first: int, size: int = 1_000) -> list:
            items = []
            for n in range(first, first + size):
                p = person(n)
                endpoint = {"Id": f"e{n}", "ChannelType": "EMAIL", "Address": p["address"],
                            "Attributes": {"Order": [p["order"]], "City": [p["city"]]},
                            "User": {"UserId": f"u{n}", "UserAttributes": {"FirstName": [p["name"]]}}}
                items.append(DeliveryItem(endpoint=endpoint, channel_type="EMAIL",
                                          message_configuration=configuration))
            return items

        sender = Sender(service)
        sender.send(app_id, batch(0))  # warm-up: compile, open the stores
        batches = [batch(n) for n in range(1_000, 1_000 + messages, 1_000)]
        rss = []
        started, cpu = time.perf_counter(), time.process_time()
        for i, items in enumerate(batches):
            results = sender.send(app_id, items)
            if i in (len(batches) // 4, len(batches) // 2):  # memory after a quarter, half, all of the run
                rss.append(rss_mb(os.getpid()))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss.append(rss_mb(os.getpid()))
        assert all(r.ok for r in results), results[0]
        sent = len(batches) * 1_000
        return sent / elapsed, cpu / sent * 1e6, rss
    finally:
        service.close()


# -- report ---------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="timed window per Clarion phase (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed warm-up per Clarion phase (default 2)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--connections", type=int, default=2, help="connections per client process (default 2)")
    parser.add_argument("--pool", type=int, default=8,
                        help="Clarion's SMTP connections (the transport URL's pool=, default 8)")
    parser.add_argument("--reference-messages", type=int, default=5_000,
                        help="messages per ceiling phase (default 5000; the hand-rolled loop sends at most 1500)")
    parser.add_argument("--sandbox-messages", type=int, default=30_000,
                        help="messages through the in-process sandbox phase (default 30000)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    load = Load(args.clients, args.connections, args.warmup, args.seconds)
    print(f"bench/send.py: {machine_line()}; Python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="clarion-send-bench-") as tmp, Sink() as sink:
        workdir = Path(tmp)
        top = ceiling(sink, args.reference_messages)
        print(f"sink ceiling (4 smtplib senders, pre-serialized):  {top:8,.0f} messages/s", flush=True)
        loop = hand_rolled(sink, min(args.reference_messages, 1_500))
        print(f"hand-rolled (1 smtplib, EmailMessage each):         {loop:8,.0f} messages/s", flush=True)
        transport = f"smtp://127.0.0.1:{sink.port}?tls=none&pool={args.pool}"
        smtp, smtp_rss, delivered = bench_clarion(workdir, load, transport, "clarion smtp", sink)
        again = ceiling(sink, args.reference_messages)  # measured on both sides: the higher one counts
        print(f"sink ceiling again, after Clarion:                  {again:8,.0f} messages/s", flush=True)
        top = max(top, again)
        sandbox_http, sandbox_http_rss, _ = bench_clarion(workdir, load, "sandbox", "clarion sandbox")
        sender_rate, sender_cpu, sender_rss = bench_sandbox_sender(workdir, args.sandbox_messages)
    print()
    print(format_table([smtp, sandbox_http]))
    print(f"(after: {machine_line()})")
    print()
    ours = smtp.items_per_second
    print(f"Clarion SendMessages -> SMTP sink:  {ours:8,.0f} messages/s  ({delivered:,} accepted by the sink, "
          f"{smtp.errors} errors)")
    print(f"  vs sink ceiling     {ours / top:5.2f}x  (target >= {TARGETS['ceiling']}x: "
          f"{verdict(ours / top >= TARGETS['ceiling'])})")
    print(f"  vs hand-rolled loop {ours / loop:5.2f}x  (target >= {TARGETS['hand-rolled']}x: "
          f"{verdict(ours / loop >= TARGETS['hand-rolled'])})")
    print(f"  server RSS after each timed window: {', '.join(f'{m:.0f} MB' for m in smtp_rss)}")
    print(f"Sender -> sandbox (in process, batches of 1,000): {sender_rate:8,.0f} messages/s  (target >= "
          f"{TARGETS['sandbox']:,}: {verdict(sender_rate >= TARGETS['sandbox'])}); {sender_cpu:.0f} CPU us per "
          f"message (all threads); RSS after 1/4, 1/2, all: {', '.join(f'{m:.0f} MB' for m in sender_rss)}")
    print(f"SendMessages -> sandbox (HTTP):      {sandbox_http.items_per_second:8,.0f} messages/s; server RSS "
          f"{', '.join(f'{m:.0f} MB' for m in sandbox_http_rss)}")


if __name__ == "__main__":
    main()
