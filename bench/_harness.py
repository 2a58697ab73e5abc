"""Load harness shared by the benchmarks (a library: running it does nothing).

- `Server`: a server in a subprocess on a free loopback port, its output in a log file, ready
  once it answers HTTP, stopped with SIGINT (then SIGKILL) by its own pid.
- `run_phase`: closed-loop load from `clients` separate processes, each holding `connections`
  keep-alive HTTP/1.1 connections with one request in flight on each. Every process builds and
  SigV4-signs its pool of raw requests *before* the clock starts (signatures stay valid 15
  minutes), then replays the pool round-robin, so signing never competes with the server for
  the machine's cores. The client is a bare `selectors` loop over raw sockets: a few
  microseconds per response, far below any server measured here.
- `Result`: requests/s, p50/p99 latency and items/s over the timed window only (responses that
  complete during the warm-up, or after the window, are not counted), and the server process's
  CPU time per request over the same window (from /proc). On a shared 2-core machine
  throughput moves with whatever else runs; CPU per request moves much less, so it is the
  figure to compare when two runs disagree.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import selectors
import signal
import socket
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# (method, path with query, body or None): what a request factory returns, before signing.
Plain = tuple[str, str, bytes | None]


def add_load_options(parser) -> None:
    """The command-line options every HTTP load benchmark shares."""
    parser.add_argument("--seconds", type=float, default=5.0, help="timed window per phase (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed warm-up per phase (default 1)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--connections", type=int, default=4,
                        help="keep-alive connections per client process, one request in flight each (default 4)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- servers ---------------------------------------------------------------------------------

class Server:
    """`with Server(name, argv, port, log_dir) as server:` runs argv until the block ends."""

    def __init__(self, name: str, argv: Sequence[str], port: int, log_dir: Path,
                 env: dict[str, str] | None = None, ready_path: str = "/", start_timeout: float = 60):
        self.name, self.argv, self.port, self.env = name, list(argv), port, env
        self.host = "127.0.0.1"
        self.ready_path, self.start_timeout = ready_path, start_timeout
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "Server":
        self._log = open(self.log_path, "wb")  # a file, not a pipe: a full pipe would stall the server
        self.process = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
                conn.request("GET", self.ready_path)
                conn.getresponse().read()
                conn.close()
                return  # any HTTP answer means it is serving
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start within {self.start_timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not self._log.closed:
            self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# -- signing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    key_id: str
    secret: str
    region: str = "us-east-1"
    service: str = "mobiletargeting"


def sign_raw(creds: Credentials, host: str, port: int, method: str, path: str, body: bytes | None) -> bytes:
    """One complete HTTP/1.1 request, signed with SigV4 the way botocore signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    netloc = f"{host}:{port}"
    headers = {"Host": netloc}
    if body is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(body))
    request = AWSRequest(method=method, url=f"http://{netloc}{path}", data=body or b"", headers=headers)
    SigV4Auth(BotoCredentials(creds.key_id, creds.secret), creds.service, creds.region).add_auth(request)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return head.encode("latin-1") + b"\r\n" + (body or b"")


# -- load ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    clients: int = 2  # processes
    connections: int = 4  # keep-alive connections per process
    warmup: float = 1.0
    seconds: float = 5.0


@dataclass
class Result:
    operation: str
    target: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, sorted, successful requests only
    errors: int = 0
    first_error: str = ""
    items_per_request: int = 1
    skipped: str = ""  # why the phase did not run
    server_cpu: float | None = None  # CPU seconds the server process used in the timed window
    client_cpu_us: float | None = None  # client CPU per response, all client processes, whole phase

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def items_per_second(self) -> float:
        return self.rps * self.items_per_request

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu is None or not self.requests:
            return None
        return self.server_cpu / self.requests * 1e6

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        index = min(len(self.latencies) - 1, int(round(p / 100 * (len(self.latencies) - 1))))
        return self.latencies[index] * 1000


