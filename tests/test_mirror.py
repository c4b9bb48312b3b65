"""The mirror, through whole cycles (`sync.run_cycle`) against the TVMaze simulator.

The cache must end equal to TVMaze's data field by field, whatever happened: kills at any
page boundary or mid-page (simulated by raising out of the store, state file or client, and
once with a real `kill -9`), gaps, lagging index pages, many rounds of updates and new
shows. The request-optimal plan is checked by counting what reached the simulator.
"""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.tvmaze_sim import DELETE, TvmazeSimulator, load_real_shows, synthetic_shows
from tests.helpers_cli import clean_env, run_cli
from tests.helpers_tvmaze import (
    DAY_SECONDS,
    FakeClock,
    cache_rows,
    compact_real_shows,
    cycle,
    load_state,
    make_config,
    mismatches,
    synthetic_sim,
)
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import CycleError
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.cycle.run import run_cycle
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import Store
from tvmaze_sync.tvmaze import mirror, plan
from tvmaze_sync.tvmaze.client import TvmazeClient
from tvmaze_sync.tvmaze.mapping import UpdatesMap
from tvmaze_sync.tvmaze.plan import PAGE_SIZE

HOUR = 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "data"


def network_requests(sim: TvmazeSimulator) -> dict[str, int]:
    return {kind: n for kind, n in sim.requests_by_kind.items() if n}


