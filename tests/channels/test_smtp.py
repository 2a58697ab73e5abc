"""The SMTP transport against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from datetime import datetime, timezone

import pytest

from clarion.channels.base import (CONNECTION_FAILED, MESSAGE_REFUSED, PERMANENT_FAILURE, RECIPIENT_REFUSED,
                                   SUCCESSFUL, TEMPORARY_FAILURE, ConfigurationError, OutboundEmail,
                                   email_event_type)
from clarion.channels.smtp import SmtpConfig, SmtpTransport
from clarion.clock import FixedClock

from .servers import SmtpServer, make_certificate

CLOCK = FixedClock(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))


def send(transport, *batches):
    """Send the batches one after another on one loop (the pool persists between them), then close."""
    async def go():
        try:
            return [await transport.send_batch(batch) for batch in batches]
        finally:
            await transport.close()
    results = asyncio.run(go())
    return results[0] if len(results) == 1 else results


def mail(to: str, i: int = 0, **overrides) -> OutboundEmail:
    values = dict(message_id=f"m-{i}", to=to, from_address="Clarion Shop <shop@example.com>",
                  subject=f"Hello {i}", text=f"Hi number {i}\n", html=f"<p>Hi number {i}</p>")
    values.update(overrides)
    return OutboundEmail(**values)


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_one_message_per_recipient_with_text_and_html_parts():
    with SmtpServer() as server:
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=3&tls=none", CLOCK)
        results = send(transport, [mail(f"user{i}@example.org", i) for i in range(7)])

    assert [r.status for r in results] == [SUCCESSFUL] * 7
    assert [r.message_id for r in results] == [f"m-{i}" for i in range(7)]
    assert results[0].to_wire() == {"DeliveryStatus": "SUCCESSFUL", "StatusCode": 200,
                                    "StatusMessage": "MessageId: m-0", "MessageId": "m-0"}
    received = sorted(server.sink.received, key=lambda r: r.rcpt_tos[0])
    assert [r.rcpt_tos for r in received] == [[f"user{i}@example.org"] for i in range(7)]
    assert all(r.mail_from == "shop@example.com" for r in received)
    message = parse(received[3].data)
    assert message["To"] == "user3@example.org"
    assert message["From"] == "Clarion Shop <shop@example.com>"
    assert message["Subject"] == "Hello 3"
    assert message["Message-ID"] == "<m-3@example.com>"
    assert message["Date"] == "Wed, 01 May 2024 12:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == "Hi number 3\n"
    assert parts[1].get_content().strip() == "<p>Hi number 3</p>"
    assert not message.defects and all(not p.defects for p in parts)


def test_non_ascii_headers_and_bodies_decode_with_the_stdlib_parser():
    subject = "Grüße, Zoë — votre commande n° 42 est expédiée 🚚 " * 2
    body = "Привет, Зоя!\nВаш заказ отправлен.\n"
    with SmtpServer() as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}", CLOCK), [mail(
            "Zoë Ångström <zoe@example.org>", subject=subject.strip(), text=body,
            html="<p>Très bien — ça marche</p>",
            from_address="Boutique Élodie <shop@example.com>", reply_to=["Service Client <help@example.com>"])])
    assert results[0].status == SUCCESSFUL
    raw = server.sink.received[0].data
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert raw.isascii()
    message = parse(raw)
    assert message["Subject"] == subject.strip()
    assert message["To"].addresses[0].display_name == "Zoë Ångström"
    assert message["From"].addresses[0].display_name == "Boutique Élodie"
    assert message["Reply-To"].addresses[0].addr_spec == "help@example.com"
    text, html = message.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == body
    assert html.get_content().strip() == "<p>Très bien — ça marche</p>"
    assert text["Content-Transfer-Encoding"] in ("base64", "quoted-printable")


def test_headers_list_unsubscribe_and_no_header_injection():
    with SmtpServer() as server:
        send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}", CLOCK), [mail(
            "a@example.org", subject="Line one\r\nBcc: victim@example.net",
            headers=[("X-Campaign", "spring-sale"), ("X-Note", "évènement")],
            list_unsubscribe="<mailto:unsub@example.com?subject=stop>, <https://example.com/u/a>",
            list_unsubscribe_one_click=True, html=None)])
    message = parse(server.sink.received[0].data)
    assert message["Bcc"] is None
    assert message["Subject"] == "Line one Bcc: victim@example.net"
    assert message["X-Campaign"] == "spring-sale"
    assert message["X-Note"] == "évènement"
    assert message["List-Unsubscribe"] == "<mailto:unsub@example.com?subject=stop>, <https://example.com/u/a>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "text/plain"  # text only: no multipart
    assert message.get_content().replace("\r\n", "\n") == "Hi number 0\n"


def test_replies_map_to_delivery_status():
    with SmtpServer() as server:
        server.sink.refuse_rcpt = {"gone@example.org": "550 5.1.1 User unknown",
                                   "full@example.org": "452 4.2.2 Mailbox full"}
        server.sink.refuse_data = {b"SPAMMY": "554 5.7.1 Message rejected as spam",
                                   b"LATER": "451 4.7.1 Greylisted, try again later"}
        server.sink.refuse_mail = {"blocked@example.com": "553 5.7.1 Sender not allowed"}
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=2", CLOCK), [
            mail("ok@example.org", 0),
            mail("gone@example.org", 1),
            mail("full@example.org", 2),
            mail("ok@example.org", 3, text="SPAMMY"),
            mail("ok@example.org", 4, text="LATER"),
            mail("ok@example.org", 5, from_address="blocked@example.com"),
            mail("ok@example.org", 6),
        ])
    outcome = [(r.status, r.status_code, r.reason) for r in results]
    assert outcome == [
        (SUCCESSFUL, 200, None),
        (PERMANENT_FAILURE, 550, RECIPIENT_REFUSED),  # hard bounce
        (TEMPORARY_FAILURE, 452, RECIPIENT_REFUSED),  # soft bounce
        (PERMANENT_FAILURE, 554, MESSAGE_REFUSED),  # rejected
        (TEMPORARY_FAILURE, 451, MESSAGE_REFUSED),
        (PERMANENT_FAILURE, 553, MESSAGE_REFUSED),
        (SUCCESSFUL, 200, None),  # the connection is reset and reused after each refusal
    ]
    assert results[1].status_message == "550 5.1.1 User unknown"
    assert [email_event_type(r) for r in results] == [
        "_email.delivered", "_email.hardbounce", "_email.softbounce", "_email.rejected", "_email.softbounce",
        "_email.rejected", "_email.delivered"]
    assert [r.rcpt_tos for r in server.sink.received] == [["ok@example.org"], ["ok@example.org"]]


def test_auth_with_username_and_password():
    with SmtpServer(users={"mailer": "s3cret/pass"}) as server:
        good = send(SmtpTransport.from_url(f"smtp://mailer:s3cret%2Fpass@127.0.0.1:{server.port}?tls=none", CLOCK),
                    [mail("a@example.org")])
        bad = send(SmtpTransport.from_url(f"smtp://mailer:wrong@127.0.0.1:{server.port}?tls=none", CLOCK),
                   [mail("b@example.org")])
    assert good[0].status == SUCCESSFUL
    assert [r.authenticated_as for r in server.sink.received] == ["mailer"]
    assert (bad[0].status, bad[0].status_code, bad[0].reason) == (TEMPORARY_FAILURE, 535, CONNECTION_FAILED)


def test_starttls_with_auth_and_a_self_signed_certificate(tmp_path):
    certificate = make_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_path, certificate.key_path)
    with SmtpServer(tls_context=context, users={"mailer": "pw"}) as server:
        base = f"smtp://mailer:pw@127.0.0.1:{server.port}?tls=starttls"
        trusted = send(SmtpTransport.from_url(f"{base}&cafile={certificate.cert_path}", CLOCK), [mail("a@example.org")])
        untrusted = send(SmtpTransport.from_url(base, CLOCK), [mail("b@example.org")])
    assert trusted[0].status == SUCCESSFUL
    received = [(r.tls, r.authenticated_as, r.rcpt_tos) for r in server.sink.received]
    assert received == [(True, "mailer", ["a@example.org"])]
    assert (untrusted[0].status, untrusted[0].reason) == (TEMPORARY_FAILURE, CONNECTION_FAILED)


def test_dropped_connections_are_reopened():
    with SmtpServer() as server:
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=2", CLOCK)

        async def go():
            first = await transport.send_batch([mail("a@example.org", 0), mail("b@example.org", 1)])
            await asyncio.to_thread(server.restart)  # the server drops every connection
            second = await transport.send_batch([mail("c@example.org", 2), mail("d@example.org", 3)])
            await transport.close()
            return first + second

        results = asyncio.run(go())
    assert [r.status for r in results] == [SUCCESSFUL] * 4
    assert server.sink.sessions == 4  # two connections, each opened again after the restart
    assert sorted(r.rcpt_tos[0] for r in server.sink.received) == [f"{c}@example.org" for c in "abcd"]


def test_unreachable_server_is_a_temporary_failure():
    with SmtpServer() as server:
        port = server.port
    results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?timeout=2", CLOCK), [mail("a@example.org")])
    assert (results[0].status, results[0].status_code, results[0].reason) == (TEMPORARY_FAILURE, 421,
                                                                              CONNECTION_FAILED)


def test_raw_email_is_sent_as_is():
    raw = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: raw\r\n\r\nraw body\r\n"
    with SmtpServer() as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}", CLOCK),
                       [mail("b@example.org", raw=raw, from_address="a@example.com")])
    assert results[0].status == SUCCESSFUL
    assert server.sink.received[0].data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.com", dict(host="mail.example.com", port=25, tls="auto", pool=8)),
    ("smtps://u:p%40ss@mail.example.com", dict(port=465, tls="ssl", username="u", password="p@ss")),
    ("smtp://h:587?tls=starttls&pool=2&timeout=5&verify=false&helo=me.example",
     dict(port=587, tls="starttls", pool=2, timeout=5.0, verify=False, helo="me.example")),
])
def test_url_forms(url, expected):
    config = SmtpConfig.from_url(url)
    assert {k: getattr(config, k) for k in expected} == expected


@pytest.mark.parametrize("url", ["smtp://h?tls=maybe", "smtp://h?pool=0", "smtp://h?colour=blue", "http://h",
                                 "smtp://h?pool=x"])
def test_bad_urls_are_refused_at_start(url):
    with pytest.raises(ConfigurationError):
        SmtpConfig.from_url(url)


def test_internationalised_mailboxes_use_smtputf8_and_bad_addresses_are_refused():
    with SmtpServer() as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}", CLOCK), [
            mail("Zoë <zoë@exämple.org>", 0), mail("not an address", 1), mail("a@b@example.org", 2)])
    assert [(r.status, r.status_code) for r in results] == [(SUCCESSFUL, 200), (PERMANENT_FAILURE, 400),
                                                            (PERMANENT_FAILURE, 400)]
    [received] = server.sink.received
    assert received.rcpt_tos == ["zoë@xn--exmple-cua.org"]
    utf8_message = email.message_from_string(received.data.decode("utf-8"), policy=email.policy.default)
    assert utf8_message["To"].addresses[0].username == "zoë"
