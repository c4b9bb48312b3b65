"""The TVMaze client: one session per cycle, the rate limit, the HTTP cache, retries.

It hands out decoded JSON; mapping.py maps a show object to `Show`, so the rest of the
program never reads raw TVMaze fields. The HTTP cache policy is written down in
docs/tvmaze-cache.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import requests
from requests_cache import DO_NOT_CACHE, CachedSession

from tvmaze_sync import __version__
from tvmaze_sync.core.config import TvmazeConfig, display_url
from tvmaze_sync.core.errors import CycleError, DependencyError, StorageError
from tvmaze_sync.core.httpbounds import BoundedAdapter, ResponseDeadline, ResponseTooLarge
from tvmaze_sync.core.timeutil import Clock, Sleep, retry_after_seconds
from tvmaze_sync.storage import sqlitefile
from tvmaze_sync.storage.nofollow import refuse_links, sqlite_files
from tvmaze_sync.storage.store import file_system_trouble
from tvmaze_sync.tvmaze.mapping import UpdatesMap, int_or_none, updates_from_tvmaze
from tvmaze_sync.tvmaze.ratelimit import TokenBucket

log = logging.getLogger(__name__)

USER_AGENT = f"tvmaze-sync/{__version__}"
CACHE_NAME = "tvmaze_http_cache.sqlite"
RATE_PERIOD = 10.0  # tvmaze.rate_limit counts calls per this many seconds
#: TVMaze's load balancers cache every answer for an hour; used when a response has no
#: Cache-Control of its own, so nothing is ever cached forever.
DEFAULT_MAX_AGE = 3600
#: Request headers/params never written to the cache, neither in keys nor in stored requests.
SECRET_PARAMETERS = ("Authorization", "Proxy-Authorization", "apikey", "api_key")


# --- HTTP ----------------------------------------------------------------------------------


class RateLimitedAdapter(BoundedAdapter):
    """Takes a token for every request that really goes on the wire, and bounds it: the
    whole response within `deadline` seconds, its body under the cap (core/httpbounds.py).

    Sitting below requests-cache, it never sees cache hits, so they cost no allowance.
    """

    def __init__(self, limiter: TokenBucket, deadline: float = 30.0) -> None:
        super().__init__(deadline, pool_connections=1, pool_maxsize=1, max_retries=0)
        self.limiter = limiter

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.limiter.acquire()
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; `Retry-After` is a floor on each wait."""

    attempts: int = 6  # tries per request, the first included
    base: float = 1.0  # first backoff (seconds), doubled per attempt
    cap: float = 60.0  # longest backoff
    max_retry_after: float = 300.0  # a longer Retry-After fails the cycle instead of waiting

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        """Wait before try `attempt + 1` ("equal jitter": half fixed, half random)."""
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        return max(jittered, retry_after or 0.0)


