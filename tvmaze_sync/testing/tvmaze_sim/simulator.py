"""A loopback HTTP simulator of the public TVMaze API.

The machines that build and test tvmaze-sync have no internet, and the real API
would in any case be too polite to exercise the failure paths that matter: 429s,
5xx bursts, truncated bodies, stalls and a show index that lags behind the
per-show endpoint.  This simulator serves the *real* show objects recorded from
TVMaze (see ``data/extract_tvmaze.py``) or synthetic clones of them, and lets a
test provoke each of those behaviours deterministically.

Endpoints (everything else answers 404 like the real API):

* ``GET /shows?page=N`` - the show index, ids ``250*N .. 250*N+249``, served from
  a lagging **index snapshot** (see below); 404 past the last page.
* ``GET /shows/:id`` - the current show object (``embed`` accepted, see
  :data:`VALID_EMBEDS`).
* ``GET /updates/shows[?since=day|week|month]`` - ``{"<id>": <updated>}``.
* ``GET /lookup/shows?thetvdb=|imdb=|tvrage=`` - 301 to ``/shows/:id``.
* ``GET /search/shows?q=`` and ``GET /singlesearch/shows?q=`` - naive name match.

Index lag.  TVMaze caches the show index for up to 24 hours, so a page can hold an
older copy of a show than ``/shows/:id`` and ``/updates/shows``.  The simulator
models this with an explicit snapshot: the page endpoint serves the data set
exactly as it was at the last :meth:`TvmazeSimulator.refresh_index` (taken once
at construction).  Updates, additions and deletions after that are visible at
``/shows/:id`` and ``/updates/shows`` immediately but not on pages (a deleted
show stays listed, a new show is missing, and the last page does not grow)
until the next refresh.  If ``index_max_age`` is set, a page request refreshes
the snapshot first once it is that many sim-clock seconds old, which mimics the
real cache expiring; by default it never expires on its own, so tests decide.

Only the standard library is used, so the simulator runs wherever the tests do.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import functools
import gzip
import json
import math
import random
import re
import sys
import threading
import time
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple, Self, cast, overload
from urllib.parse import parse_qs, urlsplit

from tvmaze_sync.testing.httpserver import LoopbackServer

Show = dict[str, Any]

PAGE_SIZE: Final = 250
DAY: Final = 86_400
SINCE_WINDOWS: Final[dict[str, int]] = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY}
VALID_EMBEDS: Final = frozenset(
    {"episodes", "seasons", "cast", "crew", "akas", "images", "nextepisode", "previousepisode"}
)
DATA_FILE: Final = Path(__file__).resolve().parents[1] / "data" / "tvmaze_shows.json.gz"
SERVER_ERROR_STATUSES: Final = (500, 502, 503)

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


class _Delete:
    """Sentinel type for :data:`DELETE`."""

    def __repr__(self) -> str:
        return "DELETE"


#: Pass as a value to :meth:`TvmazeSimulator.update_show` to remove a key, since
#: the real data has keys that are absent rather than null.
DELETE: Final = _Delete()


# --------------------------------------------------------------------------- data


@functools.cache
def _real_payload() -> bytes:
    with gzip.open(DATA_FILE, "rb") as fh:
        return fh.read()


def load_real_shows() -> list[Show]:
    """The ~1,200 real show objects, freshly parsed so callers may mutate them."""
    shows: list[Show] = json.loads(_real_payload())
    return shows


_ADJECTIVES: Final = (
    "Silent", "Broken", "Golden", "Hidden", "Last", "Little", "Midnight", "Northern",
    "Perfect", "Red", "Savage", "Secret", "Small", "Wild", "Young", "Dark", "Lucky",
    "Crooked", "Blue", "Final",
)  # fmt: skip
_NOUNS: Final = (
    "Harbor", "Kingdom", "Doctors", "Detective", "Garden", "Empire", "Island", "Kitchen",
    "Crown", "Rivals", "Signal", "Frontier", "Witness", "Academy", "Family", "Hotel",
    "Station", "Legacy", "Patrol", "Affair",
)  # fmt: skip
_PLACES: Final = (
    "Brooklyn", "Oslo", "Seoul", "Lagos", "Manchester", "Kraków", "Montréal", "Osaka",
    "São Paulo", "Reykjavík",
)  # fmt: skip


def _synthetic_name(rng: random.Random, template_name: str) -> str:
    # Mostly invented titles, plus real names (some repeated verbatim, as TVMaze
    # itself has several shows called e.g. "Top Gear") and non-ASCII ones.
    r = rng.random()
    if r < 0.10:
        return template_name
    if r < 0.20:
        return f"{template_name} ({rng.randint(1990, 2025)})"
    if r < 0.45:
        return f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    if r < 0.70:
        return f"{rng.choice(_NOUNS)} of {rng.choice(_PLACES)}"
    if r < 0.85:
        return f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.randint(2, 99)}"
    return f"{rng.choice(_PLACES)} {rng.choice(_NOUNS)}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "show"


def _url_prefix(url: Any, default: str) -> str:
    if isinstance(url, str) and "/shows/" in url:
        return url.split("/shows/", 1)[0]
    return default


def _synthetic_external(key: str, show_id: int, value: Any) -> Any:
    # Unique per clone (Sonarr matching relies on thetvdb) and outside the real
    # id ranges so clones never collide with the real shows they copy.
    if value is None:
        return None
    if key == "imdb":
        return f"tt9{show_id:07d}"
    if key == "thetvdb":
        return 1_000_000 + show_id
    if key == "tvrage":
        return 2_000_000 + show_id
    return value


class SyntheticShows(Sequence[Show]):
    """A large data set of cloned real shows, stored in a few compact arrays.

    Holding 100,000 show dicts would cost hundreds of MB; instead each clone is
    (template, id, name, updated) and is only built as a dict when served.
    Indexing returns a fresh deep copy so callers cannot corrupt the templates.
    """

    def __init__(
        self,
        templates: list[Show],
        ids: array[int],
        template_index: array[int],
        updated: array[int],
        names: list[str],
    ) -> None:
        self.templates = templates
        self._ids = ids
        self._tix = template_index
        self._updated = updated
        self._names = names

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Show: ...
    @overload
    def __getitem__(self, index: slice) -> list[Show]: ...
    def __getitem__(self, index: int | slice) -> Show | list[Show]:
        if isinstance(index, slice):
            return [copy.deepcopy(self.shared(i)) for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return copy.deepcopy(self.shared(index))

    def id_at(self, index: int) -> int:
        return self._ids[index]

    def name_at(self, index: int) -> str:
        return self._names[index]

    def updated_at(self, index: int) -> int:
        return self._updated[index]

    def template_at(self, index: int) -> Show:
        """The real show this clone copies (tests compare null shapes with it)."""
        return self.templates[self._tix[index]]

    def externals_at(self, index: int) -> dict[str, Any] | None:
        ext = self.template_at(index).get("externals")
        if not isinstance(ext, dict):
            return None
        sid = self._ids[index]
        return {k: _synthetic_external(k, sid, v) for k, v in ext.items()}

    def shared(self, index: int) -> Show:
        """Build clone ``index``; nested objects are shared with the template.

        Serialising does not need a deep copy, and skipping it keeps page
        responses of a 100k-show data set cheap.  Never mutate the result.
        """
        template = self.template_at(index)
        sid = self._ids[index]
        name = self._names[index]
        show = dict(template)  # keeps the template's key order, nulls and absences
        show["id"] = sid
        site = _url_prefix(template.get("url"), "https://www.tvmaze.com")
        show["url"] = f"{site}/shows/{sid}/{_slug(name)}"
        show["name"] = name
        show["updated"] = self._updated[index]
        if isinstance(template.get("externals"), dict):
            show["externals"] = self.externals_at(index)
        links = template.get("_links")
        if isinstance(links, dict):
            new_links = dict(links)
            if isinstance(links.get("self"), dict):
                api = _url_prefix(links["self"].get("href"), "https://api.tvmaze.com")
                new_links["self"] = {"href": f"{api}/shows/{sid}"}
            show["_links"] = new_links
        return show


def synthetic_shows(
    n: int,
    seed: int = 0,
    *,
    now: float | None = None,
    gap_rate: float = 0.04,
    templates: list[Show] | None = None,
) -> SyntheticShows:
    """``n`` clones of the real shapes, for benchmarks and scale tests.

    Ids start at 1 and skip about ``gap_rate`` of the id space (deleted shows,
    sometimes in runs).  ``updated`` is spread over ten years before ``now``
    with a realistic recent tail: ~1% within a day, ~3% within a week, ~8%
    within a month, so every ``since`` window is non-trivial.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    base = int(time.time() if now is None else now)
    templates = load_real_shows() if templates is None else templates
    if not templates:
        raise ValueError("need at least one template show")
    ids: array[int] = array("q")
    tix: array[int] = array("I")
    updated: array[int] = array("q")
    names: list[str] = []
    next_id = 1
    for _ in range(n):
        while rng.random() < gap_rate:
            next_id += 1
        t = rng.randrange(len(templates))
        r = rng.random()
        if r < 0.01:
            age = rng.uniform(0, DAY)
        elif r < 0.03:
            age = rng.uniform(DAY, 7 * DAY)
        elif r < 0.08:
            age = rng.uniform(7 * DAY, 30 * DAY)
        else:
            age = rng.uniform(30 * DAY, 3650 * DAY)
        ids.append(next_id)
        tix.append(t)
        updated.append(base - int(age))
        names.append(_synthetic_name(rng, str(templates[t].get("name") or "Show")))
        next_id += 1
    return SyntheticShows(templates, ids, tix, updated, names)


