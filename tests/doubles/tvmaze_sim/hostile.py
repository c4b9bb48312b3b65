"""A hostile upstream on a loopback port: every request gets the same misbehaviour.

The TVMaze simulator misbehaves like a busy API (5xx, 429, cut bodies); this one like a
broken or malicious one: redirects that loop or lead elsewhere, HTML or garbage where JSON
was due, JSON nested 100,000 deep, a body trickled one byte at a time, a 500 MB body, and
Content-Length headers that lie. It speaks raw bytes on the socket, so each lie reaches the
client exactly as written. Big bodies are generated block by block as they are sent (never
built in memory); `bytes_sent` tells how much a client really read.

`dense` is the opposite: valid JSON under any size cap that decodes to twenty times its
size (`[{},{},…]`).

Used against the TVMaze client (tests/test_tvmaze_hostile.py) and the Sonarr gateway alike:
the paths do not matter, every request gets the mode's answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, Final, cast

from tests.doubles.httpserver import LoopbackSimulator

MB: Final = 1024 * 1024
BLOCK: Final = 64 * 1024
NESTED_DEPTH: Final = 100_000

#: Every mode, with what it answers.
MODES: Final = {
    "redirect_loop": "302 to the very URL asked",
    "redirect_ftp": "301 to ftp://",
    "redirect_host": "302 to another host",
    "bad_location": "302 to a malformed URL",
    "html": "200 with an HTML page",
    "garbage": "200 'application/json' with random bytes",
    "nested": "200 with 100,000 '[' (and no ']')",
    "deep": "200 with valid JSON nested 40 levels",
    "trickle": "200 whose body comes one byte per `interval`",
    "trickle_headers": "the status line and headers one byte per `interval`",
    "huge": "200 with a 500 MB body (Content-Length given)",
    "huge_chunked": "200 with an endless chunked body (no Content-Length)",
    "dense": "200 with `dense_size` bytes of `[{},{},…]` (Content-Length given)",
    "length_over": "Content-Length of 600 MB on a 2-byte body",
    "length_short": "Content-Length 1000 on a 10-byte body, then the connection closes",
    "length_under": "Content-Length 5 on a longer body (the rest poisons the connection)",
}


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found"}.get(status, "")
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_head(length: int | None, content_type: str = "application/json; charset=UTF-8") -> bytes:
    headers = [("Content-Type", content_type)]
    if length is not None:
        headers.append(("Content-Length", str(length)))
    else:
        headers.append(("Transfer-Encoding", "chunked"))
    return _head(200, headers)


def _redirect(status: int, location: str) -> bytes:
    return _head(status, [("Location", location), ("Content-Length", "0")])


def _garbage(size: int) -> bytes:
    # Deterministic bytes that are neither UTF-8 nor JSON.
    return bytes((i * 131 + 7) % 256 for i in range(size))


class _HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def upstream(self) -> HostileUpstream:
        return cast(Any, self.server).sim

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` and `bytes_sent`."""

    def do_GET(self) -> None:
        upstream = self.upstream
        upstream.record(self.path)
        try:
            for piece in self._answer(upstream.mode):
                if upstream.stopping:
                    break
                self.wfile.write(piece)
                self.wfile.flush()
                upstream.sent(len(piece))
        except (BrokenPipeError, ConnectionResetError):
            pass
        if upstream.mode in ("length_short", "huge", "huge_chunked", "dense") or upstream.stopping:
            self.close_connection = True

    do_POST = do_PUT = do_DELETE = do_GET

    def _answer(self, mode: str) -> Iterator[bytes]:
        here = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
        simple = {
            "redirect_loop": lambda: _redirect(302, here),
            "redirect_ftp": lambda: _redirect(301, "ftp://127.0.0.1/shows"),
            "redirect_host": lambda: _redirect(302, "http://tvmaze.example.invalid/updates/shows"),
            "bad_location": lambda: _redirect(302, "http://[::1/updates\x1b[31m"),
        }
        if mode in simple:
            yield simple[mode]()
        elif mode in ("html", "garbage", "nested", "deep", "length_over", "length_short"):
            yield from _body_answer(mode)
        elif mode == "length_under":
            body = b'{"1": 2000000000}'
            yield _json_head(5) + body
        elif mode == "trickle":
            yield _json_head(4096)
            yield from self._trickle(b"[" + b" " * 4094 + b"]")
        elif mode == "trickle_headers":
            yield from self._trickle(_json_head(2) + b"{}")
        elif mode == "huge":
            yield _json_head(self.upstream.huge_size)
            yield from _blocks(self.upstream.huge_size)
        elif mode == "dense":
            yield _json_head(self.upstream.dense_size)
            yield from _dense(self.upstream.dense_size)
        else:  # huge_chunked
            yield _json_head(None)
            for block in _blocks(self.upstream.huge_size):
                yield f"{len(block):x}\r\n".encode() + block + b"\r\n"
            yield b"0\r\n\r\n"

    def _trickle(self, data: bytes) -> Iterator[bytes]:
        for i in range(len(data)):
            if i:
                time.sleep(self.upstream.interval)
            yield data[i : i + 1]


def _body_answer(mode: str) -> Iterator[bytes]:
    if mode == "html":
        body = b"<html><head><title>Maintenance</title></head><body>Back soon</body></html>"
        yield _json_head(len(body), "text/html; charset=UTF-8") + body
    elif mode == "garbage":
        body = _garbage(2048)
        yield _json_head(len(body)) + body
    elif mode == "nested":
        yield _json_head(NESTED_DEPTH) + b"[" * NESTED_DEPTH
    elif mode == "deep":
        body = b'{"1": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}"
        yield _json_head(len(body)) + body
    elif mode == "length_over":
        yield _json_head(600 * MB) + b"{}"
    else:  # length_short
        yield _json_head(1000) + b'{"1": 2000'


def _dense(size: int) -> Iterator[bytes]:
    """`size` bytes of valid JSON, `[{},{},…,{}]` (padded with spaces; at least 4): within
    any size cap, yet each 3 bytes decode to an empty dict (64 bytes and a pointer)."""
    count = max(1, (size - 1) // 3)
    pad = max(0, size - (3 * count + 1))
    block = b"{}," * (BLOCK // 3)
    yield b"["
    left = count - 1  # the last `{}` goes without a comma
    while left > 0:
        piece = block[: 3 * min(left, BLOCK // 3)]
        left -= len(piece) // 3
        yield piece
    yield b"{}" + b" " * pad + b"]"


def _blocks(size: int) -> Iterator[bytes]:
    """`size` bytes of a JSON-looking array, one reused block at a time: one long string
    (`["xxx…`), so only its size, never its density, gets it refused."""
    block = b"x" * BLOCK
    left = size
    first = True
    while left > 0:
        piece = (b'["' + block[2:] if first else block)[: min(BLOCK, left)]
        first = False
        left -= len(piece)
        yield piece


class HostileUpstream(LoopbackSimulator):
    """Serve `mode` (one of MODES) to every request until stopped; the mode may change."""

    handler_class = _HostileHandler

    def __init__(
        self,
        mode: str,
        *,
        interval: float = 1.0,
        huge_size: int = 500 * MB,
        dense_size: int = 30 * MB,
        port: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.interval = interval
        self.huge_size = huge_size
        self.dense_size = dense_size  # under the clients' 32 MB cap: the size lets it through
        self.host = "127.0.0.1"
        self.port = port
        self.requests: list[str] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def sent(self, count: int) -> None:
        with self._lock:
            self.bytes_sent += count

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()
