"""What a cron mail or a terminal gets: one summary line, nothing on --quiet, typed options
anywhere on the line, a clean Ctrl-C and a clean broken pipe. Real processes throughout."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.doubles.tvmaze_sim import load_real_shows
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import clean_env, data_dir, run_cli
from tests.helpers_store import store_at
from tests.helpers_tvmaze import UNLIMITED
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.storage.state import StateFile


def _sync(tmp_path: Path, sim_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A real `sync` against the simulator, which does not throttle: no client-side pacing."""
    env = {"TVMAZE_BASE_URL": sim_url, "TVMAZE_RATE_LIMIT": str(UNLIMITED)}
    return run_cli(tmp_path, *args, env=env, timeout=120)


def test_a_first_sync_off_a_terminal_prints_one_summary_line(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    sim = tvmaze_sim_factory(shows=load_real_shows()[:300], rate_limit=None)
    result = _sync(tmp_path, sim.url, "sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "sync_summary ok=True" in lines[0] and "duration_seconds=" in lines[0]
    assert "filtered=" in lines[0]


def test_quiet_prints_nothing_on_success(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    sim = tvmaze_sim_factory(shows=load_real_shows()[:50], rate_limit=None)
    result = _sync(tmp_path, sim.url, "sync", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_verbose_and_global_options_after_the_command(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    """`sync --log-level …` and `sync --verbose` work where people type them."""
    sim = tvmaze_sim_factory(shows=load_real_shows()[:50], rate_limit=None)
    verbose = _sync(tmp_path, sim.url, "sync", "--verbose", "--log-format", "json")
    assert verbose.returncode == 0, verbose.stderr
    assert '"event": "cycle_finished"' in verbose.stderr
    assert '"ok": true' in verbose.stderr  # typed JSON: a boolean, not "True"
    debug = _sync(tmp_path, sim.url, "sync", "--log-level", "DEBUG")
    assert debug.returncode == 0, debug.stderr
    assert " DEBUG " in debug.stderr


def test_failure_is_one_line_and_the_code(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "sync", env={"SONARR_URL": "not a url"})
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")


def test_help_shows_no_type_for_on_off_flags(tmp_path: Path) -> None:
    for args in (("--help",), ("sync", "--help"), ("refilter", "--help")):
        result = run_cli(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "<bool>" not in result.stdout, args
    assert "--quiet" in run_cli(tmp_path, "--help").stdout


def _seed_cache(tmp_path: Path, count: int = 3000) -> None:
    """A cache of `count` shows in the default storage of `clean_env(tmp_path)`."""
    from tvmaze_sync.core.models import Show
    from tvmaze_sync.storage.columns import row_from_show
    from tvmaze_sync.storage.store import prepare_storage_dir

    store = store_at(prepare_storage_dir(data_dir(tmp_path)))
    rows = [row_from_show(Show(tvmaze_id=i, title=f"Show {i}"), {"id": i}) for i in range(1, count)]
    store.upsert_shows(rows, "2025-01-01T00:00:00Z")
    store.close()


@pytest.mark.parametrize(
    "args",
    [
        ("shows", "--format", "csv", "--limit", "3000"),
        ("shows", "--limit", "3000"),  # the rich table: rich itself would exit 1
        ("shows", "--format", "json", "--limit", "3000"),
        ("config", "check"),
        ("state",),
    ],
)
def test_a_closed_pipe_exits_0_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`tvmaze-sync shows | head -1`: the reader leaving early is not a failed cycle, in
    every format (under `set -o pipefail` a cron job would report a failure)."""
    _seed_cache(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "tvmaze_sync", *args],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # like `head -1`
    code = process.wait(timeout=60)
    err = process.stderr.read().decode()
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [("shows",), ("shows", "--format", "json"), ("shows", "--format", "csv"), ("config", "check")],
)
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """`tvmaze-sync shows > /dev/full`: a full disk is foreseeable, not an unexpected error."""
    _seed_cache(tmp_path, 50)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "tvmaze_sync", *args],
            env=clean_env(tmp_path),
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr == "error: cannot write the output: No space left on device\n"


def test_ctrl_c_says_interrupted_and_state_records_it(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    sim = tvmaze_sim_factory(rate_limit=None, slow_rate=1.0, slow_seconds=5.0)
    process = subprocess.Popen(
        [sys.executable, "-m", "tvmaze_sync", "sync"],
        env=clean_env(tmp_path, {"TVMAZE_BASE_URL": sim.url}),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = data_dir(tmp_path) / "shows.db"
    deadline = time.monotonic() + 30
    while not lock.exists() and time.monotonic() < deadline:  # the cycle has started
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err
    last = StateFile(data_dir(tmp_path)).load().last_cycle
    assert last["ok"] is False and last["error"] == "interrupted"
