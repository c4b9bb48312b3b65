"""The Sonarr gateway: every HTTP call tvmaze-sync makes to Sonarr, and what its answers mean.

Everything goes through pyarr (httpx), pinned to API v3 with a timeout: pyarr would otherwise
ask `GET /api` for the version, and Sonarr's v5 line answers `v5` there. pyarr maps HTTP errors
to exception classes but keeps no status code, so the httpx client we hand it records the last
status of every response (and counts it into the cycle summary); the gateway turns those into
the errors the rest of the code acts on:

- 401/403 -> `SonarrRefused` (a DependencyError: the cycle stops, exit 3);
- timeouts, connection errors, 429 and 5xx -> retried with bounded backoff on the injected
  sleep, then `SonarrUnavailable` (a DependencyError; callers leave the show pending). A
  `Retry-After` on the answer lengthens the wait up to `sonarr.max_retry_after`; a longer one
  raises `SonarrThrottled` at once (the cycle stops, exit 3, and the next one resumes);
- 400 -> `SonarrRejected` carrying Sonarr's validation failures; 409 -> `SonarrConflict`.

Sonarr's error bodies can be long (an exception's stack trace, a proxy's HTML page): they are
cut to `BODY_SHOWN` characters wherever they reach a log line, a message or the store.

Secrets: the API key travels only in the `X-Api-Key` header; no message built here contains
it (httpx and pyarr messages carry the URL, never headers).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pyarr
from pyarr.exceptions import PyarrConnectionError, PyarrError

from tvmaze_sync.core.config import DEFAULT_INSTANCE, SonarrConfig, display_url
from tvmaze_sync.core.errors import ConfigError, DependencyError
from tvmaze_sync.core.httpbounds import (
    SONARR_LIBRARY_LIMITS,
    SONARR_LIMITS,
    BoundedTransport,
    Limits,
    bounded_mounts,
)
from tvmaze_sync.core.timeutil import Clock, Sleep, retry_after_seconds, system_clock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts per request for transient failures, and the waits between them (seconds).
ATTEMPTS = 3
BACKOFF = (1.0, 4.0)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Characters of a Sonarr error body kept in logs, messages and `error_message`.
BODY_SHOWN = 200
#: Exclusions read per page; real Sonarr has no cap, but thousands in one answer is slow.
EXCLUSION_PAGE_SIZE = 250
#: Pages of exclusions one read may take (100,000 exclusions at the default page size): a
#: `totalRecords` needing more is not a real list, and a read that never ends is a wedge.
MAX_EXCLUSION_PAGES = 400
#: Sonarr's ids and counts are C# `int`s.
INT32_MAX = 2**31 - 1

#: Validation failures on these properties are about our settings, not the show.
SETTING_PROPERTIES = frozenset(
    {"rootfolderpath", "qualityprofileid", "languageprofileid", "tags", "addoptions"}
)


class SonarrRefused(DependencyError):
    """Sonarr answered 401/403: the key is wrong or lacks rights. Never retried."""


class SonarrUnavailable(DependencyError):
    """Sonarr did not answer usefully after the retries (timeouts, 5xx, garbage)."""


class SonarrUnreadable(SonarrUnavailable):
    """One answer carried a value Sonarr would never send (an id that is not an integer, a
    non-list where a list is due). For a read the cycle needs it stops the cycle like any
    SonarrUnavailable; for one show's lookup or add it fails that show only."""


class SonarrThrottled(DependencyError):
    """Sonarr (or a proxy before it) asked us to wait longer than `sonarr.max_retry_after`.

    Not a SonarrUnavailable: the Sonarr phase defers a show on those and goes on with the
    next, while this stops the cycle (every show not yet settled stays queued)."""


class SonarrRejected(Exception):
    """HTTP 400: Sonarr's validation failures, as it sent them."""

    def __init__(self, failures: list[dict[str, Any]], message: str) -> None:
        super().__init__(message)
        self.failures = failures
        self.message = message

    @property
    def series_exists(self) -> bool:
        return any(f.get("errorCode") == "SeriesExistsValidator" for f in self.failures)

    @property
    def about_settings(self) -> bool:
        """True when Sonarr objects to our configured ids or paths rather than to the show."""
        names = {str(f.get("propertyName", "")).lower() for f in self.failures}
        return bool(names) and names <= SETTING_PROPERTIES


