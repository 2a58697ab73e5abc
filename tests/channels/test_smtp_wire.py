"""The SMTP client underneath the transport (smtp_wire.py, smtp_transaction.py): PIPELINING
when offered, replies per stage, RSET after refusals, dropped and silent servers, implicit TLS,
AUTH LOGIN, dot-stuffing, pool sharing and closing. Against aiosmtpd, and against a strict
pipelining server written here (it holds its replies until DATA, so a client that waited for
each reply would never finish)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ssl

from clarion.channels.base import (CONNECTION_FAILED, MESSAGE_REFUSED, PERMANENT_FAILURE, RECIPIENT_REFUSED,
                                   SUCCESSFUL, TEMPORARY_FAILURE, OutboundEmail)
from clarion.channels.smtp import SmtpTransport
from clarion.channels.smtp_transaction import wire_data

from .servers import SmtpServer, SmtpSink, make_certificate
from .test_smtp import CLOCK, mail, parse, send
from tests.conftest import free_port


def outcome(results):
    return [(r.status, r.status_code, r.reason) for r in results]


# -- against aiosmtpd --------------------------------------------------------------------------

def test_pipelined_transactions_map_every_reply_like_unpipelined_ones():
    sink = SmtpSink()
    sink.pipelining = True
    sink.refuse_rcpt = {"gone@example.org": "550 5.1.1 User unknown", "full@example.org": "452 4.2.2 Mailbox full"}
    sink.refuse_data = {b"SPAMMY": "554 5.7.1 Message rejected as spam"}
    sink.refuse_mail = {"blocked@example.com": "553 5.7.1 Sender not allowed"}
    with SmtpServer(sink=sink) as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=1", CLOCK), [
            mail("ok@example.org", 0), mail("gone@example.org", 1), mail("full@example.org", 2),
            mail("ok@example.org", 3, text="SPAMMY"), mail("ok@example.org", 4, from_address="blocked@example.com"),
            mail("last@example.org", 5)])
    assert outcome(results) == [
        (SUCCESSFUL, 200, None),
        (PERMANENT_FAILURE, 550, RECIPIENT_REFUSED),
        (TEMPORARY_FAILURE, 452, RECIPIENT_REFUSED),
        (PERMANENT_FAILURE, 554, MESSAGE_REFUSED),
        (PERMANENT_FAILURE, 553, MESSAGE_REFUSED),
        (SUCCESSFUL, 200, None),  # one connection throughout: each refusal was followed by RSET
    ]
    assert sink.sessions == 1
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.org"], ["last@example.org"]]
    assert parse(sink.received[1].data)["Message-ID"] == "<m-5@example.com>"


def test_a_server_closing_mid_transaction_is_left_and_the_message_sent_again():
    class ClosingOnce(SmtpSink):
        closed = False

        async def handle_MAIL(self, server, session, envelope, address, options):
            if not self.closed:
                self.closed = True
                return "421 4.3.2 Shutting down"
            return await super().handle_MAIL(server, session, envelope, address, options)

    sink = ClosingOnce()
    with SmtpServer(sink=sink) as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=1", CLOCK),
                       [mail("a@example.org", 0), mail("b@example.org", 1)])
    assert outcome(results) == [(SUCCESSFUL, 200, None)] * 2
    assert sink.sessions == 2  # the connection that said 421 was replaced
    assert sorted(r.rcpt_tos[0] for r in sink.received) == ["a@example.org", "b@example.org"]


def test_concurrent_batches_share_the_pool():
    with SmtpServer() as server:
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=2", CLOCK)

        async def go():
            batches = [[mail(f"{b}-{i}@example.org", i) for i in range(15)] for b in "xyz"]
            try:
                return await asyncio.gather(*(transport.send_batch(batch) for batch in batches))
            finally:
                await transport.close()

        results = asyncio.run(go())
    assert [r.status for batch in results for r in batch] == [SUCCESSFUL] * 45
    assert [r.message_id for r in results[1]] == [f"m-{i}" for i in range(15)]  # each batch's own, in order
    assert server.sink.sessions == 2
    assert len(server.sink.received) == 45


def test_many_internationalised_recipients_without_smtputf8_fail_one_by_one():
    with SmtpServer(enable_SMTPUTF8=False) as server:
        batch = [mail(f"zoë{i}@example.org", i) for i in range(300)] + [mail("plain@example.org", 300)]
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?pool=1", CLOCK), batch)
    assert outcome(results[:300]) == [(PERMANENT_FAILURE, 553, RECIPIENT_REFUSED)] * 300
    assert results[300].status == SUCCESSFUL
    assert [r.rcpt_tos for r in server.sink.received] == [["plain@example.org"]]


def test_implicit_tls_with_auth(tmp_path):
    certificate = make_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_path, certificate.key_path)
    with SmtpServer(ssl_context=context, users={"mailer": "pw"}) as server:  # it speaks TLS only
        url = f"smtps://mailer:pw@127.0.0.1:{server.port}?cafile={certificate.cert_path}&pool=2"
        results = send(SmtpTransport.from_url(url, CLOCK), [mail(f"{c}@example.org") for c in "abc"])
    assert [r.status for r in results] == [SUCCESSFUL] * 3
    assert [r.authenticated_as for r in server.sink.received] == ["mailer"] * 3


def test_auth_login_when_plain_is_not_offered():
    with SmtpServer(users={"mailer": "pw"}, auth_exclude_mechanism=["PLAIN"]) as server:
        results = send(SmtpTransport.from_url(f"smtp://mailer:pw@127.0.0.1:{server.port}?tls=none", CLOCK),
                       [mail("a@example.org")])
    assert results[0].status == SUCCESSFUL
    assert [r.authenticated_as for r in server.sink.received] == ["mailer"]


def test_bare_line_ends_and_leading_dots_survive_the_trip():
    raw = b"From: a@example.com\nTo: b@example.org\nSubject: dots\n\n.one dot\n..two dots\r\nlast line"
    with SmtpServer() as server:
        results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}", CLOCK),
                       [mail("b@example.org", raw=raw, from_address="a@example.com")])
    assert results[0].status == SUCCESSFUL
    assert server.sink.received[0].data == raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"


def test_wire_data_leaves_a_clean_message_alone_but_for_the_end():
    message = b"Subject: x\r\n\r\nbody\r\n"
    assert wire_data(message) == message + b".\r\n"
    assert wire_data(b".\r\nx\r\n.y") == b"..\r\nx\r\n..y\r\n.\r\n"


# -- against a strict pipelining server ---------------------------------------------------------

class StrictServer:
    """Offers PIPELINING and answers MAIL and RCPT only once DATA has arrived. `refuse` maps a
    recipient to its RCPT reply; `data_anyway` answers 354 even when no recipient was accepted
    (RFC 2920 lets a server do that; the client must then send an empty message). `silent`
    never answers a MAIL."""

    def __init__(self, refuse=None, data_anyway=False, silent=False, cram_users=None):
        self.refuse, self.data_anyway, self.silent = refuse or {}, data_anyway, silent
        self.cram_users = cram_users  # offer AUTH CRAM-MD5 (only) for these users and passwords
        self.logins: list[str] = []
        self.received: list[tuple[str, bytes]] = []
        self.commands: list[str] = []
        self.mail_seen = asyncio.Event()

    async def start(self):
        self.server = await asyncio.start_server(self.session, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def session(self, reader, writer):
        writer.write(b"220 strict\r\n")
        held: list[bytes] = []
        accepted: list[str] = []
        try:
            while line := await reader.readline():
                command = line.decode().strip()
                self.commands.append(command.split(":")[0].split(" ")[0].upper())
                verb = self.commands[-1]
                if verb == "EHLO":
                    auth = b"250-AUTH CRAM-MD5\r\n" if self.cram_users else b""
                    writer.write(b"250-strict\r\n250-PIPELINING\r\n" + auth + b"250 SIZE 100000\r\n")
                elif verb == "AUTH":
                    challenge = b"<1896.697170952@strict.example>"
                    writer.write(b"334 " + base64.b64encode(challenge) + b"\r\n")
                    user, _, digest = base64.b64decode(await reader.readline()).decode().partition(" ")
                    secret = self.cram_users.get(user, "").encode()
                    if hmac.compare_digest(digest, hmac.new(secret, challenge, "md5").hexdigest()):
                        self.logins.append(user)
                        writer.write(b"235 2.7.0 Authentication successful\r\n")
                    else:
                        writer.write(b"535 5.7.8 Authentication credentials invalid\r\n")
                elif verb == "MAIL":
                    self.mail_seen.set()
                    if self.silent:
                        continue
                    held.append(b"250 sender ok\r\n")
                elif verb == "RCPT":
                    address = command.partition("<")[2].rstrip(">")
                    reply = self.refuse.get(address, "250 recipient ok")
                    held.append(reply.encode() + b"\r\n")
                    if reply.startswith("250"):
                        accepted.append(address)
                elif verb == "DATA" and not self.silent:
                    go = bool(accepted) or self.data_anyway
                    writer.write(b"".join(held) + (b"354 go on\r\n" if go else b"554 no valid recipients\r\n"))
                    held = []
                    if go:
                        body = b""
                        while (data_line := await reader.readline()) not in (b".\r\n", b""):
                            body += data_line
                        if accepted:
                            self.received.append((accepted[0], body))
                            writer.write(b"250 queued\r\n")
                        else:
                            writer.write(b"554 nothing to deliver\r\n")
                    accepted = []
                elif verb == "DATA":
                    continue
                elif verb == "RSET":
                    held, accepted = [], []
                    writer.write(b"250 reset\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"502 what\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def run_against(server: StrictServer, messages: list[OutboundEmail], options: str = "pool=1", user: str = ""):
    async def go():
        port = await server.start()
        transport = SmtpTransport.from_url(f"smtp://{user}127.0.0.1:{port}?tls=none&{options}", CLOCK)
        try:
            return await transport.send_batch(messages)
        finally:
            await transport.close()
            server.server.close()

    return asyncio.run(go())


def test_mail_rcpt_and_data_go_out_as_one_group_when_the_server_offers_pipelining():
    server = StrictServer(refuse={"gone@example.org": "550 5.1.1 No such user"})
    results = run_against(server, [mail("a@example.org", 0), mail("gone@example.org", 1), mail("c@example.org", 2)],
                          "pool=1&timeout=5")
    assert outcome(results) == [(SUCCESSFUL, 200, None), (PERMANENT_FAILURE, 550, RECIPIENT_REFUSED),
                                (SUCCESSFUL, 200, None)]
    assert [address for address, _ in server.received] == ["a@example.org", "c@example.org"]
    assert server.commands == ["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT",
                               "DATA", "QUIT"]


def test_data_accepted_without_recipients_is_ended_empty_and_reported_as_the_bounce():
    server = StrictServer(refuse={"gone@example.org": "550 5.1.1 No such user"}, data_anyway=True)
    results = run_against(server, [mail("gone@example.org", 0), mail("b@example.org", 1)], "pool=1&timeout=5")
    assert outcome(results) == [(PERMANENT_FAILURE, 550, RECIPIENT_REFUSED), (SUCCESSFUL, 200, None)]
    assert results[0].status_message == "550 5.1.1 No such user"
    assert [address for address, _ in server.received] == ["b@example.org"]


def test_auth_cram_md5():
    good = StrictServer(cram_users={"mailer": "tanstaaf"})
    results = run_against(good, [mail("a@example.org")], "pool=1&timeout=5", user="mailer:tanstaaf@")
    assert results[0].status == SUCCESSFUL and good.logins == ["mailer"]
    bad = run_against(StrictServer(cram_users={"mailer": "tanstaaf"}), [mail("a@example.org")], "pool=1&timeout=5",
                      user="mailer:wrong@")
    assert outcome(bad) == [(TEMPORARY_FAILURE, 535, CONNECTION_FAILED)]


def test_a_silent_server_times_out_as_a_temporary_failure():
    results = run_against(StrictServer(silent=True), [mail("a@example.org")], "pool=1&timeout=0.5")
    assert outcome(results) == [(TEMPORARY_FAILURE, 421, CONNECTION_FAILED)]
    assert "within 0.5s" in results[0].status_message


def test_closing_the_transport_answers_every_message_still_waiting():
    server = StrictServer(silent=True)

    async def go():
        port = await server.start()
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?tls=none&pool=1&timeout=60", CLOCK)
        sending = asyncio.ensure_future(transport.send_batch([mail(f"{c}@example.org") for c in "abc"]))
        await server.mail_seen.wait()
        await transport.close()
        server.server.close()
        return await sending

    results = asyncio.run(go())
    assert outcome(results) == [(TEMPORARY_FAILURE, 421, CONNECTION_FAILED)] * 3


def test_an_unreachable_port_fails_after_two_tries():
    port = free_port()
    results = send(SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?timeout=2", CLOCK),
                   [mail("a@example.org", 0), mail("b@example.org", 1)])
    assert outcome(results) == [(TEMPORARY_FAILURE, 421, CONNECTION_FAILED)] * 2
    assert all(r.status_message.startswith("SMTP server unreachable") for r in results)


class LookAheadServer:
    """Offers PIPELINING; after each message's end of data it looks for the next command before
    answering, and notes whether the client had sent it already ("pipelined") or was waiting
    for the answer ("waited"). `drop_after` closes the connection, unanswered, once that many
    messages have arrived (the first time only)."""

    def __init__(self, drop_after: int | None = None):
        self.drop_after = drop_after
        self.seen: list[str] = []
        self.received: list[str] = []
        self.sessions = 0

    async def start(self):
        self.server = await asyncio.start_server(self.session, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def session(self, reader, writer):
        self.sessions += 1
        writer.write(b"220 look-ahead\r\n")
        recipient, pending = "", None
        try:
            while line := pending or await reader.readline():
                pending = None
                verb = line.split(b":")[0].split(b" ")[0].strip().upper()
                if verb == b"EHLO":
                    writer.write(b"250-look-ahead\r\n250 PIPELINING\r\n")
                elif verb == b"MAIL":
                    writer.write(b"250 ok\r\n")
                elif verb == b"RCPT":
                    recipient = line.decode().partition("<")[2].strip().rstrip(">")
                    writer.write(b"250 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    while await reader.readline() not in (b".\r\n", b""):
                        pass
                    try:
                        pending = await asyncio.wait_for(reader.readline(), 1)
                        self.seen.append("pipelined")
                    except asyncio.TimeoutError:
                        self.seen.append("waited")
                    if self.drop_after is not None and len(self.received) + 1 == self.drop_after:
                        self.drop_after = None
                        break  # gone before answering: the message's fate is unknown to the client
                    self.received.append(recipient)
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                await writer.drain()
        finally:
            writer.close()


def test_each_message_goes_out_with_the_next_ones_envelope():
    server = LookAheadServer()
    results = run_against(server, [mail(f"r{n}@example.org", n) for n in range(3)], "pool=1&timeout=5")
    assert outcome(results) == [(SUCCESSFUL, 200, None)] * 3
    assert server.received == ["r0@example.org", "r1@example.org", "r2@example.org"]
    # Messages 1 and 2 had their MAIL, RCPT and DATA behind the message before; the last waits.
    assert server.seen == ["pipelined", "pipelined", "waited"]


def test_a_connection_lost_after_a_message_sends_it_again_and_the_next_one_too():
    server = LookAheadServer(drop_after=1)
    results = run_against(server, [mail(f"r{n}@example.org", n) for n in range(3)], "pool=1&timeout=5")
    assert outcome(results) == [(SUCCESSFUL, 200, None)] * 3
    assert server.sessions == 2
    # The first message went again (its fate was unknown); the one whose envelope followed it
    # was never sent, so it is not lost and not counted as a try.
    assert server.received == ["r0@example.org", "r1@example.org", "r2@example.org"]