class _Retry(Exception):
    """One failed attempt worth retrying; the message is the reason shown to the user."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Call:
    """One endpoint request: how it is counted and named, and what a valid body looks like."""

    endpoint: str  # the counter's middle part: "tvmaze:<endpoint>:<status>"
    path: str
    params: dict[str, Any] | None
    what: str  # how log lines and errors name it, e.g. "page 3"
    valid: Callable[[Any], bool]
    no_cache: bool = False  # neither read nor write the local cache


class TvmazeClient:
    """The TVMaze endpoints the mirror needs, over one session shared by the whole cycle.

    Every request is counted in `requests` as "tvmaze:<endpoint>:<status>" (status is the HTTP
    code, "cached" for a local cache hit, "invalid" for an undecodable 200, "timeout" or
    "error" when no (whole) response came, "too_large" for a body over the cap). Call
    `count_into(summary.requests)` to count straight into a cycle's summary.
    """

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        *,
        clock: Clock,
        sleep: Sleep,
        timeout: tuple[float, float] = (10.0, 30.0),
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.sleep = sleep
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()
        self.requests: dict[str, int] = {}
        self._cached = isinstance(session, CachedSession)
        self._storing = True
        if isinstance(session, CachedSession):
            # With cache_control on, requests-cache lets a response's max-age override a
            # per-request DO_NOT_CACHE for the write; this filter makes "no cache" mean it.
            session.settings.filter_fn = self._storable

    def count_into(self, counts: dict[str, int]) -> None:
        """Count from now on into `counts`, adding what was counted so far."""
        for key, value in self.requests.items():
            counts[key] = counts.get(key, 0) + value
        self.requests = counts

    # --- endpoints -----------------------------------------------------------------------

    def get_page(
        self, page: int, *, expect: Mapping[int, int] | None = None, use_cache: bool = True
    ) -> list[dict[str, Any]] | None:
        """The show index page `page` (ids 250·page …), or None on 404 (past the end).

        `expect` maps ids to the `updated` the updates map announced: a locally cached page
        that lacks one of them or holds an older copy is refetched from the network. Without
        `use_cache` the local cache is neither read nor written (a full pass re-reads TVMaze
        on purpose, and would only fill the cache with pages nobody asks for again).
        """
        call = _Call("page", "/shows", {"page": page}, f"page {page}", _is_list, not use_cache)
        data = self._get(call, stale=lambda old: expect is not None and _hides_change(old, expect))
        return None if data is None else [show for show in data if isinstance(show, dict)]

    def get_show(
        self, tvmaze_id: int, *, min_updated: int | None = None, fresh: bool = False
    ) -> dict[str, Any] | None:
        """The show's current object, or None when TVMaze has no such show (404).

        With `min_updated`, a locally cached copy older than that is not trusted: the show is
        refetched from the network. `fresh` skips the local cache outright (to confirm that
        a show is gone, a cached copy proves nothing).
        """
        call = _Call("show", f"/shows/{tvmaze_id}", None, f"show {tvmaze_id}", _is_show)
        data: dict[str, Any] | None = self._get(
            call,
            stale=lambda old: min_updated is not None and _updated(old) < min_updated,
            force_refresh=fresh,
        )
        return data

    def get_updates(self, since: str | None) -> UpdatesMap:
        """TVMaze's updates map, id -> `updated`, for `since` in day/week/month (None: all).

        Never served from the local cache: it is how the mirror learns what changed. Entries
        that are no usable id and time are left out and counted (`UpdatesMap.skipped`).
        """
        params = {"since": since} if since else None
        what = f"updates since={since or 'all'}"
        call = _Call("updates", "/updates/shows", params, what, _is_dict, no_cache=True)
        data = self._get(call)
        if data is None:
            raise CycleError(f"TVMaze has no {call.what} (HTTP 404 from {self.url_of(call)})")
        return updates_from_tvmaze(data)

    # --- the retry loop ------------------------------------------------------------------

    def _get(
        self,
        call: _Call,
        *,
        stale: Callable[[Any], bool] | None = None,
        force_refresh: bool = False,
    ) -> Any:
        """The decoded JSON, or None on 404; a cached copy `stale` calls too old is refetched."""
        got = self._retrying(call, force_refresh)
        if got is not None and got[1] and stale is not None and stale(got[0]):
            log.debug("tvmaze_cache_stale what=%s", call.what)
            got = self._retrying(call, True)
        return None if got is None else got[0]

    def _retrying(self, call: _Call, force_refresh: bool) -> tuple[Any, bool] | None:
        """(decoded JSON, served from local cache) or None on 404; retries transient failures.

        Raises CycleError when the retries are exhausted, DependencyError when TVMaze refuses
        our credentials.
        """
        policy = self.retry
        reason = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                # A retry never trusts the cache: the entry may be the very body that failed.
                return self._attempt(call, force_refresh or attempt > 1)
            except _Retry as problem:
                reason, retry_after = str(problem), problem.retry_after
            if retry_after is not None and retry_after > policy.max_retry_after:
                raise CycleError(
                    f"TVMaze asked to wait {retry_after:.0f}s before retrying {call.what}; "
                    "giving up for this cycle (pages already stored are kept)"
                )
            if attempt == policy.attempts:
                break
            delay = policy.delay(attempt, self.rng, retry_after)
            log.info(  # a retry that works is no news; the final error says why
                "tvmaze_retry what=%r attempt=%d reason=%r wait=%.1f",
                call.what,
                attempt,
                reason,
                delay,
            )
            self.sleep(delay)
        raise CycleError(
            f"TVMaze {call.what} ({self.url_of(call)}): still failing after {policy.attempts} "
            f"attempts (last: {reason}); pages already stored are kept, the next run resumes"
        )

    def _attempt(self, call: _Call, force_refresh: bool) -> tuple[Any, bool] | None:
        response = self._send(call, force_refresh)
        status = response.status_code
        if status == 200:
            data = self._decode(call, response)
            from_cache = bool(getattr(response, "from_cache", False))
            self._count(call.endpoint, "cached" if from_cache else "200")
            return data, from_cache
        self._count(call.endpoint, str(status))
        if status == 404:
            return None
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.clock())
            reason = "HTTP 429 (rate limited)" if status == 429 else f"HTTP {status}"
            raise _Retry(reason, retry_after)
        if 300 <= status < 400:
            raise _Retry(_redirect_reason(response))
        if status in (401, 403):
            raise DependencyError(
                f"TVMaze refused {call.what} with HTTP {status}; check tvmaze.api_key "
                "(expected as username:apikey for a premium account)"
            )
        raise CycleError(f"TVMaze answered {call.what} ({self.url_of(call)}) with HTTP {status}")

    def _send(self, call: _Call, force_refresh: bool) -> requests.Response:
        """One GET, body read whole (or a _Retry saying why not). Redirects are not followed:
        a hop would carry the credentials elsewhere, and TVMaze's endpoints never move."""
        kwargs: dict[str, Any] = {}
        if self._cached:
            if call.no_cache:
                kwargs["expire_after"] = DO_NOT_CACHE
            elif force_refresh:
                kwargs["force_refresh"] = True
        self._storing = not call.no_cache
        url = self.base_url + call.path
        try:
            response = self.session.get(
                url, params=call.params, timeout=self.timeout, allow_redirects=False, **kwargs
            )
            _ = response.content  # a body cut short on the wire raises here
            return response
        except requests.Timeout as error:
            self._count(call.endpoint, "timeout")
            deadline = isinstance(error, ResponseDeadline)
            raise _Retry(f"timeout ({error})" if deadline else "timeout") from None
        except ResponseTooLarge as error:
            self._count(call.endpoint, "too_large")
            raise _Retry(str(error)) from None
        except requests.RequestException as error:
            self._count(call.endpoint, "error")
            raise _Retry(_connection_reason(error)) from None
        finally:
            self._storing = True

    def _decode(self, call: _Call, response: requests.Response) -> Any:
        """The JSON of a 200, or a _Retry naming what is wrong with the body."""
        reason = None
        try:
            data = json.loads(response.content)
        except RecursionError:
            reason = "JSON nested too deep"
        except ValueError:
            reason = _not_json_reason(response)
        else:
            if _too_deep(data):
                reason = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            elif not call.valid(data):
                reason = "JSON of the wrong shape"
        if reason is None:
            return data
        self._count(call.endpoint, "invalid")
        self._forget(response)
        raise _Retry(reason)

    def url_of(self, call: _Call) -> str:
        """The request's URL as it may be printed (no credentials)."""
        query = f"?{urlencode(call.params)}" if call.params else ""
        return display_url(self.base_url + call.path + query)

    def _storable(self, response: requests.Response) -> bool:
        return self._storing

    def _forget(self, response: requests.Response) -> None:
        """Drop a cached copy of a bad body so no later request is served it."""
        key = getattr(response, "cache_key", None)
        if self._cached and key:
            self.session.cache.delete(key)  # type: ignore[attr-defined]

    def _count(self, endpoint: str, status: str) -> None:
        key = f"tvmaze:{endpoint}:{status}"
        self.requests[key] = self.requests.get(key, 0) + 1

    def close(self) -> None:
        self.session.close()


