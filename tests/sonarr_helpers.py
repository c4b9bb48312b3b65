"""Shared by the tests/test_sonarr*.py files: configs, a hand-moved clock, seeded caches and
runners for the Sonarr phase alone or for whole cycles against both simulators."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator, load_real_shows
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_store import store_at
from tvmaze_sync.core.config import Config, build_config
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.models import CycleSummary, Show
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.cycle.run import run_cycle
from tvmaze_sync.sonarr import phase
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.store import Store

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400
WEEK = 7 * DAY

#: Every show passes: the tests here are about Sonarr, not about the filters.
OPEN_FILTERS: dict[str, Any] = {
    "genres": {"exclude": []},
    "types": {"include": []},
    "countries": {"include": []},
    "languages": {"include": []},
    "status": {"exclude_ended": False},
    "premiered": {"after": None},
    "min_runtime": None,
}


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_config(
    tmp_path: Path,
    sonarr_sim: SonarrSimulator | None = None,
    tvmaze_sim: TvmazeSimulator | None = None,
    *,
    filters: dict[str, Any] | None = None,
    sync: dict[str, Any] | None = None,
    dry_run: bool = False,
    **sonarr_options: Any,
) -> Config:
    data: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS if filters is None else filters),
        "dry_run": dry_run,
    }
    if sonarr_sim is not None:
        data["sonarr"] = {"url": sonarr_sim.url, "api_key": SONARR_API_KEY, **sonarr_options}
    if tvmaze_sim is not None:
        data["tvmaze"] = {"base_url": tvmaze_sim.url}
    if sync:
        data["sync"] = sync
    return build_config(data, env={})


def open_store(config: Config) -> Store:
    config.storage_dir.mkdir(parents=True, exist_ok=True)
    return store_at(config.storage_dir)


def seed(store: Store, *shows: Show, now: float = START) -> None:
    """Cache shows as the mirror and the filters would leave them: pending and decided."""
    store.upsert_shows([row_from_show(show) for show in shows], iso(now))
    with store.atomic():
        store.db.execute("UPDATE shows SET needs_filter = 0")


def catalogue_shows(sim: SonarrSimulator, n: int, first_id: int = 1) -> list[Show]:
    """`n` shows Sonarr's metadata knows, as TVMaze shows with ids from `first_id`."""
    tvdbs = sorted(sim.catalogue)[:n]
    return [
        Show(tvmaze_id=first_id + i, title=sim.catalogue[tvdb]["title"], tvdb_id=tvdb)
        for i, tvdb in enumerate(tvdbs)
    ]


def seeded(
    tmp_path: Path, sim: SonarrSimulator, n: int, **config_options: Any
) -> tuple[Config, Store, list[Show]]:
    """A config for `sim` (see `make_config`), its store, and `n` shows Sonarr's metadata
    knows, cached as the filters leave them: what most Sonarr-phase tests start from."""
    config = make_config(tmp_path, sim, **config_options)
    store = open_store(config)
    shows = catalogue_shows(sim, n)
    seed(store, *shows)
    return config, store, shows


def run_sonarr(
    config: Config,
    store: Store,
    clock: FakeClock,
    *,
    dry_run: bool = False,
    sleeps: Sleeps | None = None,
) -> CycleSummary:
    """The Sonarr phase alone, wired as cycle/run.py wires it (connect, then process)."""
    context = CycleContext(
        config=config, clock=clock, sleep=Sleeps() if sleeps is None else sleeps, dry_run=dry_run
    )
    summary = CycleSummary(started_at=iso(clock()), dry_run=context.effective_dry_run)
    gateway = None
    if config.sonarr_enabled:
        gateway = phase.connect(
            config.sonarr,
            clock,
            sleep=context.sleep,
            requests=summary.requests,
            read_only=context.effective_dry_run,
        )
    phase.process(store, gateway, context, summary)
    return summary


def cycle(
    config: Config, clock: FakeClock, *, dry_run: bool = False, sleeps: Sleeps | None = None
) -> CycleSummary:
    """One whole cycle (TVMaze -> cache -> filters -> Sonarr), as `tvmaze-sync sync` runs it."""
    return run_cycle(
        CycleContext(
            config=config,
            clock=clock,
            sleep=Sleeps() if sleeps is None else sleeps,
            dry_run=dry_run,
        )
    )


def real_shows(ids: range | list[int]) -> list[dict[str, Any]]:
    """TVMaze's recorded shows with these ids (all have TVDB ids Sonarr's catalogue knows)."""
    wanted = set(ids)
    return [show for show in load_real_shows() if show["id"] in wanted]


def status_of(store: Store, tvmaze_id: int) -> str:
    row = store.get_row(tvmaze_id)
    assert row is not None
    return str(row["processing_status"])


def ledger_rows(store: Store) -> dict[int, dict[str, Any]]:
    return {row["tvdb_id"]: row for row in store.db.table("sonarr_ledger").rows}


def posted_tvdb_ids(sim: SonarrSimulator) -> list[int]:
    return [body["tvdbId"] for body in sim.posts_to("/api/v3/series")]


def lookups(sim: SonarrSimulator) -> list[str]:
    return [r.query["term"][0] for r in sim.requests_to("/api/v3/series/lookup")]
