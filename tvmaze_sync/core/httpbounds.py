"""Bounds on what an upstream may cost us: a deadline on each whole response, a size cap.

Both HTTP stacks time out per socket operation only: a server that sends one byte a second
never trips a 30 s read timeout, and one that streams 500 MB is read to the end. Here:

- TVMaze (requests/urllib3): `BoundedAdapter` reads every body itself, under
  `MAX_RESPONSE_BODY`, and a watchdog thread shuts the socket of a request still running at
  its deadline (headers trickled, body trickled: whatever the phase). The body it hands up
  is complete, so requests-cache above it never reads a socket.
- Sonarr (httpx, also under pyarr): `BoundedTransport` gives every socket read and write at
  most the time left before the request's deadline (a network backend wrapping httpcore's),
  and refuses a body over the cap while it streams in.

Both also refuse a body that would decode to far more than its size (`decoded_estimate`:
`[{},{},…]` is valid JSON twenty times bigger as Python objects), under per-side `Limits`:
the size cap alone is no bound on what json.loads builds. `bounded_mounts` routes the
  environment's proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, as httpx reads them)
  through a `BoundedTransport` each: httpx drops them once a transport is given, and its own
  proxy transports would carry no bound.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import requests
from httpx._utils import get_environment_proxies
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: The largest body read from an upstream. A TVMaze page is ~1 MB, Sonarr's series list a
#: few MB for a very large library; a body over this is refused, never read whole.
MAX_RESPONSE_BODY = 32 * 1024 * 1024
_CHUNK = 64 * 1024
_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one answer may cost: its bytes, and the objects they would decode to as JSON
    (`decoded_estimate`). The size cap alone lets 32 MB of `[{},{},…]` through, which
    json.loads turns into eleven million dicts (~750 MB)."""

    body: int = MAX_RESPONSE_BODY
    decoded: int = 4 * MAX_RESPONSE_BODY


#: TVMaze: its largest answer, the whole `/updates/shows` map, estimates at ~7 MB (a page at
#: ~1 MB): four times that, whatever the body's size.
TVMAZE_LIMITS = Limits(MAX_RESPONSE_BODY, 32 * _MB)
#: Sonarr's library (GET /series, and the other reads that grow with it) is its one large
#: answer: a real one estimates at two to three times its size, so a library at the size
#: cap still fits.
SONARR_LIBRARY_LIMITS = Limits(MAX_RESPONSE_BODY, 4 * MAX_RESPONSE_BODY)
#: Every other Sonarr answer (a lookup, a page of exclusions, the profiles, root folders
#: with their unmapped folders) is kilobytes, rarely a megabyte.
SONARR_LIMITS = Limits(4 * _MB, 16 * _MB)


def decoded_estimate(data: bytes) -> int:
    """What `data` would cost as Python objects once json.loads decodes it, beyond its own
    bytes (which the strings keep), estimated from above and cheaply (three byte counts, no
    parse): each `{` a dict with its first entries (~200 bytes), each `[` a list and each
    `,` one more value or entry (~64). Additive over the pieces of a body, so it is summed
    while the body streams in. A real TVMaze page costs 2.3 times its size by this measure,
    `[{},{},…]` 88 times."""
    return 200 * data.count(b"{") + 64 * (data.count(b"[") + data.count(b","))


def megabytes(size: int) -> str:
    return f"{size / _MB:.0f} MB"


def too_dense(limits: Limits) -> str:
    """Why an answer whose estimate passed `limits.decoded` is refused (the one wording)."""
    return f"JSON that would decode to over {megabytes(limits.decoded)} (too dense to be real)"


class ResponseTooLarge(requests.RequestException):
    """A TVMaze body (announced or read so far) over its `Limits`."""


class ResponseDeadline(requests.Timeout):
    """A TVMaze response not whole within `tvmaze.timeout`."""


def declared_length(value: str | None) -> int | None:
    """Content-Length as an int, or None when absent or not a plain number."""
    return int(value) if value and value.strip().isdigit() else None


# --- requests (TVMaze) ---------------------------------------------------------------------


