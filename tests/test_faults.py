"""Fault suite, part one: racing processes, corrupt state files, broken storage.

Every test here drives the real cycle against the simulators over real sockets; where the
exit code is the contract (the lock, storage errors) it runs the real CLI as a process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.helpers_faults import (
    UNLIMITED,
    assert_one_line_error,
    cached_ids,
    db_snapshot,
    duplicate_adds,
    integrity_problems,
    remount,
    run_sync,
    snapshot_diff,
    spawn_sync,
    strict_state,
    tmpfs,
    write_config,
)
from tests.helpers_tvmaze import FakeClock, compact_real_shows, mismatches
from tvmaze_sync.core.config import Config, build_config
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.cycle.run import run_cycle
from tvmaze_sync.storage.state import STATE_NAME, State
from tvmaze_sync.storage.store import DB_NAME

STATE_LOGGER = "tvmaze_sync.storage.state"

pytestmark = pytest.mark.faults

DAY = 86_400
#: Two index pages of real shows: enough for adds, filtered shows and pending_tvdb alike.
SHOWS = 400


def _shows(n: int = SHOWS) -> list[dict[str, Any]]:
    return compact_real_shows()[:n]


def _new_shows(first: int, n: int) -> list[dict[str, Any]]:
    """Real shapes with ids after the cached ones and no `updated`, so the simulator stamps
    them with its clock (a show TVMaze just added is in the updates map)."""
    shows = compact_real_shows()[first : first + n]
    for show in shows:
        show.pop("updated", None)
    return shows


# --- two processes at once --------------------------------------------------------------------


def test_two_syncs_started_together_one_runs_and_the_other_exits_75(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim: SonarrSimulator
) -> None:
    tvmaze = tvmaze_sim_factory(shows=_shows(), rate_limit=None)
    # Whichever process wins the lock is held 4 s at its first Sonarr call: long past the
    # other's start-up, however loaded the machine.
    sonarr_sim.delay_next(1, seconds=4.0, path_prefix="/api/v3/system/status")
    storage = tmp_path / "data"
    config = write_config(tmp_path / "config.yaml", storage, tvmaze, sonarr_sim)

    procs = [spawn_sync(tmp_path, config, log=tmp_path / f"sync{i}.log") for i in range(2)]
    codes = [proc.wait(timeout=120) for proc in procs]

    assert sorted(codes) == [0, 75], codes
    loser = (tmp_path / f"sync{codes.index(75)}.log").read_text()
    assert_one_line_error(loser, "another tvmaze-sync run holds", "tvmaze-sync.lock")
    # The loser stopped at the lock: it never reached Sonarr, so exactly one cycle ran.
    assert len(sonarr_sim.requests_to("/api/v3/system/status")) == 1
    assert mismatches(tvmaze, storage) == []
    assert duplicate_adds(sonarr_sim) == {}
    assert strict_state(storage / STATE_NAME).last_cycle["ok"] is True


# --- every corruption of state.json and its backup ------------------------------------------------

KINDS = ("good", "missing", "truncated", "garbage", "wrong_types", "wrong_values")


def _damage(kind: str, good: bytes) -> bytes | None:
    """The file's bytes for `kind` (None: no file)."""
    data = json.loads(good)
    if kind == "good":
        return good
    if kind == "missing":
        return None
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "garbage":
        return bytes(range(256)) * 3
    if kind == "wrong_types":  # well-formed JSON, every known key of the wrong type
        wrong = {
            "last_full_sync": 1_700_000_000,
            "last_incremental_sync": ["never"],
            "last_tvmaze_page": "1",
            "highest_tvmaze_id": 400.5,
            "last_filter_hash": False,
            "last_updates_check": {"at": 1},
            "initial_sync_complete": "yes",
            "last_cycle": [],
        }
        return json.dumps({**data, **wrong}).encode()
    if kind == "wrong_values":  # the right types, values no cycle could have written
        wrong = {
            "last_updates_check": "yesterday",
            "last_tvmaze_page": -3,
            "last_cycle": {**data["last_cycle"], "started_at": "not a time"},
        }
        return json.dumps({**data, **wrong}).encode()
    raise AssertionError(kind)


