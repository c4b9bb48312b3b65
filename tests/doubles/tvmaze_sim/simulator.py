"""The TVMaze API on a loopback port: endpoints over the data set, the rate limit, faults and
the counters tests read."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from tests.doubles.httpserver import LoopbackSimulator, SimulatorHandler
from tests.doubles.tvmaze_sim.dataset import PAGE_SIZE, SINCE_WINDOWS, Dataset, _Ref
from tests.doubles.tvmaze_sim.shows import Show, SyntheticShows, synthetic_shows
from tests.doubles.tvmaze_sim.wire import (
    RequestRecord,
    _api_key,
    _dumps,
    _envelope,
    _Handler,
    _html_error,
    _kind,
    _Response,
    _send,
)

VALID_EMBEDS: Final = frozenset(
    {"episodes", "seasons", "cast", "crew", "akas", "images", "nextepisode", "previousepisode"}
)
SERVER_ERROR_STATUSES: Final = (500, 502, 503)


@dataclass(frozen=True)
class _Fault:
    status: int | None = None
    html: bool = False
    truncate: bool = False
    slow: bool = False
    cut: float = 0.5


class TvmazeSimulator(Dataset, LoopbackSimulator):
    """The TVMaze API on a loopback port, with controllable data and faults.

    ``shows`` is a list of show dicts (default: :func:`load_real_shows`) or a
    :class:`SyntheticShows`.  All knobs below are plain attributes and may be
    changed while the server runs; mutation methods are thread-safe.

    Data time comes from the *sim clock*: ``clock()`` (default ``time.time``)
    plus whatever :meth:`advance` added.  Rate limiting uses ``rate_clock``
    (default ``time.monotonic``) so that jumping the data clock a week ahead
    does not also empty the rate window, and tests can inject a fake one.
    """

    handler_class = _Handler

    def __init__(
        self,
        shows: Iterable[Show] | SyntheticShows | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        rate_limit: int | None = 20,
        rate_window: float = 10.0,
        rate_clock: Callable[[], float] | None = None,
        error_rate: float = 0.0,
        truncate_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 2.0,
        seed: int = 0,
        index_max_age: float | None = None,
        compress: bool = False,
    ) -> None:
        super().__init__(shows, clock, seed)
        self.host = host
        self.port = port
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.rate_clock: Callable[[], float] = rate_clock or time.monotonic
        self.error_rate = error_rate
        self.truncate_rate = truncate_rate
        self.slow_rate = slow_rate
        self.slow_seconds = slow_seconds
        self.index_max_age = index_max_age
        #: gzip bodies for clients sending ``Accept-Encoding: gzip``, as the real CDN does.
        self.compress = compress

        self._fault_rng = random.Random(seed)
        self._fail_queue: deque[tuple[int, str | None]] = deque()
        self._windows: dict[str, deque[float]] = {}

        self.requests_by_kind: Counter[str] = Counter()
        self.requests_by_status: Counter[int] = Counter()
        self.request_log: list[RequestRecord] = []
        #: 429 responses served, whatever their cause (limiter or :meth:`fail_next`).
        self.throttled = 0
        self.user_agents: Counter[str] = Counter()
        self.last_user_agent: str | None = None
        self.api_keys: Counter[str] = Counter()

    @classmethod
    def synthetic(cls, n: int, seed: int = 0, **kwargs: Any) -> TvmazeSimulator:
        """A simulator over :func:`synthetic_shows` (``n`` shows, seeded)."""
        return cls(synthetic_shows(n, seed), seed=seed, **kwargs)

    def fail_next(self, n: int = 1, status: int = 503, kind: str | None = None) -> None:
        """Answer the next ``n`` requests (of ``kind`` if given) with ``status``."""
        with self._lock:
            self._fail_queue.extend([(status, kind)] * n)

    def clear_faults(self) -> None:
        with self._lock:
            self._fail_queue.clear()
            self.error_rate = self.truncate_rate = self.slow_rate = 0.0

    def _draw_fault(self, kind: str) -> _Fault:
        # Always five draws per admitted request, so changing one rate does not
        # shift the others' outcomes for the same seed.
        rng = self._fault_rng
        r_err, r_status, r_body, r_trunc, r_slow = (rng.random() for _ in range(5))
        status: int | None = None
        for i, (queued_status, queued_kind) in enumerate(self._fail_queue):
            if queued_kind is None or queued_kind == kind:
                status = queued_status
                del self._fail_queue[i]
                break
        if status is None and r_err < self.error_rate:
            status = SERVER_ERROR_STATUSES[int(r_status * len(SERVER_ERROR_STATUSES))]
        return _Fault(
            status=status,
            html=r_body < 0.5,
            truncate=r_trunc < self.truncate_rate,
            slow=r_slow < self.slow_rate,
            cut=0.1 + 0.8 * r_body,
        )

    def _check_rate(self, client: str) -> int | None:
        """Seconds to wait if ``client`` is over the limit, else None (and count it)."""
        if self.rate_limit is None:
            return None
        now = self.rate_clock()
        window = self._windows.setdefault(client, deque())
        while window and window[0] <= now - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            return max(1, math.ceil(window[0] + self.rate_window - now))
        window.append(now)
        return None

    @property
    def total_requests(self) -> int:
        return len(self.request_log)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests_by_kind.clear()
            self.requests_by_status.clear()
            self.request_log.clear()
            self.throttled = 0
            self.user_agents.clear()
            self.last_user_agent = None
            self.api_keys.clear()

    def reset_rate_limit(self) -> None:
        """Forget every client's window (e.g. between phases of a test)."""
        with self._lock:
            self._windows.clear()

    def _route(self, method: str, kind: str, path: str, query: dict[str, list[str]]) -> _Response:
        if method not in ("GET", "HEAD"):
            return _envelope(405, "Method Not Allowed. This URL can only handle: GET, HEAD.")
        if kind == "page":
            return self._serve_page(query)
        if kind == "show":
            return self._serve_show(int(path[7:]), query)
        if kind == "updates":
            return self._serve_updates(query)
        if path == "/lookup/shows":
            return self._serve_lookup(query)
        if path in ("/search/shows", "/singlesearch/shows"):
            return self._serve_search(path == "/singlesearch/shows", query)
        return _envelope(404, "Page not found.")

    def _serve_page(self, query: dict[str, list[str]]) -> _Response:
        raw = query.get("page", ["0"])[-1]
        try:
            page = int(raw)
        except ValueError:
            return _envelope(400, "Invalid page number.")
        if page < 0:
            return _envelope(400, "Invalid page number.")
        with self._lock:
            if (
                self.index_max_age is not None
                and self.now() - self._index_time >= self.index_max_age
            ):
                self.refresh_index()
            if not self._index_ids or page > self._index_ids[-1] // PAGE_SIZE:
                return _envelope(404, "Page not found.")
            refs = self._page_refs(page)
        return _Response(200, _dumps([self._materialize(r) for r in refs]))

    def _serve_show(self, show_id: int, query: dict[str, list[str]]) -> _Response:
        embeds = query.get("embed", []) + query.get("embed[]", [])
        if any(e not in VALID_EMBEDS for e in embeds):
            return _envelope(400, "Invalid embed type")
        with self._lock:
            ref = self._current.get(show_id)
        if ref is None:
            return _envelope(404, "")
        show = self._materialize(ref)
        if embeds:
            # No episodes/people are simulated: collections embed as empty and
            # next/previous episode are absent, both real possibilities.
            embedded: dict[str, list[Any]] = {
                e: [] for e in embeds if e not in ("nextepisode", "previousepisode")
            }
            show = {**show, "_embedded": embedded}
        return _Response(200, _dumps(show))

    def _serve_updates(self, query: dict[str, list[str]]) -> _Response:
        since = query.get("since", [None])[-1]
        if since is not None and since not in SINCE_WINDOWS:
            return _envelope(400, "Invalid value for since.")
        updates = self.updates_map(since)
        return _Response(200, _dumps({str(k): v for k, v in updates.items()}))

    def _serve_lookup(self, query: dict[str, list[str]]) -> _Response:
        for key in ("thetvdb", "imdb", "tvrage"):
            if key not in query:
                continue
            wanted = query[key][-1]
            with self._lock:
                items = list(self._current.items())
            for show_id, ref in items:
                ext = self._externals_of(ref)
                if ext is not None and ext.get(key) is not None and str(ext[key]) == wanted:
                    location = f"{self.url}/shows/{show_id}"
                    return _Response(301, b"null", extra_headers=(("Location", location),))
            return _envelope(404, "")
        return _envelope(400, "Missing lookup parameter.")

    def _serve_search(self, single: bool, query: dict[str, list[str]]) -> _Response:
        q = query.get("q", [""])[-1].strip().lower()
        if not q:
            return _envelope(400, "Missing required parameters: q")
        with self._lock:
            items = list(self._current.values())
        hits: list[tuple[float, _Ref]] = []
        for ref in items:
            name = self._name_of(ref).lower()
            if q in name:
                hits.append((round(len(q) / max(len(name), 1) * 20, 6), ref))
        hits.sort(key=lambda h: -h[0])
        if single:
            if not hits:
                return _Response(404, b"")
            return _Response(200, _dumps(self._materialize(hits[0][1])))
        return _Response(
            200, _dumps([{"score": s, "show": self._materialize(r)} for s, r in hits[:10]])
        )

    def handle(self, handler: SimulatorHandler) -> None:
        """Serve one request; called by the handler thread."""
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        kind = _kind(path)
        headers = handler.headers
        user_agent = headers.get("User-Agent")
        api_key = _api_key(headers.get("Authorization"), query)
        client = str(handler.client_address[0])

        response: _Response | None = None
        fault = _Fault()
        with self._lock:
            if user_agent is not None:
                self.user_agents[user_agent] += 1
                self.last_user_agent = user_agent
            if api_key is not None:
                self.api_keys[api_key] += 1
            retry_after = self._check_rate(client)
            if retry_after is not None:
                base = _envelope(429, "Rate limit exceeded, please slow down.")
                response = _Response(
                    429, base.body, extra_headers=(("Retry-After", str(retry_after)),)
                )
            else:
                fault = self._draw_fault(kind)

        if response is None:
            if fault.slow:
                time.sleep(self.slow_seconds)
            if fault.status is not None:
                if fault.status == 429:
                    base = _envelope(429, "Rate limit exceeded, please slow down.")
                    response = _Response(429, base.body, extra_headers=(("Retry-After", "1"),))
                elif fault.status >= 500 and fault.html:
                    response = _html_error(fault.status)
                else:
                    response = _envelope(fault.status)
            else:
                response = self._route(handler.command, kind, path, query)
            if fault.truncate and response.status == 200 and len(response.body) > 1:
                cut = min(len(response.body) - 1, max(1, int(len(response.body) * fault.cut)))
                response = _Response(
                    200, response.body[:cut], response.content_type, response.extra_headers
                )

        with self._lock:
            self.requests_by_kind[kind] += 1
            self.requests_by_status[response.status] += 1
            self.request_log.append(RequestRecord(handler.command, handler.path, response.status))
            if response.status == 429:
                self.throttled += 1

        accepts_gzip = "gzip" in (headers.get("Accept-Encoding") or "")
        _send(handler, response, gzip_body=self.compress and accepts_gzip)
