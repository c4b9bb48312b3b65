"""Safe on a real library (issue 13): the add budget and its pacing, a 409 that proves
nothing, queues that end (abandon, bounded retries of failed adds, retry/skip/unskip) and a
polite client (Retry-After, short error bodies). Whole cycles and the Sonarr phase run
in-process on an injected clock and sleep against both simulators over real sockets; the
commands run through the CLI's `main()`, a refusal's exit code from a real process."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import invoke_cli, run_cli
from tests.helpers_tvmaze import UNLIMITED
from tests.sonarr_helpers import (
    DAY,
    OPEN_FILTERS,
    START,
    WEEK,
    FakeClock,
    Sleeps,
    cycle,
    ledger_rows,
    lookups,
    open_store,
    posted_tvdb_ids,
    real_shows,
    run_sonarr,
    seeded,
    status_of,
)
from tvmaze_sync.cli import render
from tvmaze_sync.core.config import Config, build_config
from tvmaze_sync.core.errors import DependencyError
from tvmaze_sync.core.timeutil import iso, retry_after_seconds
from tvmaze_sync.cycle.metrics import build_registry
from tvmaze_sync.sonarr.gateway import BODY_SHOWN, shorten
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.state import read_state

# --- helpers ---------------------------------------------------------------------------------


def _data(
    tmp_path: Path, sonarr: SonarrSimulator, tvmaze: Any = None, **sonarr_options: Any
) -> dict[str, Any]:
    """One configuration for in-process cycles and for the CLI (written as YAML)."""
    sync = sonarr_options.pop("sync", None)
    data: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "sonarr": {"url": sonarr.url, "api_key": SONARR_API_KEY, **sonarr_options},
    }
    if tvmaze is not None:
        data["tvmaze"] = {"base_url": tvmaze.url, "rate_limit": UNLIMITED}
    if sync:
        data["sync"] = sync
    return data


def _config(data: dict[str, Any]) -> Config:
    return build_config(copy.deepcopy(data), env={})


def _config_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _row(config: Config, tvmaze_id: int) -> dict[str, Any]:
    store = open_store(config)
    try:
        row = store.get_row(tvmaze_id)
        assert row is not None
        return row
    finally:
        store.close()


def _popularity(shows: list[dict[str, Any]]) -> list[int]:
    """TVMaze ids most popular first: weight, then rating, then newest premiere (each
    descending, unknown last), then id: what the budget must follow."""
    ordered = sorted(shows, key=lambda s: s["id"])
    for key in (
        lambda s: s.get("premiered"),
        lambda s: (s.get("rating") or {}).get("average"),
        lambda s: s.get("weight"),
    ):
        known = sorted((s for s in ordered if key(s) is not None), key=key, reverse=True)
        ordered = known + [s for s in ordered if key(s) is None]
    return [s["id"] for s in ordered]


def _gauge(config: Config, name: str) -> float:
    registry = build_registry(config.storage_dir)
    value = registry.get_sample_value(name)
    assert value is not None
    return value


# --- 2. the add budget -----------------------------------------------------------------------


def test_a_budget_of_10_adds_the_10_most_popular_then_the_next_10(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 31))  # 29 shows, tied weights among them
    order = _popularity(shows)
    assert order[:10] != sorted(order[:10])  # popularity, not the id order
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    config = _config(_data(tmp_path, sonarr_sim, tvmaze, max_adds_per_cycle=10))
    tvdb = {s["id"]: s["externals"]["thetvdb"] for s in shows}

    preview = cycle(config, clock, dry_run=True)  # a dry run says the same, writes nothing
    assert len(preview.would_add_titles) == 10 and preview.adds_waiting == 19
    assert not posted_tvdb_ids(sonarr_sim)

    for batch, waiting in ((order[:10], 19), (order[10:20], 9), (order[20:], 0)):
        sonarr_sim.clear_log()
        clock.advance(6 * 3600)
        summary = cycle(config, clock)
        assert posted_tvdb_ids(sonarr_sim) == [tvdb[i] for i in batch]  # in that order
        assert summary.results.get("added") == len(batch)
        assert summary.adds_waiting == waiting
        state = read_state(config.storage_dir)
        assert state["state"]["last_cycle"]["adds_waiting"] == waiting
        assert _gauge(config, "tvmaze_sync_adds_waiting") == waiting
        assert {_row(config, i)["processing_status"] for i in batch} == {"added"}
    assert len(sonarr_sim.library()) == 29


def test_the_summary_says_how_many_wait(capsys: pytest.CaptureFixture[str]) -> None:
    from tvmaze_sync.core.models import CycleSummary

    summary = CycleSummary(started_at=iso(START), ok=True, adds_waiting=7)
    render.cycle_summary(summary, fmt="json")
    line = json.loads(capsys.readouterr().err)
    assert line["adds_waiting"] == 7


def test_zero_means_no_budget(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 30, max_adds_per_cycle=0)
    summary = run_sonarr(config, store, FakeClock())
    assert summary.results == {"added": 30} and summary.adds_waiting == 0
    store.close()


def test_the_default_budget_is_finite(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 30)
    assert config.sonarr.max_adds_per_cycle == 25
    summary = run_sonarr(config, store, FakeClock())
    assert summary.results == {"added": 25} and summary.adds_waiting == 5
    store.close()


class _SlowLookups:
    """Sonarr's lookup takes `seconds` of the injected clock."""

    def __init__(self, sim: SonarrSimulator, clock: FakeClock, seconds: float) -> None:
        original = sim.handle

        def handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            if "series/lookup" in target:
                clock.advance(seconds)
            return original(method, target, *args, **kwargs)

        sim.handle = handle  # type: ignore[method-assign]