def expected_recovery(state_kind: str, bak_kind: str) -> list[str]:
    """storage/state.py's log events for this pair, in order: state.json, else its backup
    state.json.bak, else a new state (StateFile.load), each step logged."""
    if state_kind == "good" or (state_kind == "missing" and bak_kind == "missing"):
        return []
    first = ["state_missing"] if state_kind == "missing" else ["state_corrupt"]
    if bak_kind == "good":
        return [*first, "state_restored_from_backup"]
    if bak_kind == "missing":
        return [*first, "state_reset"]
    return [*first, "state_corrupt", "state_reset"]


@dataclass
class Template:
    """The storage directory a completed cycle left, and what is needed to continue it."""

    storage: Path
    tvmaze: TvmazeSimulator
    library: list[int]  # tvdb ids in Sonarr, in series-id order
    snapshot: dict[str, Any]
    state: State
    clock: float


def _cycle_config(storage: Path, tvmaze: TvmazeSimulator, sonarr: SonarrSimulator) -> Config:
    return build_config(
        {
            "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
            "sonarr": {
                "url": sonarr.url,
                "api_key": SONARR_API_KEY,
                "add_interval": "0s",  # no pause between adds, and no add budget: the
                "max_adds_per_cycle": 0,  # suite compares with a cycle that adds everything
            },
            "storage": {"path": str(storage)},
        },
        env={},
    )


def _sonarr(**kwargs: Any) -> SonarrSimulator:
    return SonarrSimulator(
        api_key=SONARR_API_KEY,
        root_folders=["/tv"],
        quality_profiles=[{"id": 1, "name": "Any"}, {"id": 4, "name": "HD-1080p"}],
        tags=["auto-sync"],
        **kwargs,
    ).start()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """One real cycle (TVMaze and Sonarr), done once for every combination below."""
    storage = tmp_path_factory.mktemp("template") / "data"
    tvmaze = TvmazeSimulator(_shows(), rate_limit=None).start()
    sonarr = _sonarr()
    try:
        clock = FakeClock()
        summary = run_cycle(
            CycleContext(_cycle_config(storage, tvmaze, sonarr), clock=clock, sleep=clock.sleep)
        )
        assert summary.ok and summary.added_titles, summary
        library = [s["tvdbId"] for s in sorted(sonarr.library(), key=lambda s: s["id"])]
        state = strict_state(storage / STATE_NAME)
        yield Template(storage, tvmaze, library, db_snapshot(storage), state, clock())
    finally:
        sonarr.stop()
        tvmaze.stop()