def run_phase(operation: str, target: str, host: str, port: int, creds: Credentials,
              make_requests: Callable[[int], list[Plain]], load: Load, items_per_request: int = 1,
              server_pid: int | None = None) -> Result:
    """Drive `host:port` with the requests `make_requests(client_index)` returns, from
    `load.clients` processes at once; measure the window after the warm-up (and the CPU time
    of `server_pid` over it)."""
    ctx = multiprocessing.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    go, start_at = ctx.Event(), ctx.Value("d", 0.0)
    workers = [ctx.Process(target=_client_main, daemon=True,
                           args=(i, host, port, creds, make_requests, load, ready, go, start_at, results))
               for i in range(load.clients)]
    for w in workers:
        w.start()
    try:
        for _ in workers:
            message = ready.get(timeout=120)
            if message != "ready":
                raise RuntimeError(f"{target} {operation}: a client failed while signing:\n{message}")
        start_at.value = time.perf_counter() + 0.1  # CLOCK_MONOTONIC: the same clock in every process
        go.set()
        server_cpu = _cpu_over(server_pid, start_at.value + load.warmup, load.seconds)
        outcomes = [results.get(timeout=load.warmup + load.seconds + 60) for _ in workers]
    finally:
        for w in workers:
            w.join(5)
            if w.is_alive():
                w.kill()
    result = Result(operation, target, seconds=load.seconds, items_per_request=items_per_request,
                    server_cpu=server_cpu)
    client_cpu, client_handled = 0.0, 0
    for outcome in outcomes:
        if isinstance(outcome, str):
            raise RuntimeError(f"{target} {operation}: a client failed:\n{outcome}")
        latencies, errors, first_error, handled, cpu = outcome
        client_cpu += cpu
        client_handled += handled
        result.latencies.extend(latencies)
        result.errors += errors
        result.first_error = result.first_error or first_error
    result.latencies.sort()
    result.client_cpu_us = client_cpu / client_handled * 1e6 if client_handled else None
    return result


def _cpu_over(pid: int | None, begin: float, seconds: float) -> float | None:
    """CPU seconds (user + system, all threads) `pid` uses from `begin` for `seconds`."""
    if pid is None or cpu_seconds(pid) is None:
        return None
    _sleep_until(begin)
    before = cpu_seconds(pid)
    _sleep_until(begin + seconds)
    after = cpu_seconds(pid)
    return None if before is None or after is None else after - before


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:  # not Linux, or gone
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _sleep_until(moment: float) -> None:
    while (delay := moment - time.perf_counter()) > 0:
        time.sleep(delay)


def _client_main(index, host, port, creds, make_requests, load, ready, go, start_at, results):
    try:
        pool = [sign_raw(creds, host, port, m, p, b) for m, p, b in make_requests(index)]
    except Exception:
        ready.put(traceback.format_exc())
        return
    ready.put("ready")
    go.wait()
    begin = start_at.value
    try:
        results.put(_drive(host, port, pool, load.connections, begin, begin + load.warmup,
                           begin + load.warmup + load.seconds))
    except Exception:
        results.put(traceback.format_exc())


def _drive(host, port, pool, connections, start_at, record_from, stop_at):
    """Closed loop: each connection sends its next request as soon as the last one is answered."""
    selector = selectors.DefaultSelector()
    conns = [_Connection(host, port) for _ in range(connections)]
    _sleep_until(start_at)
    cpu_start = time.process_time()
    latencies, errors, first_error, sent, handled = [], 0, "", 0, 0
    for conn in conns:
        conn.send(pool[sent % len(pool)])
        sent += 1
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    while (now := time.perf_counter()) < stop_at:
        for key, _ in selector.select(stop_at - now):
            conn = key.data
            answer = conn.receive()
            if answer is None:
                continue
            done = time.perf_counter()
            handled += 1
            status, body = answer
            if status >= 400:
                errors += 1
                first_error = first_error or f"HTTP {status}: {bytes(body[:300]).decode(errors='replace')}"
            elif record_from <= done < stop_at:
                latencies.append(done - conn.sent_at)
            if conn.must_reconnect:
                selector.unregister(conn.sock)
                conn.reconnect()
                selector.register(conn.sock, selectors.EVENT_READ, conn)
            conn.send(pool[sent % len(pool)])
            sent += 1
    cpu = time.process_time() - cpu_start
    for conn in conns:
        conn.sock.close()
    return latencies, errors, first_error, handled, cpu