def test_with_search_on_add_adds_are_add_interval_apart(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 4, add_interval="7s")
    clock = FakeClock()
    _SlowLookups(sonarr_sim, clock, 3.0)  # the lookup in between counts towards the pause
    sleeps = Sleeps()
    summary = run_sonarr(config, store, clock, sleeps=sleeps)
    assert summary.results == {"added": 4}
    assert sleeps == [4.0, 4.0, 4.0]  # none before the first add
    assert len(sonarr_sim.searches) == 4
    assert len(sonarr_sim.requests_to("/api/v3/series", "POST")) == 4
    store.close()


def test_without_search_on_add_adds_are_not_paced(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 4, search_on_add=False, add_interval="7s")
    sleeps = Sleeps()
    assert run_sonarr(config, store, FakeClock(), sleeps=sleeps).results == {"added": 4}
    assert sleeps == [] and not sonarr_sim.searches
    store.close()


# --- 5. a 409 is not proof -------------------------------------------------------------------


def test_a_409_for_a_series_sonarr_lacks_is_retried_then_failed_with_its_message(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1, sync={"retry_delay": "2d"})
    # Another series takes the title slug between validation and insert, three times.
    sonarr_sim.race_next_add(3, insert=False, column="Series.TitleSlug")
    sleeps = Sleeps()
    clock = FakeClock()
    summary = run_sonarr(config, store, clock, sleeps=sleeps)
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [409] * 3
    # After each 409 the library was asked for the TheTVDB id, and did not have it.
    asked = [r for r in sonarr_sim.requests_to("/api/v3/series", "GET") if r.query]
    assert [r.query["tvdbid"] for r in asked] == [[str(show.tvdb_id)]] * 3
    assert sleeps == [1.0, 4.0]
    row = store.get_row(show.tvmaze_id)
    assert row is not None
    assert (row["processing_status"], row["status_reason"]) == ("failed", "conflict_in_sonarr")
    assert "UNIQUE constraint failed: Series.TitleSlug" in row["error_message"]
    assert "\n" not in row["error_message"] and "stack trace" not in row["error_message"]
    assert row["retry_after"] == iso(clock() + 2 * DAY)
    assert summary.results == {"failed": 1}
    assert ledger_rows(store) == {} and sonarr_sim.library() == []
    store.close()