class SonarrConflict(Exception):
    """HTTP 409: a unique constraint of Sonarr's database refused the row (two adds of one
    TVDB id racing, a TitleSlug clash) or a proxy answered 409. Not proof that the series is
    there: the caller asks the library. `message` is Sonarr's, shortened."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LibrarySeries:
    """One series of the user's Sonarr library, as far as we need it."""

    series_id: int
    tvdb_id: int
    title: str
    added: str | None = None


@dataclass(frozen=True, slots=True)
class Exclusion:
    exclusion_id: int
    tvdb_id: int
    title: str


@dataclass
class ServerInfo:
    """What startup validation resolved: names turned into the ids an add needs."""

    version: str
    major: int
    root_folder: str
    quality_profile_id: int
    language_profile_id: int | None
    tag_ids: list[int] = field(default_factory=list)
    monitor: str = "all"
    monitor_new_items: str | None = None  # None: not sent (v3)

    @property
    def is_v4(self) -> bool:
        return self.major >= 4


def endpoint_name(method: str, path: str) -> str:
    """`POST /api/v3/series` -> `series_add`: the label of a request in counters and metrics."""
    parts = [p for p in path.split("/api/v3/", 1)[-1].strip("/").split("/") if p]
    name = "_".join(p for p in parts if not p.isdigit()) or "api"
    suffix = {"POST": "_add", "PUT": "_update", "DELETE": "_delete"}.get(method.upper(), "")
    return name + suffix


