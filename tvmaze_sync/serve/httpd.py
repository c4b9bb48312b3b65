"""A small HTTP/1.1 server for `serve` that cannot be starved by slow or idle clients.

Why not the standard library's ThreadingHTTPServer: it starts one thread per connection with
no upper bound, and its socket timeout is per read, so a client that trickles one header line
every few seconds holds a thread and a file descriptor for as long as it likes. A thousand of
them exhaust `ulimit -n 1024` and `/health`, `/state` and `POST /trigger` stop answering.

Here one thread owns every socket (a `selectors` loop, non-blocking I/O), and the request
handler only ever sees a complete request held in memory:

* at most `max_connections` sockets are open (derived from RLIMIT_NOFILE, so accept never
  runs out of descriptors); at the cap a new connection evicts the connection that has
  waited longest without finishing a request (idle keep-alive, trickler or slow reader);
* a request's headers and body must arrive within `READ_DEADLINE` seconds in all, counted
  from when the connection became ready for it, however the bytes trickle in; a response
  must be taken within `WRITE_DEADLINE` seconds; past either the connection is closed;
* a fixed pool of `WORKERS` daemon threads runs the handler, with a bounded queue (a full
  queue answers 503 at once); `inline_paths` (`/health`) are answered by the loop itself,
  so the liveness probe answers even while every worker waits on a slow dependency.

Standard library only: the handler is an ordinary BaseHTTPRequestHandler (BufferedHandler)
reading from and writing to memory, so routing and responses stay as they were.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import json
import logging
import queue
import re
import resource
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Seconds a client gets to send one whole request (headers and body), however it trickles.
READ_DEADLINE = 10.0
#: Seconds a client gets to take one whole response.
WRITE_DEADLINE = 30.0
#: Handler threads; requests beyond them wait in a queue of QUEUE_PER_WORKER each.
WORKERS = 8
QUEUE_PER_WORKER = 8
#: Open connections at most, whatever the descriptor limit allows.
MAX_CONNECTIONS = 512
MIN_CONNECTIONS = 16
#: Request heads above this are refused (431); bodies above MAX_REQUEST_BODY are not read.
MAX_HEAD = 32 * 1024
MAX_REQUEST_BODY = 64 * 1024
#: How often deadlines are checked, and evictions summarised in the log.
SWEEP_EVERY = 0.25
EVICTION_LOG_EVERY = 60.0

#: The empty line that ends a request head; bare LF line ends are accepted, as http.client's
#: header parser (which BaseHTTPRequestHandler uses) accepts them.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*([^\r\n]*)", re.IGNORECASE)
_TRANSFER_ENCODING = re.compile(rb"\ntransfer-encoding:", re.IGNORECASE)


def connection_cap(limit: int | None = None) -> int:
    """Half the soft descriptor limit (the rest is for SQLite, the cycle's HTTP, logs)."""
    if limit is None:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit == resource.RLIM_INFINITY or limit <= 0:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, limit // 2))


def frame_request(buffer: bytes | bytearray) -> tuple[int, bool] | None:
    """Where the first request in `buffer` ends, and whether the connection must close.

    None while the request is incomplete. A body is framed by Content-Length only (no
    endpoint takes one): a chunked, unparsable or oversized body is not read, and the
    connection closes after the answer, so its bytes never pass for the next request.
    """
    found = _HEAD_END.search(buffer)
    if found is None:
        return None
    head, end = bytes(buffer[: found.start() + 1]), found.end()
    if _TRANSFER_ENCODING.search(head):
        return end, True
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return end, False
    value = match.group(1).strip()
    if not value.isdigit() or int(value) > MAX_REQUEST_BODY:
        return end, True
    if len(buffer) < end + int(value):
        return None
    return end + int(value), False


def request_path(request: bytes) -> str:
    """The path of a request line, without query and trailing slash ("" if unparsable)."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3:
        return ""
    return urlsplit(parts[1]).path.rstrip("/") or "/"


class BufferedHandler(BaseHTTPRequestHandler):
    """A BaseHTTPRequestHandler over one request held in memory; the answer goes to memory.

    `request` is the request's bytes; after construction `response` holds the answer and
    `keep_alive` says whether the client may send another request on the connection.
    """

    request: bytes  # type: ignore[assignment]
    response: bytes
    keep_alive: bool

    def setup(self) -> None:
        self.connection = None  # type: ignore[assignment]
        self.rfile = io.BytesIO(self.request)
        self.wfile = io.BytesIO()

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def finish(self) -> None:
        self.response = self.wfile.getvalue()  # type: ignore[attr-defined]
        self.keep_alive = not self.close_connection

    def allowed_methods(self, path: str) -> str | None:
        """The `Allow` header for `path` (a subclass knows its routes), None if no such path.
        By default every method this handler has a `do_` method for, on any path."""
        return ", ".join(sorted(name[3:] for name in dir(self) if name.startswith("do_")))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error the standard library answers by itself (a bad request line, too many
        headers, HTTP/2, an unknown method) in the server's JSON shape, `{"error": …}`.

        A method the handler has no `do_` for is 405 with `Allow` on a known path, 404 on
        another (the standard library would say 501 and send an HTML page).
        """
        status, headers = HTTPStatus(code), []
        if status == HTTPStatus.NOT_IMPLEMENTED and self.command:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            allowed = self.allowed_methods(path)
            if allowed:
                status, message = HTTPStatus.METHOD_NOT_ALLOWED, f"use {allowed}"
                headers.append(("Allow", allowed))
            else:
                status, message = HTTPStatus.NOT_FOUND, f"no endpoint {path}"
        if self.request_version == "HTTP/0.9":  # not parsed yet: answer with a status line
            self.request_version = "HTTP/1.1"
        body = (json.dumps({"error": message or status.phrase}) + "\n").encode()
        log.debug("http_refused status=%d error=%r", status, message or status.phrase)
        self.send_response(status)
        for name, value in (
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *headers,
            ("Connection", "close"),
        ):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True


def _answer(status: int, reason: str, extra: str = "") -> bytes:
    body = f'{{"error": "{reason}"}}\n'.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


TOO_BUSY = _answer(503, "Service Unavailable", "Retry-After: 1\r\n")
HEAD_TOO_LARGE = _answer(431, "Request Header Fields Too Large")

READING, BUSY, WRITING, DRAINING = "reading", "busy", "writing", "draining"
#: Seconds a refused client's unread bytes are read and dropped after the answer: closing
#: with them unread would reset the connection, and the client would never see the 431.
DRAIN_SECONDS = 2.0
#: SO_LINGER on, 0 s: close() sends a reset and frees the send buffer at once.
_RESET = struct.pack("ii", 1, 0)


def _listen(address: tuple[str, int]) -> socket.socket:
    """Bind and listen as socketserver does (SO_REUSEADDR, IPV6_V6ONLY left to the system)."""
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    address: Any
    state: str = READING
    deadline: float = 0.0
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: memoryview | None = None
    keep_alive: bool = False
    drain: bool = False  # the client may still be sending: drain before closing
    events: int = 0  # what the selector watches for: 0 (nothing), EVENT_READ or EVENT_WRITE


class BoundedHTTPServer:
    """Listen on `address` and answer with `handler_class` (a BufferedHandler subclass).

    Same lifecycle as socketserver: `serve_forever()` in a thread, `shutdown()` from another,
    then `server_close()`. Attributes set on the instance are visible to handlers as
    `self.server.<name>` (serve sets `runner`).
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[BufferedHandler],
        *,
        max_connections: int | None = None,
        workers: int = WORKERS,
        inline_paths: frozenset[str] = frozenset(),
        read_deadline: float = READ_DEADLINE,
        write_deadline: float = WRITE_DEADLINE,
    ) -> None:
        self.socket = _listen(address)
        self.server_address = self.socket.getsockname()
        self.handler_class = handler_class
        self.max_connections = max_connections or connection_cap()
        self.inline_paths = inline_paths
        self.read_deadline, self.write_deadline = read_deadline, write_deadline
        self._selector = selectors.DefaultSelector()
        self._conns: dict[socket.socket, _Conn] = {}
        # Connections not being handled, longest-waiting first: the eviction order.
        self._waiting: collections.OrderedDict[_Conn, None] = collections.OrderedDict()
        self._jobs: queue.Queue[tuple[_Conn, bytes] | None]
        self._jobs = queue.Queue(workers * QUEUE_PER_WORKER)
        self._done: queue.Queue[tuple[_Conn, bytes, bool]] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._ready: collections.deque[_Conn] = collections.deque()  # pipelined requests
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._evicted = 0
        self._evictions_logged = time.monotonic()
        self._workers = [
            threading.Thread(target=self._work, name=f"http-worker-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._workers:
            thread.start()

    # --- lifecycle -----------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        self._selector.register(self.socket, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        swept = time.monotonic()
        try:
            while not self._stop.is_set():
                timeout = 0 if self._ready else min(poll_interval, SWEEP_EVERY)
                for key, events in self._selector.select(timeout):
                    self._dispatch(key.fileobj, events)  # type: ignore[arg-type]
                for _ in range(len(self._ready)):
                    conn = self._ready.popleft()
                    if conn.state == READING and conn.sock in self._conns:
                        self._take_request(conn)
                now = time.monotonic()
                if now - swept >= SWEEP_EVERY:
                    swept = now
                    self._sweep(now)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever (from another thread) and wait until it has returned."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn)
        for _ in self._workers:
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                break  # daemon threads: they die with the process
        self._selector.close()
        self.socket.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- the loop ------------------------------------------------------------------------

    def _dispatch(self, fileobj: socket.socket, events: int) -> None:
        if fileobj is self.socket:
            self._accept()
        elif fileobj is self._wake_r:
            self._drain_wake()
        else:
            conn = self._conns.get(fileobj)
            if conn is None:
                return
            if events & selectors.EVENT_READ and conn.state == READING:
                self._read(conn)
            elif events & selectors.EVENT_READ and conn.state == DRAINING:
                self._discard(conn)
            elif events & selectors.EVENT_WRITE and conn.state == WRITING:
                self._write(conn)

    def _accept(self) -> None:
        for _ in range(64):  # drain the backlog so a probe never waits behind it
            try:
                sock, address = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE) and self._evict():
                    continue
                log.warning("http_accept_failed error=%s", error.strerror or error)
                time.sleep(0.05)  # the listening socket stays readable: do not spin
                return
            if len(self._conns) >= self.max_connections and not self._evict():
                sock.close()  # every connection is being answered: no room
                continue
            sock.setblocking(False)
            conn = _Conn(sock, address)
            self._conns[sock] = conn
            self._start_reading(conn)

    def _evict(self) -> bool:
        """Close the connection that has waited longest without a whole request."""
        if not self._waiting:
            return False
        conn = next(iter(self._waiting))
        self._evicted += 1
        self._close(conn, abort=True)
        return True

    def _watch(self, conn: _Conn, events: int) -> None:
        """Have the selector watch `conn` for `events` (0: not at all, while it is handled)."""
        if events == conn.events:
            return
        if not conn.events:
            self._selector.register(conn.sock, events)
        elif not events:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, events)
        conn.events = events

    def _start_reading(self, conn: _Conn) -> None:
        conn.state, conn.deadline = READING, time.monotonic() + self.read_deadline
        self._watch(conn, selectors.EVENT_READ)
        self._waiting[conn] = None
        self._waiting.move_to_end(conn)
        if conn.inbuf:  # a pipelined request may already be whole: the loop looks next
            self._ready.append(conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.inbuf += data
        self._take_request(conn)

    def _take_request(self, conn: _Conn) -> None:
        if len(conn.inbuf) > MAX_HEAD and not _HEAD_END.search(conn.inbuf, 0, MAX_HEAD + 4):
            conn.inbuf.clear()
            conn.state, conn.drain = BUSY, True
            self._waiting.pop(conn, None)
            self._watch(conn, 0)
            self._respond(conn, HEAD_TOO_LARGE, keep_alive=False)
            return
        framed = frame_request(conn.inbuf)
        if framed is None:
            return
        end, must_close = framed
        request = bytes(conn.inbuf[:end])
        del conn.inbuf[:end]
        if must_close:
            conn.inbuf.clear()
            conn.drain = True  # an unread body may still be on its way
        conn.keep_alive = not must_close
        conn.state = BUSY
        self._waiting.pop(conn, None)
        self._watch(conn, 0)  # nothing is read while the request is answered
        if request_path(request) in self.inline_paths:
            response, keep_alive = self._handle(conn, request)
            self._respond(conn, response, keep_alive)
            return
        try:
            self._jobs.put_nowait((conn, request))
        except queue.Full:
            self._respond(conn, TOO_BUSY, keep_alive=False)

    def _handle(self, conn: _Conn, request: bytes) -> tuple[bytes, bool]:
        try:
            handler = self.handler_class(request, conn.address, self)  # type: ignore[arg-type]
        except Exception:
            log.exception("http_handler_crashed")
            return b"", False
        return handler.response, handler.keep_alive

    def _respond(self, conn: _Conn, response: bytes, keep_alive: bool) -> None:
        if not response:
            self._close(conn)
            return
        conn.keep_alive = conn.keep_alive and keep_alive
        conn.state, conn.deadline = WRITING, time.monotonic() + self.write_deadline
        conn.outbuf = memoryview(response)
        self._waiting[conn] = None
        self._waiting.move_to_end(conn)
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        assert conn.outbuf is not None
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.outbuf = conn.outbuf[sent:]
        if len(conn.outbuf):
            self._watch(conn, selectors.EVENT_WRITE)  # the selector says when it takes more
            return
        conn.outbuf = None
        if not conn.keep_alive:
            self._finish(conn)
            return
        self._start_reading(conn)

    def _finish(self, conn: _Conn) -> None:
        """Close after the last answer; a client that may still be sending is drained first
        (its bytes read and dropped, for DRAIN_SECONDS at most) so the answer is not lost
        to a reset."""
        if not conn.drain:
            self._close(conn)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.state, conn.deadline = DRAINING, time.monotonic() + DRAIN_SECONDS
        conn.inbuf.clear()
        self._waiting[conn] = None
        self._waiting.move_to_end(conn)
        self._watch(conn, selectors.EVENT_READ)

    def _discard(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)

    def _close(self, conn: _Conn, abort: bool = False) -> None:
        """Close; `abort` resets instead, dropping what the kernel still holds to send."""
        self._waiting.pop(conn, None)
        if self._conns.pop(conn.sock, None) is None:
            return
        self._watch(conn, 0)
        if abort:
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        conn.sock.close()

    def _sweep(self, now: float) -> None:
        """Close connections past their deadline (a trickler cannot push its deadline)."""
        for conn in [c for c in self._waiting if c.deadline <= now]:
            self._close(conn, abort=conn.state == WRITING or bool(conn.inbuf))
        if self._evicted and now - self._evictions_logged >= EVICTION_LOG_EVERY:
            log.warning(
                "http_connections_evicted count=%d cap=%d", self._evicted, self.max_connections
            )
            self._evicted, self._evictions_logged = 0, now

    # --- workers -------------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            conn, request = job
            response, keep_alive = self._handle(conn, request)
            self._done.put((conn, response, keep_alive))
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe is already a wake-up (or closing)
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                conn, response, keep_alive = self._done.get_nowait()
            except queue.Empty:
                return
            if conn.sock in self._conns:
                self._respond(conn, response, keep_alive)
