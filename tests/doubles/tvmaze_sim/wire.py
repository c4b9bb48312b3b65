"""What goes over the socket: TVMaze's JSON bytes, its JSON and nginx error bodies, the
API key a client sends, and the HTTP handler that hands each request to the simulator."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from tests.doubles.httpserver import SimulatorHandler

_REASONS: Final[dict[int, str]] = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class RequestRecord(NamedTuple):
    """One served request, as kept in :attr:`TvmazeSimulator.request_log`."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    extra_headers: tuple[tuple[str, str], ...] = ()


def _dumps(obj: Any) -> bytes:
    # Same bytes as the real API: compact, raw UTF-8, unescaped slashes.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _envelope(status: int, message: str = "") -> _Response:
    name = _REASONS.get(status, "Error")
    return _Response(
        status, _dumps({"name": name, "message": message, "code": 0, "status": status})
    )


def _html_error(status: int) -> _Response:
    title = f"{status} {_REASONS.get(status, 'Error')}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return _Response(status, body.encode("ascii"), content_type="text/html")


def _kind(path: str) -> str:
    if path == "/shows":
        return "page"
    if path == "/updates/shows":
        return "updates"
    if path.startswith("/shows/") and path[7:].isdigit():
        return "show"
    return "other"


def _api_key(authorization: str | None, query: dict[str, list[str]]) -> str | None:
    # Premium keys travel as HTTP Basic (user:key); some clients use ?apikey=.
    if "apikey" in query:
        return query["apikey"][-1]
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[1] if ":" in decoded else decoded
    return None


def _send(handler: SimulatorHandler, response: _Response, *, gzip_body: bool) -> None:
    body = response.body
    headers = [
        ("Content-Type", response.content_type),
        ("Access-Control-Allow-Origin", "*"),
        ("Vary", "Accept-Encoding"),
    ]
    if response.status < 429:
        headers.append(("Cache-Control", "public, max-age=3600"))
    headers.extend(response.extra_headers)
    if gzip_body and body:
        body = gzip.compress(body, compresslevel=5)
        headers.append(("Content-Encoding", "gzip"))
    handler.send_reply(response.status, headers, body)


class _Handler(SimulatorHandler):
    server_version = "nginx"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain so the connection stays usable
        self.sim.handle(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch
