"""`tvmaze-sync serve`: the HTTP endpoints, over the same core as the CLI.

A daemon face of the cron tool, for the container image (whose default command is `serve`):
the poll loop, the cycle runner and the shutdown sequence live in runner.py.

httpd.BoundedHTTPServer answers from a fixed pool of threads with bounded connections and
per-request deadlines (so slow or idle clients cannot starve the probes), and every request
opens its own read-only Store, so a scrape or a query never waits for a running cycle
(SQLite WAL lets readers run beside the writer).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import signal
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tvmaze_sync import __version__
from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config
from tvmaze_sync.core.errors import ConfigError, StorageError
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.core.timeutil import Clock, system_clock
from tvmaze_sync.decisions import vocabulary
from tvmaze_sync.serve.httpd import BoundedHTTPServer, BufferedHandler
from tvmaze_sync.serve.runner import CycleRunner
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.query import ShowQuery, count_shows, query_shows
from tvmaze_sync.storage.state import StateFile, read_state
from tvmaze_sync.storage.store import DB_NAME, Store

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 10**9

#: Statuses `/sonarr/list` offers: shows that pass the filters and that Sonarr can import
#: (pending = decided and waiting, added/exists = already in Sonarr, so a list-driven Sonarr
#: keeps them). pending_tvdb has no usable TVDB id; failed, skipped, excluded and
#: removed_by_user are shows the user or Sonarr said no to.
SONARR_LIST_STATUSES = (ProcessingStatus.PENDING, ProcessingStatus.ADDED, ProcessingStatus.EXISTS)
#: Seconds `/sonarr/list` asks a client to wait (Retry-After) while it has no complete list.
LIST_RETRY_AFTER = 300
#: Paths the accept loop answers itself, never queued behind a busy worker: the liveness
#: probe must answer while every worker waits on a slow Sonarr or a large page.
INLINE_PATHS = frozenset({"/health"})


# --- pure request logic (unit-tested without a socket) --------------------------------------


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback; anything unparsable is not loopback."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def authorize(
    authorization: str | None, client_host: str, token: str | None
) -> tuple[HTTPStatus, str] | None:
    """May this client use a POST endpoint? None if so, else the status and why not.

    With `server.token` set, `Authorization: Bearer <token>` must match (constant-time, so
    response timing does not leak the token). Without a token only loopback clients may
    write: an unauthenticated endpoint that starts work must not face the network.
    """
    if token:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), token.encode("utf-8")
        ):
            return HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token"
        return None
    if not is_loopback(client_host):
        return (
            HTTPStatus.FORBIDDEN,
            "POST endpoints answer only loopback clients while server.token is unset",
        )
    return None


class BadRequest(ValueError):
    """A query value we refuse; its message is the one line the client sees (HTTP 400)."""


_DIGITS = re.compile(r"[0-9]{1,12}")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _int_param(params: Mapping[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    if name not in params:
        return default
    text = params[name][0]
    if not _DIGITS.fullmatch(text) or not lo <= int(text) <= hi:
        raise BadRequest(f"{name}: {_shown(text)} is not valid; expected an integer {lo}-{hi}")
    return int(text)


#: GET /shows parameters: the filters `tvmaze-sync shows` checks against the vocabulary, too.
SHOWS_PARAMETERS = ("status", "reason", "country", "language", "limit", "offset")


def parse_shows_query(query: str, mirror: vocabulary.Mirror | None = None) -> ShowQuery:
    """`status=&reason=&country=&language=&limit=&offset=` -> ShowQuery, or BadRequest
    naming the bad parameter. A value no show can have is refused with the nearest word, as
    `tvmaze-sync shows` refuses it (the words of `mirror`, the cache, count too): a typo
    must not pass for an empty list."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - set(SHOWS_PARAMETERS))
    if unknown:
        raise BadRequest(
            f"unknown parameter {_shown(unknown[0])}; expected {', '.join(SHOWS_PARAMETERS)}"
        )
    for name, values in params.items():
        if len(values) > 1:
            raise BadRequest(f"{name}: given more than once")
    text = {name: values[0] for name, values in params.items()}
    for name in ("reason", "country", "language"):
        if name in text and not text[name].strip():
            raise BadRequest(f"{name}: empty; leave the parameter out for any")
    problems = vocabulary.check_listing(
        text.get("country"),
        text.get("language"),
        text.get("reason"),
        mirror or vocabulary.Mirror(None),
        name="{}:",
    )
    if problems:
        raise BadRequest("; ".join(problems))
    return ShowQuery(
        status=_status_param(text.get("status")),
        reason=text.get("reason"),
        country=text.get("country"),
        language=text.get("language"),
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, MAX_OFFSET),
    )


def _status_param(text: str | None) -> ProcessingStatus | None:
    if text is None:
        return None
    try:
        return ProcessingStatus(text)
    except ValueError:
        statuses = [s.value for s in ProcessingStatus]
        near = vocabulary.nearest(text, statuses)
        hint = f"; did you mean {near!r}?" if near else f"; one of {', '.join(statuses)}"
        raise BadRequest(f"status: {_shown(text)} is not a processing status{hint}") from None


# --- read-only queries (each opens and closes its own connection) ---------------------------


def shows_page(store: Store, wanted: ShowQuery) -> dict[str, Any]:
    """GET /shows: one page of cached shows in TVMaze id order, and how many match in all."""
    return {
        "total": count_shows(store, wanted),
        "limit": wanted.limit,
        "offset": wanted.offset,
        "shows": query_shows(store, wanted),
    }


def _listed(store: Store) -> dict[int, dict[str, Any]]:
    """The shows Sonarr's "Custom List" import list should hold, in its wire format, by
    TVMaze id in TVMaze id order.

    Sonarr reads `[{"title": str, "tvdbId": int}]` (ImportLists/Custom/CustomAPIResource.cs)
    and ignores other keys; `imdbId` rides along for other consumers. A `pending` row still
    marked needs_filter has not been judged by the filters yet, so it is not offered.
    """
    return {
        row["tvmaze_id"]: {
            "title": row["title"],
            "tvdbId": int(row["tvdb_id"]),
            "imdbId": row["imdb_id"],
        }
        for row in store.sonarr_list_rows(SONARR_LIST_STATUSES)
    }


UNDECIDED = "shows await the filters' decision (the next filter phase of a cycle)"


class ListNotReady(Exception):
    """No complete Custom List can be served now; the message says why (503 + Retry-After)."""


class CustomList:
    """GET /sonarr/list: the complete list of decided shows, or ListNotReady, never a part.

    Sonarr takes a 200 as the whole list: with "Clean Library" on, it unmonitors or tags
    every series missing from it (ImportListSyncService.CleanLibrary, after a successful
    fetch that dropped an item), and it adds every listed series it lacks. So the list is
    served only once state.json says the first full mirror completed and the database
    itself records one (a deleted or replaced shows.db beside an old state.json holds
    none). While shows await the filters' decision (a refetch marks them, a re-full pass
    marks many for hours), each of them stands as it stood on the last complete list this
    process built (on it or not), and every decided show as it stands now: a show the user
    deleted in Sonarr, skipped or denied since leaves the list at once, rather than coming
    back with a stale copy. Without a complete list yet (a restarted `serve`) the answer is
    503, which Sonarr records as a failed fetch: it keeps its items and cleans nothing. A
    read error is a StorageError (503), never an empty list.
    """

    def __init__(self, storage_dir: Path, instance: str = DEFAULT_INSTANCE) -> None:
        self.storage_dir = storage_dir
        self.instance = instance  # another instance's list comes from its own cache
        self._lock = threading.Lock()
        self._last: dict[int, dict[str, Any]] | None = None  # by TVMaze id

    def body(self) -> bytes:
        """The JSON body of a 200, or ListNotReady / StorageError."""
        # state.json first: its flag only ever turns true, so the cache read after it is
        # at least as new as the mirror the flag speaks of.
        if not StateFile(self.storage_dir).load().initial_sync_complete:
            raise ListNotReady("the first full TVMaze mirror has not completed yet")
        with Store.opened(self.storage_dir, readonly=True) as store, store.atomic():
            if not store.full_mirror_recorded():  # a deleted or replaced shows.db (F2)
                raise ListNotReady("the cache is being rebuilt: no full TVMaze mirror in it yet")
            if self.instance == DEFAULT_INSTANCE:
                listed, undecided = _listed(store), store.undecided_pending_ids()
        if self.instance != DEFAULT_INSTANCE:
            listed, undecided = self._instance_items()
        with self._lock:
            if not undecided:
                self._last = listed
            elif self._last is None:
                raise ListNotReady(UNDECIDED)
            else:
                last = self._last
                listed.update({i: last[i] for i in undecided if i in last})
                listed = dict(sorted(listed.items()))
                log.debug("sonarr_list_served undecided=%d from=last_complete", len(undecided))
        return (json.dumps(list(listed.values()), ensure_ascii=False) + "\n").encode("utf-8")

    def _instance_items(self) -> tuple[dict[int, dict[str, Any]], set[int]]:
        """Another instance's list: the shows routed and decided for it (its own cache,
        which its first real cycle creates)."""
        where = instances.storage_dir(self.storage_dir, self.instance)
        if not (where / DB_NAME).exists():
            raise ListNotReady(f"instance {self.instance!r} has not run a cycle yet")
        with (
            instances.opened(self.storage_dir, self.instance, readonly=True) as store,
            store.atomic(),
        ):
            if not store.full_mirror_recorded():  # created, the shows not yet copied in
                raise ListNotReady(f"instance {self.instance!r} has not run a cycle yet")
            return _listed(store), store.undecided_pending_ids()


def custom_lists(config: Config, storage_dir: Path) -> dict[str, CustomList]:
    """One Custom List per instance: /sonarr/list is `default`'s, /sonarr/list/<name> any's."""
    return {name: CustomList(storage_dir, name) for name in config.instance_names}


# --- HTTP ------------------------------------------------------------------------------------


class _HttpServer(BoundedHTTPServer):
    runner: CycleRunner
    custom_list: CustomList
    custom_lists: dict[str, CustomList]


class Handler(BufferedHandler):
    server: _HttpServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    server_version = f"tvmaze-sync/{__version__}"
    sys_version = ""  # no Python version in the Server header

    GET_ROUTES = ("/health", "/ready", "/metrics", "/state", "/shows", "/sonarr/list")
    POST_ROUTES = ("/trigger", "/refilter")

    def log_message(self, format: str, *args: Any) -> None:
        # The standard library writes every request to stderr; ours go to DEBUG as events.
        pass

    def allowed_methods(self, path: str) -> str | None:
        """`Allow` for a route (any other method is 405 there), None for no such route."""
        if path in self.GET_ROUTES:
            return "GET, HEAD"
        if path in self.POST_ROUTES:
            return "POST"
        return "GET, HEAD, POST" if path == "*" else None  # `OPTIONS *`: the server's

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str = "application/json",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer; a HEAD gets the same status and headers (Content-Length too), no body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="tvmaze-sync"')
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log.debug("http_request method=%s path=%s status=%d", self.command, self.path, status)

    def _json(self, status: HTTPStatus, data: Any) -> None:
        self._send(status, (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))

    def _route(self) -> tuple[str, str]:
        parts = urlsplit(self.path)
        return parts.path.rstrip("/") or "/", parts.query

    def do_GET(self) -> None:
        path, query = self._route()
        runner = self.server.runner
        try:
            if path == "/health":
                self._json(HTTPStatus.OK, runner.health())
            elif path == "/ready":
                self._json(*runner.readiness())
            elif path == "/metrics":
                self._send(HTTPStatus.OK, generate_latest(runner.registry), CONTENT_TYPE_LATEST)
            elif path == "/state":
                self._json(
                    HTTPStatus.OK, read_state(runner.storage_dir, list(runner.config.instances))
                )
            elif path == "/shows":
                wanted = parse_shows_query(query, vocabulary.Mirror(runner.storage_dir))
                # A connection per request: never shared between threads, never a writer;
                # a failed read is a StorageError (503 with its reason), not a 500.
                with Store.opened(runner.storage_dir, readonly=True) as store:
                    self._json(HTTPStatus.OK, shows_page(store, wanted))
            elif path == "/sonarr/list":
                self._sonarr_list()
            elif path.startswith("/sonarr/list/"):
                self._sonarr_list(path.removeprefix("/sonarr/list/"))
            elif path in self.POST_ROUTES:
                self._method_not_allowed("POST")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {path}"})
        except BadRequest as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except StorageError as error:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:
            log.exception("http_error method=GET path=%s", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(error).__name__})

    def do_HEAD(self) -> None:
        """HEAD answers exactly like GET without the body (_send leaves it out)."""
        self.do_GET()

    def _sonarr_list(self, instance: str | None = None) -> None:
        """`instance`: /sonarr/list/<instance>; None: /sonarr/list, the default's."""
        lists = getattr(self.server, "custom_lists", {})
        if instance is not None and instance not in lists:
            known = ", ".join(lists) or DEFAULT_INSTANCE
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no instance {instance!r}; known: {known}"})
            return
        custom = self.server.custom_list if instance is None else lists[instance]
        try:
            body = custom.body()
        except (ListNotReady, StorageError) as error:
            log.info("sonarr_list_unavailable reason=%r", str(error))
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE,
                (json.dumps({"error": str(error)}) + "\n").encode("utf-8"),
                headers=[("Retry-After", str(LIST_RETRY_AFTER))],
            )
            return
        self._send(HTTPStatus.OK, body)

    def do_POST(self) -> None:
        path, _ = self._route()
        runner = self.server.runner
        length = self.headers.get("Content-Length") or "0"
        if length.isdigit() and int(length) <= 65536:
            self.rfile.read(int(length))  # no endpoint takes a body; drain it for keep-alive
        else:
            self.close_connection = True  # an unread body must not pass for the next request
        if path not in self.POST_ROUTES:
            if path in self.GET_ROUTES:
                self._method_not_allowed("GET, HEAD")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {path}"})
            return
        refusal = authorize(
            self.headers.get("Authorization"), self.client_address[0], runner.config.server.token
        )
        if refusal is not None:
            self._json(refusal[0], {"error": refusal[1]})
            return
        try:
            if path == "/trigger":
                self._json(*runner.trigger())
            else:
                self._json(*runner.refilter())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:
            log.exception("http_error method=POST path=%s", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(error).__name__})

    def _method_not_allowed(self, allowed: str) -> None:
        body = json.dumps({"error": f"use {allowed}"}).encode()
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, body, headers=[("Allow", allowed)])


def make_http_server(runner: CycleRunner) -> _HttpServer:
    """Bind `server.host:server.port`; a bind failure is a configuration error (exit 2)."""
    host, port = runner.config.server.host, runner.config.server.port
    try:
        httpd = _HttpServer((host, port), Handler, inline_paths=INLINE_PATHS)
    except OSError as error:
        raise ConfigError(
            f"server.port: cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    httpd.runner = runner
    httpd.custom_lists = custom_lists(runner.config, runner.storage_dir)
    httpd.custom_list = httpd.custom_lists[DEFAULT_INSTANCE]
    return httpd


# --- the command ----------------------------------------------------------------------------


def _banner_value(value: Any) -> str:
    if isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = "" if value is None else str(value)
    if not text or re.search(r"[\s\"']", text):
        text = '"' + text.replace('"', "'") + '"'
    return text


def banner_fields(config: Config) -> str:
    """Every option as key=value on one line (secrets as ***), so JSON logs get fields too."""
    fields: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}_")
            else:
                fields.append(f"{prefix}{key}={_banner_value(value)}")

    walk(config.to_dict(redact=True), "")
    return " ".join(fields)


def serve(config: Config, clock: Clock = system_clock) -> None:
    """Run until SIGTERM/SIGINT, then shut down cleanly and return (the CLI exits 0).

    Raises ConfigError/StorageError (exit 2) or DependencyError (exit 3) at startup only.
    """
    runner = CycleRunner(config, clock)
    runner.prepare()
    httpd = make_http_server(runner) if config.server.enabled else None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal_received signal=%s", signal.Signals(signum).name)
        runner.stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    threads: list[threading.Thread] = []
    if httpd is not None:
        threads.append(
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http")
        )
    threads.append(threading.Thread(target=runner.schedule, name="scheduler", daemon=True))
    probe = runner._probe
    log.info(
        "serve_started version=%s listen=%s storage=%s sonarr=%s sonarr_version=%s "
        "poll_interval=%s",
        __version__,
        f"{config.server.host}:{config.server.port}" if httpd is not None else "disabled",
        config.storage_dir,
        "disabled" if probe is None else "ok" if probe.ok else "unavailable",
        (probe.version if probe is not None else None) or "-",
        config.sync.poll_interval,
    )
    log.info("serve_config %s", banner_fields(config))
    for thread in threads:
        thread.start()
    try:
        while not runner.stopping.wait(0.5):
            pass
        finished = runner.shutdown()
        log.info("shutdown_complete cycle_finished=%s", finished)
    finally:
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
