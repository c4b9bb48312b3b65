"""Fault suite, part two: TVMaze and Sonarr misbehaving while a cycle runs.

The cycles run in-process (a hand-moved clock turns every backoff and Retry-After into an
instant) but over real sockets, through the real requests session and pyarr; the exit code
a process would end with is the raised error's `exit_code`, mapped by cli/main.py in one place.
Where the exit code itself is the point and no backoff is involved (a 401), a real `sync`
process runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator, synthetic_shows
from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_faults import (
    UNLIMITED,
    assert_one_line_error,
    db_snapshot,
    duplicate_adds,
    rows_by_status,
    run_sync,
    snapshot_diff,
    successful_adds,
    write_config,
)
from tests.helpers_store import store_at
from tests.helpers_tvmaze import FakeClock, compact_real_shows, mismatches
from tvmaze_sync.core.config import Config, build_config
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import CycleError, DependencyError, ExitCode, TvmazeSyncError
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus
from tvmaze_sync.cycle.run import run_cycle

pytestmark = pytest.mark.faults

DAY = 86_400
P = ProcessingStatus


@contextmanager
def when(condition: Callable[[], bool], action: Callable[[], None]) -> Iterator[None]:
    """Run `action` once, from a watcher thread, as soon as `condition` holds.

    How a fault is injected "mid-cycle" from outside: the simulators are thread-safe and
    their request logs tell how far the cycle got.
    """
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if condition():
                action()
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# --- TVMaze: 5xx, truncated bodies, 429 bursts ---------------------------------------------------


def _tvmaze_config(sim: TvmazeSimulator, storage: Path) -> Config:
    return build_config(
        {
            "tvmaze": {"base_url": sim.url, "rate_limit": UNLIMITED},
            "storage": {"path": str(storage)},
        },
        env={},
    )


def _cycle_until_ok(
    config: Config, clock: FakeClock, failures: list[str], limit: int = 8
) -> CycleSummary:
    """Run cycles as cron would: a failed one (exit 1) is simply followed by the next."""
    for _ in range(limit):
        try:
            return run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))
        except TvmazeSyncError as error:
            assert isinstance(error, CycleError), error  # exit 1, nothing else
            assert error.exit_code == ExitCode.CYCLE_FAILED
            failures.append(str(error))
            clock.advance(600)
    raise AssertionError(f"no cycle succeeded in {limit}: {failures}")


def test_tvmaze_5xx_truncated_bodies_and_429_bursts_the_mirror_ends_equal(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    # The simulator's rate window runs on the same hand-moved clock and the client does not
    # pace itself (rate_limit is lifted): every 11th request in 10 s is a 429, and only the
    # client's own wait for Retry-After lets the window pass.
    sim = TvmazeSimulator(
        synthetic_shows(3000, seed=5, now=clock() - 3600),
        clock=clock,
        rate_limit=10,
        rate_window=10.0,
        rate_clock=clock,
        error_rate=0.10,
        truncate_rate=0.05,
        slow_rate=1.0,  # 5 ms per answer: the watcher below gets to act mid-pass
        slow_seconds=0.005,
        seed=5,
    ).start()
    storage = tmp_path / "data"
    config = _tvmaze_config(sim, storage)
    failures: list[str] = []
    modes: list[str] = []
    try:
        # Mid-way through the first full pass, a storm longer than the client's retries:
        # that cycle fails (exit 1) and the next one resumes after the last stored page.
        pages_served = lambda: sim.requests_by_kind["page"] >= 5  # noqa: E731
        with when(pages_served, lambda: sim.fail_next(8, 503, kind="page")):
            modes.append(_cycle_until_ok(config, clock, failures).mode)
        assert mismatches(sim, storage) == []
        for round_ in range(3):  # a day of TVMaze edits and new shows, then a cycle
            clock.advance(DAY)
            sim.random_updates(80, seed=round_)
            for _ in range(12):
                sim.add_show()
            sim.refresh_index()  # TVMaze's index lags by up to a day, not more
            sim.fail_next(4, 429)  # a burst at the start of the cycle
            modes.append(_cycle_until_ok(config, clock, failures).mode)
            assert mismatches(sim, storage) == []
    finally:
        sim.stop()

    assert any("still failing" in failure for failure in failures), failures
    assert modes[0] == "resume" and modes[1:] == ["incremental"] * 3, modes
    store = store_at(storage, readonly=True)
    try:
        requests = store.counters("api_requests")
    finally:
        store.close()
    seen = {key.rsplit(":", 1)[1] for key, count in requests.items() if count}
    # Every fault kind really reached the client (and was counted, even by failed cycles).
    assert {"429", "invalid", "200"} <= seen, requests
    assert seen & {"500", "502", "503"}, requests
    assert sim.throttled > 3 * 4  # the queued bursts, and the window's own


# --- Sonarr: 5xx mid-cycle, then 401 ------------------------------------------------------------

SONARR_SHOWS = 400


def _sonarr_config(tmp_path: Path, tvmaze: TvmazeSimulator, sonarr: SonarrSimulator) -> Config:
    return build_config(
        {
            "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
            "sonarr": {
                "url": sonarr.url,
                "api_key": SONARR_API_KEY,
                "add_interval": "0s",  # no pause between adds, and no add budget
                "max_adds_per_cycle": 0,
            },
            "storage": {"path": str(tmp_path / "data")},
        },
        env={},
    )


def _simulators(
    tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory, latency: float = 0.0
) -> tuple[TvmazeSimulator, SonarrSimulator]:
    """TVMaze serving the suite's shows, and a fresh Sonarr whose answers take `latency`
    seconds more (a little lets a watcher cut in mid-way through the adds)."""
    tvmaze = tvmaze_sim_factory(shows=compact_real_shows()[:SONARR_SHOWS], rate_limit=None)
    sonarr = sonarr_sim_factory()
    sonarr.latency = latency
    return tvmaze, sonarr


@pytest.fixture
def reference(
    tmp_path_factory: pytest.TempPathFactory,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
) -> dict[str, Any]:
    """The database and Sonarr library of one undisturbed cycle over the same shows."""
    where = tmp_path_factory.mktemp("reference")
    tvmaze, sonarr = _simulators(tvmaze_sim_factory, sonarr_sim_factory)
    clock = FakeClock()
    config = _sonarr_config(where, tvmaze, sonarr)
    summary = run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))
    assert summary.ok and len(summary.added_titles) >= 20, summary
    return {
        "snapshot": db_snapshot(config.storage_dir),
        "library": sorted(s["tvdbId"] for s in sonarr.library()),
        "added": len(summary.added_titles),
    }


def assert_marked_as_sonarr_says(storage: Path, sonarr: SonarrSimulator) -> None:
    """Nothing marked wrongly: `added` is exactly what Sonarr created for us, and no show
    became failed or exists (Sonarr's library held nothing else)."""
    added = rows_by_status(storage, P.ADDED.value)
    library = {series["tvdbId"]: series["id"] for series in sonarr.library()}
    created = successful_adds(sonarr)
    assert {row["tvdb_id"] for row in added.values()} == set(created) == set(library)
    for row in added.values():
        assert row["sonarr_series_id"] == library[row["tvdb_id"]]
    wrong = rows_by_status(storage, P.FAILED.value, P.EXISTS.value, P.EXCLUDED.value)
    assert wrong == {}, [(r["title"], r["processing_status"]) for r in wrong.values()]
    assert duplicate_adds(sonarr) == {}


def test_sonarr_5xx_mid_cycle_then_401_marks_nothing_wrongly_and_the_next_cycle_adds_the_rest(
    tmp_path: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    reference: dict[str, Any],
) -> None:
    tvmaze, sonarr = _simulators(tvmaze_sim_factory, sonarr_sim_factory, latency=0.002)
    config = _sonarr_config(tmp_path, tvmaze, sonarr)
    clock = FakeClock()

    def outage() -> None:
        sonarr.error_rate = 1.0  # every request answers 503 from now on

    eighth_add = lambda: len(successful_adds(sonarr)) >= 8  # noqa: E731
    with when(eighth_add, outage), pytest.raises(DependencyError) as raised:
        run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))
    assert raised.value.exit_code == ExitCode.DEPENDENCY  # exit 3: Sonarr unavailable
    storage = config.storage_dir
    assert_marked_as_sonarr_says(storage, sonarr)
    added_before = len(successful_adds(sonarr))
    assert 8 <= added_before < reference["added"]
    assert rows_by_status(storage, P.PENDING.value)  # the rest wait, unmarked

    # Then Sonarr is back but refuses the key: exit 3 again, and not one show is marked.
    sonarr.reset_faults()
    sonarr.unauthorized = True
    before = db_snapshot(storage)
    clock.advance(3600)
    with pytest.raises(DependencyError) as raised:
        run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))
    assert raised.value.exit_code == ExitCode.DEPENDENCY
    assert snapshot_diff(db_snapshot(storage), before) == []

    sonarr.reset_faults()
    clock.advance(3600)
    summary = run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))
    assert summary.ok
    assert len(summary.added_titles) == reference["added"] - added_before
    assert_marked_as_sonarr_says(storage, sonarr)
    assert sorted(s["tvdbId"] for s in sonarr.library()) == reference["library"]
    assert snapshot_diff(db_snapshot(storage), reference["snapshot"]) == []


