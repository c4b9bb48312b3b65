"""One writer at a time: a second one exits 75 at once; a killed holder frees the lock."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_cli import clean_env, data_dir, run_cli
from tests.helpers_store import store_at
from tvmaze_sync.core.errors import ExitCode, LockHeld
from tvmaze_sync.storage.lock import LOCK_NAME, writer_lock
from tvmaze_sync.storage.store import prepare_storage_dir

HOLDER = """
import sys, time
from pathlib import Path
from tvmaze_sync.storage.lock import writer_lock
with writer_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock on the default storage path."""
    storage = prepare_storage_dir(data_dir(tmp_path))
    store_at(storage).close()  # a cache for the read-only commands to read
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(storage)],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path),
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_second_writer_in_process_gets_lock_held(tmp_path: Path) -> None:
    with writer_lock(tmp_path) as path:
        assert path == tmp_path / LOCK_NAME
        with (
            pytest.raises(LockHeld, match=f"another tvmaze-sync run holds {path}"),
            writer_lock(tmp_path),
        ):
            pass
    with writer_lock(tmp_path):  # released on exit
        pass


def test_sync_exits_75_at_once_while_another_run_holds_the_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    result = run_cli(tmp_path, "sync")
    assert result.returncode == ExitCode.LOCKED == 75, result.stderr
    assert time.monotonic() - started < 20  # no waiting for the lock
    lock = data_dir(tmp_path) / LOCK_NAME
    assert result.stderr.strip() == f"error: another tvmaze-sync run holds {lock}"
    assert result.stdout == ""


def test_read_only_commands_do_not_block_on_the_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    state = run_cli(tmp_path, "state", "--format", "json")
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout)["shows"]["total"] == 0
    shows = run_cli(tmp_path, "shows", "--format", "json")
    assert shows.returncode == 0, shows.stderr
    assert json.loads(shows.stdout) == []


def test_lock_is_free_after_the_holder_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    storage = data_dir(tmp_path)
    with pytest.raises(LockHeld), writer_lock(storage):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    assert (storage / LOCK_NAME).exists()  # the file stays; the kernel dropped the lock
    with writer_lock(storage):
        pass
