"""From a request to a reply: faults in front, the URL base, routes, authentication, the
request log, and the HTTP handler that feeds the simulator from a socket."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.doubles.httpserver import SimulatorHandler
from tests.doubles.sonarr_sim.faults import Faults
from tests.doubles.sonarr_sim.helpers import _blank, _header
from tests.doubles.sonarr_sim.messages import RequestRecord, _Ctx, _HttpError, _Reply


class Router(Faults):
    """Answers one request through the route table (``State._routes``)."""

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str = ""
    ) -> _Reply:
        """Answer one request (also usable without HTTP, for unit tests of the simulator)."""
        split = urlsplit(target)
        raw_query = parse_qs(split.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, values in raw_query.items():
            query.setdefault(key.lower(), []).extend(values)
        ctx = _Ctx(method.upper(), split.path, query, headers, body, host)
        with self._lock:
            try:
                reply = self._dispatch(ctx)
            except _HttpError as err:
                reply = err.reply
            if ctx.deprecated and reply.status < 400:
                reply.headers.setdefault("Deprecation", "true")
            api = split.path.lower().startswith(self.url_base.lower() + "/api")
            if api and reply.app and reply.status != 401:
                reply.headers.setdefault("X-Application-Version", self.version)
            self._log.append(
                RequestRecord(
                    method=ctx.method,
                    path=split.path,
                    query=raw_query,
                    status=reply.status,
                    body=_log_body(body),
                    headers=dict(headers.items()),
                    at=time.time(),
                )
            )
            return reply

    def _dispatch(self, ctx: _Ctx) -> _Reply:
        if self._take(self._drops, ctx.method, ctx.path):
            return _Reply(0, drop=True)
        fault = self._take(self._faults, ctx.method, ctx.path)
        if fault is not None:
            reply = self._fault_reply(fault.status, fault.body, fault.headers, fault.content_type)
            reply.app = False
            return reply
        if self.error_rate > 0 and self._rng.random() < self.error_rate:
            reply = self._fault_reply(self.error_status, None, {})
            reply.app = False
            return reply

        path = ctx.path
        if self.url_base:
            if not path.lower().startswith(self.url_base.lower()):
                return _Reply(404)
            path = path[len(self.url_base) :]
        segments = [s for s in path.lower().split("/") if s]

        handlers, params = self._match(segments)
        if handlers is None:
            return _Reply(404)
        ctx.params = params
        anonymous = segments == ["ping"]
        if not anonymous and not self._authenticated(ctx):
            return _Reply(401)
        handler = handlers.get(ctx.method)
        if handler is None:
            return _Reply(405, headers={"Allow": ", ".join(sorted(handlers))})
        return handler(ctx)

    def _authenticated(self, ctx: _Ctx) -> bool:
        if self.unauthorized:
            return False
        if self.is_v3:  # Sonarr 3: X-Api-Key header first, then the ApiKey query parameter
            key = _header(ctx.headers, "X-Api-Key") or ctx.q("apikey")
        elif "apikey" in ctx.query:  # the query parameter wins even when it is wrong
            key = ctx.q("apikey")
        elif _header(ctx.headers, "X-Api-Key") is not None:
            key = _header(ctx.headers, "X-Api-Key")
        else:
            auth = _header(ctx.headers, "Authorization")
            key = auth.replace("Bearer ", "") if auth is not None else None
        return not _blank(key) and key == self.api_key

    def _match(
        self, segments: list[str]
    ) -> tuple[dict[str, Callable[[_Ctx], _Reply]] | None, dict[str, int]]:
        for pattern, handlers in self._routes:  # literal routes before {id}
            if "{id}" not in pattern and list(pattern) == segments:
                if pattern[-1] == "paged" and not self.paged_exclusions:
                    return None, {}
                return handlers, {}
        for pattern, handlers in self._routes:
            if len(pattern) != len(segments) or "{id}" not in pattern:
                continue
            params: dict[str, int] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want == "{id}":
                    if not re.fullmatch(r"-?\d{1,10}", got) or abs(int(got)) >= 2**31:
                        break
                    params["id"] = int(got)
                elif want != got:
                    break
            else:
                return handlers, params
        return None, {}


def _log_body(body: bytes) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class _Handler(SimulatorHandler):
    """Feeds each request to the simulator and writes its reply."""

    server_version = "Kestrel"

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        sim: Router = self.sim
        body = self._read_body()
        path_only = urlsplit(self.path).path
        before, after = sim._timing(self.command, path_only)
        if before:
            time.sleep(before)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name, value)  # like FirstOrDefault(): the first one counts
        host = self.headers.get("Host") or f"{sim.host}:{sim.port}"
        reply = sim.handle(self.command, self.path, headers, body, host)
        if after:
            time.sleep(after)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        content_type = [("Content-Type", reply.content_type)] if reply.content_type else []
        self.send_reply(reply.status, [*content_type, *reply.headers.items()], reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve
