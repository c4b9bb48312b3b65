"""Issue 13: the removal guard and a dry run that writes no decision.

Through the real CLI (its `main()`, in-process; a real process wherever an exit code other
than 0 is the point, as cron reads it) against both simulators: a sync against
one Sonarr, then against a new, empty one (a reinstall, a second box, an old backup) holds
every removal instead of concluding it; `removals readd` and `removals accept` are the two
ways out. A few deletions at once are concluded as before. A dry run changes no decision in
the cache, and its summary says what a real run then does.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import invoke_cli, run_cli
from tests.helpers_store import store_at
from tests.helpers_tvmaze import UNLIMITED
from tests.sonarr_helpers import (
    OPEN_FILTERS,
    FakeClock,
    cycle,
    ledger_rows,
    make_config,
    open_store,
    posted_tvdb_ids,
    real_shows,
)
from tvmaze_sync.core.errors import ExitCode, UsageError
from tvmaze_sync.sonarr import ledger, removals

EXCLUSIONS = "/api/v3/importlistexclusion"
SHOWS = real_shows(range(1, 13))  # twelve shows Sonarr's catalogue knows: more than 10
TVDB = {show["id"]: show["externals"]["thetvdb"] for show in SHOWS}


class Cli:
    """`tvmaze-sync`'s entry point, against whichever Sonarr the config names now."""

    def __init__(self, tmp_path: Path, tvmaze: TvmazeSimulator) -> None:
        self.tmp_path = tmp_path
        self.tvmaze = tvmaze
        self.path = tmp_path / "config.yaml"
        self.storage = tmp_path / "data"

    def configure(
        self, sonarr: SonarrSimulator | None, filters: dict[str, Any] | None = None, **opts: Any
    ) -> None:
        data: dict[str, Any] = {
            "tvmaze": {"base_url": self.tvmaze.url, "rate_limit": UNLIMITED},
            "storage": {"path": str(self.storage)},
            "filters": copy.deepcopy(OPEN_FILTERS if filters is None else filters),
            "logging": {"format": "json"},
        }
        if sonarr is not None:
            # a real process sleeps for real: no pause between adds (pacing is tested in-process)
            data["sonarr"] = {
                "url": sonarr.url,
                "api_key": SONARR_API_KEY,
                "add_interval": "0s",
                **opts,
            }
        self.path.write_text(yaml.safe_dump(data), encoding="utf-8")

    def run(self, *args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
        """The command in-process; in a real process (`process`) where its exit code is the
        point: cron and systemd read it."""
        run = run_cli if process else invoke_cli
        return run(self.tmp_path, "--config", str(self.path), *args)

    def sync(self, *args: str, code: int = 0) -> dict[str, Any]:
        """Run `sync`, check its exit code (a failure's from a real process), return its
        summary line."""
        result = self.run("sync", *args, process=code != 0)
        assert result.returncode == code, result.stderr
        assert "Traceback" not in result.stderr
        [line] = [json.loads(x) for x in result.stderr.splitlines() if '"sync_summary"' in x]
        line["stderr"] = result.stderr
        return dict(line)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def statuses(self) -> dict[int, str]:
        with sqlite3.connect(self.storage / "shows.db") as conn:
            return dict(conn.execute("SELECT tvmaze_id, processing_status FROM shows"))


def _error_line(stderr: str) -> str:
    [line] = [x for x in stderr.splitlines() if x.startswith("error:")]
    return line


@pytest.fixture
def cli(tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory) -> Cli:
    return Cli(tmp_path, tvmaze_sim_factory(shows=SHOWS, rate_limit=None))


def _moved_to_a_new_sonarr(cli: Cli, sonarr_sim_factory: SonarrFactory, **opts: Any) -> Any:
    """Twelve series added to one Sonarr, then the config names a fresh, empty one."""
    old = sonarr_sim_factory()
    cli.configure(old, **opts)
    assert cli.sync()["added"] == 12
    new = sonarr_sim_factory()
    cli.configure(new, **opts)
    return old, new


# --- the removal guard ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_new_empty_sonarr_concludes_nothing_then_readd_adds_them_there(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    _, new = _moved_to_a_new_sonarr(cli, sonarr_sim_factory, on_user_removal="exclude_in_sonarr")
    for _ in range(2):  # held, and still held (not once more) the cycle after
        line = cli.sync(code=ExitCode.REMOVALS_HELD)
        assert (line["removals_held"], line["removed_by_user"], line["added"]) == (12, 0, 0)
        message = _error_line(line["stderr"])
        assert message.startswith("error: 12 series tvmaze-sync added are missing from Sonarr")
        assert "sonarr.max_removals=10" in message
        for way_out in ("removals` lists", "removals accept`", "removals readd`"):
            assert way_out in message
        assert new.posts_to(EXCLUSIONS) == [] and posted_tvdb_ids(new) == []
        assert set(cli.statuses().values()) == {"added"}  # nothing concluded
    state = cli.json("state")
    assert state["removals_held"] == 12 and state["shows"]["by_status"]["removed_by_user"] == 0
    held = cli.json("removals")
    assert sorted(r["tvdb_id"] for r in held) == sorted(TVDB.values())
    assert all(r["held_at"] and r["added_at"] and r["title"] for r in held)
    text = cli.run("removals")
    assert "12 series held" in text.stdout and "removals readd" in text.stdout

    result = cli.run("removals", "readd")
    assert result.returncode == 0, result.stderr
    assert "12 series released" in result.stdout
    assert cli.json("removals") == []

    line = cli.sync()
    assert (line["added"], line["removals_held"], line["removed_by_user"]) == (12, 0, 0)
    assert sorted(posted_tvdb_ids(new)) == sorted(TVDB.values())
    assert {s["tvdbId"] for s in new.library()} == set(TVDB.values())
    assert new.posts_to(EXCLUSIONS) == []
    assert cli.json("state")["removals_held"] == 0
    assert cli.sync()["added"] == 0  # and they are ours again: nothing twice
    assert len(posted_tvdb_ids(new)) == 12


@pytest.mark.slow
def test_removals_accept_concludes_removed_by_user_then_posts_the_exclusions(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    _, new = _moved_to_a_new_sonarr(cli, sonarr_sim_factory, on_user_removal="exclude_in_sonarr")
    cli.sync(code=ExitCode.REMOVALS_HELD)

    result = cli.run("removals", "accept", "--format", "json")
    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)
    assert accepted["action"] == "accept" and len(accepted["series"]) == 12
    assert set(cli.statuses().values()) == {"removed_by_user"}
    state = cli.json("state")
    assert (state["removals_held"], state["shows"]["by_status"]["removed_by_user"]) == (0, 12)
    assert new.posts_to(EXCLUSIONS) == []  # accept itself is offline

    line = cli.sync()  # exclude_in_sonarr applies as for any deletion
    assert (line["removals_held"], line["added"]) == (0, 0)
    assert sorted(body["tvdbId"] for body in new.posts_to(EXCLUSIONS)) == sorted(TVDB.values())
    assert posted_tvdb_ids(new) == []
    cli.sync()
    assert len(new.posts_to(EXCLUSIONS)) == 12


@pytest.mark.slow
def test_three_deletions_under_the_limit_are_concluded_as_before(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    sonarr = sonarr_sim_factory()
    cli.configure(sonarr, on_user_removal="exclude_in_sonarr")
    cli.sync()
    for tvmaze_id in (2, 5, 9):
        series = sonarr.series_by_tvdb(TVDB[tvmaze_id])
        assert series is not None and sonarr.delete_series(series["id"])
    line = cli.sync()  # exit 0
    assert (line["removed_by_user"], line["removals_held"], line["added"]) == (3, 0, 0)
    assert {i for i, s in cli.statuses().items() if s == "removed_by_user"} == {2, 5, 9}
    assert sorted(b["tvdbId"] for b in sonarr.posts_to(EXCLUSIONS)) == sorted(
        TVDB[i] for i in (2, 5, 9)
    )
    assert cli.json("removals") == [] and cli.json("state")["removals_held"] == 0


@pytest.mark.slow
def test_removals_decides_one_series_at_a_time_and_refuses_an_unknown_id(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    _, new = _moved_to_a_new_sonarr(cli, sonarr_sim_factory)
    cli.sync(code=ExitCode.REMOVALS_HELD)
    result = cli.run("removals", "accept", "999999999", process=True)
    assert result.returncode == ExitCode.USAGE
    assert "TheTVDB id 999999999 is not held" in _error_line(result.stderr)
    assert "Traceback" not in result.stderr
    assert len(cli.json("removals")) == 12  # nothing changed

    result = cli.run("removals", "accept", str(TVDB[3]))
    assert result.returncode == 0, result.stderr
    assert cli.statuses()[3] == "removed_by_user"
    result = cli.run("removals", "readd")  # the eleven others
    assert result.returncode == 0 and "11 series released" in result.stdout
    line = cli.sync()
    assert line["added"] == 11 and TVDB[3] not in posted_tvdb_ids(new)
    assert cli.statuses()[3] == "removed_by_user"


# --- the guard, cycle by cycle (in-process, a hand-moved clock) -----------------------------


def _added_then_new_sonarr(
    tmp_path: Path,
    sonarr_sim_factory: SonarrFactory,
    tvmaze_sim_factory: TvmazeSimFactory,
    shows: list[dict[str, Any]],
    **opts: Any,
) -> tuple[FakeClock, SonarrSimulator, SonarrSimulator, Any]:
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    old, new = sonarr_sim_factory(), sonarr_sim_factory()
    cycle(make_config(tmp_path, old, tvmaze, **opts), clock)
    clock.advance(3600)
    return clock, old, new, tvmaze


def _held(config: Any) -> dict[int, Any]:
    store = open_store(config)
    try:
        return {row["tvdb_id"]: row["held_at"] for row in store.held_removals()}
    finally:
        store.close()


def test_an_empty_library_holds_even_a_few_removals(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 4))
    clock, _, new, tvmaze = _added_then_new_sonarr(
        tmp_path, sonarr_sim_factory, tvmaze_sim_factory, shows
    )
    config = make_config(tmp_path, new, tvmaze)
    summary = cycle(config, clock)
    assert summary.ok and summary.removals_held == 3
    assert summary.results.get("removed_by_user", 0) == 0 and posted_tvdb_ids(new) == []
    with pytest.raises(Exception) as raised:
        removals.check(summary, config)
    assert getattr(raised.value, "exit_code", None) == ExitCode.REMOVALS_HELD
    # The user's own first series in the new Sonarr makes the library non-empty: three of
    # ours missing is then under the limit, but held ones stay held until decided.
    new.add_series(999_001)
    clock.advance(3600)
    assert cycle(config, clock).removals_held == 3


def test_a_held_series_that_reappears_is_released_silently(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock, old, new, tvmaze = _added_then_new_sonarr(
        tmp_path, sonarr_sim_factory, tvmaze_sim_factory, SHOWS
    )
    config_new = make_config(tmp_path, new, tvmaze)
    first = cycle(config_new, clock)
    assert first.removals_held == 12
    stamps = _held(config_new)
    clock.advance(3600)
    assert cycle(config_new, clock).removals_held == 12
    assert _held(config_new) == stamps  # idempotent: held since the first cycle that saw it
    store = open_store(config_new)
    try:
        note = ledger.explain(store, store.get_row(1) or {}) or ""
    finally:
        store.close()
    assert stamps[TVDB[1]] in note and "`tvmaze-sync removals`" in note

    # The user restores the old Sonarr: every series is back, every hold goes, quietly.
    config_old = make_config(tmp_path, old, tvmaze)
    clock.advance(3600)
    summary = cycle(config_old, clock)
    assert summary.removals_held == 0 and summary.results == {}
    assert _held(config_old) == {}
    store = open_store(config_old)
    try:
        assert store.count_by_status()["added"] == 12
        assert all(e["removed_at"] is None for e in ledger_rows(store).values())
    finally:
        store.close()
    assert len(posted_tvdb_ids(old)) == 12 and old.posts_to(EXCLUSIONS) == []


def test_allow_readd_does_not_readd_held_series(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock, _, new, tvmaze = _added_then_new_sonarr(
        tmp_path, sonarr_sim_factory, tvmaze_sim_factory, SHOWS, on_user_removal="allow_readd"
    )
    config = make_config(tmp_path, new, tvmaze, on_user_removal="allow_readd")
    for _ in range(2):
        assert cycle(config, clock).removals_held == 12
        clock.advance(3600)
    assert posted_tvdb_ids(new) == []
    # `removals accept` then lets allow_readd apply: the next sync adds them back.
    assert len(removals.settle(config, "accept", clock=clock)) == 12
    summary = cycle(config, clock)
    assert (summary.removals_held, summary.results.get("added")) == (0, 12)


def test_a_limit_of_zero_holds_every_removal(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 4)), rate_limit=None, clock=clock)
    sonarr = sonarr_sim_factory()
    config = make_config(tmp_path, sonarr, tvmaze, max_removals=0)
    cycle(config, clock)
    series = sonarr.series_by_tvdb(TVDB[1])
    assert series is not None and sonarr.delete_series(series["id"])
    clock.advance(3600)
    summary = cycle(config, clock)
    assert summary.removals_held == 1 and "removed_by_user" not in summary.results
    with pytest.raises(UsageError, match="TheTVDB id 1 is not held"):
        removals.settle(config, "accept", [1], clock=clock)
    assert [r["tvdb_id"] for r in removals.settle(config, "accept", [TVDB[1]], clock=clock)] == [
        TVDB[1]
    ]
    store = open_store(config)
    try:
        assert store.get_row(1)["processing_status"] == "removed_by_user"  # type: ignore[index]
    finally:
        store.close()


# --- a dry run writes no decision -----------------------------------------------------------

#: Columns of `shows` that hold decisions. The others are the mirror's (TVMaze metadata,
#: last_checked, updated_at, needs_filter): a dry run may refresh the cache.
DECISION_COLUMNS = (
    "tvmaze_id, processing_status, filter_reason, filter_reasons, status_reason, "
    "sonarr_series_id, added_to_sonarr_at, retry_after, retry_count, error_message, "
    "pending_tvdb_since"
)


def _decisions(storage: Path) -> dict[str, Any]:
    """Everything in the cache but the mirror and the request counters; the filter hash."""
    with sqlite3.connect(storage / "shows.db") as conn:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert tables == {"shows", "sonarr_ledger", "counters"}, tables  # nothing unseen
        found = {
            "shows": conn.execute(f"SELECT {DECISION_COLUMNS} FROM shows ORDER BY 1").fetchall(),
            "ledger": conn.execute("SELECT * FROM sonarr_ledger ORDER BY tvdb_id").fetchall(),
            "counters": conn.execute(
                # full_mirrors_completed is the mirror's (store.record_full_mirror)
                "SELECT * FROM counters WHERE name NOT IN "
                "('api_requests', 'full_mirrors_completed') ORDER BY name, label"
            ).fetchall(),
        }
    state = json.loads((storage / "state.json").read_text(encoding="utf-8"))
    found["filter_hash"] = state["last_filter_hash"]
    return found


NO_MUSIC = {**OPEN_FILTERS, "genres": {"exclude": ["Music"]}}  # Glee (8) is filtered


@pytest.mark.slow
def test_a_dry_run_writes_no_decision_and_its_summary_is_what_a_real_run_does(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    sonarr = sonarr_sim_factory()
    # A dry run asked for without Sonarr: the mirror fills, nothing is decided.
    cli.configure(None, filters=NO_MUSIC)
    line = cli.sync("--dry-run")
    assert line["dry_run"] is True and line["filtered"] == 1 and line["would_add"] == 11
    assert set(cli.statuses().values()) == {"pending"}
    assert _decisions(cli.storage)["filter_hash"] is None
    assert _decisions(cli.storage)["counters"] == []

    cli.configure(sonarr, filters=NO_MUSIC, on_user_removal="exclude_in_sonarr")
    assert cli.sync()["added"] == 11
    for tvmaze_id in (2, 5, 9):  # the user deletes three series in Sonarr
        series = sonarr.series_by_tvdb(TVDB[tvmaze_id])
        assert series is not None and sonarr.delete_series(series["id"])
    cli.tvmaze.update_show(4, name="Arrow (renamed)")  # the mirror has news to store
    cli.configure(sonarr, on_user_removal="exclude_in_sonarr")  # filters widened: Glee passes
    before = _decisions(cli.storage)

    dry = cli.sync("--dry-run")
    assert dry["dry_run"] is True
    assert (dry["removed_by_user"], dry["added"], dry["removals_held"]) == (3, 0, 0)
    assert dry["would_add_titles"] == ["Glee"]
    assert _decisions(cli.storage) == before
    assert sonarr.posts_to(EXCLUSIONS) == [] and len(posted_tvdb_ids(sonarr)) == 11
    with sqlite3.connect(cli.storage / "shows.db") as conn:  # the mirror did refresh
        assert conn.execute("SELECT title FROM shows WHERE tvmaze_id = 4").fetchone() == (
            "Arrow (renamed)",
        )

    # A dry run without Sonarr: the series it added are not reported removed.
    cli.configure(None)
    blind = cli.sync("--dry-run")
    assert (blind["removed_by_user"], blind["exists"], blind["would_add_titles"]) == (
        0,
        0,
        ["Glee"],
    )
    assert _decisions(cli.storage) == before

    cli.configure(sonarr, on_user_removal="exclude_in_sonarr")
    real = cli.sync()
    assert (real["removed_by_user"], real["added_titles"]) == (3, ["Glee"])
    assert len(sonarr.posts_to(EXCLUSIONS)) == 3
    assert _decisions(cli.storage)["filter_hash"] != before["filter_hash"]


@pytest.mark.slow
def test_without_sonarr_the_filters_still_decide_for_the_custom_list(cli: Cli) -> None:
    """No sonarr.url (Sonarr pulls the Custom List): nothing goes to Sonarr, yet the cache
    decides, or `/sonarr/list` would never have a complete list to serve."""
    cli.configure(None, filters=NO_MUSIC)
    line = cli.sync()
    assert line["dry_run"] is True and line["would_add"] == 11
    assert set(cli.statuses().values()) == {"pending", "filtered"}
    assert _decisions(cli.storage)["filter_hash"] is not None


def test_a_dry_run_against_a_new_sonarr_holds_nothing_but_says_a_real_run_would(
    cli: Cli, sonarr_sim_factory: SonarrFactory
) -> None:
    _moved_to_a_new_sonarr(cli, sonarr_sim_factory)
    before = _decisions(cli.storage)
    line = cli.sync("--dry-run", code=ExitCode.REMOVALS_HELD)
    assert (line["removals_held"], line["removed_by_user"], line["would_add"]) == (12, 0, 0)
    assert "this dry run wrote nothing" in _error_line(line["stderr"])
    assert _decisions(cli.storage) == before
    assert cli.json("removals") == [] and cli.json("state")["removals_held"] == 0


def test_state_and_metrics_show_the_held_count(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    from prometheus_client import generate_latest

    from tvmaze_sync.cycle import metrics
    from tvmaze_sync.storage.state import read_state

    clock, _, new, tvmaze = _added_then_new_sonarr(
        tmp_path, sonarr_sim_factory, tvmaze_sim_factory, SHOWS
    )
    config = make_config(tmp_path, new, tvmaze)
    text = generate_latest(metrics.build_registry(config.storage_dir)).decode()
    assert "tvmaze_sync_removals_held 0.0" in text
    cycle(config, clock)
    assert read_state(config.storage_dir)["removals_held"] == 12
    text = generate_latest(metrics.build_registry(config.storage_dir)).decode()
    assert "tvmaze_sync_removals_held 12.0" in text
    state = json.loads((config.storage_dir / "state.json").read_text(encoding="utf-8"))
    assert state["last_cycle"]["removals_held"] == 12


def test_a_cache_from_before_the_guard_reads_as_nothing_held(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    with store.atomic():
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN held_at")
        store.db.execute("PRAGMA user_version = 5")
    store.close()
    assert removals.held(config.storage_dir) == []
    readonly = store_at(config.storage_dir, readonly=True)
    try:
        assert readonly.held_removals() == []
    finally:
        readonly.close()


@pytest.mark.parametrize(("deleted", "held"), [(2, 0), (3, 3)])
def test_the_limit_is_inclusive(
    tmp_path: Path,
    sonarr_sim_factory: SonarrFactory,
    tvmaze_sim_factory: TvmazeSimFactory,
    deleted: int,
    held: int,
) -> None:
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 5)), rate_limit=None, clock=clock)
    sonarr = sonarr_sim_factory()
    config = make_config(tmp_path, sonarr, tvmaze, max_removals=2)
    cycle(config, clock)
    for tvmaze_id in range(1, deleted + 1):
        series = sonarr.series_by_tvdb(TVDB[tvmaze_id])
        assert series is not None and sonarr.delete_series(series["id"])
    clock.advance(3600)
    summary = cycle(config, clock)
    assert summary.removals_held == held
    assert summary.results.get("removed_by_user", 0) == (0 if held else deleted)


def test_deletions_that_left_an_exclusion_are_concluded_however_many(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    """Sonarr's "prevent re-add" box on delete is the user's word: no hold for those."""
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=SHOWS, rate_limit=None, clock=clock)
    sonarr = sonarr_sim_factory()
    sonarr.add_series(999_001)  # the user's own: the library is not left empty
    config = make_config(tmp_path, sonarr, tvmaze)
    cycle(config, clock)
    for tvmaze_id in range(1, 12):  # ten with an exclusion, two without
        series = sonarr.series_by_tvdb(TVDB[tvmaze_id])
        assert series is not None
        assert sonarr.delete_series(series["id"], add_exclusion=tvmaze_id != 11)
    series = sonarr.series_by_tvdb(TVDB[12])
    assert series is not None and sonarr.delete_series(series["id"])
    clock.advance(3600)
    summary = cycle(config, clock)
    assert (summary.removals_held, summary.results.get("removed_by_user")) == (0, 12)
