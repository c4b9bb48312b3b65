"""The TVMaze client over real loopback HTTP (the simulator).

Clocks are fake: backoff and rate-limit waits advance them instantly, so a 429 storm costs
milliseconds. Every client here is built by `tvmaze.connect`, as a cycle builds it.
"""

from __future__ import annotations

import base64
import logging
import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.doubles.tvmaze_sim import DELETE, TvmazeSimulator, load_real_shows
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_tvmaze import UNLIMITED, FakeClock
from tvmaze_sync import __version__
from tvmaze_sync.core.config import Duration, TvmazeConfig, Url
from tvmaze_sync.core.errors import CycleError, DependencyError, StorageError
from tvmaze_sync.core.timeutil import retry_after_seconds
from tvmaze_sync.tvmaze.client import (
    CACHE_NAME,
    RetryPolicy,
    TvmazeClient,
    basic_auth,
    connect,
)
from tvmaze_sync.tvmaze.mapping import map_show

# --- the client against the simulator ----------------------------------------------------


@contextmanager
def client_for(
    sim: TvmazeSimulator | str,
    cache_dir: Path | None,
    clock: FakeClock,
    **config: Any,
) -> Iterator[TvmazeClient]:
    url = Url(sim if isinstance(sim, str) else sim.url)
    settings: dict[str, Any] = {"base_url": url, "rate_limit": UNLIMITED}
    settings.update(config)
    with connect(
        TvmazeConfig(**settings), cache_dir, clock=clock, sleep=clock.sleep, rng=random.Random(7)
    ) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(tvmaze_sim_factory: TvmazeSimFactory, clock: FakeClock) -> TvmazeSimulator:
    """A few real shows, compact ids, fake clock for windows and the limiter."""
    shows = load_real_shows()[:40]
    for number, show in enumerate(shows, start=1):
        show["id"] = number * 10  # pages 0 and 1, with gaps
    return tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock, rate_clock=clock)


LimitedSim = Callable[[int, float], TvmazeSimulator]


@pytest.fixture
def limited(tvmaze_sim_factory: TvmazeSimFactory, clock: FakeClock) -> LimitedSim:
    """Simulators of ten real shows enforcing `calls` per `window` s on the fake clock."""

    def make(calls: int, window: float) -> TvmazeSimulator:
        shows = load_real_shows()[:10]
        return tvmaze_sim_factory(
            shows=shows, rate_limit=calls, rate_window=window, clock=clock, rate_clock=clock
        )

    return make


def test_endpoints_and_identity(sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock) -> None:
    with client_for(sim, tmp_path, clock) as client:
        page = client.get_page(0)
        assert page is not None and [s["id"] for s in page] == list(range(10, 250, 10))
        assert client.get_page(2) is None
        assert client.get_show(10) == sim.get_show(10)
        assert client.get_show(11) is None
        assert client.get_updates(None) == sim.updates_map()
    assert sim.user_agents == {f"tvmaze-sync/{__version__}": sim.total_requests}
    assert client.requests == {
        "tvmaze:page:200": 1,
        "tvmaze:page:404": 1,
        "tvmaze:show:200": 1,
        "tvmaze:show:404": 1,
        "tvmaze:updates:200": 1,
    }