def shorten(text: str, limit: int = BODY_SHOWN) -> str:
    """An error body fit for one log line: Sonarr's `message` when it is an ErrorModel, all
    whitespace runs (newlines too) made one space, cut to `limit` characters."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"]
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sonarr_int(value: Any, *, minimum: int = 0) -> int:
    """An integer from Sonarr's JSON, strictly: Sonarr's OpenAPI says `integer` (a C# int),
    so a bool, a float (`1e400`, `1.9`), a string or a list is an unreadable answer, never
    coerced (`int(True)` would be series 1). Raises ValueError; callers map it."""
    if type(value) is not int or not minimum <= value <= INT32_MAX:
        raise ValueError(f"not an integer id or count: {shorten(repr(value), 60)}")
    return value


def _failures(message: str) -> list[dict[str, Any]]:
    """Sonarr's 400 body is a JSON array of failures; pyarr hands it over as raw text."""
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return []
    if isinstance(data, list):
        return [f for f in data if isinstance(f, dict)]
    return []


def _failure_text(failures: list[dict[str, Any]], fallback: str) -> str:
    texts = [
        f"{f.get('propertyName')}: {f.get('errorMessage')}".strip(": ")
        if f.get("propertyName")
        else str(f.get("errorMessage", ""))
        for f in failures
    ]
    text = "; ".join(t for t in texts if t)
    return shorten(text or fallback, 2 * BODY_SHOWN) or "rejected without a message"


class SonarrGateway:
    """One Sonarr server, and the only HTTP client to it (pyarr is built here alone).

    `sonarr.connect` builds it for a cycle and validates the settings against it;
    `metrics.probe_sonarr` builds one for `/ready`, the metrics and `healthcheck --ready`.
    """

    def __init__(
        self,
        config: SonarrConfig,
        *,
        clock: Clock = system_clock,
        sleep: Sleep = time.sleep,
        requests: dict[str, int] | None = None,
        read_only: bool = False,
        name: str = DEFAULT_INSTANCE,
    ) -> None:
        assert config.url is not None and config.api_key, "connect() needs sonarr.url and key"
        self.config = config
        self.name = name  # the instance: `default` is the `sonarr` section
        self.url = display_url(str(config.url))  # printed; only pyarr gets the password
        self.clock = clock
        self.sleep = sleep
        self.requests = requests if requests is not None else {}
        self.read_only = read_only
        self.exclusion_page_size = EXCLUSION_PAGE_SIZE
        #: Tries per request; the Sonarr phase drops it to 1 once Sonarr stops answering.
        self.attempts = ATTEMPTS
        self.info: ServerInfo | None = None
        #: Each route adding here: its settings and their ids (validation.finish).
        self.routed: dict[str, tuple[SonarrConfig, ServerInfo]] = {}
        self._status: int | None = None
        self._retry_after: str | None = None  # the last answer's Retry-After header
        self.not_before: float | None = None  # no request before (a Retry-After given up on)
        self.unanswered = 0  # attempts of the last call that got no definite answer
        #: The HTTP status of the last attempt of a call that gave up (None: no answer at
        #: all, a timeout or a refused connection): Sonarr answered, but unusably.
        self.gave_up_status: int | None = None
        timeout = float(config.timeout)
        self.http = httpx.Client(
            timeout=timeout,
            # The whole exchange within the timeout, the answer under the cap (core/httpbounds.py);
            # uncompressed, so the bytes capped are the bytes decoded. Through a proxy of
            # the environment too: each is mounted on a bounded transport of its own.
            transport=BoundedTransport(timeout, answer_limits),
            mounts=_proxy_mounts(timeout),
            headers={"Accept-Encoding": "identity"},
            # Never followed: a redirect would carry X-Api-Key to wherever it points and
            # turn the add's POST into a GET. `_on_response` stops at the first one.
            follow_redirects=False,
            event_hooks={"response": [self._on_response]},
        )
        self.client = pyarr.Sonarr(
            str(config.url),
            config.api_key,
            api_ver="v3",
            request_timeout=int(timeout),
            session=self.http,
        )
        # pyarr's request layer: the same client and session, for what pyarr cannot send.
        self.api = self.client.http_utils

    def close(self) -> None:
        self.http.close()

    def key(self, option: str) -> str:
        """How the configuration names `option` of this instance (`sonarr.root_folder`,
        `instances.4k.root_folder`), for messages."""
        section = "sonarr" if self.name == DEFAULT_INSTANCE else f"instances.{self.name}"
        return f"{section}.{option}"

    def __enter__(self) -> SonarrGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the request wrapper ----------------------------------------------------------

    def _on_response(self, response: httpx.Response) -> None:
        self._status = response.status_code
        self._retry_after = response.headers.get("retry-after")
        key = f"sonarr:{endpoint_name(response.request.method, response.url.path)}:"
        key += str(response.status_code)
        self.requests[key] = self.requests.get(key, 0) + 1
        if response.is_redirect:
            raise ConfigError(self._redirect_message(response))

    def _redirect_message(self, response: httpx.Response) -> str:
        """What to tell the user about a redirect. A target is suggested only when it is
        http(s) on sonarr.url's own host (a scheme upgrade, a URL base): advising to send the
        API key wherever a network or a hostile proxy pointed would be the leak the refusal
        to follow prevents."""
        url = self.key("url")  # `instances.4k.url` for another instance
        try:
            target = response.request.url.join(response.headers["location"])
            base = self._redirect_base(response, target)
        except (httpx.InvalidURL, KeyError, ValueError, UnicodeError):
            return f"{url} redirects to a malformed URL; check {url}"
        if target.scheme in ("http", "https") and target.host == response.request.url.host:
            return f"{url} redirects to {base}; set {url} to that"
        elsewhere = shorten(ascii(f"{target.scheme}://{target.host}").strip("'"), 80)
        return f"{url} redirects elsewhere ({elsewhere}); check {url}"

    def _redirect_base(self, response: httpx.Response, target: httpx.URL) -> str:
        """Where a redirect points, as a sonarr.url (the API path and any query dropped)."""
        target = target.copy_with(query=None, fragment=None)
        base_path = httpx.URL(str(self.config.url)).path.rstrip("/")
        api_path = response.request.url.path.removeprefix(base_path)
        if target.path.endswith(api_path):
            target = target.copy_with(path=target.path.removesuffix(api_path) or "/")
        return display_url(str(target)).rstrip("/")

    def _count(self, endpoint: str, outcome: str) -> None:
        key = f"sonarr:{endpoint}:{outcome}"
        self.requests[key] = self.requests.get(key, 0) + 1

    def call(
        self,
        endpoint: str,
        fn: Callable[[], T],
        *,
        expect: frozenset[int] = frozenset(),
        attempts: int | None = None,
    ) -> T:
        """Run one pyarr call, mapping its failures; transient ones retried with backoff.

        `expect` lists the definite answers the caller handles: 400 raises SonarrRejected,
        409 SonarrConflict, any other `_Answered`. 401/403 always raise SonarrRefused; any
        other definite error answer raises SonarrUnavailable without a retry. `endpoint` only
        names the call in logs and in the count of requests that got no answer at all
        (answered ones are counted by status in `_on_response`).
        """
        attempts = attempts or self.attempts
        attempt = 0
        self.unanswered = 0
        self._hold_off(endpoint)
        while True:
            attempt += 1
            self._status = None
            self._retry_after = None
            try:
                return fn()
            except PyarrConnectionError as error:
                cause = error.__cause__
                outcome = "timeout" if isinstance(cause, httpx.TimeoutException) else "error"
                self._count(endpoint, outcome)
                status, detail = None, f"{outcome}: {cause or error}"
            except Exception as error:
                # pyarr raises its own classes, ValueError for a body that is not the JSON
                # due (RecursionError for one nested beyond reason), and a bare
                # Exception(status, text) for 409, 429, 503 ...; anything else is a bug of
                # ours and must not pass for an unavailable Sonarr.
                answer = PyarrError | ValueError | RecursionError
                if not isinstance(error, answer) and type(error) is not Exception:
                    raise
                status = self._status
                detail = self._answer(endpoint, status, error, expect)
            # A timeout or 5xx may still have done the work (an add may exist now).
            self.unanswered += 1
            if attempt >= attempts:
                # The next call, whatever it is for, waits out a Retry-After given here.
                if held := self._wait(endpoint, 0.0):
                    self.not_before = self.clock() + held
                self.gave_up_status = status
                raise SonarrUnavailable(
                    f"Sonarr at {self.url} is unavailable ({endpoint}: {detail}); "
                    f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}"
                )
            wait = self._wait(endpoint, BACKOFF[min(attempt - 1, len(BACKOFF) - 1)])
            log.info(  # a retry that works is no news; the final error says why
                "sonarr_retry endpoint=%s attempt=%d status=%s wait=%.1f detail=%r",
                endpoint,
                attempt,
                status,
                wait,
                detail,
            )
            self.sleep(wait)

    def _hold_off(self, endpoint: str) -> None:
        """Wait out what is left of a Retry-After an earlier call gave up on."""
        pause = self.not_before - self.clock() if self.not_before is not None else 0.0
        self.not_before = None
        if pause > 0:
            log.info("sonarr_retry_after_wait endpoint=%s wait=%.1f", endpoint, pause)
            self.sleep(pause)

    def _wait(self, endpoint: str, backoff: float) -> float:
        """The pause before the next attempt: the backoff, or the answer's Retry-After when
        longer. One beyond `sonarr.max_retry_after` raises SonarrThrottled."""
        asked = retry_after_seconds(self._retry_after, self.clock())
        if asked is None:
            return backoff
        cap = float(self.config.max_retry_after)
        if asked > cap:
            log.warning(
                "sonarr_retry_after_too_long endpoint=%s retry_after=%.0f cap=%.0f",
                endpoint,
                asked,
                cap,
            )
            raise SonarrThrottled(
                f"Sonarr at {self.url} asked to wait {asked:.0f}s (Retry-After on {endpoint}), "
                f"more than sonarr.max_retry_after ({self.config.max_retry_after}); this cycle "
                "stops, the next run resumes"
            )
        return max(backoff, asked)

    def _answer(
        self, endpoint: str, status: int | None, error: BaseException, expect: frozenset[int]
    ) -> str:
        """Raise what a definite answer means; return a detail when it is worth a retry."""
        # pyarr puts Sonarr's message in a str argument (PyarrServerError adds the response).
        texts = [arg for arg in error.args if isinstance(arg, str)]
        text = texts[-1] if texts else str(error)
        if status in (401, 403):
            key = self.key("api_key")
            raise SonarrRefused(
                f"Sonarr at {self.url} refused the API key (HTTP {status}); check {key}"
            ) from None
        if status is None or status < 400:
            return f"unreadable answer ({type(error).__name__}, HTTP {status})"
        if status in TRANSIENT_STATUS:
            return f"HTTP {status}: {shorten(text)}" if text.strip() else f"HTTP {status}"
        if status in expect:
            if status == 400:
                failures = _failures(text)
                raise SonarrRejected(failures, _failure_text(failures, text)) from None
            if status == 409:
                raise SonarrConflict(shorten(text)) from None
            raise _Answered(status, text) from None
        raise SonarrUnavailable(
            f"Sonarr at {self.url} answered HTTP {status} to {endpoint}: {shorten(text)}"
        ) from None

    # --- plain reads ------------------------------------------------------------------

    def get(self, path: str, fn: Callable[[], Any] | None = None) -> Any:
        """GET /api/v3/<path> with pyarr's call for it (`fn`), else with its request layer
        (for what pyarr 6.9 lacks). A 404 means the URL does not point at Sonarr's API."""
        fetch = fn or (lambda: self.api.request(path))
        try:
            return self.call(endpoint_name("GET", path), fetch, expect=frozenset({404}))
        except _Answered:
            raise ConfigError(
                f"{self.key('url')}: {self.url} answers 404 for /api/v3/{path}; is it Sonarr "
                "(with its URL base, e.g. http://host:8989/sonarr)?"
            ) from None

    def get_list(self, path: str, fn: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
        """`get` for a list resource, refusing anything that is not a list."""
        data = self.get(path, fn)
        if not isinstance(data, list):
            raise SonarrUnavailable(
                f"Sonarr at {self.url} sent an unreadable answer for /api/v3/{path}"
            )
        return [item for item in data if isinstance(item, dict)]

    def create_tag(self, label: str) -> int:
        """POST /tag (only when `create_missing_tags` asks for it); the new tag's id."""
        assert not self.read_only, "dry run: no write to Sonarr"
        created = self.call("tag_add", lambda: self.client.tag.create(label))
        return self.read_int(created, "id", "tag_add")

    def read_int(self, item: Any, key: str, endpoint: str, *, minimum: int = 1) -> int:
        """`item[key]` as `sonarr_int`, or SonarrUnreadable naming the endpoint and the value."""
        try:
            return sonarr_int(item[key], minimum=minimum)
        except (KeyError, TypeError, ValueError, IndexError):
            value = item.get(key) if isinstance(item, Mapping) else item
            raise SonarrUnreadable(
                f"Sonarr at {self.url} sent an unreadable answer ({endpoint}): "
                f"{key} is {shorten(repr(value), 60)}"
            ) from None

    # --- reads of a cycle -------------------------------------------------------------

    def library(self) -> dict[int, LibrarySeries]:
        """Every series in Sonarr by tvdb id, from one complete, successful read.

        Raises SonarrUnavailable when the read fails or the answer is not a whole, well-formed
        list: nothing may be concluded from part of a library.
        """
        data = self.get("series", self.client.series.get)
        if not isinstance(data, list):
            raise SonarrUnavailable(f"Sonarr at {self.url} sent an unreadable series list")
        library: dict[int, LibrarySeries] = {}
        for item in data:
            try:
                entry = LibrarySeries(
                    series_id=sonarr_int(item["id"], minimum=1),
                    tvdb_id=sonarr_int(item["tvdbId"]),
                    title=str(item.get("title") or ""),
                    added=item.get("added"),
                )
            except (KeyError, TypeError, ValueError):
                raise SonarrUnavailable(
                    f"Sonarr at {self.url} sent a malformed series entry; library read ignored"
                ) from None
            library[entry.tvdb_id] = entry
        return library

    def exclusions(self) -> dict[int, Exclusion]:
        """Every Import List Exclusion by tvdb id, reading all pages of `/paged`.

        Falls back to the deprecated plain list only when `/paged` answers 404 (old v3).
        Pages are read oldest first (id ascending), so a new exclusion lands on the last page;
        a read during which `totalRecords` changed, or whose records do not add up to it, is
        done again once, then refused. (A deletion and an addition between two page reads
        would still go unseen; the next cycle reads them.)
        """
        for _ in range(2):
            try:
                records, totals = self._exclusion_pages()
            except _Answered:  # 404: a v3 Sonarr from before the paged endpoint
                log.info("sonarr_exclusions_fallback reason=paged_404")
                records = self.get_list(
                    "importlistexclusion", self.client.import_list_exclusion.get
                )
                totals = {len(records)}
            parsed = self._parse_exclusions(records)
            unique = len({e.exclusion_id for e in parsed})
            if len(totals) == 1 and unique == next(iter(totals)):
                return {e.tvdb_id: e for e in parsed}
            log.warning(
                "sonarr_exclusions_shifted read=%d totals=%s",
                unique,
                ",".join(map(str, sorted(totals))),
            )
        raise SonarrUnavailable(
            f"Sonarr at {self.url}: import list exclusions changed while being read; "
            "retried next cycle"
        )

    def _exclusion_pages(self) -> tuple[list[dict[str, Any]], set[int]]:
        """Every page's records, and every `totalRecords` the pages announced."""
        records: list[dict[str, Any]] = []
        totals: set[int] = set()
        seen: set[Any] = set()
        page, size = 1, self.exclusion_page_size
        while True:
            params = {"page": page, "pageSize": size, "sortKey": "id", "sortDirection": "ascending"}
            data = self.call(
                "importlistexclusion_paged",
                lambda: self.api.request(
                    "importlistexclusion/paged",
                    params=params,  # noqa: B023 - called at once
                ),
                expect=frozenset({404}),
            )
            if not isinstance(data, Mapping) or not isinstance(data.get("records"), list):
                raise SonarrUnavailable(f"Sonarr at {self.url} sent an unreadable exclusion page")
            total = self.read_int(data, "totalRecords", "importlistexclusion_paged", minimum=0)
            if total > MAX_EXCLUSION_PAGES * size:
                raise SonarrUnreadable(
                    f"Sonarr at {self.url} sent an unreadable exclusion page: totalRecords "
                    f"{total} would take more than {MAX_EXCLUSION_PAGES} pages"
                )
            totals.add(total)
            batch = data["records"]
            records.extend(batch)
            ids = {repr(item.get("id")) for item in batch if isinstance(item, Mapping)}
            # An empty page, or one of only ids already read (a Sonarr ignoring `page`),
            # ends the read: every queue ends. The totals check in `exclusions` judges it.
            if not batch or ids <= seen or page * size >= total:
                return records, totals
            seen |= ids
            page += 1

    def _parse_exclusions(self, records: list[Any]) -> list[Exclusion]:
        parsed = []
        for item in records:
            try:
                parsed.append(
                    Exclusion(
                        sonarr_int(item["id"], minimum=1),
                        sonarr_int(item["tvdbId"]),
                        str(item.get("title") or ""),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise SonarrUnavailable(
                    f"Sonarr at {self.url} sent a malformed exclusion; exclusions ignored"
                ) from None
        return parsed

    def lookup(self, tvdb_id: int) -> dict[str, Any] | None:
        """The lookup result for this tvdb id, or None when Sonarr's metadata has none.

        Only a result carrying the same tvdb id counts: never add a show by title.
        """
        results = self.call("series_lookup", lambda: self.client.series.lookup(f"tvdb:{tvdb_id}"))
        if not isinstance(results, list):
            raise SonarrUnreadable(
                f"Sonarr at {self.url} sent an unreadable answer (series_lookup): "
                f"{shorten(repr(results), 60)}"
            )
        for result in results:
            if isinstance(result, dict) and _same_int(result.get("tvdbId"), tvdb_id):
                return result
        return None

    def lookup_series_id(self, found: Mapping[str, Any]) -> int | None:
        """The library id a lookup result carries (the series is in Sonarr), None when it
        has none (absent, null or 0: not in the library); SonarrUnreadable for anything else."""
        value = found.get("id")
        if value is None or (type(value) is int and value == 0):
            return None
        return self.read_int(found, "id", "series_lookup")

    def series_by_tvdb(self, tvdb_id: int) -> LibrarySeries | None:
        """The library entry for one tvdb id (after a 400 "exists"), or None, also when
        Sonarr could not be asked (Sonarr's own validator already said it is there)."""
        try:
            return self.library_entry(tvdb_id)
        except SonarrUnavailable:
            return None

    def library_entry(self, tvdb_id: int) -> LibrarySeries | None:
        """The library entry for one tvdb id, None when the library has none; raises
        SonarrUnavailable when Sonarr cannot say (after a 409, which proves nothing)."""
        found = self.call("series", lambda: self.client.series.get(tvdb_id, tvdb=True))
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and _same_int(item.get("tvdbId"), tvdb_id) and item.get("id"):
                series_id = self.read_int(item, "id", "series")
                return LibrarySeries(series_id, tvdb_id, str(item.get("title") or ""))
        return None

    # --- writes -----------------------------------------------------------------------

    def add_body(self, lookup: Mapping[str, Any], route: str | None = None) -> dict[str, Any]:
        """The POST /series body: the lookup result plus our settings (`route`'s, if the
        show follows one that adds here)."""
        config, info = self.routed.get(route or "", (self.config, self.info))
        assert info is not None, "validation.finish() first"
        body = dict(lookup)
        body.pop("path", None)  # let Sonarr build the folder under rootFolderPath
        body.update(
            {
                "qualityProfileId": info.quality_profile_id,
                "rootFolderPath": info.root_folder,
                "seasonFolder": config.season_folder,
                "monitored": config.monitor != "none",
                "tags": list(info.tag_ids),
                "addOptions": {
                    "monitor": info.monitor,
                    "searchForMissingEpisodes": config.search_on_add,
                    "searchForCutoffUnmetEpisodes": False,
                    "ignoreEpisodesWithFiles": False,
                    "ignoreEpisodesWithoutFiles": False,
                },
            }
        )
        if config.series_type is not None:  # else the lookup's (Sonarr's own guess)
            body["seriesType"] = config.series_type
        if info.is_v4:
            body.pop("languageProfileId", None)
            if info.monitor_new_items is not None:
                body["monitorNewItems"] = info.monitor_new_items
        else:
            body["languageProfileId"] = info.language_profile_id
        return body

    def add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v3/series. Raises SonarrRejected (400), SonarrConflict (409), ...

        Not pyarr's `series.add`: it demands a language profile id (v4 has none), replaces
        `addOptions` without `monitor`, and sends neither `tags` nor `monitorNewItems`. Its
        request layer sends our body instead, with the same session, timeout and errors.
        """
        assert not self.read_only, "dry run: no write to Sonarr"
        created = self.call(
            "series_add",
            lambda: self.api.request("series", method="POST", json_data=dict(body)),
            expect=frozenset({400, 409}),
        )
        if not isinstance(created, dict):
            raise SonarrUnavailable(f"Sonarr at {self.url} sent an unreadable answer to an add")
        # Not SonarrUnreadable: a 201 may have created the series; the show stays pending
        # with its intent row, and the next library read tells.
        try:
            sonarr_int(created.get("id"), minimum=1)
        except ValueError as error:
            raise SonarrUnavailable(
                f"Sonarr at {self.url} sent an unreadable answer to an add ({error})"
            ) from None
        return created

    def add_exclusion(self, tvdb_id: int, title: str) -> None:
        """POST one Import List Exclusion, so every list tool keeps the series out.

        Only `tvdbId` and `title`: Sonarr's resource has no `year`, whatever pyarr's docstring
        suggests.
        """
        assert not self.read_only, "dry run: no write to Sonarr"
        data: dict[str, Any] = {"tvdbId": tvdb_id, "title": title}
        try:
            self.call(
                "importlistexclusion_add",
                lambda: self.client.import_list_exclusion.add(data),
                expect=frozenset({400}),
            )
        except SonarrRejected as rejected:
            if "already been added" not in rejected.message:
                raise
            log.info("sonarr_exclusion_exists tvdb_id=%d", tvdb_id)


#: The whole-collection reads whose size grows with the user's library: the series, the
#: root folders (with every unmapped folder in them) and the unpaged exclusion list of an
#: old v3. Every other answer (a lookup, `/series?tvdbId=`, a page of exclusions, the
#: profiles, an add) is kilobytes and gets the small limits.
LARGE_READS = frozenset({"series", "rootfolder", "importlistexclusion"})


def answer_limits(request: httpx.Request) -> Limits:
    """The limits of one Sonarr answer, by what was asked."""
    resource = request.url.path.rstrip("/").rpartition("/api/v3/")[2]
    large = request.method == "GET" and resource in LARGE_READS and not request.url.query
    return SONARR_LIBRARY_LIMITS if large else SONARR_LIMITS


def _proxy_mounts(timeout: float) -> dict[str, BoundedTransport | None]:
    """The environment's proxies for Sonarr, honoured as for TVMaze (requests honours them
    there), each bounded; one httpx cannot use is a configuration error, not a traceback."""
    try:
        return bounded_mounts(timeout, answer_limits)
    except (ValueError, httpx.InvalidURL, ImportError) as error:
        # Not the error's text: it may quote the proxy URL, and so its password.
        why = (
            "a SOCKS proxy needs the socksio package (httpx[socks])"
            if isinstance(error, ImportError)
            else "not an http://, https:// or socks5:// URL"
        )
        raise ConfigError(
            f"the proxy in HTTP_PROXY/HTTPS_PROXY/ALL_PROXY cannot carry Sonarr's requests: {why}; "
            "fix it, or name Sonarr's host in NO_PROXY"
        ) from None


def _same_int(value: Any, wanted: int) -> bool:
    """`value == wanted` for a JSON integer only (`True == 1` and `1.0 == 1` in Python)."""
    return type(value) is int and value == wanted


class _Answered(Exception):
    """A definite HTTP answer (not transient, not handled above); callers decide."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text