def _write(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(content)


@pytest.mark.parametrize("bak_kind", KINDS)
@pytest.mark.parametrize("state_kind", KINDS)
def test_every_corruption_of_state_and_backup_recovers_and_the_cycle_ends_correct(
    state_kind: str,
    bak_kind: str,
    template: Template,
    tmp_path: Path,
    sonarr_sim_factory: SonarrFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = tmp_path / "data"
    shutil.copytree(template.storage, storage)
    good = (template.storage / STATE_NAME).read_bytes()
    _write(storage / STATE_NAME, _damage(state_kind, good))
    _write(storage / (STATE_NAME + ".bak"), _damage(bak_kind, good))
    # The same Sonarr library, series ids included, as the template's cycle left it.
    sonarr = sonarr_sim_factory(series=[{"tvdbId": tvdb} for tvdb in template.library])
    caplog.set_level(logging.INFO, logger="tvmaze_sync")

    clock = FakeClock(template.clock + DAY)
    config = _cycle_config(storage, template.tvmaze, sonarr)
    summary = run_cycle(CycleContext(config, clock=clock, sleep=clock.sleep))

    events = [r.getMessage().split()[0] for r in caplog.records if r.name == STATE_LOGGER]
    assert events == expected_recovery(state_kind, bak_kind)
    kept_cursors = state_kind == "good" or bak_kind == "good"
    assert summary.ok
    assert summary.mode == ("incremental" if kept_cursors else "full"), summary
    # Ends correct: the mirror is TVMaze's data, every decision and Sonarr fact is the
    # template's (a lost state never re-adds or forgets anything), nothing posted twice.
    assert mismatches(template.tvmaze, storage) == []
    assert snapshot_diff(db_snapshot(storage), template.snapshot) == []
    assert sonarr.requests_to("/api/v3/series", "POST") == []
    # Both files are whole again, and hold the cursors of a completed sync.
    for name in (STATE_NAME, STATE_NAME + ".bak"):
        state = strict_state(storage / name)
        assert state.initial_sync_complete and state.last_tvmaze_page is None
        assert state.last_filter_hash == template.state.last_filter_hash
        assert state.highest_tvmaze_id == template.state.highest_tvmaze_id


def test_both_state_files_corrupt_through_the_real_cli_logs_the_reset_and_exits_0(
    template: Template, tmp_path: Path, sonarr_sim_factory: SonarrFactory
) -> None:
    storage = tmp_path / "data"
    shutil.copytree(template.storage, storage)
    good = (template.storage / STATE_NAME).read_bytes()
    _write(storage / STATE_NAME, _damage("truncated", good))
    _write(storage / (STATE_NAME + ".bak"), _damage("garbage", good))
    sonarr = sonarr_sim_factory(series=[{"tvdbId": tvdb} for tvdb in template.library])
    config = write_config(tmp_path / "config.yaml", storage, template.tvmaze, sonarr)

    result = run_sync(tmp_path, config)

    assert result.returncode == 0, result.stderr
    events = [line.split()[2] for line in result.stderr.splitlines() if "state_" in line]
    assert events == ["state_corrupt", "state_corrupt", "state_reset"], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot_diff(db_snapshot(storage), template.snapshot) == []
    assert sonarr.requests_to("/api/v3/series", "POST") == []


# --- storage: read-only, full -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A storage directory after one dry-run cycle over SHOWS real shows."""
    storage = tmp_path_factory.mktemp("cache") / "data"
    with TvmazeSimulator(_shows(), rate_limit=None) as tvmaze:
        config = build_config(
            {
                "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
                "storage": {"path": str(storage)},
            },
            env={},
        )
        assert run_cycle(CycleContext(config)).ok
    yield storage


def _digest(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


def _grown_tvmaze(factory: TvmazeSimFactory) -> TvmazeSimulator:
    """The cached shows plus 150 TVMaze added since: a writing cycle is due."""
    sim = factory(shows=_shows(), rate_limit=None)
    for show in _new_shows(SHOWS, 150):
        sim.add_show(show)
    return sim


def _assert_not_corrupted(storage: Path, template: Path) -> None:
    """The database is sound and still holds every row of the template; the state loads."""
    assert integrity_problems(storage) == []
    assert cached_ids(template) <= cached_ids(storage)
    strict_state(storage / STATE_NAME)
    strict_state(storage / (STATE_NAME + ".bak"))


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", "64m") as mounted:
        if isinstance(mounted, str):
            print(f"SKIPPED: {mounted}")
            pytest.skip(mounted)
        yield mounted


def test_read_only_storage_is_a_clear_exit_2_and_changes_nothing(
    tmp_path: Path,
    mount_point: Path,
    cache_template: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
) -> None:
    storage = mount_point / "data"
    shutil.copytree(cache_template, storage)
    tvmaze = _grown_tvmaze(tvmaze_sim_factory)
    config = write_config(tmp_path / "config.yaml", storage, tvmaze)
    before = _digest(storage)
    remount(mount_point, "ro")
    try:
        result = run_sync(tmp_path, config)
        assert result.returncode == 2, result.stderr
        assert_one_line_error(result.stderr, str(storage), "not writable")
        # The read-only commands answer, or fail as cleanly.
        for args in (["state", "--format", "json"], ["shows", "--limit", "3"]):
            shown = run_cli(tmp_path, "--config", str(config), *args)
            assert shown.returncode in (0, 2), shown.stderr
            if shown.returncode:
                assert_one_line_error(shown.stderr, str(storage))
        assert _digest(storage) == before
    finally:
        remount(mount_point, "rw")
    _assert_not_corrupted(storage, cache_template)
    # Writable again: the next run catches up completely.
    result = run_sync(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert mismatches(tvmaze, storage) == []


def test_storage_path_under_a_regular_file_is_a_clear_exit_2(
    tmp_path: Path, tvmaze_sim: TvmazeSimulator
) -> None:
    """Where no mount can be made, the other way a path cannot be written (works as root)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage path expects a directory\n")
    config = write_config(tmp_path / "config.yaml", blocker / "data", tvmaze_sim)
    result = run_sync(tmp_path, config)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, str(blocker / "data"), "cannot create")
    assert blocker.read_text().startswith("a file where")


def _fill(mount: Path, leave: int) -> Path:
    """Fill the file system with one file, then give back `leave` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 512):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", "8m") as mounted:
        if isinstance(mounted, str):
            print(f"SKIPPED: {mounted}")
            pytest.skip(mounted)
        yield mounted


# 0: full before the run starts; 64 KiB: SQLite runs out mid-cycle; 1 MiB: the database
# fits, the state file does not.
@pytest.mark.parametrize("leave", [0, 64 * 1024, 1024 * 1024], ids=["full", "64k", "1m"])
def test_full_disk_is_a_clear_error_corrupts_nothing_and_the_next_run_catches_up(
    leave: int,
    tmp_path: Path,
    small_mount: Path,
    cache_template: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
) -> None:
    storage = small_mount / "data"
    shutil.copytree(cache_template, storage)
    tvmaze = _grown_tvmaze(tvmaze_sim_factory)
    config = write_config(tmp_path / "config.yaml", storage, tvmaze)
    filler = _fill(small_mount, leave)

    result = run_sync(tmp_path, config)

    assert result.returncode in (1, 2), result.stderr
    assert_one_line_error(result.stderr, str(storage))
    strict_state(storage / STATE_NAME)  # still whole while the disk is full
    filler.unlink()
    _assert_not_corrupted(storage, cache_template)
    result = run_sync(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert mismatches(tvmaze, storage) == []
    assert integrity_problems(storage) == []
    assert (storage / DB_NAME).exists()


def test_read_only_storage_still_answers_the_read_only_commands(
    tmp_path: Path,
    mount_point: Path,
    cache_template: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
) -> None:
    """A read-only mount (a backup, a `:ro` volume): `sync` names the cause, exit 2; `state`
    and `shows` answer from the cache as if it were writable, and create no file."""
    storage = mount_point / "data"
    shutil.copytree(cache_template, storage)
    config = write_config(tmp_path / "config.yaml", storage, _grown_tvmaze(tvmaze_sim_factory))
    total = len(cached_ids(storage))
    before = _digest(storage)
    remount(mount_point, "ro")
    try:
        result = run_sync(tmp_path, config)
        assert result.returncode == 2, result.stderr
        assert_one_line_error(result.stderr, str(storage), "read-only file system")

        shown = run_cli(tmp_path, "--config", str(config), "state", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        state = json.loads(shown.stdout)
        assert state["shows"]["total"] == total > 0
        assert state["state"]["initial_sync_complete"] is True
        listed = run_cli(
            tmp_path, "--config", str(config), "shows", "--limit", "3", "--format", "json"
        )
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 3
        assert _digest(storage) == before
    finally:
        remount(mount_point, "rw")


def test_full_disk_at_start_up_says_the_disk_is_full_and_names_the_path(
    tmp_path: Path, small_mount: Path, cache_template: Path, tvmaze_sim: TvmazeSimulator
) -> None:
    """SQLite must create its -shm file first, and says only "disk I/O error" when it cannot."""
    # A read-only look at the template leaves an empty -wal and a -shm behind: not copied.
    wal = cache_template / f"{DB_NAME}-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    storage = small_mount / "data"
    shutil.copytree(cache_template, storage, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    config = write_config(tmp_path / "config.yaml", storage, tvmaze_sim)
    filler = _fill(small_mount, 0)
    try:
        result = run_sync(tmp_path, config)
    finally:
        filler.unlink()
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, str(storage / DB_NAME), "the disk is full")
    _assert_not_corrupted(storage, cache_template)
