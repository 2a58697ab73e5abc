"""How the gateway is served over HTTP: uvicorn, with each response written in one piece, and
the responses of one turn of the event loop written together at its end.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body in a second write. On a busy server each write is a
syscall that may wake the client twice for one response. `OneWriteProtocol` holds the head
back and joins it to the first body chunk, so a plain response costs one write (and one packet).
Streaming still works: later chunks are written as they come; a response that never sends a
body (HEAD) has its head written when the response completes or the connection closes.

Writes are also held to the end of the event loop's turn (`EndOfTurn`). On loopback a socket
write runs the whole TCP path, the receiver's side included, in the writer's thread; done between
two requests it evicts the interpreter's caches that the next request then refills. Answering
every ready request first and writing the answers after cut the server's CPU per GetApp by
about a fifth under load, for a delay of one loop turn. Writes to one connection keep their
order, and a connection is only closed after what was held for it is written.

It subclasses uvicorn's httptools protocol and relies on a few of its internals (`cycle`,
`cycle.transport`, `on_response_complete`, `shutdown`, `send_400_response`). `protocol_class()`
checks they are still there and otherwise falls back to uvicorn's own protocol: a newer uvicorn
costs speed, never correctness.
"""

from __future__ import annotations

import logging
import weakref

log = logging.getLogger("clarion.http")


class EndOfTurn:
    """Writes held until the end of the current turn of one event loop, then made in order."""

    __slots__ = ("loop", "pending", "__weakref__")

    def __init__(self, loop):
        self.loop, self.pending = loop, []

    def write(self, transport, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append((transport, data))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for transport, data in pending:
            if transport.is_closing():  # the peer went away: nothing to deliver it to
                continue
            try:
                transport.write(data)
            except Exception:  # one broken connection must not cost the others their answers
                log.debug("a held response could not be written", exc_info=True)


_END_OF_TURN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> EndOfTurn


def end_of_turn(loop) -> EndOfTurn:
    writes = _END_OF_TURN.get(loop)
    if writes is None:
        writes = _END_OF_TURN[loop] = EndOfTurn(loop)
    return writes


class _HeldHead:
    """A transport for one request/response cycle that holds the response head until the body,
    and hands every write to the loop's `EndOfTurn`."""

    __slots__ = ("transport", "cycle", "writes", "head", "head_seen")

    def __init__(self, transport, cycle, writes: EndOfTurn):
        self.transport, self.cycle, self.writes = transport, cycle, writes
        self.head, self.head_seen = None, False

    def write(self, data: bytes) -> None:
        # The first write after the response starts is the head (status line and headers);
        # anything before it (`100 Continue`) goes on its own.
        if not self.head_seen and self.cycle.response_started:
            self.head_seen, self.head = True, data
            return
        if self.head is not None:
            data, self.head = self.head + data, None
        self.writes.write(self.transport, data)

    def flush(self) -> None:
        """Hand over a head still held (a response with no body)."""
        if self.head is not None:
            head, self.head = self.head, None
            self.writes.write(self.transport, head)

    def close(self) -> None:
        self.flush()
        self.writes.flush()
        self.transport.close()

    def __getattr__(self, name):  # everything else (is_closing, get_extra_info, ...) as is
        return getattr(self.transport, name)


def _one_write_protocol():
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class OneWriteProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            # Only a cycle made for this request (an upgrade request makes none).
            if cycle is not None and cycle.transport is self.transport:
                cycle.transport = _HeldHead(self.transport, cycle, end_of_turn(self.loop))

        def on_response_complete(self) -> None:
            cycle = self.cycle
            if cycle is not None and isinstance(cycle.transport, _HeldHead):
                cycle.transport.flush()
            super().on_response_complete()

        # uvicorn closes the raw transport itself in these two: write what is held first.
        def shutdown(self) -> None:
            end_of_turn(self.loop).flush()
            super().shutdown()

        def send_400_response(self, msg: str) -> None:
            end_of_turn(self.loop).flush()
            super().send_400_response(msg)

    return OneWriteProtocol


def protocol_class():
    """`OneWriteProtocol` where uvicorn's httptools protocol has the expected shape, else "auto"."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    except ImportError:  # no httptools: uvicorn's pure-Python h11 protocol
        return "auto"
    expected = ("on_headers_complete", "on_response_complete", "shutdown", "send_400_response")
    if not (all(hasattr(HttpToolsProtocol, name) for name in expected)
            and "transport" in RequestResponseCycle.__init__.__code__.co_varnames):
        log.warning("uvicorn's protocol has changed shape: responses are written in two pieces")
        return "auto"
    return _one_write_protocol()


def server_config(app, *, host: str, port: int, log_level: str = "warning", **options):
    """The uvicorn configuration Clarion serves with (the CLI and the test server share it)."""
    import uvicorn

    # No `server: uvicorn` header: Pinpoint's answers carry none, and every header costs a little.
    # No proxy-headers middleware: it rewrites the ASGI scope's client and scheme from
    # X-Forwarded-*, which nothing in Clarion reads, at a cost on every request.
    options.setdefault("proxy_headers", False)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                          http=protocol_class(), server_header=False, **options)
