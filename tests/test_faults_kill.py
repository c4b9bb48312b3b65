"""Fault suite, part three: `kill -9` of a real `sync` at random instants.

A never-interrupted run gives the reference database. Then, against fresh simulators with
the same data, `python -m tvmaze_sync sync` is started and SIGKILLed again and again at
seeded random instants spread over the whole cycle: start-up and Sonarr validation, the
full pass over TVMaze's pages, the catch-up and the filters, and the Sonarr adds (including
the worst instant of an add: Sonarr has created the series, the 201 is still on its way).
One uninterrupted run finishes the job; the database must then equal the reference in every
column that is not a timestamp, and Sonarr must hold every series exactly once.

Kill instants are drawn per phase (a stratified sample), not uniformly over wall time:
start-up is most of the wall time of a small run, and the point is to land in the work.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator, catalogue_from_tvmaze
from tests.doubles.tvmaze_sim import TvmazeSimulator, synthetic_shows
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_faults import (
    db_snapshot,
    duplicate_adds,
    integrity_problems,
    run_sync,
    snapshot_diff,
    spawn_sync,
    strict_state,
    successful_adds,
    write_config,
)
from tests.helpers_tvmaze import mismatches
from tvmaze_sync.storage.state import STATE_NAME
from tvmaze_sync.storage.store import DB_NAME

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SEED = 20_251_125
SHOWS = 2000  # nine index pages; about 200 shows pass the default filters
PAGE_LATENCY = 0.01  # seconds per TVMaze answer: a page takes as long as a few adds
SONARR_LATENCY = 0.002
KILLS = {"start": 3, "page": 8, "add": 11, "add_in_flight": 2}
MIN_KILLS = 20


@dataclass
class World:
    """Both simulators, serving the same data in every world built from one seed."""

    tvmaze: TvmazeSimulator
    sonarr: SonarrSimulator
    config: Path
    storage: Path
    home: Path

    def stop(self) -> None:
        self.tvmaze.stop()
        self.sonarr.stop()


def _world(home: Path, now: float) -> World:
    home.mkdir(parents=True, exist_ok=True)
    shows = synthetic_shows(SHOWS, SEED, now=now)
    tvmaze = TvmazeSimulator(
        shows, rate_limit=None, slow_rate=1.0, slow_seconds=PAGE_LATENCY, seed=SEED
    ).start()
    sonarr = SonarrSimulator(
        api_key=SONARR_API_KEY,
        root_folders=["/tv"],
        quality_profiles=[{"id": 1, "name": "Any"}, {"id": 4, "name": "HD-1080p"}],
        tags=["auto-sync"],
        catalogue=catalogue_from_tvmaze(tvmaze.iter_shows()),
    ).start()
    sonarr.latency = SONARR_LATENCY
    storage = home / "data"
    config = write_config(home / "config.yaml", storage, tvmaze, sonarr)
    return World(tvmaze, sonarr, config, storage, home)


@dataclass
class Progress:
    """How far the sequence of runs got, read from the simulators' request logs."""

    world: World
    pages: set[int] = field(default_factory=set)
    adds: set[int] = field(default_factory=set)
    _seen: int = 0

    def update(self) -> None:
        log = self.world.tvmaze.request_log
        for record in log[self._seen :]:
            split = urlsplit(record.path)
            if record.status == 200 and split.path == "/shows":
                self.pages.add(int(parse_qs(split.query)["page"][0]))
        self._seen = len(log)
        self.adds = set(successful_adds(self.world.sonarr))


@dataclass
class Kill:
    phase: str
    threshold: int  # pages stored or series added, across all runs so far
    delay: float  # seconds after the threshold is reached

    def reached(self, progress: Progress) -> bool:
        if self.phase == "start":
            return True
        if self.phase == "page":
            return len(progress.pages) >= self.threshold
        return len(progress.adds) >= self.threshold


def plan_kills(rng: random.Random, pages: int, adds: int, start_window: float) -> list[Kill]:
    """The seeded kill instants, in the order the runs meet them."""
    plan = [Kill("start", 0, rng.uniform(0.05, start_window)) for _ in range(KILLS["start"])]
    plan += sorted(
        (Kill("page", rng.randint(1, pages), rng.uniform(0, 0.03)) for _ in range(KILLS["page"])),
        key=lambda k: k.threshold,
    )
    add_kills = sorted(
        (Kill("add", rng.randint(1, adds - 1), rng.uniform(0, 0.02)) for _ in range(KILLS["add"])),
        key=lambda k: k.threshold,
    )
    for _ in range(KILLS["add_in_flight"]):
        position = rng.randint(1, len(add_kills))
        threshold = add_kills[position - 1].threshold
        add_kills.insert(position, Kill("add_in_flight", threshold, 0.0))
    return plan + add_kills


