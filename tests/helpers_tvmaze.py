"""Shared by the TVMaze client and mirror tests: a hand-moved clock, cycles against the
simulator through the real `sync.run_cycle`, and comparison of the cache with TVMaze's data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.doubles.tvmaze_sim import TvmazeSimulator, load_real_shows, synthetic_shows
from tvmaze_sync.core.config import Config, build_config
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.models import CycleSummary
from tvmaze_sync.cycle.run import run_cycle
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.tvmaze.mapping import map_show

DAY_SECONDS = 86_400
T0 = 2_000_000_000.0  # 2033: far after every recorded `updated`
UNLIMITED = 1_000_000  # tvmaze.rate_limit that never waits measurably
#: Columns written by the clock, not by TVMaze data.
TIME_COLUMNS = ("last_checked", "created_at", "updated_at")


class FakeClock:
    """Time that moves only when told to, or when code sleeps (then instantly)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    @property
    def backoffs(self) -> list[float]:
        """Sleeps longer than the pacing of an unlimited rate limiter: the retry waits."""
        return [s for s in self.sleeps if s >= 0.01]

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_config(sim: TvmazeSimulator, storage: Path, **tvmaze: Any) -> Config:
    settings = {"base_url": sim.url, "rate_limit": UNLIMITED, **tvmaze}
    return build_config({"tvmaze": settings, "storage": {"path": str(storage)}}, env={})


def cycle(sim: TvmazeSimulator, storage: Path, clock: FakeClock, **tvmaze: Any) -> CycleSummary:
    """One whole `sync` cycle (dry run: no Sonarr) against the simulator."""
    config = make_config(sim, storage, **tvmaze)
    return run_cycle(CycleContext(config=config, clock=clock, sleep=clock.sleep))


def synthetic_sim(n: int, clock: FakeClock, seed: int = 0, **kwargs: Any) -> TvmazeSimulator:
    """`n` clones of real show shapes on the fake clock, unthrottled."""
    shows = synthetic_shows(n, seed, now=clock() - 3600)
    kwargs.setdefault("rate_limit", None)
    return TvmazeSimulator(shows, clock=clock, seed=seed, **kwargs).start()


def compact_real_shows() -> list[dict[str, Any]]:
    """Every recorded real show, renumbered 1…N so a full sync is a handful of pages."""
    shows = load_real_shows()
    for number, show in enumerate(shows, start=1):
        show["id"] = number
    return shows


def load_state(storage: Path) -> State:
    return StateFile(storage).load()


def cache_rows(storage: Path) -> dict[int, dict[str, Any]]:
    """Every cached show row by id, without the clock-written columns."""
    conn = sqlite3.connect(storage / "shows.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM shows ORDER BY tvmaze_id").fetchall()
    finally:
        conn.close()
    out = {}
    for row in rows:
        data = dict(row)
        for column in TIME_COLUMNS:
            data.pop(column, None)
        out[data["tvmaze_id"]] = data
    return out


def mismatches(sim: TvmazeSimulator, storage: Path) -> list[str]:
    """Where the cache differs from the simulator's current data, field by field."""
    rows = cache_rows(storage)
    problems: list[str] = []
    expected_ids = set(sim.show_ids)
    if set(rows) != expected_ids:
        missing = sorted(expected_ids - set(rows))[:10]
        extra = sorted(set(rows) - expected_ids)[:10]
        problems.append(f"ids differ: missing {missing} extra {extra}")
    for show in sim.iter_shows():
        row = rows.get(show["id"])
        if row is None:
            continue
        expected = row_from_show(map_show(show).show, show)
        for column, value in expected.items():
            if column == "raw":
                if json.loads(row["raw"]) != show:
                    problems.append(f"show {show['id']}: raw differs")
            elif row[column] != value:
                problems.append(f"show {show['id']}: {column} {row[column]!r} != {value!r}")
        if row["title"] != show["name"] or row["tvmaze_updated_at"] != show["updated"]:
            problems.append(f"show {show['id']}: title/updated not TVMaze's")
    return problems