def test_a_proxy_answering_409_is_never_taken_for_exists(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.fail_next(3, 409, "/api/v3/series", method="POST")
    run_sonarr(config, store, FakeClock())
    row = store.get_row(show.tvmaze_id)
    assert row is not None and row["processing_status"] == "failed"
    assert row["error_message"] == "HTTP 409: Conflict"
    store.close()


def test_a_409_then_a_201_is_added(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.race_next_add(1, insert=False, column="Series.TitleSlug")
    summary = run_sonarr(config, store, FakeClock())
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [409, 201]
    assert status_of(store, show.tvmaze_id) == "added" and summary.added_titles == [show.title]
    assert ledger_rows(store)[show.tvdb_id or 0]["added_at"] is not None
    store.close()


def test_a_409_where_the_library_has_the_id_is_exists(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.race_next_add(insert=True)  # another add of the same TheTVDB id won
    summary = run_sonarr(config, store, FakeClock())
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [409]
    row = store.get_row(show.tvmaze_id)
    assert row is not None and row["processing_status"] == "exists"
    assert row["sonarr_series_id"] == sonarr_sim.series_by_tvdb(show.tvdb_id or 0)["id"]  # type: ignore[index]
    assert summary.results == {"exists": 1} and ledger_rows(store) == {}
    store.close()


def test_a_409_when_the_library_cannot_be_read_concludes_nothing(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.race_next_add(insert=False)
    original = sonarr_sim.handle

    def handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        reply = original(method, target, *args, **kwargs)
        if method == "POST" and reply.status == 409:  # then the library cannot be read
            sonarr_sim.fail_next(3, 503, "/api/v3/series", method="GET")
        return reply

    sonarr_sim.handle = handle  # type: ignore[method-assign]
    summary = run_sonarr(config, store, FakeClock())
    assert status_of(store, show.tvmaze_id) == "pending"  # neither exists nor failed
    assert summary.results == {"pending": 1}
    store.close()


# --- 7. queues that end ----------------------------------------------------------------------


def test_an_id_sonarr_does_not_know_is_abandoned_after_abandon_after(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvdb = shows[1]["externals"]["thetvdb"]
    sonarr_sim.catalogue.pop(tvdb)  # TheTVDB id Sonarr's metadata never learns
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    sync = {"retry_delay": "1w", "abandon_after": "3w"}
    config = _config(_data(tmp_path, sonarr_sim, tvmaze, sync=sync))
    started = clock()
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == (
        "pending_tvdb",
        "tvdb_not_in_sonarr",
    )
    for week in (1, 2):
        clock.advance(WEEK)
        cycle(config, clock)
        row = _row(config, 2)
        assert (row["processing_status"], row["retry_count"]) == ("pending_tvdb", week)
        assert row["pending_tvdb_since"] == iso(started)  # the wait keeps its start
    assert lookups(sonarr_sim).count(f"tvdb:{tvdb}") == 3
    clock.advance(WEEK)
    summary = cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == (
        "failed",
        "abandoned_tvdb_not_in_sonarr",
    )
    assert str(tvdb) in row["error_message"] and iso(started) in row["error_message"]
    assert summary.results == {"failed": 1}
    clock.advance(10 * WEEK)
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "failed"  # an abandoned wait is final
    assert lookups(sonarr_sim).count(f"tvdb:{tvdb}") == 3


def _refused_by_sonarr(sim: SonarrSimulator, tvdb: int) -> int:
    """Make every add of `tvdb` a 400: another series already uses its folder. Returns the
    tvdb id of that other series (delete it to let the add through)."""
    folder = sim.catalogue[tvdb]["title"]
    other = max(sim.catalogue)
    sim.add_series(other, path=f"/tv/{folder}")
    return other


def test_a_failed_add_is_retried_after_retry_delay_a_bounded_number_of_times(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvdb = shows[1]["externals"]["thetvdb"]
    _refused_by_sonarr(sonarr_sim, tvdb)
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    sync = {"retry_delay": "1d", "max_retries": 2}
    config = _config(_data(tmp_path, sonarr_sim, tvmaze, sync=sync))
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == ("failed", "rejected_by_sonarr")
    assert (row["retry_count"], row["retry_after"]) == (0, iso(clock() + DAY))
    clock.advance(DAY // 2)
    cycle(config, clock)
    assert posted_tvdb_ids(sonarr_sim).count(tvdb) == 1  # not due yet
    for retry in (1, 2):
        clock.advance(DAY)
        summary = cycle(config, clock)
        assert posted_tvdb_ids(sonarr_sim).count(tvdb) == 1 + retry
        row = _row(config, 2)
        assert (row["processing_status"], row["retry_count"]) == ("failed", retry)
        assert summary.results == {"failed": 1}
    assert row["retry_after"] is None  # the retries are spent
    clock.advance(30 * DAY)
    cycle(config, clock)
    assert posted_tvdb_ids(sonarr_sim).count(tvdb) == 3


def test_a_failed_show_the_filters_now_reject_is_not_retried(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvdb = shows[1]["externals"]["thetvdb"]
    _refused_by_sonarr(sonarr_sim, tvdb)
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    data = _data(tmp_path, sonarr_sim, tvmaze, sync={"retry_delay": "1d"})
    cycle(_config(data), clock)
    data["filters"]["ids"] = {"exclude": [2]}  # the user no longer wants it
    clock.advance(2 * DAY)
    cycle(_config(data), clock)
    assert _row(_config(data), 2)["processing_status"] == "filtered"
    assert posted_tvdb_ids(sonarr_sim).count(tvdb) == 1


@pytest.mark.parametrize("mode", ["skyhook", "garbage"])
def test_a_show_sonarr_always_answers_unusably_ends_failed_then_retry_brings_it_back(
    tmp_path: Path,
    sonarr_sim: SonarrSimulator,
    tvmaze_sim_factory: TvmazeSimFactory,
    mode: str,
) -> None:
    """Every queue ends: one show whose lookup Sonarr answers with an error (SkyHook cannot
    read its record) or garbage, every cycle, while it answers the others, stays pending
    for sync.max_retries cycles, then is `failed` (unanswered_by_sonarr) and asked no more;
    `tvmaze-sync retry` puts it back."""
    clock = FakeClock()
    shows = real_shows(range(1, 4))
    tvdb = shows[1]["externals"]["thetvdb"]
    sonarr_sim.broken_lookups[tvdb] = mode
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    data = _data(tmp_path, sonarr_sim, tvmaze, sync={"max_retries": 2}, add_interval="0s")
    config = _config(data)
    summary = cycle(config, clock)
    assert sorted(summary.added_ids) == [1, 3]
    for cycles in (1, 2):
        row = _row(config, 2)
        assert (row["processing_status"], row["status_reason"]) == (
            "pending",
            "unanswered_by_sonarr",
        )
        assert row["retry_count"] == cycles
        clock.advance(DAY)
        summary = cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == ("failed", "unanswered_by_sonarr")
    assert (row["retry_after"], summary.results) == (None, {"failed": 1})
    assert "series_lookup" in row["error_message"] and len(row["error_message"]) <= 2 * BODY_SHOWN
    asked = lookups(sonarr_sim).count(f"tvdb:{tvdb}")
    clock.advance(30 * DAY)
    cycle(config, clock)
    assert lookups(sonarr_sim).count(f"tvdb:{tvdb}") == asked  # the queue has ended

    path = _config_file(tmp_path, data)
    explained = json.loads(
        run_cli(tmp_path, "--config", str(path), "explain", "2", "--format", "json").stdout
    )
    assert any("tvmaze-sync retry 2" in note for note in explained["notes"]), explained
    del sonarr_sim.broken_lookups[tvdb]  # Sonarr's metadata mended
    result = run_cli(tmp_path, "--config", str(path), "retry", "2")
    assert result.returncode == 0, result.stderr
    assert cycle(config, clock).added_ids == [2]


def test_a_sonarr_failing_every_lookup_costs_no_show_a_retry(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    """SkyHook down for every show: not the shows' fault; they stay pending, uncounted."""
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None, clock=clock)
    config = _config(_data(tmp_path, sonarr_sim, tvmaze, sync={"max_retries": 0}))
    sonarr_sim.metadata_error = 503
    for _ in range(3):
        cycle(config, clock)
        clock.advance(DAY)
    for tvmaze_id in (1, 2):
        row = _row(config, tvmaze_id)
        assert (row["processing_status"], row["status_reason"]) == ("pending", None)
    sonarr_sim.metadata_error = None
    assert sorted(cycle(config, clock).added_ids) == [1, 2]


# --- the commands ----------------------------------------------------------------------------


@pytest.mark.slow
def test_retry_skip_and_unskip_through_the_cli(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 5))
    tvdb = {s["id"]: s["externals"]["thetvdb"] for s in shows}
    blocker = _refused_by_sonarr(sonarr_sim, tvdb[2])
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    data = _data(tmp_path, sonarr_sim, tvmaze, sync={"max_retries": 0}, add_interval="0s")
    path = _config_file(tmp_path, data)
    config = _config(data)

    def cli(*args: str) -> Any:
        return invoke_cli(tmp_path, "--config", str(path), *args)

    result = run_cli(tmp_path, "--config", str(path), "skip", "3")  # the exit code of a process
    assert result.returncode == 2 and "no cache" in result.stderr  # nothing to skip yet
    # Show 3 is skipped before its first add: the store is made by a dry run.
    cycle(config, clock, dry_run=True)
    result = cli("skip", "3", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changes"] == [
        {"tvmaze_id": 3, "title": shows[2]["name"], "old": "pending", "new": "skipped"}
    ]
    clock.advance(DAY)
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "failed"  # max_retries 0: no retry
    assert _row(config, 3)["processing_status"] == "skipped"
    assert tvdb[3] not in posted_tvdb_ids(sonarr_sim)

    # skip survives a refilter and a rescan in which the show's data changed.
    assert cli("refilter").returncode == 0
    tvmaze.update_show(3, name="Bitten (renamed)", rating__average=9.9)
    tvmaze.refresh_index()
    clock.advance(DAY)
    cycle(config, clock)
    row = _row(config, 3)
    assert (row["processing_status"], row["title"]) == ("skipped", "Bitten (renamed)")
    assert tvdb[3] not in posted_tvdb_ids(sonarr_sim)
    explained = json.loads(cli("explain", "3", "--format", "json").stdout)
    assert any("tvmaze-sync unskip 3" in n for n in explained["notes"]), explained["notes"]

    # Mistakes are exit 2 and change nothing.
    for args, message in (
        (("skip", "1", "999999"), "no show with TVMaze id 999999"),
        (("skip", "1"), "is in Sonarr (added)"),
        (("retry", "3"), "is skipped: `tvmaze-sync unskip 3`"),
        (("unskip", "1"), "is not skipped (it is added)"),
        (("retry",), "name at least one TVMaze id"),
        (("retry", "2", "--status", "failed"), "not both"),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert _row(config, 1)["processing_status"] == "added"

    explained = json.loads(cli("explain", "2", "--format", "json").stdout)
    assert any("tvmaze-sync retry 2" in n for n in explained["notes"]), explained["notes"]
    # retry --status failed puts the failed add back now; unskip lets show 3 in again.
    sonarr_sim.delete_series(sonarr_sim.series_by_tvdb(blocker)["id"])  # type: ignore[index]
    result = cli("retry", "--status", "failed")
    assert result.returncode == 0, result.stderr
    assert "failed" in result.stdout and "pending" in result.stdout
    assert cli("unskip", "3").returncode == 0
    assert _row(config, 3)["processing_status"] == "pending"
    clock.advance(DAY)
    summary = cycle(config, clock)
    assert sorted(summary.added_titles) == sorted([shows[1]["name"], "Bitten (renamed)"])

    with writer_lock(config.storage_dir):  # a sync is running: the command waits its turn
        result = cli("skip", "4")
    assert result.returncode == 75 and "holds" in result.stderr


def test_retry_of_a_pending_tvdb_show_asks_sonarr_at_the_next_sync(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    from tvmaze_sync.sonarr import queues

    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvdb = shows[1]["externals"]["thetvdb"]
    entry = sonarr_sim.catalogue.pop(tvdb)
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    config = _config(_data(tmp_path, sonarr_sim, tvmaze, sync={"retry_delay": "1w"}))
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "pending_tvdb"
    sonarr_sim.catalogue[tvdb] = entry  # TheTVDB learns it the next day
    changes = queues.apply_action(config, queues.Action.RETRY, [2], clock=clock)
    assert [(c.old, c.new) for c in changes] == [("pending_tvdb", "pending_tvdb")]
    clock.advance(DAY)
    summary = cycle(config, clock)  # not a week later
    assert summary.added_titles == [shows[1]["name"]]


# --- 8. politeness ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(
    status: int, sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.fail_next(1, status, "/api/v3/series/lookup", headers={"Retry-After": "30"})
    sleeps = Sleeps()
    summary = run_sonarr(config, store, FakeClock(), sleeps=sleeps)
    assert sleeps == [30.0]
    assert status_of(store, show.tvmaze_id) == "added"
    assert summary.requests[f"sonarr:series_lookup:{status}"] == 1
    store.close()


def test_retry_after_as_a_date_is_read_on_the_injected_clock(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    import email.utils

    config, store, _ = seeded(tmp_path, sonarr_sim, 1)
    clock = FakeClock()
    when = email.utils.formatdate(clock() + 20, usegmt=True)
    sonarr_sim.fail_next(1, 503, "/api/v3/series", method="POST", headers={"Retry-After": when})
    sleeps = Sleeps()
    run_sonarr(config, store, clock, sleeps=sleeps)
    assert sleeps == [20.0]
    store.close()


def test_a_retry_after_on_the_last_attempt_holds_the_next_request(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 2)
    sonarr_sim.fail_next(3, 503, "/api/v3/series/lookup", headers={"Retry-After": "30"})
    sleeps = Sleeps()
    summary = run_sonarr(config, store, FakeClock(), sleeps=sleeps)
    # Two waits between the three tries, then the next show's lookup waits its turn too.
    assert sleeps == [30.0, 30.0, 30.0]
    assert summary.results == {"pending": 1, "added": 1}
    store.close()


def test_a_short_retry_after_never_shortens_the_backoff(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.fail_next(2, 429, "/api/v3/series/lookup", headers={"Retry-After": "0"})
    sleeps = Sleeps()
    run_sonarr(config, store, FakeClock(), sleeps=sleeps)
    assert sleeps == [1.0, 4.0]
    store.close()


def test_a_retry_after_beyond_the_cap_stops_the_cycle(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 3, max_retry_after="2m")
    sonarr_sim.fail_next(1, 429, "/api/v3/series/lookup", headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(DependencyError, match=r"sonarr\.max_retry_after") as caught:
        run_sonarr(config, store, FakeClock(), sleeps=sleeps)
    assert caught.value.exit_code == 3
    assert "asked to wait 3600s" in str(caught.value)
    assert sleeps == []  # never slept an hour, nor went on with the next show
    assert len(sonarr_sim.requests_to("/api/v3/series/lookup")) == 1
    assert {status_of(store, s.tvmaze_id) for s in shows} == {"pending"}
    store.close()


@pytest.mark.slow
def test_a_retry_after_beyond_the_cap_is_exit_3_through_the_cli(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None)
    path = _config_file(tmp_path, _data(tmp_path, sonarr_sim, tvmaze, add_interval="0s"))
    sonarr_sim.fail_next(1, 503, "/api/v3/series/lookup", headers={"Retry-After": "86400"})
    result = run_cli(tmp_path, "--config", str(path), "sync")
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "asked to wait 86400s (Retry-After on series_lookup)" in last
    assert "more than sonarr.max_retry_after (5m)" in last
    assert not posted_tvdb_ids(sonarr_sim)


def test_error_bodies_are_logged_shortened(
    sonarr_sim: SonarrSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 1)
    page = "<html><body>" + "Bad gateway from the proxy.\n" * 400 + "</body></html>"
    sonarr_sim.fail_next(3, 503, "/api/v3/series/lookup", body=page)
    caplog.set_level(logging.WARNING)
    summary = run_sonarr(config, store, FakeClock())
    assert summary.results == {"pending": 1}
    lines = [r.getMessage() for r in caplog.records if "sonarr_" in r.getMessage()]
    assert lines and all(len(line) < 3 * BODY_SHOWN + 200 for line in lines)
    assert any("Bad gateway from the proxy." in line and "…" in line for line in lines)
    store.close()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("12", 12.0),
        (" 7 ", 7.0),
        ("-3", None),
        ("soon", None),
        ("Thu, 01 Jan 2026 00:01:40 GMT", 100.0),
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, START) == expected


def test_shorten_keeps_sonarrs_message_on_one_line() -> None:
    body = json.dumps({"message": "constraint failed\r\nUNIQUE", "description": "x" * 5000})
    assert shorten(body) == "constraint failed UNIQUE"
    assert len(shorten("y" * 5000)) == BODY_SHOWN and shorten("y" * 5000).endswith("…")


def test_skip_and_review_deny_take_the_one_path_to_skipped(
    tmp_path: Path, sonarr_sim: SonarrSimulator
) -> None:
    """`skip` and `review deny` both go through ledger.skip: the retry and the approval are
    dropped, the reason says which command it was, the result is counted, and `explain`
    names the command that did it."""
    from tvmaze_sync.sonarr import queues, review

    config, store, _ = seeded(tmp_path, sonarr_sim, 2)
    with store.atomic():
        store.db.execute(
            "UPDATE shows SET processing_status = 'failed', retry_after = ?, approved_at = ? "
            "WHERE tvmaze_id = 1",
            [iso(START + DAY), iso(START)],
        )
        store.db.execute("UPDATE shows SET processing_status = 'review' WHERE tvmaze_id = 2")
    store.close()
    queues.apply_action(config, queues.Action.SKIP, [1], clock=FakeClock())
    review.decide(config, "deny", [2], clock=FakeClock())
    store = open_store(config)
    rows = {i: store.get_row(i) or {} for i in (1, 2)}
    assert store.counters("shows_processed") == {"skipped": 2}
    store.close()
    for tvmaze_id, reason, command in (
        (1, "skipped_by_user", "`tvmaze-sync skip`"),
        (2, "denied_in_review", "`tvmaze-sync review deny`"),
    ):
        row = rows[tvmaze_id]
        assert row["processing_status"] == "skipped" and row["status_reason"] == reason
        assert row["retry_after"] is None and row["approved_at"] is None
        assert command in (queues.note(row, config.sync) or "")
