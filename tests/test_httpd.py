"""httpd.BoundedHTTPServer on real loopback sockets: deadlines, the connection cap, the pool.

serve's own endpoints are tested in test_server.py; the slow-client test against a real
`serve` process under `ulimit -n 1024` is in test_server_limits.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tvmaze_sync.serve.httpd import (
    MAX_CONNECTIONS,
    MAX_REQUEST_BODY,
    MIN_CONNECTIONS,
    QUEUE_PER_WORKER,
    WORKERS,
    BoundedHTTPServer,
    BufferedHandler,
    connection_cap,
    frame_request,
)

BIG = b"x" * (4 << 20)  # more than the kernel buffers: a client that never reads stalls it


class _Handler(BufferedHandler):
    protocol_version = "HTTP/1.1"
    server: _Server  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/block":
            self.server.release.wait(10)
        self._reply(BIG if self.path == "/big" else self.path.encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._reply(str(len(self.rfile.read(length))).encode())


class _Server(BoundedHTTPServer):
    release: threading.Event


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    options = getattr(request, "param", {})
    httpd = _Server(
        ("127.0.0.1", 0),
        _Handler,
        inline_paths=frozenset({"/health"}),
        **{"read_deadline": 1.0, "write_deadline": 1.0, **options},
    )
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    thread.join(5)
    httpd.server_close()


def url(server: BoundedHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def connect(server: BoundedHTTPServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Read until EOF/reset (True) or `within` seconds pass (False)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_keep_alive_and_pipelining(server: _Server) -> None:
    with requests.Session() as session:
        assert session.get(url(server, "/a"), timeout=5).text == "/a"
        assert session.get(url(server, "/b"), timeout=5).text == "/b"
    with connect(server) as sock:
        sock.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"/two"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.index(b"/one") < data.index(b"/two")


def test_a_post_body_is_framed_by_content_length(server: _Server) -> None:
    assert requests.post(url(server, "/echo"), data=b"abc", timeout=5).text == "3"
    # A chunked body is not read: the answer comes, then the connection closes.
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, 2)


def test_a_trickled_request_is_dropped_at_its_total_deadline(server: _Server) -> None:
    """Bytes every 0.2 s reset a per-read timeout forever; the 1 s deadline still holds."""
    with connect(server) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\n")
        started = time.monotonic()
        dropped = None
        while time.monotonic() - started < 4:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                dropped = time.monotonic() - started
                break
            if closed_by_server(sock, 0.2):
                dropped = time.monotonic() - started
                break
    assert dropped is not None and dropped < 2.5


def test_an_idle_connection_is_closed_at_the_deadline(server: _Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert closed_by_server(sock, 3)
        assert 0.5 < time.monotonic() - started < 2.5


def test_a_client_that_never_reads_is_dropped_at_the_write_deadline(server: _Server) -> None:
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(2.5)  # past the 1 s write deadline, without reading
        sock.settimeout(2)
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    assert received < len(BIG)
    assert requests.get(url(server, "/health"), timeout=2).status_code == 200


def test_an_oversized_head_is_431(server: _Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 40_000 + b"\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("server", [{"max_connections": 20}], indirect=True)
def test_at_the_cap_the_longest_waiting_connection_makes_room(server: _Server) -> None:
    idle = [connect(server) for _ in range(20)]
    try:
        time.sleep(0.2)
        assert requests.get(url(server, "/health"), timeout=1).status_code == 200
        assert closed_by_server(idle[0], 1)  # the oldest went first
        assert not closed_by_server(idle[-1], 0.1)
    finally:
        for sock in idle:
            sock.close()


def test_health_answers_while_every_worker_is_busy(server: _Server) -> None:
    """/health is answered by the loop itself; the pool's queue is bounded (503 past it)."""
    blocked = [connect(server) for _ in range(100)]
    try:
        for sock in blocked:
            sock.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        assert requests.get(url(server, "/health"), timeout=1).text == "/health"
        assert time.monotonic() - started < 0.5
        time.sleep(0.3)
        waiting = []
        for sock in blocked:
            sock.setblocking(False)
            try:
                assert b" 503 " in sock.recv(65536)
            except BlockingIOError:
                waiting.append(sock)
        # The queue holds 64, the workers take up to 8 more: the rest were told to come back.
        queued = WORKERS * QUEUE_PER_WORKER
        assert queued <= len(waiting) <= queued + WORKERS
        server.release.set()
        for sock in waiting:
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in blocked:
            sock.close()


def test_connection_cap_follows_the_descriptor_limit() -> None:
    assert connection_cap(1024) == 512
    assert connection_cap(100) == 50
    assert connection_cap(10) == MIN_CONNECTIONS
    assert connection_cap(1 << 20) == MAX_CONNECTIONS


def test_frame_request() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert frame_request(head[:-1]) is None
    assert frame_request(head + b"GET") == (len(head), False)
    post = b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\n"
    assert frame_request(post + b"ab") is None
    assert frame_request(post + b"abcd") == (len(post) + 3, False)
    big = f"POST / HTTP/1.1\r\nContent-Length: {MAX_REQUEST_BODY + 1}\r\n\r\n".encode()
    assert frame_request(big) == (len(big), True)
    bad = b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"
    assert frame_request(bad) == (len(bad), True)
    bare = b"POST / HTTP/1.1\nContent-Length: 2\n\nokGET"
    assert frame_request(bare) == (len(bare) - 3, False)


@given(st.binary(max_size=300))
def test_frame_request_never_reads_past_the_buffer(data: bytes) -> None:
    framed = frame_request(data)
    if framed is not None:
        end, _ = framed
        assert re.search(rb"\r?\n\r?\n", data[:end]) and 0 < end <= len(data)


def _exchange(server: BoundedHTTPServer, request: bytes) -> bytes:
    """Send `request` on a fresh connection; everything the server answers until it closes."""
    with connect(server) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT", "PATCH", "BREW"])
def test_a_method_without_a_handler_is_405_json_with_allow(server: _Server, method: str) -> None:
    answer = _exchange(server, f"{method} /x HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 "), answer
    assert b"\r\nAllow: GET, POST\r\n" in head and b"Content-Type: application/json" in head
    assert body == b'{"error": "use GET, POST"}\n'


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /health HTTP/2.0\r\n\r\n", b"505"),
        (
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
            b"431",
        ),
        (b"GET / HTTP/x.y\r\n\r\n", b"400"),
    ],
)
def test_the_standard_librarys_own_errors_are_json(
    server: _Server, request_bytes: bytes, status: bytes
) -> None:
    head, _, body = _exchange(server, request_bytes).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]


@pytest.mark.parametrize("size", [40_000, 70_000, 300_000])
def test_a_huge_head_gets_its_431_not_a_reset(server: _Server, size: int) -> None:
    """The client is still sending when the server refuses: the server drains what comes
    (for a bounded time) so the 431 arrives instead of a connection reset."""
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX: " + b"y" * size + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b'{"error": "Request Header Fields Too Large"}' in answer


def test_a_refused_client_that_keeps_sending_is_closed_after_the_drain(server: _Server) -> None:
    from tvmaze_sync.serve.httpd import DRAIN_SECONDS

    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX: " + b"y" * 70_000)
        assert sock.recv(65536).startswith(b"HTTP/1.1 431")
        started = time.monotonic()
        with contextlib.suppress(OSError):
            while time.monotonic() - started < DRAIN_SECONDS + 5:
                sock.sendall(b"y" * 1024)
                time.sleep(0.01)
        assert time.monotonic() - started < DRAIN_SECONDS + 5
