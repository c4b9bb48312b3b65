"""A loopback HTTP server in a daemon thread, shared by the API simulators.

Tests and benchmarks need a real socket (so the client's HTTP stack, timeouts
and retries are exercised for real) without any network access; binding to
127.0.0.1 on port 0 lets many simulators run in parallel without clashes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self, cast


class _Server(ThreadingHTTPServer):
    # Daemon threads so a hung client connection never blocks interpreter exit.
    daemon_threads = True
    # Quick rebinding when a fixed port is reused between test runs.
    allow_reuse_address = True
    # Benchmarks open many connections at once; the default backlog of 5 drops them.
    request_queue_size = 128

    def get_request(self) -> tuple[socket.socket, Any]:
        # Handlers write headers and body in separate sends; with Nagle on, a
        # keep-alive client waits ~40 ms for the delayed ACK on every small
        # response, which would dominate tests and benchmarks.
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class _StartStop:
    """``with`` for anything that starts (returning itself) and stops."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackServer(_StartStop):
    """Serve ``handler_class`` on ``host:port`` until :meth:`stop`.

    Extra keyword arguments become attributes of the underlying server, so a
    handler can reach its simulator through ``self.server.<name>``.
    """

    def __init__(
        self,
        handler_class: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        **server_attrs: Any,
    ) -> None:
        self.handler_class = handler_class
        self.host = host
        self.port = port
        self.server_attrs = server_attrs
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self.httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if self.httpd is not None:
            return self
        httpd = _Server((self.host, self.port), self.handler_class)
        for name, value in self.server_attrs.items():
            setattr(httpd, name, value)
        self.httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self.httpd = self.httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class LoopbackSimulator(_StartStop):
    """A simulator served by a :class:`LoopbackServer` while started.

    Subclasses name their ``handler_class`` and set ``host`` and ``port``; the
    handler reaches the simulator as :attr:`SimulatorHandler.sim`.
    """

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    host: str
    port: int
    _server: LoopbackServer | None = None

    def start(self) -> Self:
        """Start serving in a daemon thread; returns self for chaining."""
        if self._server is None:
            self._server = LoopbackServer(self.handler_class, self.host, self.port, sim=self)
            self._server.start()
            self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.url


class SimulatorHandler(BaseHTTPRequestHandler):
    """What the simulators' request handlers share: keep-alive, a quiet log, one way to reply.

    HTTP/1.1 keeps connections alive like the real services, so benchmarks measure the
    client rather than TCP handshakes.
    """

    protocol_version = "HTTP/1.1"

    @property
    def sim(self) -> Any:
        """The simulator this server was started for (see :class:`LoopbackSimulator`)."""
        return cast(Any, self.server).sim

    def version_string(self) -> str:
        return self.server_version  # the bare product name, as the real servers send it

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr noise; the simulators keep their own logs."""

    def send_reply(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Write one response (no body for HEAD).

        A client that gave up (its timeout beat the answer) is not an error here: the
        request was still processed, which is what timeout tests are about.
        """
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