class _Watchdog:
    """One daemon thread per adapter: shuts the socket of the request that outlives its
    deadline, which wakes the blocked read in the requesting thread with an error."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.expired = False

    def arm(self, seconds: float) -> None:
        with self._cond:
            self._deadline = time.monotonic() + seconds
            self._conn, self.expired = None, False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            self._cond.notify()

    def watch(self, conn: Any) -> None:
        with self._cond:
            self._conn = conn
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline, self._conn = None, None
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed, self._deadline, self._conn = True, None, None
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self.expired = True
                sock = getattr(self._conn, "sock", None)
                if sock is None:  # still connecting (bounded by the connect timeout)
                    self._cond.wait(0.05)
                    continue
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                self._deadline = None


_current = threading.local()  # the watchdog of the adapter sending in this thread


def _watch_connection(conn: Any) -> Any:
    watchdog = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(conn)
    return conn


class _WatchedHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watch_connection(super()._get_conn(timeout))


class _WatchedHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watch_connection(super()._get_conn(timeout))


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """Sends with a deadline on the whole exchange; reads the body under `MAX_RESPONSE_BODY`.

    `deadline` is seconds from the start of a request to the last byte of its body.
    """

    def __init__(self, deadline: float, limits: Limits = TVMAZE_LIMITS, **kwargs: Any) -> None:
        self.deadline = deadline
        self.limits = limits
        self.watchdog = _Watchdog()
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["stream"] = True
        self.watchdog.arm(self.deadline)
        _current.watchdog = self.watchdog
        try:
            response = super().send(request, **kwargs)
            _read_body(response, self.limits)
            return response
        except requests.RequestException:
            if self.watchdog.expired:
                raise ResponseDeadline(
                    f"no whole response within {self.deadline:g}s", request=request
                ) from None
            raise
        finally:
            _current.watchdog = None
            self.watchdog.disarm()

    def close(self) -> None:
        self.watchdog.close()
        super().close()


def _read_body(response: requests.Response, limits: Limits) -> None:
    """Read the whole body into `response` (as requests would), refusing one over the cap
    before reading it when it says so, else as soon as it passes the cap, or as soon as
    what it would decode to passes `limits.decoded`."""
    length = declared_length(response.headers.get("Content-Length"))
    if length is not None and length > limits.body:
        response.close()
        raise ResponseTooLarge(
            f"body of {megabytes(length)} announced, over the {megabytes(limits.body)} cap",
            request=response.request,
        )
    chunks: list[bytes] = []
    size = decoded = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        decoded += decoded_estimate(chunk)
        problem = None
        if size > limits.body:
            problem = f"body over the {megabytes(limits.body)} cap"
        elif decoded > limits.decoded:
            problem = f"body of {too_dense(limits)}"
        if problem is not None:
            response.close()
            raise ResponseTooLarge(problem, request=response.request)
        chunks.append(chunk)
    response._content = b"".join(chunks)


# --- httpx (Sonarr) --------------------------------------------------------------------------


class _Deadline(threading.local):
    at: float | None = None


_sonarr_deadline = _Deadline()


def _timeout_text() -> str:
    at = _sonarr_deadline.at
    if at is not None and at - time.monotonic() <= 0:
        return "no whole answer within the timeout"
    return "timed out"


def _left(timeout: float | None) -> float | None:
    """The socket timeout to use: the phase's own, at most the time left before the deadline."""
    at = _sonarr_deadline.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("no whole answer within the timeout")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self.inner.read(max_bytes, _left(timeout))
        except httpcore.ReadTimeout:
            raise httpcore.ReadTimeout(_timeout_text()) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self.inner.write(buffer, _left(timeout))
        except httpcore.WriteTimeout:
            raise httpcore.WriteTimeout(_timeout_text()) from None

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _BoundedStream(self.inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _BoundedStream(self.inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _BoundedStream(self.inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class SonarrTooLarge(httpx.ReadError):
    """A Sonarr answer over its `Limits` (or compressed though we asked for none)."""


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport with a deadline on each whole exchange and the body cap.

    The requests we send ask for `Accept-Encoding: identity`, so the bytes counted are the
    bytes decoded; a compressed answer is refused rather than inflated unbounded.
    """

    def __init__(
        self,
        deadline: float,
        limits: Callable[[httpx.Request], Limits] = lambda _: SONARR_LIMITS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self.limits = limits  # per request: the caller knows which answers are large
        # httpx takes no network backend; its pool keeps the one it was built with here.
        self._pool._network_backend = _BoundedBackend()  # type: ignore[union-attr]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _sonarr_deadline.at = time.monotonic() + self.deadline
        try:
            response = super().handle_request(request)
        except BaseException:
            _sonarr_deadline.at = None
            raise
        limits = self.limits(request)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        length = declared_length(response.headers.get("Content-Length"))
        problem = None
        if encoding != "identity":
            problem = f"compressed answer ({encoding}) though none was asked for"
        elif length is not None and length > limits.body:
            problem = (
                f"answer of {megabytes(length)} announced, over the {megabytes(limits.body)} cap"
            )
        if problem is not None:
            response.close()
            _sonarr_deadline.at = None
            raise SonarrTooLarge(problem, request=request)
        response.stream = _CappedStream(response.stream, request, limits)
        return response


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, request: httpx.Request, limits: Limits) -> None:
        self.inner = inner
        self.request = request
        self.limits = limits

    def __iter__(self) -> Iterator[bytes]:
        size = decoded = 0
        for chunk in self.inner:
            size += len(chunk)
            decoded += decoded_estimate(chunk)
            if size > self.limits.body:
                raise SonarrTooLarge(
                    f"answer over the {megabytes(self.limits.body)} cap", request=self.request
                )
            if decoded > self.limits.decoded:
                raise SonarrTooLarge(f"answer of {too_dense(self.limits)}", request=self.request)
            yield chunk

    def close(self) -> None:
        _sonarr_deadline.at = None
        self.inner.close()


def bounded_mounts(
    deadline: float, limits: Callable[[httpx.Request], Limits] = lambda _: SONARR_LIMITS
) -> dict[str, BoundedTransport | None]:
    """The environment's proxies for an httpx client, each through a `BoundedTransport`.

    The same map httpx would build for itself (`NO_PROXY` hosts mounted as None: the
    client's own transport, direct), so a proxied request has the deadline and the cap of a
    direct one. Raises ValueError (an unknown proxy scheme) or ImportError (SOCKS without
    `socksio`); the caller names the variable.
    """
    return {
        pattern: None if url is None else BoundedTransport(deadline, limits, proxy=url)
        for pattern, url in get_environment_proxies().items()
    }
