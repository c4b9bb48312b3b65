"""A loopback HTTP server in a daemon thread, shared by the API simulators.

Tests and benchmarks need a real socket (so the client's HTTP stack, timeouts
and retries are exercised for real) without any network access; binding to
127.0.0.1 on port 0 lets many simulators run in parallel without clashes.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


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


class LoopbackServer:
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
