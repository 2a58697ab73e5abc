"""The HTTP server glue: one write per response, writes held to the end of the loop's turn,
and HTTP/1.1 still behaving on the wire."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from clarion.protocol import http


class RecordingTransport:
    def __init__(self):
        self.writes, self.closed = [], False

    def write(self, data):
        self.writes.append(data)

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed


def test_installed_uvicorn_gets_the_one_write_protocol():
    # A uvicorn upgrade that changes the internals we rely on shows up here, not as slow serving.
    assert http.protocol_class() != "auto"


class ManualLoop:
    """An event loop's `call_soon`, run by hand: `end_turn()` is the end of the loop's turn."""

    def __init__(self):
        self.callbacks = []

    def call_soon(self, callback):
        self.callbacks.append(callback)

    def end_turn(self):
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def held_head(transport, response_started=False):
    loop = ManualLoop()
    cycle = SimpleNamespace(response_started=response_started)
    return http._HeldHead(transport, cycle, http.EndOfTurn(loop)), cycle, loop


def test_the_head_waits_for_the_body_and_goes_out_with_it():
    transport = RecordingTransport()
    held, cycle, loop = held_head(transport)
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: on its own
    loop.end_turn()
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(b"body")
    held.write(b"more")  # a streamed chunk after the first goes out on its own
    loop.end_turn()
    assert transport.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]


def test_writes_wait_for_the_end_of_the_turn_and_keep_their_order():
    first, second = RecordingTransport(), RecordingTransport()
    loop = ManualLoop()
    writes = http.EndOfTurn(loop)
    a = http._HeldHead(first, SimpleNamespace(response_started=True), writes)
    b = http._HeldHead(second, SimpleNamespace(response_started=True), writes)
    a.write(b"head-a")
    a.write(b"body-a")
    b.write(b"head-b")
    b.write(b"body-b")
    a.write(b"more-a")
    assert first.writes == second.writes == []  # nothing before the turn ends
    assert len(loop.callbacks) == 1  # one flush per turn, however many writes
    loop.end_turn()
    assert first.writes == [b"head-abody-a", b"more-a"] and second.writes == [b"head-bbody-b"]
    a.write(b"next")  # the next turn gets its own flush
    loop.end_turn()
    assert first.writes[-1] == b"next"


def test_closing_writes_what_was_held_first():
    transport = RecordingTransport()
    held, _, loop = held_head(transport, response_started=True)
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(b"body")
    held.close()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"] and transport.closed
    loop.end_turn()  # the flush already ran: nothing is written twice
    assert len(transport.writes) == 1


def test_a_connection_gone_before_the_turn_ends_gets_nothing_written():
    transport = RecordingTransport()
    held, _, loop = held_head(transport, response_started=True)
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(b"body")
    transport.closed = True  # the peer hung up
    loop.end_turn()
    assert transport.writes == []


def test_a_connection_that_fails_to_write_does_not_cost_the_others_their_answers():
    class Failing(RecordingTransport):
        def write(self, data):
            raise RuntimeError("the handler is closed")

    broken, fine = Failing(), RecordingTransport()
    loop = ManualLoop()
    writes = http.EndOfTurn(loop)
    writes.write(broken, b"lost")
    writes.write(fine, b"answer")
    loop.end_turn()
    assert fine.writes == [b"answer"]


def test_a_response_without_a_body_still_sends_its_head():
    transport = RecordingTransport()
    held, _, loop = held_head(transport, response_started=True)
    held.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
    held.close()
    assert transport.writes == [b"HTTP/1.1 405 Method Not Allowed\r\n\r\n"] and transport.closed


def exchange(server, raw: bytes, responses: int = 1, timeout: float = 5) -> bytes:
    """Send raw bytes, read until `responses` complete responses (by Content-Length) arrived."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while _complete(data) < responses:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _complete(data: bytes) -> int:
    count, rest = 0, data
    while b"\r\n\r\n" in rest:
        head, rest = rest.split(b"\r\n\r\n", 1)
        if head.startswith(b"HTTP/1.1 100"):
            continue
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        if len(rest) < length:
            return count
        rest, count = rest[length:], count + 1
    return count


@pytest.fixture
def sqlite_server(sqlite_service):
    from .conftest import LiveServer

    server = LiveServer(sqlite_service).start()
    yield server
    server.stop()


def test_pipelined_requests_on_one_connection_each_get_their_response(sqlite_server):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    data = exchange(sqlite_server, request * 3, responses=3)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b'{"status":"ok"}') == 3


def test_concurrent_clients_each_get_their_own_answers(sqlite_server):
    from concurrent.futures import ThreadPoolExecutor

    def create_then_read(n):
        client = sqlite_server.client()
        made = client.create_app(CreateApplicationRequest={"Name": f"app-{n}"})["ApplicationResponse"]
        return [(made["Id"], client.get_app(ApplicationId=made["Id"])["ApplicationResponse"]["Name"])
                for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create_then_read, range(8)))
    for n, reads in enumerate(answers):
        assert {name for _, name in reads} == {f"app-{n}"}


def until_closed(server, raw: bytes) -> bytes:
    """Send raw bytes and read everything until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_head_request_gets_its_status_line_and_headers(sqlite_server):
    data = until_closed(sqlite_server, b"HEAD /v1/apps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in data
    assert data.endswith(b"\r\n\r\n")  # no body for HEAD


def test_expect_100_continue_gets_the_interim_response_then_the_answer(sqlite_server):
    body = b'{"Name": "x"}'
    with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        data = b""
        while _complete(data) < 1:
            data += sock.recv(65536)
    # Unsigned, so the final answer is the modelled 403, written whole after the 100.
    assert b"HTTP/1.1 403" in data and b"x-amzn-errortype" in data.lower()


def test_connection_close_closes_after_the_whole_response(sqlite_server):
    data = until_closed(sqlite_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"status":"ok"}')


def test_a_preflight_gets_the_allowed_methods_and_headers(sqlite_server):
    import httpx

    preflight = httpx.options(f"{sqlite_server.url}/v1/apps", headers={
        "Origin": "https://console.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "*"
    answer = httpx.get(f"{sqlite_server.url}/v1/apps", headers={"Origin": "https://console.example"})
    assert answer.status_code == 403  # unsigned, but a browser may still read the error
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "x-amzn-ErrorType" in answer.headers["access-control-expose-headers"]


def test_answers_name_no_server_software(sqlite_server):
    import httpx

    assert "server" not in httpx.get(f"{sqlite_server.url}/healthz").headers