class _Connection:
    """One keep-alive connection and a minimal HTTP/1.1 response reader."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.reconnect()

    def reconnect(self) -> None:
        if getattr(self, "sock", None) is not None:
            self.sock.close()
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.must_reconnect = False
        self._reset()

    def _reset(self) -> None:
        self.header_end = -1  # index just after the blank line, once seen
        self.length = -1  # body length from Content-Length; -2 chunked; -3 until close
        self.status = 0

    def send(self, raw: bytes) -> None:
        self.sent_at = time.perf_counter()
        self.sock.sendall(raw)

    def receive(self):
        """Read what arrived; (status, body) once a whole response is in, else None."""
        data = self.sock.recv(262144)
        if not data:
            if self.header_end >= 0 and self.length == -3:
                return self._finish(len(self.buffer))
            raise ConnectionError(f"server closed the connection mid-response ({len(self.buffer)} bytes read)")
        self.buffer += data
        if self.header_end < 0 and not self._parse_head():
            return None
        if self.length >= 0 and len(self.buffer) >= self.header_end + self.length:
            return self._finish(self.header_end + self.length)
        if self.length == -2:
            end = self.buffer.find(b"\r\n0\r\n\r\n", self.header_end - 2)
            if end >= 0:
                return self._finish(end + 7)
        return None

    def _parse_head(self) -> bool:
        blank = self.buffer.find(b"\r\n\r\n")
        if blank < 0:
            return False
        head = bytes(self.buffer[:blank]).lower()
        self.status = int(head[9:12])
        self.header_end = blank + 4
        self.must_reconnect = b"\r\nconnection: close" in head or head.startswith(b"http/1.0")
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            self.length = int(head[at + 17:line_end if line_end >= 0 else None])
        elif b"\r\ntransfer-encoding: chunked" in head:
            self.length = -2
        else:
            self.length = -3
            self.must_reconnect = True
        return True

    def _finish(self, end: int):
        body = self.buffer[self.header_end:end]
        status = self.status
        del self.buffer[:end]
        self._reset()
        return status, body


# -- reporting -------------------------------------------------------------------------------

def format_table(results: Sequence[Result]) -> str:
    header = ("operation", "target", "requests/s", "items/s", "p50 ms", "p99 ms", "server CPU",
              "CPU us/req", "client us/req", "requests", "errors")
    rows = [header]
    for r in results:
        if r.skipped:
            rows.append((r.operation, r.target, *["-"] * (len(header) - 3), r.skipped))
            continue
        items = f"{r.items_per_second:,.0f}" if r.items_per_request > 1 else ""
        cpu_share = f"{r.server_cpu / r.seconds:.0%}" if r.server_cpu is not None else "?"
        per_request = f"{r.cpu_us_per_request:,.0f}" if r.cpu_us_per_request is not None else "?"
        client = f"{r.client_cpu_us:,.0f}" if r.client_cpu_us is not None else "?"
        rows.append((r.operation, r.target, f"{r.rps:,.0f}", items, f"{r.percentile_ms(50):.2f}",
                     f"{r.percentile_ms(99):.2f}", cpu_share, per_request, client, f"{r.requests:,}", str(r.errors)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_line() -> str:
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load1:.2f} (1 min) {load5:.2f} (5 min)"