def _is_list(data: Any) -> bool:
    return isinstance(data, list)


def _is_dict(data: Any) -> bool:
    return isinstance(data, dict)


def _is_show(data: Any) -> bool:
    # Any object with an id is an answer, not a glitch worth retrying: an unusable id is
    # one bad record, which the mirror skips (mapping.py), never a failed cycle.
    return isinstance(data, dict) and "id" in data


def _updated(show: Mapping[str, Any]) -> int:
    return int_or_none(show.get("updated")) or 0


def _hides_change(page: list[Any], expect: Mapping[int, int]) -> bool:
    """Whether a page copy lacks an announced show or holds an older copy of one."""
    on_page = {
        int_or_none(show.get("id")): _updated(show) for show in page if isinstance(show, Mapping)
    }
    return any(on_page.get(show_id, -1) < updated for show_id, updated in expect.items())


def _connection_reason(error: Exception) -> str:
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if isinstance(error, requests.exceptions.ChunkedEncodingError) or "incompleteread" in text:
        return "body cut short"
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return "body not decodable as its Content-Encoding says"
    if "badstatusline" in text or "remotedisconnected" in text:
        return "not an HTTP response (or the connection closed before one)"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection failed"
    return f"request failed ({type(error).__name__})"


def _redirect_reason(response: requests.Response) -> str:
    """Why a 3xx is a failure, naming where it points (never followed, see `_send`)."""
    status = response.status_code
    location = response.headers.get("Location")
    if not location:
        return f"HTTP {status} redirect without a Location"
    shown = _printable(location)
    try:
        target = urljoin(response.url, location)
        parts, here = urlsplit(target), urlsplit(response.url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        return f"HTTP {status} redirect to a malformed or non-HTTP URL {shown}"
    if target == response.url:
        return f"HTTP {status} redirect loop (to itself)"
    if (parts.scheme, parts.netloc) != (here.scheme, here.netloc):
        where = _printable(display_url(target))
        return f"HTTP {status} redirect to another scheme or host, {where} (not followed)"
    return f"HTTP {status} redirect to {_printable(display_url(target))} (not followed)"


def _printable(text: str, limit: int = 120) -> str:
    """Text from the network, fit for one line of a message: no control characters, cut."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return repr(clean + ("…" if len(text) > limit else ""))


def _not_json_reason(response: requests.Response) -> str:
    kind = (response.headers.get("Content-Type") or "no Content-Type").split(";")[0].strip()
    if "html" in kind:
        return f"HTML instead of JSON ({kind})"
    return f"body is not JSON ({_printable(kind, 60)}, {len(response.content)} bytes)"


#: Deeper JSON than any TVMaze answer (a show with embeds is ~6 levels); refused as garbage.
MAX_JSON_DEPTH = 32


def _too_deep(data: Any) -> bool:
    """Whether decoded JSON nests deeper than MAX_JSON_DEPTH (iterative: no recursion)."""
    level = [data]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, (dict, list))
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


# --- building the client ---------------------------------------------------------------------


def basic_auth(api_key: str) -> tuple[str, str]:
    """TVMaze premium credentials for HTTP Basic: `username:apikey`, or a bare key."""
    user, sep, key = api_key.partition(":")
    return (user, key) if sep else ("", api_key)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`url` without its `user:password@`, and those credentials (percent-decoded) if any.

    The session never sees a URL holding a password, so none can reach the cache (which
    stores every request's URL), a log line or an exception message.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    clean = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


def build_session(
    config: TvmazeConfig,
    cache_dir: Path | None,
    limiter: TokenBucket,
    url_auth: tuple[str, str] | None = None,
) -> requests.Session:
    """The cycle's session: cached in `cache_dir` (None: no cache), rate limited, bounded
    (each whole response within tvmaze.timeout, each body under the cap), identified.

    Credentials travel as an Authorization header (tvmaze.api_key, else `url_auth`, the
    user:password that was in tvmaze.base_url), never in a URL; requests-cache redacts that
    header from the requests it stores and keys (SECRET_PARAMETERS).
    """
    session = _Session() if cache_dir is None else _open_cache(cache_dir / CACHE_NAME)
    adapter = RateLimitedAdapter(limiter, deadline=float(config.timeout))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if config.api_key:
        session.auth = basic_auth(config.api_key)
    elif url_auth is not None:
        session.auth = url_auth
    return session


class _NoRedirects:
    """Never computes a redirect's next request, not even the `next` requests prepares
    when told not to follow: a malformed Location would raise from inside requests."""

    def get_redirect_target(self, response: requests.Response) -> None:
        return None


class _Session(_NoRedirects, requests.Session):
    pass


class _CachedSession(_NoRedirects, CachedSession):
    pass


def _open_cache(path: Path) -> CachedSession:
    """The cached session; a corrupt cache file is deleted and made anew, as the cache is
    disposable (a lost entry costs one request) and a bad one would fail every cycle."""
    refuse_links(*sqlite_files(path))  # SQLite would follow them (storage/nofollow.py)
    try:
        return _cached_session(path)
    except sqlitefile.OperationalError as error:  # a full or read-only disk: nothing to reset
        trouble = file_system_trouble(path.parent) or str(error)
        raise StorageError(f"cannot use the HTTP cache {path}: {trouble}") from None
    except sqlitefile.DatabaseError as error:  # "file is not a database", "malformed"
        log.warning("http_cache_reset path=%s error=%s", path, error)
    except OSError as error:  # a directory or a symlink in its place, no permission
        trouble = file_system_trouble(path.parent) or error.strerror or str(error)
        raise StorageError(f"cannot use the HTTP cache {path}: {trouble}") from None
    try:
        for stale in _cache_files(path):
            stale.unlink(missing_ok=True)
        return _cached_session(path)
    except (sqlitefile.Error, OSError) as error:
        raise StorageError(f"cannot use the HTTP cache {path}: {error}") from None


def _private(path: Path) -> None:
    """The cache file and its -wal/-shm readable by their owner only (SQLite gives new
    -wal/-shm files the database file's mode); tightens a file left by an older build."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    for file in _cache_files(path):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


#: The cache file's `user_version`. 0: written by a build that stored base_url's password
#: in every cached URL; such a file is deleted (a lost hour of cache), not cleaned, since
#: SQLite keeps deleted bytes in free pages.
CACHE_VERSION = 1


def _cache_files(path: Path) -> tuple[Path, Path, Path]:
    return path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _drop_older_cache(path: Path) -> None:
    if not path.is_file() or path.is_symlink() or path.stat().st_size == 0:
        return
    version = sqlitefile.user_version(path)
    if version < CACHE_VERSION:
        log.info("http_cache_dropped path=%s version=%d", path, version)
        for file in _cache_files(path):
            file.unlink(missing_ok=True)


def _cached_session(path: Path) -> CachedSession:
    _drop_older_cache(path)
    _private(path)
    cached = _CachedSession(
        str(path),
        backend="sqlite",
        cache_control=True,  # TVMaze sends Cache-Control: public, max-age=3600
        expire_after=DEFAULT_MAX_AGE,
        allowable_codes=(200,),  # a 404 past the last page must be asked again
        allowable_methods=("GET",),
        ignored_parameters=SECRET_PARAMETERS,
        stale_if_error=False,
        wal=True,
        fast_save=True,  # a lost cache entry costs one request; durability is not needed
    )
    try:
        cached.cache.delete(expired=True)  # keep the file to the last hour's responses
        sqlitefile.set_user_version(path, CACHE_VERSION)
    except BaseException:
        cached.close()
        raise
    return cached


@contextmanager
def connect(
    config: TvmazeConfig,
    cache_dir: Path | None,
    *,
    clock: Clock,
    sleep: Sleep,
    rng: random.Random | None = None,
) -> Iterator[TvmazeClient]:
    """A client for one cycle; the session (and its cache file) is closed on exit."""
    limiter = TokenBucket(config.rate_limit, RATE_PERIOD, clock=clock, sleep=sleep)
    base_url, url_auth = split_credentials(str(config.base_url))
    session = build_session(config, cache_dir, limiter, url_auth)
    timeout = float(config.timeout)
    client = TvmazeClient(
        session,
        base_url,
        clock=clock,
        sleep=sleep,
        timeout=(min(10.0, timeout), timeout),
        rng=rng,
    )
    try:
        yield client
    finally:
        client.close()
