"""No symbolic link is followed in the storage directory (issue #14).

A link planted where the lock, state.json, shows.db or the HTTP cache lives must stop the
run with exit 2 and a message naming it, and the file it points to must be left exactly as
it was. The storage directory itself may be a link (a NAS mount): that still syncs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.helpers_metrics import write_config
from tests.helpers_store import store_at
from tests.helpers_tvmaze import compact_real_shows
from tvmaze_sync.core.errors import ExitCode, StorageError
from tvmaze_sync.storage.lock import LOCK_NAME, writer_lock
from tvmaze_sync.storage.state import STATE_NAME, State, StateFile
from tvmaze_sync.storage.store import DB_NAME
from tvmaze_sync.tvmaze.client import CACHE_NAME

PRECIOUS = "someone else's file: must never change\n"
LINKED = [
    LOCK_NAME,
    STATE_NAME,
    STATE_NAME + ".bak",
    DB_NAME,
    DB_NAME + "-wal",
    DB_NAME + "-shm",
    CACHE_NAME,
    CACHE_NAME + "-wal",
]


@pytest.fixture
def sim_url(tvmaze_sim_factory: TvmazeSimFactory) -> str:
    return tvmaze_sim_factory(shows=compact_real_shows()[:300], rate_limit=None).url


@pytest.mark.parametrize("name", LINKED)
def test_sync_refuses_a_link_in_storage(tmp_path: Path, sim_url: str, name: str) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    target = tmp_path / "elsewhere" / "victim.txt"
    target.parent.mkdir()
    target.write_text(PRECIOUS, encoding="utf-8")
    before = target.stat()
    (storage / name).symlink_to(target)
    config = write_config(tmp_path / "config.yaml", storage, sim_url)

    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run")

    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"{storage / name} is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text(encoding="utf-8") == PRECIOUS
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert os.listdir(target.parent) == ["victim.txt"]  # no -wal/-shm beside the target
    assert (storage / name).is_symlink()  # refused, not "repaired"


@pytest.mark.parametrize("name", [LOCK_NAME, STATE_NAME, DB_NAME, CACHE_NAME])
def test_a_dangling_link_creates_nothing(tmp_path: Path, sim_url: str, name: str) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    target = tmp_path / "elsewhere" / "new-file"
    target.parent.mkdir()
    (storage / name).symlink_to(target)
    config = write_config(tmp_path / "config.yaml", storage, sim_url)

    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run")

    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "is a symbolic link" in result.stderr
    assert os.listdir(target.parent) == []


def test_read_only_commands_refuse_a_linked_database(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    target = tmp_path / "victim.db"
    target.write_text(PRECIOUS, encoding="utf-8")
    (storage / DB_NAME).symlink_to(target)
    config = write_config(tmp_path / "config.yaml", storage, "http://127.0.0.1:9")

    result = run_cli(tmp_path, "--config", str(config), "state")

    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"{storage / DB_NAME} is a symbolic link" in result.stderr
    assert target.read_text(encoding="utf-8") == PRECIOUS


def test_a_linked_storage_directory_is_an_ordinary_setup(tmp_path: Path, sim_url: str) -> None:
    """Only files inside are refused: the directory may live elsewhere (a NAS mount)."""
    real = tmp_path / "nas" / "tvmaze-sync"
    real.mkdir(parents=True)
    storage = tmp_path / "storage"
    storage.symlink_to(real, target_is_directory=True)
    config = write_config(tmp_path / "config.yaml", storage, sim_url)

    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run")

    assert result.returncode == ExitCode.OK, result.stderr
    assert {DB_NAME, STATE_NAME, LOCK_NAME} <= set(os.listdir(real))


def test_a_hard_linked_lock_is_refused(tmp_path: Path) -> None:
    """The lock file is rewritten in place, so a second name for it is refused too."""
    target = tmp_path / "victim.txt"
    target.write_text(PRECIOUS, encoding="utf-8")
    storage = tmp_path / "storage"
    storage.mkdir()
    os.link(target, storage / LOCK_NAME)
    with pytest.raises(StorageError, match="not a plain file of its own"), writer_lock(storage):
        pass
    assert target.read_text(encoding="utf-8") == PRECIOUS


def test_state_tmp_link_is_replaced_not_followed(tmp_path: Path) -> None:
    """state.json.tmp is ours alone: a link there is removed, its target untouched."""
    target = tmp_path / "victim.txt"
    target.write_text(PRECIOUS, encoding="utf-8")
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / (STATE_NAME + ".tmp")).symlink_to(target)
    StateFile(storage).save(State(last_tvmaze_page=3))
    assert StateFile(storage).load().last_tvmaze_page == 3
    assert target.read_text(encoding="utf-8") == PRECIOUS


def test_store_open_refuses_before_sqlite_touches_the_target(tmp_path: Path) -> None:
    target = tmp_path / "victim.db"
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / DB_NAME).symlink_to(target)
    with pytest.raises(StorageError, match="is a symbolic link"):
        store_at(storage)
    assert not target.exists()


# --- not a regular file: a FIFO would wait forever, a directory is not ours (F6) ---------------


@pytest.mark.parametrize("name", [STATE_NAME, STATE_NAME + ".bak", DB_NAME, DB_NAME + "-wal"])
def test_sync_refuses_a_fifo_in_storage_without_waiting(
    tmp_path: Path, sim_url: str, name: str
) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    os.mkfifo(storage / name)
    config = write_config(tmp_path / "config.yaml", storage, sim_url)

    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run", timeout=30)

    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"{storage / name} is not a regular file" in result.stderr
    assert "Traceback" not in result.stderr
    assert stat.S_ISFIFO(os.lstat(storage / name).st_mode)  # refused, not replaced
    # The lock is released: the next run says the same, it does not exit 75.
    again = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run", timeout=30)
    assert again.returncode == ExitCode.USAGE, again.stderr


@pytest.mark.parametrize("command", [("state",), ("shows",), ("explain", "1")])
@pytest.mark.parametrize("name", [DB_NAME, STATE_NAME])
def test_read_only_commands_refuse_a_fifo_without_waiting(
    tmp_path: Path, name: str, command: tuple[str, ...]
) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    os.mkfifo(storage / name)
    config = write_config(tmp_path / "config.yaml", storage, "http://127.0.0.1:9")

    result = run_cli(tmp_path, "--config", str(config), *command, timeout=30)

    if name == STATE_NAME and command[0] != "state":
        return  # `shows` and `explain` read only the database; they must just not hang
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"{storage / name} is not a regular file" in result.stderr


def test_a_directory_in_place_of_the_database_is_refused(tmp_path: Path, sim_url: str) -> None:
    storage = tmp_path / "storage"
    (storage / DB_NAME).mkdir(parents=True)
    config = write_config(tmp_path / "config.yaml", storage, sim_url)
    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run")
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"cannot use {storage / DB_NAME}" in result.stderr
    assert (storage / DB_NAME).is_dir() and not any((storage / DB_NAME).iterdir())