# ------------------------------------------------------------------- responses


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


@dataclass(frozen=True)
class _Fault:
    status: int | None = None
    html: bool = False
    truncate: bool = False
    slow: bool = False
    cut: float = 0.5


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


def _set_path(show: Show, path: list[str], value: Any) -> None:
    node = show
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


# ------------------------------------------------------------------- simulator

_Ref = Show | int  # a full dict, or an index into the SyntheticShows store


class TvmazeSimulator:
    """The TVMaze API on a loopback port, with controllable data and faults.

    ``shows`` is a list of show dicts (default: :func:`load_real_shows`) or a
    :class:`SyntheticShows`.  All knobs below are plain attributes and may be
    changed while the server runs; mutation methods are thread-safe.

    Data time comes from the *sim clock*: ``clock()`` (default ``time.time``)
    plus whatever :meth:`advance` added.  Rate limiting uses ``rate_clock``
    (default ``time.monotonic``) so that jumping the data clock a week ahead
    does not also empty the rate window, and tests can inject a fake one.
    """

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
        self.host = host
        self.port = port
        self.clock: Callable[[], float] = clock or time.time
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

        self._lock = threading.RLock()
        self._offset = 0.0
        self._fault_rng = random.Random(seed)
        self._data_rng = random.Random(seed + 1)
        self._fail_queue: deque[tuple[int, str | None]] = deque()
        self._windows: dict[str, deque[float]] = {}

        self._synth: SyntheticShows | None = None
        self._current: dict[int, _Ref] = {}
        owned = shows is None  # a fresh parse nobody else holds: no need to copy
        if shows is None:
            shows = load_real_shows()
        if isinstance(shows, SyntheticShows):
            self._synth = shows
            for i in range(len(shows)):
                self._current[shows.id_at(i)] = i
            self._templates = shows.templates
        else:
            for show in shows:
                if not owned:
                    show = copy.deepcopy(show)
                show.pop("_embedded", None)
                self._current[int(show["id"])] = show
            self._templates = [s for s in self._current.values() if isinstance(s, dict)]
            if not self._templates:
                self._templates = load_real_shows()
        self._current = dict(sorted(self._current.items()))
        self._max_id_ever = max(self._current, default=0)

        self._index: dict[int, _Ref] = {}
        self._index_ids: list[int] = []
        self._index_time = 0.0
        self._server: LoopbackServer | None = None

        self.requests_by_kind: Counter[str] = Counter()
        self.requests_by_status: Counter[int] = Counter()
        self.request_log: list[RequestRecord] = []
        #: 429 responses served, whatever their cause (limiter or :meth:`fail_next`).
        self.throttled = 0
        self.user_agents: Counter[str] = Counter()
        self.last_user_agent: str | None = None
        self.api_keys: Counter[str] = Counter()
        self.refresh_index()

    @classmethod
    def synthetic(cls, n: int, seed: int = 0, **kwargs: Any) -> TvmazeSimulator:
        """A simulator over :func:`synthetic_shows` (``n`` shows, seeded)."""
        return cls(synthetic_shows(n, seed), seed=seed, **kwargs)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is None:
            self._server = LoopbackServer(_Handler, self.host, self.port, sim=self).start()
            self.port = self._server.port
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def url(self) -> str:
        """Base URL to give the client instead of ``https://api.tvmaze.com``."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.url

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- clock

    def now(self) -> float:
        return self.clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the sim clock forward (for ``since`` windows and index age)."""
        with self._lock:
            self._offset += seconds
            return self.now()

    # ------------------------------------------------------------- data view

    def _materialize(self, ref: _Ref) -> Show:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.shared(ref)
        return ref

    def _updated_of(self, ref: _Ref) -> int:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.updated_at(ref)
        value = ref.get("updated")
        return value if isinstance(value, int) else 0

    def _name_of(self, ref: _Ref) -> str:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.name_at(ref)
        return str(ref.get("name") or "")

    def _externals_of(self, ref: _Ref) -> dict[str, Any] | None:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.externals_at(ref)
        ext = ref.get("externals")
        return ext if isinstance(ext, dict) else None

    @property
    def shows(self) -> list[Show]:
        """Deep copies of the current data set, by id: what a perfect mirror holds.

        For a large synthetic set prefer :meth:`iter_shows`, which does not
        build every copy at once.
        """
        return list(self.iter_shows())

    def iter_shows(self) -> Iterator[Show]:
        with self._lock:
            refs = [self._current[i] for i in sorted(self._current)]
        for ref in refs:
            yield copy.deepcopy(self._materialize(ref))

    def get_show(self, show_id: int) -> Show | None:
        """The current object for ``show_id`` (a copy), or None if absent."""
        with self._lock:
            ref = self._current.get(show_id)
        return None if ref is None else copy.deepcopy(self._materialize(ref))

    @property
    def show_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._current)

    @property
    def show_count(self) -> int:
        return len(self._current)

    @property
    def max_id(self) -> int:
        """Highest current id (0 if empty)."""
        with self._lock:
            return max(self._current, default=0)

    @property
    def last_page(self) -> int:
        """Highest page the *index snapshot* serves; the next one is a 404."""
        with self._lock:
            return self._index_ids[-1] // PAGE_SIZE if self._index_ids else -1

    def updates_map(self, since: str | None = None) -> dict[int, int]:
        """What ``/updates/shows`` answers now, keyed by int id."""
        with self._lock:
            cutoff = None if since is None else self.now() - SINCE_WINDOWS[since]
            result: dict[int, int] = {}
            for show_id in sorted(self._current):
                updated = self._updated_of(self._current[show_id])
                if cutoff is None or updated >= cutoff:
                    result[show_id] = updated
            return result

    def index_page(self, page: int) -> list[Show]:
        """Copies of what ``/shows?page=N`` serves now (no 404 check)."""
        with self._lock:
            refs = self._page_refs(page)
        return [copy.deepcopy(self._materialize(r)) for r in refs]

    # -------------------------------------------------------------- mutation

    def refresh_index(self) -> None:
        """Let the show index catch up with the current data (cache expiry)."""
        with self._lock:
            self._index = dict(self._current)
            self._index_ids = sorted(self._index)
            self._index_time = self.now()

    def _bump(self, old: int) -> int:
        # Strictly increasing, so a change within the same second as the
        # previous one is still visible to a client comparing timestamps.
        return max(int(self.now()), old + 1)

    def update_show(self, show_id: int, **changes: Any) -> Show:
        """Change a show as TVMaze editors would; returns the new object (copy).

        Keys may be top-level (``name="X"``, ``network=None``) or nested, written
        ``rating__average=7.5`` or ``**{"network.country.code": "GB"}``; a value
        of :data:`DELETE` removes the key.  ``updated`` is bumped to the sim
        clock unless given explicitly.
        """
        with self._lock:
            ref = self._current.get(show_id)
            if ref is None:
                raise KeyError(show_id)
            show = copy.deepcopy(self._materialize(ref))
            old_updated = self._updated_of(ref)
            for key, value in changes.items():
                path = key.split("__") if "__" in key else key.split(".")
                _set_path(show, path, value)
            if "updated" not in changes:
                show["updated"] = self._bump(old_updated)
            show["id"] = show_id
            self._current[show_id] = show  # copy-on-write: the index keeps the old object
            return copy.deepcopy(show)

    def add_show(self, obj: Show | None = None, *, show_id: int | None = None) -> Show:
        """Add a show; returns it (copy).

        Without ``obj`` a random real shape is cloned.  The id is ``show_id``,
        else ``obj["id"]``, else one above the highest id ever used (TVMaze
        never reuses ids).  ``updated`` defaults to the sim clock.
        """
        with self._lock:
            if obj is None:
                template = self._data_rng.choice(self._templates)
                show = copy.deepcopy(self._materialize(template))
                new_name = f"New Show {self._max_id_ever + 1}"
                show["name"] = new_name
                obj_id = None
            else:
                show = copy.deepcopy(obj)
                show.pop("_embedded", None)
                obj_id = show.get("id")
            sid = show_id if show_id is not None else obj_id
            if sid is None:
                sid = self._max_id_ever + 1
            sid = int(sid)
            if sid in self._current:
                raise ValueError(f"show {sid} already exists")
            show["id"] = sid
            if obj is None:
                site = _url_prefix(show.get("url"), "https://www.tvmaze.com")
                show["url"] = f"{site}/shows/{sid}/{_slug(show['name'])}"
                links = show.get("_links")
                if isinstance(links, dict) and isinstance(links.get("self"), dict):
                    api = _url_prefix(links["self"].get("href"), "https://api.tvmaze.com")
                    links["self"] = {"href": f"{api}/shows/{sid}"}
                ext = show.get("externals")
                if isinstance(ext, dict):
                    show["externals"] = {k: _synthetic_external(k, sid, v) for k, v in ext.items()}
            if obj is None or "updated" not in show:
                show["updated"] = int(self.now())
            self._current[sid] = show
            self._max_id_ever = max(self._max_id_ever, sid)
            return copy.deepcopy(show)

    def delete_show(self, show_id: int) -> None:
        """Remove a show; it stays on its index page until the next refresh."""
        with self._lock:
            del self._current[show_id]

    def random_updates(self, n: int, seed: int | None = None) -> list[int]:
        """Update ``n`` random shows (weight, sometimes rating/status); their ids."""
        with self._lock:
            rng = self._data_rng if seed is None else random.Random(seed)
            ids = sorted(rng.sample(sorted(self._current), min(n, len(self._current))))
            for show_id in ids:
                changes: dict[str, Any] = {"weight": rng.randint(0, 100)}
                current = self._materialize(self._current[show_id])
                if isinstance(current.get("rating"), dict) and rng.random() < 0.3:
                    changes["rating__average"] = round(rng.uniform(1, 10), 1)
                if rng.random() < 0.1:
                    changes["status"] = rng.choice(["Running", "Ended", "To Be Determined"])
                self.update_show(show_id, **changes)
            return ids

    # ---------------------------------------------------------------- faults

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

    # -------------------------------------------------------------- counters

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

    # -------------------------------------------------------------- handling

    def _page_refs(self, page: int) -> list[_Ref]:
        lo = bisect_left(self._index_ids, page * PAGE_SIZE)
        hi = bisect_left(self._index_ids, (page + 1) * PAGE_SIZE)
        return [self._index[i] for i in self._index_ids[lo:hi]]

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

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
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