def test_sonarr_401_mid_cycle_exits_3_and_marks_nothing_more(
    tmp_path: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    reference: dict[str, Any],
) -> None:
    tvmaze, sonarr = _simulators(tvmaze_sim_factory, sonarr_sim_factory, latency=0.002)
    storage = tmp_path / "data"
    config = write_config(tmp_path / "config.yaml", storage, tvmaze, sonarr)

    def revoke() -> None:
        sonarr.unauthorized = True  # the key was regenerated in Sonarr

    with when(lambda: len(successful_adds(sonarr)) >= 8, revoke):
        result = run_sync(tmp_path, config)
    assert result.returncode == ExitCode.DEPENDENCY, result.stderr
    assert_one_line_error(result.stderr, "refused the API key")
    assert SONARR_API_KEY not in result.stderr
    assert_marked_as_sonarr_says(storage, sonarr)
    pending_after_401 = rows_by_status(storage, P.PENDING.value)
    assert pending_after_401

    # Still refused at the start of the next cycle: exit 3 before anything is written.
    before = db_snapshot(storage)
    result = run_sync(tmp_path, config)
    assert result.returncode == ExitCode.DEPENDENCY, result.stderr
    assert_one_line_error(result.stderr, "refused the API key")
    assert snapshot_diff(db_snapshot(storage), before) == []

    sonarr.reset_faults()
    sonarr.latency = 0.0
    result = run_sync(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert_marked_as_sonarr_says(storage, sonarr)
    assert sorted(s["tvdbId"] for s in sonarr.library()) == reference["library"]
    assert snapshot_diff(db_snapshot(storage), reference["snapshot"]) == []
    assert mismatches(tvmaze, storage) == []
