"""Sending messages over an open SMTP connection (`smtp_wire`): the transaction state machine.

`Transaction.start()` sends message after message, driven by the replies themselves: each reply
is handled in `data_received`, which writes the next command at once (and, after a message,
takes the next one from the queue), so a message costs no task switch and no extra turn of the
event loop per command. That is what makes the difference: a loopback SMTP round trip costs
~25 us of CPU in callbacks, about twice that when each reply wakes a coroutine (aiosmtplib, which
this replaced, added a lock and per-command bookkeeping on top).

When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write and their
three replies are read together; otherwise each command waits for its reply. Either way the
message follows the 354 in one more write, and with PIPELINING the next message's MAIL, RCPT
and DATA go in that same write ("the transfer of message content is explicitly allowed to be
the first command in a group", RFC 2920 §3.1): a message then costs one write and one round
trip less. A refused MAIL or RCPT is followed by RSET so the
connection carries the next message; a 421 (the server is closing), a lost connection or a
reply that takes longer than the connection's `timeout` ends the transaction with `Broken`
(one timer per connection, re-armed as replies come, not one per command). At most one message
is in flight per connection and each write is followed by a read of its replies, so the write
buffer never holds more than one message (no flow control is needed).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable

from .smtp_wire import CRLF, Reply, SmtpConnection, SmtpError

_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class Unsupported(SmtpError):
    """The server lacks an extension this message needs (SMTPUTF8): a message's outcome."""


class Refused(SmtpError):
    """A reply refusing this message (`stage`: "mail", "rcpt" or "data"): a message's outcome."""

    def __init__(self, stage: str, reply: Reply):
        super().__init__(f"{reply.code} {reply.message}".strip(), reply.code)
        self.stage = stage
        self.reply = reply


class Broken(SmtpError):
    """The connection failed while `job` was in flight (the caller may send it again); `waiting`
    is the job whose envelope followed it, not sent yet."""

    def __init__(self, job, cause: BaseException, waiting=None):
        super().__init__(str(cause) or type(cause).__name__, getattr(cause, "code", None))
        self.job = job
        self.cause = cause
        self.waiting = waiting


class Job:
    """One message to one recipient, for whichever connection is free. `data` is the DATA
    payload (`wire_data`, or `MimeSkeleton.build_data`); `size` the message's size (SIZE=)."""

    __slots__ = ("sender", "recipient", "data", "size", "ascii", "tries", "owner", "index")

    def __init__(self, sender: str, recipient: str, data: bytes, size: int, owner, index: int):
        self.sender, self.recipient = sender, recipient
        self.data = data
        self.size = size
        self.ascii = data.isascii()
        self.tries = 0
        self.owner, self.index = owner, index  # where the outcome goes (the transport's batch)


# The steps of a transaction, as what the next reply answers.
_MAIL, _RCPT, _DATA, _END, _RSET, _DOT = range(6)
_ACCEPTED = {_MAIL: (250,), _RCPT: (250, 251), _DATA: (354,)}
_STAGE = {_MAIL: "mail", _RCPT: "rcpt", _DATA: "data", _END: "data"}