def _send(handler: BaseHTTPRequestHandler, response: _Response, *, gzip_body: bool) -> None:
    body = response.body
    try:
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Access-Control-Allow-Origin", "*")
        handler.send_header("Vary", "Accept-Encoding")
        if response.status < 429:
            handler.send_header("Cache-Control", "public, max-age=3600")
        for name, value in response.extra_headers:
            handler.send_header(name, value)
        if gzip_body and body:
            body = gzip.compress(body, compresslevel=5)
            handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        # The client gave up (e.g. its timeout beat slow_seconds); nothing to do.
        handler.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, like the real API, and lets benchmarks
    # measure the client rather than TCP handshakes.
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain so the connection stays usable
        cast(Any, self.server).sim.handle(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr noise; the simulator keeps its own log."""


# ------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tvmaze_sync.testing.tvmaze_sim",
        description="Serve a simulated TVMaze API on a loopback port until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--synthetic", type=int, metavar="N", help="serve N synthetic shows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--rate-limit", type=int, default=20, help="calls per window")
    parser.add_argument("--rate-window", type=float, default=10.0, help="seconds")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--truncate-rate", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--index-max-age", type=float, default=None, help="seconds")
    parser.add_argument("--gzip", action="store_true", help="gzip bodies when accepted")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    shows: SyntheticShows | None = None
    if args.synthetic is not None:
        shows = synthetic_shows(args.synthetic, args.seed)
    sim = TvmazeSimulator(
        shows,
        host=args.host,
        port=args.port,
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        rate_window=args.rate_window,
        error_rate=args.error_rate,
        truncate_rate=args.truncate_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        seed=args.seed,
        index_max_age=args.index_max_age,
        compress=args.gzip,
    )
    with sim:
        elapsed = time.perf_counter() - started
        print(
            f"TVMaze simulator on {sim.url} ({sim.show_count} shows, "
            f"last page {sim.last_page}, ready in {elapsed:.2f}s)",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopping; served {sim.total_requests} requests", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