def test_counts_go_straight_into_a_summary(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    counts = {"tvmaze:page:200": 4, "sonarr:status:200": 1}
    with client_for(sim, tmp_path, clock) as client:
        client.get_page(0)
        client.count_into(counts)
        client.get_page(0)
        client.get_show(10)
    assert counts == {
        "tvmaze:page:200": 5,
        "sonarr:status:200": 1,
        "tvmaze:page:cached": 1,
        "tvmaze:show:200": 1,
    }


def test_429_storm_is_ridden_out_honouring_retry_after(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    sim.fail_next(4, status=429)
    with client_for(sim, tmp_path, clock) as client:
        assert client.get_page(0) is not None
    assert client.requests == {"tvmaze:page:429": 4, "tvmaze:page:200": 1}
    assert len(clock.backoffs) == 4 and all(s >= 1.0 for s in clock.backoffs)  # Retry-After: 1
    assert clock.backoffs[-1] >= 4  # and it still backs off exponentially beyond that


def test_server_retry_after_is_a_floor(
    limited: LimitedSim, tmp_path: Path, clock: FakeClock
) -> None:
    # The simulator's own limiter: 2 calls per 60 s on the fake clock, Retry-After to match.
    sim = limited(2, 60)
    with client_for(sim, tmp_path, clock) as client:
        for show in load_real_shows()[:5]:
            assert client.get_show(show["id"])["id"] == show["id"]  # type: ignore[index]
    throttled = client.requests["tvmaze:show:429"]
    assert throttled >= 2
    assert len(clock.backoffs) == throttled and all(s >= 55 for s in clock.backoffs)


def test_5xx_then_success(sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock) -> None:
    sim.fail_next(3, status=503, kind="show")
    sim.fail_next(1, status=500, kind="page")
    with client_for(sim, tmp_path, clock) as client:
        assert client.get_show(10) is not None
        assert client.get_page(1) is not None
    assert client.requests["tvmaze:show:503"] == 3
    assert client.requests["tvmaze:page:500"] == 1
    assert len(clock.backoffs) == 4


def test_truncated_body_is_retried_and_never_served_from_the_cache(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    sim.truncate_rate = 1.0

    def sleep_then_heal(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:
            sim.truncate_rate = 0.0

    with connect(
        TvmazeConfig(base_url=Url(sim.url), rate_limit=UNLIMITED),
        tmp_path,
        clock=clock,
        sleep=sleep_then_heal,
    ) as client:
        assert [s["id"] for s in client.get_page(0) or []] == list(range(10, 250, 10))
        assert client.requests == {"tvmaze:page:invalid": 2, "tvmaze:page:200": 1}
        # The good body replaced the bad one in the cache.
        assert client.get_page(0) == sim.index_page(0)
        assert client.requests["tvmaze:page:cached"] == 1
    assert len(clock.backoffs) == 2


def test_exhausted_retries_fail_the_cycle_with_a_clear_message(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    sim.fail_next(50, status=502)
    policy = RetryPolicy()
    with client_for(sim, tmp_path, clock) as client, pytest.raises(CycleError) as failure:
        client.get_page(1)
    message = str(failure.value)
    assert "page 1" in message and f"{policy.attempts} attempts" in message
    assert "HTTP 502" in message
    assert sim.total_requests == policy.attempts
    assert len(clock.backoffs) == policy.attempts - 1
    # Bounded: the whole wait stays under the sum of the capped backoffs.
    assert sum(clock.backoffs) <= sum(min(policy.cap, 2**i) for i in range(policy.attempts))


def test_a_huge_retry_after_fails_at_once(
    limited: LimitedSim, tmp_path: Path, clock: FakeClock
) -> None:
    sim = limited(1, 3600)
    with client_for(sim, tmp_path, clock) as client:
        client.get_show(1)
        with pytest.raises(CycleError, match="asked to wait 3600s"):
            client.get_show(2)
    assert clock.backoffs == []


def test_connection_refused_is_retried_then_fails(tmp_path: Path, clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = pytest.raises(CycleError, match="connection refused")
    with client_for(f"http://127.0.0.1:{port}", tmp_path, clock) as client, refused:
        client.get_updates("day")
    assert client.requests == {"tvmaze:updates:error": RetryPolicy().attempts}


def test_read_timeout_is_retried(sim: TvmazeSimulator, clock: FakeClock) -> None:
    sim.slow_rate, sim.slow_seconds = 1.0, 0.5

    def sleep_then_heal(seconds: float) -> None:
        clock.sleep(seconds)
        sim.slow_rate = 0.0

    session = requests.Session()
    client = TvmazeClient(session, sim.url, clock=clock, sleep=sleep_then_heal, timeout=(1, 0.05))
    with client.session:
        assert client.get_show(10) is not None
    assert client.requests == {"tvmaze:show:timeout": 1, "tvmaze:show:200": 1}


def test_refusal_is_a_dependency_error_without_the_key(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    sim.fail_next(1, status=401)
    refused = pytest.raises(DependencyError)
    with client_for(sim, tmp_path, clock, api_key="alice:s3cr3t-key") as client, refused as failure:
        client.get_page(0)
    assert "s3cr3t" not in str(failure.value) and "HTTP 401" in str(failure.value)


def test_other_client_errors_are_not_retried(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    sim.fail_next(1, status=400)
    with client_for(sim, tmp_path, clock) as client, pytest.raises(CycleError, match="HTTP 400"):
        client.get_page(0)
    assert clock.backoffs == []


def test_api_key_is_sent_but_never_stored_or_logged(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.fail_next(1, status=503)
    with client_for(sim, tmp_path, clock, api_key="alice:s3cr3t-key") as client:
        client.get_page(0)
        client.get_show(10)
        client.get_updates("day")
    assert sim.api_keys == {"s3cr3t-key": sim.total_requests}
    encoded = base64.b64encode(b"alice:s3cr3t-key")
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert b"s3cr3t" not in data and encoded not in data, path
    assert "s3cr3t" not in caplog.text and encoded.decode() not in caplog.text
    assert (tmp_path / CACHE_NAME).exists()


def test_basic_auth_forms() -> None:
    assert basic_auth("alice:key") == ("alice", "key")
    assert basic_auth("barekey") == ("", "barekey")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)],
)
def test_retry_after_forms(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, now=1445412480.0) == expected


def test_zero_429s_at_the_rate_limit_using_the_whole_allowance(
    limited: LimitedSim, tmp_path: Path, clock: FakeClock
) -> None:
    # The simulator counts 20 calls per 10 s on the same fake clock the client paces with.
    sim = limited(20, 10)
    start = clock()
    with client_for(sim, None, clock, rate_limit=20) as client:
        for _ in range(100):
            client.get_updates("day")
    assert sim.throttled == 0
    assert client.requests == {"tvmaze:updates:200": 100}
    floor = 99 / 20 * 10
    assert floor <= clock() - start <= floor * 1.02


def test_a_bursting_client_would_be_throttled(limited: LimitedSim, clock: FakeClock) -> None:
    """The pacing above is what avoids 429s: without it the same calls are throttled."""
    sim = limited(20, 10)
    with client_for(sim, None, clock) as client:
        for _ in range(30):
            client.get_updates("day")
    assert sim.throttled > 0


def test_timeouts_come_from_the_config(sim: TvmazeSimulator, clock: FakeClock) -> None:
    with client_for(sim, None, clock, timeout=Duration(45)) as client:
        assert client.timeout == (10.0, 45.0)
    with client_for(sim, None, clock, timeout=Duration(4)) as client:
        assert client.timeout == (4.0, 4.0)


# --- cache policy ------------------------------------------------------------------------


def test_updates_map_is_never_cached(sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock):
    with client_for(sim, tmp_path, clock) as client:
        client.get_updates("week")
        sim.update_show(10, name="Renamed")
        assert client.get_updates("week") == {10: sim.get_show(10)["updated"]}  # type: ignore[index]
        client.get_page(0, use_cache=False)  # a full pass's read is not stored either
        assert list(client.session.cache.responses.keys()) == []  # type: ignore[attr-defined]
        client.get_page(0)
        assert sim.requests_by_kind["page"] == 2
    assert sim.requests_by_kind["updates"] == 2


def test_cached_show_is_refetched_when_older_than_announced(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    with client_for(sim, tmp_path, clock) as client:
        first = client.get_show(10)
        assert client.get_show(10) == first  # a cache hit: no request
        assert sim.requests_by_kind["show"] == 1
        changed = sim.update_show(10, name="Renamed", network=None)
        # Without an announcement the cached copy is fine for an hour, as TVMaze's own is…
        assert client.get_show(10) == first
        # …but a copy older than the updates map says is never served.
        assert client.get_show(10, min_updated=changed["updated"]) == changed
        assert client.get_show(10) == changed  # and the cache now holds the new copy
    assert sim.requests_by_kind["show"] == 2
    assert client.requests["tvmaze:show:cached"] == 4


def test_cached_page_hiding_an_announced_change_is_refetched(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    with client_for(sim, tmp_path, clock) as client:
        client.get_page(0)
        changed = sim.update_show(20, status="Ended")
        sim.refresh_index()
        assert client.get_page(0, expect={}) != sim.index_page(0)  # nothing announced: cache
        page = client.get_page(0, expect={20: changed["updated"]})
        assert page == sim.index_page(0)
        # A new show the cached copy lacks also counts as hidden.
        added = sim.add_show(show_id=30 + 1)
        sim.refresh_index()
        page = client.get_page(0, expect={31: added["updated"]})
        assert page is not None and 31 in [s["id"] for s in page]
    assert sim.requests_by_kind["page"] == 3


def test_a_404_is_never_cached(sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock) -> None:
    with client_for(sim, tmp_path, clock) as client:
        assert client.get_page(2) is None
        sim.add_show(show_id=600)
        sim.refresh_index()
        page = client.get_page(2)
        assert page is not None and [s["id"] for s in page] == [600]


def test_cache_file_lives_in_the_storage_dir_and_outlives_the_cycle(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    with client_for(sim, tmp_path, clock) as client:
        client.get_page(0)
    assert (tmp_path / CACHE_NAME).is_file()
    with client_for(sim, tmp_path, clock) as client:  # a rerun within TVMaze's max-age
        client.get_page(0)
    assert client.requests == {"tvmaze:page:cached": 1}
    assert sim.requests_by_kind["page"] == 1


def test_changed_fields_reach_the_mapping(sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock):
    sim.update_show(10, network=None, webChannel=None, runtime=None, averageRuntime=DELETE)
    with client_for(sim, tmp_path, clock) as client:
        data = client.get_show(10)
    assert data is not None
    show = map_show(data).show
    assert (show.network, show.web_channel, show.country, show.runtime) == (None,) * 4


def test_a_corrupt_cache_file_is_reset(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache is disposable: garbage in it must not fail every cycle from now on."""
    (tmp_path / CACHE_NAME).write_bytes(b"this is not a database " * 400)
    with caplog.at_level(logging.WARNING), client_for(sim, tmp_path, clock) as client:
        assert client.get_page(0)
    assert "http_cache_reset" in caplog.text
    with client_for(sim, tmp_path, clock) as client:  # the new file is a working cache
        assert client.get_page(0)
    assert client.requests == {"tvmaze:page:cached": 1}


def test_a_cache_path_that_cannot_be_reset_is_a_storage_error(
    sim: TvmazeSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    (tmp_path / CACHE_NAME).mkdir()
    failed = pytest.raises(StorageError, match=f"cannot use the HTTP cache .*{CACHE_NAME}")
    with failed, client_for(sim, tmp_path, clock):
        pass
