"""How the gateway is served over HTTP: uvicorn, with each response written in one piece.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body in a second write. On a busy server each write is a
syscall that may wake the client twice for one response; profiles of GetApp under load put
most of the per-request cost in those two writes. `OneWriteProtocol` holds the head back and
joins it to the first body chunk, so a plain response costs one write (and one packet).
Streaming still works: later chunks are written as they come; a response that never sends a
body (HEAD) has its head written when the response completes or the connection closes.

It subclasses uvicorn's httptools protocol and relies on three of its internals (`cycle`,
`cycle.transport`, `on_response_complete`). `protocol_class()` checks they are still there and
otherwise falls back to uvicorn's own protocol: a newer uvicorn costs speed, never correctness.
"""

from __future__ import annotations

import logging

log = logging.getLogger("clarion.http")


class _HeldHead:
    """A transport for one request/response cycle that holds the response head until the body."""

    __slots__ = ("transport", "cycle", "head", "head_seen")

    def __init__(self, transport, cycle):
        self.transport, self.cycle = transport, cycle
        self.head, self.head_seen = None, False

    def write(self, data: bytes) -> None:
        # The first write after the response starts is the head (status line and headers);
        # anything before it (`100 Continue`) goes out at once.
        if not self.head_seen and self.cycle.response_started:
            self.head_seen, self.head = True, data
            return
        if self.head is not None:
            data, self.head = self.head + data, None
        self.transport.write(data)

    def flush(self) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
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
                cycle.transport = _HeldHead(self.transport, cycle)

        def on_response_complete(self) -> None:
            cycle = self.cycle
            if cycle is not None and isinstance(cycle.transport, _HeldHead):
                cycle.transport.flush()
            super().on_response_complete()

    return OneWriteProtocol


def protocol_class():
    """`OneWriteProtocol` where uvicorn's httptools protocol has the expected shape, else "auto"."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    except ImportError:  # no httptools: uvicorn's pure-Python h11 protocol
        return "auto"
    if not (hasattr(HttpToolsProtocol, "on_headers_complete") and hasattr(HttpToolsProtocol, "on_response_complete")
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