def ids_on_page(sim: TvmazeSimulator, page: int) -> list[int]:
    return [i for i in sim.show_ids if i // PAGE_SIZE == page]


# --- full sync ---------------------------------------------------------------------------


def test_full_sync_equals_the_simulator(
    tvmaze_sim_factory: Callable[..., TvmazeSimulator], storage: Path, clock: FakeClock
) -> None:
    sim = tvmaze_sim_factory(shows=compact_real_shows(), rate_limit=None, clock=clock)
    summary = cycle(sim, storage, clock)
    assert mismatches(sim, storage) == []
    pages = sim.last_page + 1
    assert summary.mode == "full" and summary.ok
    assert summary.shows_fetched == sim.show_count
    assert summary.requests == {
        "tvmaze:page:200": pages,
        "tvmaze:page:404": 1,
        "tvmaze:updates:200": 1,
    }
    state = load_state(storage)
    assert state.initial_sync_complete and state.last_tvmaze_page is None
    assert state.highest_tvmaze_id == sim.max_id
    assert state.last_full_sync == state.last_updates_check == state.last_census == iso(clock())
    # The catch-up read the whole updates map: the first census.
    assert [r.path for r in sim.request_log if r.path.startswith("/updates")] == ["/updates/shows"]
    assert state.last_cycle["requests"] == summary.requests
    # The next run is incremental and, with nothing changed, cheap.
    sim.reset_counters()
    clock.advance(6 * HOUR)
    again = cycle(sim, storage, clock)
    assert again.mode == "incremental" and again.shows_fetched == 0
    assert network_requests(sim) == {"updates": 1, "page": 2}  # the last page, the 404


@pytest.mark.slow
def test_full_sync_of_the_real_id_space(tvmaze_sim: TvmazeSimulator, storage: Path) -> None:
    """The recorded shows at their real ids: 325 pages, most nearly empty, real gaps."""
    clock = FakeClock(time.time())
    summary = cycle(tvmaze_sim, storage, clock)
    assert summary.requests["tvmaze:page:200"] == tvmaze_sim.last_page + 1 == 325
    assert mismatches(tvmaze_sim, storage) == []


def test_gaps_and_empty_pages_do_not_end_the_pass(
    tvmaze_sim_factory: Callable[..., TvmazeSimulator], storage: Path, clock: FakeClock
) -> None:
    shows = load_real_shows()[:20]
    ids = [1, 2, 3, 5, 8, 300, 301, 499, 1000, 1001, 1249, 1250, 1999, 2000, 2001, 2002, 2003,
           2004, 2005, 2250]  # fmt: skip
    for show, new_id in zip(shows, ids, strict=True):
        show["id"] = new_id
    sim = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    assert sim.index_page(2) == [] and sim.index_page(6) == []
    summary = cycle(sim, storage, clock)
    assert summary.requests["tvmaze:page:200"] == 10  # pages 0-9; page 2, 6 and 7 are empty
    assert mismatches(sim, storage) == []


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(
    storage: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = synthetic_sim(1500, clock)
    try:
        monkeypatch.setattr(mirror, "LOG_EVERY_PAGES", 2)
        caplog.set_level(logging.INFO, logger="tvmaze_sync.tvmaze.mirror")
        cycle(sim, storage, clock)
        lines = [r.getMessage() for r in caplog.records if "full_sync_progress" in r.getMessage()]
        assert lines and lines[0].startswith("full_sync_progress page=1 pages=2 shows=")
        config = make_config(sim, storage.parent / "tty")
        run_cycle(CycleContext(config=config, clock=clock, sleep=clock.sleep, progress=True))
        assert "TVMaze pages" in capsys.readouterr().err
    finally:
        sim.stop()


# --- kills -----------------------------------------------------------------------------


class Killed(BaseException):
    """Stands in for kill -9: not an Exception, so no handler in the code under test sees it."""


class Crash:
    """Raise `Killed` at the n-th call of a method; after that the process is "dead", so the
    cycle's `finally` cannot checkpoint anything a real kill would have lost."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.dead = False
        real_save = StateFile.save

        def save(state_file: StateFile, state: State) -> None:
            if not self.dead:
                real_save(state_file, state)

        monkeypatch.setattr(StateFile, "save", save)

    def at(self, cls: type, name: str, n: int, *, inside_transaction: bool = False) -> None:
        real = getattr(cls, name)
        calls = 0

        def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == n and not self.dead:
                self.dead = True
                if inside_transaction:  # the write happens, the commit never does
                    with obj.atomic():
                        real(obj, *args, **kwargs)
                        raise Killed
                raise Killed
            return real(obj, *args, **kwargs)

        self.monkeypatch.setattr(cls, name, wrapper)

    def revive(self) -> None:
        self.monkeypatch.undo()


N_SHOWS = 700  # ids up to ~730: pages 0-2, then the 404
N_PAGES = 3


def kill_points() -> Iterator[Any]:
    for page in range(N_PAGES):
        yield pytest.param(Store, "upsert_shows", page + 1, True, id=f"mid-page-{page}")
        # StateFile.save is wrapped by Crash itself; the k-th save is page k-1's checkpoint.
        yield pytest.param(StateFile, "_write_atomic", page + 1, False, id=f"before-ckpt-{page}")
        yield pytest.param(TvmazeClient, "get_page", page + 2, False, id=f"after-ckpt-{page}")
    yield pytest.param(TvmazeClient, "get_updates", 1, False, id="catch-up")
    yield pytest.param(StateFile, "_write_atomic", N_PAGES + 1, False, id="final-save")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """The cache after one uninterrupted full sync of the kill tests' data."""
    clock = FakeClock()
    sim = synthetic_sim(N_SHOWS, clock)
    storage = tmp_path_factory.mktemp("reference")
    try:
        cycle(sim, storage, clock)
        assert sim.last_page == N_PAGES - 1
        return cache_rows(storage)
    finally:
        sim.stop()


@pytest.mark.parametrize(("cls", "name", "n", "inside"), list(kill_points()))
def test_full_sync_killed_anywhere_resumes_and_ends_identical(
    cls: type,
    name: str,
    n: int,
    inside: bool,
    reference: dict[int, dict[str, Any]],
    storage: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = synthetic_sim(N_SHOWS, clock)
    try:
        crash = Crash(monkeypatch)
        crash.at(cls, name, n, inside_transaction=inside)
        with pytest.raises(Killed):
            cycle(sim, storage, clock)
        crash.revive()
        checkpoint = load_state(storage).last_tvmaze_page
        sim.reset_counters()
        clock.advance(600)
        summary = cycle(sim, storage, clock)
        assert summary.mode == ("full" if checkpoint is None else "resume")
        first = next(r.path for r in sim.request_log if r.path.startswith("/shows?"))
        assert first == f"/shows?page={0 if checkpoint is None else checkpoint + 1}"
        assert mismatches(sim, storage) == []
        assert cache_rows(storage) == reference
        state = load_state(storage)
        assert state.initial_sync_complete and state.last_tvmaze_page is None
    finally:
        sim.stop()


def test_incremental_killed_at_any_write_ends_equal(
    storage: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = synthetic_sim(1000, clock)
    try:
        cycle(sim, storage, clock)
        rng = random.Random(3)
        kill_at = 1
        while True:
            clock.advance(5 * HOUR)
            sim.random_updates(12, seed=rng.randrange(10**6))
            sim.add_show()
            if kill_at % 2:
                sim.refresh_index()
            clock.advance(DAY_SECONDS)  # old enough changes for their pages to be worth it
            crash = Crash(monkeypatch)
            crash.at(Store, "upsert_shows", kill_at, inside_transaction=True)
            try:
                cycle(sim, storage, clock)
            except Killed:
                killed = True
            else:
                killed = False
            crash.revive()
            summary = cycle(sim, storage, clock)
            assert summary.mode == "incremental"
            assert mismatches(sim, storage) == []
            if not killed:  # every write of the cycle has had its turn
                break
            kill_at += 1
        assert kill_at > 3
    finally:
        sim.stop()


@pytest.mark.faults
def test_real_kill_9_mid_sync_then_rerun(tmp_path: Path) -> None:
    sim = TvmazeSimulator(synthetic_shows(3000, seed=5), rate_limit=None).start()
    storage = tmp_path / "data"
    env = {"TVMAZE_BASE_URL": sim.url, "STORAGE_PATH": str(storage)}
    try:
        slow = clean_env(tmp_path, {**env, "TVMAZE_RATE_LIMIT": "40"})  # 4 pages/s
        process = subprocess.Popen(
            [sys.executable, "-m", "tvmaze_sync", "sync"],
            env=slow,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        state_file = StateFile(storage)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if state_file.path.exists() and (state_file.load().last_tvmaze_page or 0) >= 3:
                break
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.25))  # somewhere within a page
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        killed_at = state_file.load().last_tvmaze_page
        assert killed_at is not None and killed_at < sim.last_page
        done = run_cli(tmp_path, "sync", env={**env, "TVMAZE_RATE_LIMIT": "1000000"})
        assert done.returncode == 0, done.stderr
        state = state_file.load()
        assert state.last_cycle["mode"] == "resume"
        assert state.last_cycle["requests"]["tvmaze:page:200"] <= sim.last_page - killed_at + 1
        assert mismatches(sim, storage) == []
    finally:
        sim.stop()


def test_exhausted_retries_fail_the_cycle_keeping_finished_pages(
    storage: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = synthetic_sim(1200, clock)
    real_get_page = TvmazeClient.get_page

    def get_page(client: TvmazeClient, page: int, **kwargs: Any) -> Any:
        if page == 2:
            sim.fail_next(100, status=503, kind="page")
        return real_get_page(client, page, **kwargs)

    try:
        monkeypatch.setattr(TvmazeClient, "get_page", get_page)
        with pytest.raises(CycleError, match="page 2"):
            cycle(sim, storage, clock)
        monkeypatch.undo()
        state = load_state(storage)
        assert state.last_tvmaze_page == 1
        assert state.last_cycle["ok"] is False and "page 2" in state.last_cycle["error"]
        assert set(cache_rows(storage)) == {i for i in sim.show_ids if i < 2 * PAGE_SIZE}
        sim.clear_faults()
        assert cycle(sim, storage, clock).mode == "resume"
        assert mismatches(sim, storage) == []
    finally:
        sim.stop()


# --- incremental -----------------------------------------------------------------------


@pytest.fixture
def synced(storage: Path, clock: FakeClock) -> Iterator[TvmazeSimulator]:
    """2,200 synthetic shows (pages 0-9), fully synced; counters reset, six hours later."""
    sim = synthetic_sim(2200, clock, seed=11)
    try:
        cycle(sim, storage, clock)
        sim.reset_counters()
        clock.advance(6 * HOUR)
        yield sim
    finally:
        sim.stop()


def touch(sim: TvmazeSimulator, plan: dict[int, int]) -> list[int]:
    """Update `count` shows on each page of `plan` (page -> count); their ids."""
    ids = []
    for page, count in plan.items():
        for show_id in ids_on_page(sim, page)[:count]:
            sim.update_show(show_id, weight=random.randint(0, 100), status="Ended")
            ids.append(show_id)
    return ids


def test_incremental_fetches_shared_pages_once(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    touch(sim, {2: 5, 5: 1, 8: 2})
    sim.refresh_index()  # the index has caught up: pages hold the new copies
    clock.advance(DAY_SECONDS)
    summary = cycle(sim, storage, clock)
    assert summary.mode == "incremental" and summary.shows_fetched == 8
    # The updates map, pages 2 and 8 (several changes each), the last page and the 404 past
    # it (new shows), and page 5's only change alone: 6 requests for 8 changed shows.
    assert summary.requests == {
        "tvmaze:updates:200": 1,
        "tvmaze:page:200": 3,
        "tvmaze:page:404": 1,
        "tvmaze:show:200": 1,
    }
    assert network_requests(sim) == {"updates": 1, "page": 4, "show": 1}
    assert mismatches(sim, storage) == []
    # Within TVMaze's max-age the same pages come from the local cache…
    sim.reset_counters()
    clock.advance(HOUR)
    cycle(sim, storage, clock)
    assert network_requests(sim) == {"updates": 1, "page": 1}
    # …unless they would hide a change the updates map announced.
    sim.reset_counters()
    touch(sim, {2: 3})
    sim.refresh_index()
    clock.advance(DAY_SECONDS)
    summary = cycle(sim, storage, clock)
    assert summary.requests["tvmaze:page:cached"] == 2  # page 2 (stale: refetched), last page
    assert network_requests(sim) == {"updates": 1, "page": 2}
    assert mismatches(sim, storage) == []


def test_lagging_page_copies_are_fetched_alone(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    touch(sim, {2: 5, 5: 1, 8: 2})  # no index refresh: pages still hold the old copies
    clock.advance(DAY_SECONDS)
    summary = cycle(sim, storage, clock)
    assert network_requests(sim) == {"updates": 1, "page": 4, "show": 8}
    assert summary.shows_fetched == 8
    assert mismatches(sim, storage) == []


def test_changes_made_minutes_ago_are_fetched_alone(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    touch(sim, {2: 5, 6: 2})
    clock.advance(120)
    cycle(sim, storage, clock)
    # Pages 2 and 6 almost surely predate these changes: no request is spent on them.
    assert network_requests(sim) == {"updates": 1, "page": 2, "show": 7}
    assert mismatches(sim, storage) == []


def test_new_shows_beyond_the_highest_id(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    highest = sim.max_id
    spare = (highest // PAGE_SIZE + 1) * PAGE_SIZE - highest - 1
    count = spare + 3  # fills the last page and spills onto a new one
    for _ in range(count):
        sim.add_show()
    sim.refresh_index()
    summary = cycle(sim, storage, clock)
    assert summary.shows_fetched == count
    # The updates map, the last known page and the new one, then the 404 past it.
    assert network_requests(sim) == {"updates": 1, "page": 3}
    assert load_state(storage).highest_tvmaze_id == sim.max_id
    assert mismatches(sim, storage) == []
    # Not yet on the index: the updates map names them, so they are fetched alone.
    sim.reset_counters()
    clock.advance(HOUR)
    sim.add_show()
    sim.add_show()
    cycle(sim, storage, clock)
    # The last page (cached, but lacking the announced shows: asked again), the 404, and
    # each new show alone.
    assert network_requests(sim) == {"updates": 1, "page": 2, "show": 2}
    assert mismatches(sim, storage) == []


def test_a_page_copy_never_overwrites_a_newer_row(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    lone = ids_on_page(sim, 4)[0]
    sim.update_show(lone, name="Fresh name")  # alone on its page: fetched via /shows/:id
    sim.refresh_index()
    cycle(sim, storage, clock)
    # Later the page is fetched for other changes, from an index older than the lone show.
    sim.update_show(lone, name="Even fresher")
    cycle(sim, storage, clock)
    stale_index = sim.index_page(4)
    for show_id in ids_on_page(sim, 4)[1:4]:
        sim.update_show(show_id, status="Ended")
    clock.advance(DAY_SECONDS)
    cycle(sim, storage, clock)
    assert any(r.path == "/shows?page=4" for r in sim.request_log)
    assert any(s["id"] == lone and s["name"] == "Fresh name" for s in stale_index)
    assert cache_rows(storage)[lone]["title"] == "Even fresher"
    assert mismatches(sim, storage) == []


def test_deleted_shows_leave_the_cache_unless_sonarr_knows_them(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    page_ids = ids_on_page(sim, 3)
    gone, kept = page_ids[0], page_ids[1]
    with sqlite3.connect(storage / "shows.db") as conn:
        conn.execute("UPDATE shows SET processing_status = 'added' WHERE tvmaze_id = ?", [kept])
    conn.close()
    sim.delete_show(gone)
    sim.delete_show(kept)
    touch(sim, {3: 2})
    sim.refresh_index()
    clock.advance(DAY_SECONDS)
    cycle(sim, storage, clock)
    rows = cache_rows(storage)
    assert gone not in rows
    assert rows[kept]["processing_status"] == "added"
    del rows[kept]
    with sqlite3.connect(storage / "shows.db") as conn:
        conn.execute("DELETE FROM shows WHERE tvmaze_id = ?", [kept])
    conn.close()
    assert mismatches(sim, storage) == []


def test_a_month_away_is_caught_up_from_the_whole_map(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    """No window covers 40 days, but the whole map does: no rescan of every page."""
    sim = synced
    touch(sim, {1: 1, 6: 4})
    doomed = ids_on_page(sim, 7)[0]
    sim.delete_show(doomed)
    sim.add_show()
    sim.refresh_index()
    clock.advance(40 * DAY_SECONDS)
    summary = cycle(sim, storage, clock)
    assert summary.mode == "incremental"
    assert summary.shows_fetched == 6  # only what changed is rewritten
    assert mismatches(sim, storage) == []
    # The whole map; page 6 (four changes), the last page (the new show) and the 404; page
    # 1's change alone, and the deleted show's 404.
    assert network_requests(sim) == {"updates": 1, "page": 3, "show": 2}
    assert ("GET", f"/shows/{doomed}", 404) in sim.request_log
    clock.advance(HOUR)
    assert cycle(sim, storage, clock).mode == "incremental"


# --- deletions: the weekly census ----------------------------------------------------------


def set_status(storage: Path, tvmaze_id: int, status: str) -> None:
    conn = sqlite3.connect(storage / "shows.db")
    with conn:
        conn.execute(
            "UPDATE shows SET processing_status = ? WHERE tvmaze_id = ?", [status, tvmaze_id]
        )
    conn.close()


def updates_paths(sim: TvmazeSimulator) -> list[str]:
    return [r.path for r in sim.request_log if r.path.startswith("/updates/")]


def test_a_deletion_no_page_read_shows_is_found_by_the_weekly_census(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock
) -> None:
    sim = synced
    gone, in_sonarr = ids_on_page(sim, 4)[:2]
    set_status(storage, in_sonarr, "added")
    sim.delete_show(gone)
    sim.delete_show(in_sonarr)
    sim.refresh_index()
    clock.advance(DAY_SECONDS)
    cycle(sim, storage, clock)  # nothing changed on page 4: no request can notice yet
    assert gone in cache_rows(storage)
    assert updates_paths(sim) == ["/updates/shows?since=week"]
    sim.reset_counters()
    clock.advance(6 * DAY_SECONDS)  # a week since the census of the first sync
    summary = cycle(sim, storage, clock)
    rows = cache_rows(storage)
    assert gone not in rows, "the census missed a show TVMaze deleted"
    # The whole map instead of a window, the last page (cached by the run before) and the
    # 404, one confirmation; the row Sonarr knows is kept, and not asked about: it could not
    # be deleted anyway.
    assert updates_paths(sim) == ["/updates/shows"]
    assert summary.requests == {
        "tvmaze:updates:200": 1,
        "tvmaze:page:cached": 1,
        "tvmaze:page:404": 1,
        "tvmaze:show:404": 1,
    }
    assert ("GET", f"/shows/{gone}", 404) in sim.request_log
    assert rows[in_sonarr]["processing_status"] == "added"
    assert summary.shows_fetched == 0
    state = load_state(storage)
    assert state.last_census == state.last_updates_check == iso(clock())
    set_status(storage, in_sonarr, "pending")  # now a plain mirror row of a deleted show
    with sqlite3.connect(storage / "shows.db") as conn:
        conn.execute("DELETE FROM shows WHERE tvmaze_id = ?", [in_sonarr])
    conn.close()
    assert mismatches(sim, storage) == []
    # The next run, an hour later, is windowed again.
    sim.reset_counters()
    clock.advance(HOUR)
    cycle(sim, storage, clock)
    assert updates_paths(sim) == ["/updates/shows?since=week"]


def test_a_large_census_is_confirmed_over_several_runs(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = synced
    monkeypatch.setattr(plan, "CENSUS_BATCH", 2)
    doomed = [ids_on_page(sim, page)[3] for page in (1, 3, 5, 7, 8)]
    for show_id in doomed:
        sim.delete_show(show_id)
    census_before = load_state(storage).last_census
    clock.advance(8 * DAY_SECONDS)
    left = []
    for _ in range(3):
        cycle(sim, storage, clock)
        left.append(sorted(set(doomed) & set(cache_rows(storage))))
        assert updates_paths(sim)[-1] == "/updates/shows"  # due until every one was asked
        assert (load_state(storage).last_census == census_before) == (len(left) < 3)
        clock.advance(HOUR)
    assert left == [doomed[2:], doomed[4:], []]
    assert mismatches(sim, storage) == []
    cycle(sim, storage, clock)
    assert updates_paths(sim)[-1] == "/updates/shows?since=week"


def test_a_whole_map_lacking_live_shows_is_not_believed(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A map missing more live shows than a batch costs one batch of requests a week."""
    sim = synced
    monkeypatch.setattr(plan, "CENSUS_BATCH", 3)
    hidden = ids_on_page(sim, 2)[:10]
    real_get_updates = TvmazeClient.get_updates

    def lossy(client: TvmazeClient, since: str | None) -> UpdatesMap:
        got = real_get_updates(client, since)
        return UpdatesMap({i: u for i, u in got.items() if since is not None or i not in hidden})

    monkeypatch.setattr(TvmazeClient, "get_updates", lossy)
    clock.advance(8 * DAY_SECONDS)
    sim.reset_counters()
    cycle(sim, storage, clock)
    assert network_requests(sim) == {"updates": 1, "page": 2, "show": 3}  # one batch
    assert set(hidden) <= set(cache_rows(storage))
    assert load_state(storage).last_census == iso(clock())  # asked again in a week
    sim.reset_counters()
    clock.advance(HOUR)
    cycle(sim, storage, clock)
    assert network_requests(sim) == {"updates": 1, "page": 1}  # the last page is cached
    assert mismatches(sim, storage) == []


def test_a_census_killed_between_confirmations_ends_equal(
    synced: TvmazeSimulator, storage: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = synced
    doomed = [ids_on_page(sim, page)[5] for page in (0, 4, 6)]
    for show_id in doomed:
        sim.delete_show(show_id)
    clock.advance(8 * DAY_SECONDS)
    monkeypatch.setattr(mirror, "SINGLES_BATCH", 1)  # each confirmation is committed alone
    crash = Crash(monkeypatch)
    crash.at(TvmazeClient, "get_show", 3)
    with pytest.raises(Killed):
        cycle(sim, storage, clock)
    crash.revive()
    assert set(doomed) & set(cache_rows(storage)) == {doomed[2]}
    census_at = iso(clock())
    assert load_state(storage).last_census != census_at
    sim.reset_counters()
    cycle(sim, storage, clock)
    # The last page comes from the local cache the killed run filled; the 404 past it.
    assert network_requests(sim) == {"updates": 1, "page": 1, "show": 1}
    assert load_state(storage).last_census == census_at
    assert mismatches(sim, storage) == []


@pytest.mark.slow
def test_many_rounds_of_updates_and_new_shows_keep_the_mirror_equal(
    storage: Path, clock: FakeClock
) -> None:
    sim = synthetic_sim(1200, clock, seed=2)
    rng = random.Random(42)
    try:
        cycle(sim, storage, clock, update_window="day")
        modes = []
        for _ in range(12):
            sim.random_updates(rng.randrange(0, 30), seed=rng.randrange(10**6))
            for _ in range(rng.randrange(0, 4)):
                sim.add_show()
            for show_id in rng.sample(sim.show_ids, 3):  # real-data nulls appearing
                sim.update_show(
                    show_id,
                    **rng.choice(
                        [
                            {"network": None, "status": "Running"},
                            {"webChannel": None, "language": None},
                            {"runtime": None, "averageRuntime": 42},
                            {"externals__thetvdb": None, "genres": []},
                            {"premiered": None, "officialSite": DELETE},
                        ]
                    ),  # type: ignore[arg-type]
                )
            if rng.random() < 0.5:
                sim.refresh_index()
            clock.advance(rng.uniform(0.5, 40) * HOUR)
            summary = cycle(sim, storage, clock, update_window="day")
            modes.append(summary.mode)
            assert mismatches(sim, storage) == []
        assert set(modes) == {"incremental"}
        windows = {r.path for r in sim.request_log if r.path.startswith("/updates/")}
        # The weekly census (the first sync's, then at least one more) and both windows.
        assert windows == {
            "/updates/shows",
            "/updates/shows?since=day",
            "/updates/shows?since=week",
        }
    finally:
        sim.stop()