def _wait_and_kill(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], delay: float, timeout: float = 90
) -> int:
    """SIGKILL `proc` `delay` s after `ready()` holds; its exit status (-9 when killed)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            time.sleep(delay)
            proc.kill()
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the run neither finished nor reached its kill point")
        time.sleep(0.001)
    return proc.wait(timeout=30)


def _assert_sound(storage: Path) -> None:
    """Whatever instant the kill hit: a sound database and a whole state file."""
    if (storage / DB_NAME).exists():
        assert integrity_problems(storage) == []
    if (storage / STATE_NAME).exists():
        strict_state(storage / STATE_NAME)


@pytest.fixture
def worlds(tmp_path: Path) -> Iterator[tuple[World, World]]:
    now = time.time() - 3600
    reference, interrupted = _world(tmp_path / "reference", now), _world(tmp_path / "kills", now)
    try:
        yield reference, interrupted
    finally:
        reference.stop()
        interrupted.stop()


def test_kill_9_at_random_instants_then_one_full_run_equals_a_never_interrupted_run(
    worlds: tuple[World, World],
) -> None:
    reference, world = worlds

    spawned = time.monotonic()
    wall = time.time()
    result = run_sync(reference.home, reference.config)
    assert result.returncode == 0, result.stderr[-3000:]
    duration = time.monotonic() - spawned
    first_request = reference.sonarr.request_log[0].at - wall
    ref_progress = Progress(reference)
    ref_progress.update()
    pages, adds = len(ref_progress.pages), len(ref_progress.adds)
    assert pages >= 8 and adds >= 50, (pages, adds)

    rng = random.Random(SEED)
    plan = plan_kills(rng, pages, adds, start_window=first_request + 0.3)
    progress = Progress(world)
    outcomes: list[tuple[str, int, float, int]] = []
    in_flight: list[int] = []
    for number, kill in enumerate(plan):
        if kill.phase == "add_in_flight":
            # The next add is processed by Sonarr and its 201 held back: the kill lands
            # after the series exists and before the client can record it.
            world.sonarr.delay_next(1, seconds=5.0, path_prefix="/api/v3/series", method="POST")
            progress.update()
            kill.threshold = len(progress.adds) + 1
        proc = spawn_sync(world.home, world.config, log=world.home / f"run{number:02d}.log")

        def ready(kill: Kill = kill) -> bool:
            progress.update()
            return kill.reached(progress)

        status = _wait_and_kill(proc, ready, kill.delay)
        outcomes.append((kill.phase, kill.threshold, round(kill.delay, 3), status))
        world.sonarr.reset_faults()
        world.sonarr.latency = SONARR_LATENCY
        _assert_sound(world.storage)
        if kill.phase == "add_in_flight" and status == -9:
            in_flight.append(_last_created(world.sonarr))
            # Really the worst instant: Sonarr has the series, the cache does not know yet.
            assert _status_of_tvdb(world.storage, in_flight[-1]) == "pending"

    killed = [outcome for outcome in outcomes if outcome[3] == -9]
    print(f"reference run {duration:.1f}s: {pages} pages, {adds} adds; kills: {outcomes}")
    assert len(killed) >= MIN_KILLS, outcomes
    assert {phase for phase, *_ in killed} == set(KILLS), outcomes

    result = run_sync(world.home, world.config)
    assert result.returncode == 0, result.stderr[-3000:]
    # The series whose 201 never arrived are recognised as ours, not re-added, not `exists`.
    assert len(in_flight) == KILLS["add_in_flight"], outcomes
    assert [_status_of_tvdb(world.storage, tvdb) for tvdb in in_flight] == ["added"] * 2

    assert snapshot_diff(db_snapshot(world.storage), db_snapshot(reference.storage)) == []
    assert duplicate_adds(world.sonarr) == {}
    library = sorted(series["tvdbId"] for series in world.sonarr.library())
    assert library == sorted(series["tvdbId"] for series in reference.sonarr.library())
    assert mismatches(world.tvmaze, world.storage) == []
    state, expected = (strict_state(w.storage / STATE_NAME) for w in (world, reference))
    assert _cursors(state.to_json()) == _cursors(expected.to_json())

    # And the cycle after that has nothing left to do in Sonarr.
    posted = len(world.sonarr.requests_to("/api/v3/series", "POST"))
    assert run_sync(world.home, world.config).returncode == 0
    assert len(world.sonarr.requests_to("/api/v3/series", "POST")) == posted


def _last_created(sonarr: SonarrSimulator) -> int:
    """The tvdb id of the last series Sonarr created on a POST."""
    created = [r for r in sonarr.requests_to("/api/v3/series", "POST") if r.status == 201]
    return int(created[-1].body["tvdbId"])


def _status_of_tvdb(storage: Path, tvdb_id: int) -> str:
    conn = sqlite3.connect(f"file:{storage / DB_NAME}?mode=ro", uri=True)
    try:
        (status,) = conn.execute(
            "SELECT processing_status FROM shows WHERE tvdb_id = ?", [tvdb_id]
        ).fetchone()
    finally:
        conn.close()
    return str(status)


def _cursors(state: dict[str, Any]) -> dict[str, Any]:
    """The state's non-time facts."""
    keep = ("initial_sync_complete", "last_tvmaze_page", "highest_tvmaze_id", "last_filter_hash")
    return {key: state[key] for key in keep}