class Transaction:
    """Sends `first`, then each job `take()` gives until it gives None; `done(job, outcome)`
    gets None (sent), `Refused` or `Unsupported` for each. `start()` returns a future that
    resolves when the queue is empty, or fails with `Broken` (carrying the job in flight) when
    the connection does; the connection is then closed."""

    def __init__(self, connection: SmtpConnection, take: Callable[[], Job | None],
                 done: Callable[[Job, SmtpError | None], None]):
        self.connection = connection
        self.protocol = protocol = connection.protocol
        self.take, self.done = take, done
        self.loop = protocol.loop
        self.finished = self.loop.create_future()
        self.pipelining = "pipelining" in connection.extensions
        self.job: Job | None = None
        self.waiting: Job | None = None  # the next job, its envelope sent behind the job's message
        self.expected: deque[int] = deque()  # the steps the coming replies answer
        self.envelope: list[Reply] = []  # pipelined MAIL/RCPT/DATA replies, until all three are in
        self.refusal: Refused | None = None
        self.deadline = 0.0
        self.timer = None
        self.running = True
        protocol.on_reply, protocol.on_lost = self.reply, self.broken

    def start(self, first: Job) -> asyncio.Future:
        outcome = self.begin(first)
        if outcome is not None:
            self.finish(outcome)
        return self.finished

    def abandon(self) -> tuple[Job, ...]:
        """The caller is cancelled: stop if still going (closing the connection, whose state is
        then unknown) and return the jobs in flight."""
        if not self.running:
            return ()
        self.stop()
        self.connection.close()
        return tuple(job for job in (self.job, self.waiting) if job is not None)

    def begin(self, job: Job) -> Unsupported | None:
        """Send the job's envelope; or, when it cannot go on this connection, its outcome."""
        self.job = job
        envelope = self.envelope_of(job)
        if isinstance(envelope, Unsupported):
            return envelope
        self.mail, self.rcpt = envelope
        if self.pipelining:
            self.envelope = []
            self.send(self.mail + self.rcpt + b"DATA\r\n", _MAIL, _RCPT, _DATA)
        else:
            self.send(self.mail, _MAIL)
        return None

    def envelope_of(self, job: Job) -> tuple[bytes, bytes] | Unsupported:
        """The job's MAIL and RCPT commands; or, when it cannot go on this connection, its outcome."""
        connection = self.connection
        utf8 = not (job.sender.isascii() and job.recipient.isascii())
        if utf8 and "smtputf8" not in connection.extensions:
            return Unsupported("the server does not offer SMTPUTF8")
        encoding = "utf-8" if utf8 else "ascii"
        options = b""
        if "size" in connection.extensions:
            options += b" SIZE=" + str(job.size).encode()
        if not job.ascii and "8bitmime" in connection.extensions:
            options += b" BODY=8BITMIME"
        if utf8:
            options += b" SMTPUTF8"
        return (b"MAIL FROM:<" + job.sender.encode(encoding) + b">" + options + CRLF,
                b"RCPT TO:<" + job.recipient.encode(encoding) + b">" + CRLF)

    def send(self, data: bytes, *steps: int) -> None:
        self.expected.extend(steps)
        self.deadline = self.loop.time() + self.connection.timeout
        if self.timer is None:
            self.timer = self.loop.call_at(self.deadline, self.check_time)
        self.protocol.transport.write(data)

    def reply(self, reply: Reply) -> None:
        if not self.expected:
            return self.broken(SmtpError(f"an unexpected reply: {reply.code} {reply.message}", reply.code))
        step = self.expected.popleft()
        if reply.code == 421 and step != _RSET:  # the server is closing the connection
            return self.broken(SmtpError(f"{reply.code} {reply.message}", 421))
        if step == _END:
            return self.finish(None if reply.code == 250 else Refused("data", reply))
        if step in (_RSET, _DOT):
            return self.after_refusal(reply, step)
        if self.pipelining:
            self.envelope.append(reply)
            return self.envelope_replied() if step == _DATA else None
        if reply.code not in _ACCEPTED[step]:
            return self.refuse(Refused(_STAGE[step], reply))
        if step == _MAIL:
            self.send(self.rcpt, _RCPT)
        elif step == _RCPT:
            self.send(b"DATA\r\n", _DATA)
        else:
            self.send_message()

    def envelope_replied(self) -> None:
        """All three pipelined replies are in: send the message, or find the refusal."""
        for step, reply in zip((_MAIL, _RCPT, _DATA), self.envelope):
            if reply.code not in _ACCEPTED[step]:
                refusal = Refused(_STAGE[step], reply)
                if self.envelope[2].code == 354:  # DATA went through although MAIL or RCPT did not
                    self.refusal = refusal
                    return self.send(b".\r\n", _DOT)  # end it empty (RFC 2920 §3.1)
                return self.refuse(refusal)
        self.send_message()

    def send_message(self) -> None:
        """The job's message, followed (pipelining) by the envelope of the next job, if any."""
        if not self.pipelining:
            return self.send(self.job.data, _END)
        while (following := self.take()) is not None:
            envelope = self.envelope_of(following)
            if not isinstance(envelope, Unsupported):
                self.waiting = following
                mail, rcpt = envelope
                return self.send(self.job.data + mail + rcpt + b"DATA\r\n", _END, _MAIL, _RCPT, _DATA)
            self.done(following, envelope)
        self.send(self.job.data, _END)

    def refuse(self, refusal: Refused) -> None:
        """RSET, so the connection can carry the next message, then report the refusal."""
        self.refusal = refusal
        self.send(b"RSET\r\n", _RSET)

    def after_refusal(self, reply: Reply, step: int) -> None:
        if step == _DOT:
            return self.refuse(self.refusal)
        refusal, self.refusal = self.refusal, None
        if reply.code != 250:  # the refusal stands; this connection is done
            self.done(self.job, refusal)
            self.job = None
            return self.broken(SmtpError(f"RSET: {reply.code} {reply.message}", reply.code))
        self.finish(refusal)

    def finish(self, outcome: SmtpError | None) -> None:
        """Report the job's outcome and begin the next job (a loop, not recursion: jobs that end
        at once, such as a run of Unsupported ones, may follow one another)."""
        while True:
            job, self.job = self.job, None
            self.done(job, outcome)
            if self.waiting is not None:  # its envelope is on its way: its replies come next
                self.job, self.waiting, self.envelope = self.waiting, None, []
                return
            following = self.take()
            if following is None:
                self.stop()
                if not self.finished.done():
                    self.finished.set_result(None)
                return
            outcome = self.begin(following)
            if outcome is None:
                return

    def check_time(self) -> None:
        self.timer = None
        if not self.expected:
            return
        if self.loop.time() + 0.001 >= self.deadline:  # (a loop may run a timer a little early)
            return self.broken(TimeoutError(f"no reply from the SMTP server within {self.connection.timeout:g}s"))
        self.timer = self.loop.call_at(self.deadline, self.check_time)

    def broken(self, cause: BaseException) -> None:
        self.stop()
        self.protocol.fail(cause)
        self.connection.close()
        if not self.finished.done():
            self.finished.set_exception(Broken(self.job, cause, self.waiting))

    def stop(self) -> None:
        self.running = False
        self.expected.clear()
        self.protocol.on_reply = self.protocol.on_lost = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def wire_data(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, lines starting with "." doubled (RFC 5321 §4.5.2), then
    the end-of-data line."""
    line_ends = data.count(CRLF)
    if data.count(b"\n") != line_ends or data.count(b"\r") != line_ends:  # (counting is ~50x faster than a regex)
        data = _BARE_LINE_END.sub(CRLF, data)
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    return data + (b".\r\n" if data.endswith(CRLF) else b"\r\n.\r\n")
