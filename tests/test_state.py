"""state.json: atomic saves, a backup only on request, and recovery from every corruption."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers_store import store_at
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.storage.state import State, StateFile, read_state

STATE_LOGGER = "tvmaze_sync.storage.state"

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_field = st.sampled_from([f for f in State().to_json()] + ["other"])

GOOD = State(
    last_full_sync="2025-01-15T10:30:00Z",
    last_tvmaze_page=280,
    highest_tvmaze_id=70123,
    last_filter_hash="a1b2c3d4e5f6",
    initial_sync_complete=True,
    last_cycle={"ok": True, "results": {"added": 2}},
)
OLDER = State(last_tvmaze_page=12, highest_tvmaze_id=3000)

CORRUPTIONS = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "garbage": lambda good: bytes(range(256)) * 4,
    "nul_bytes": lambda good: b"\x00" * 64,
    "deeply_nested": lambda good: b"[" * 100_000,
    "not_an_object": lambda good: b'["last_tvmaze_page", 3]',
    "wrong_type_int": lambda good: json.dumps({"last_tvmaze_page": "280"}).encode(),
    "float_for_int": lambda good: json.dumps({"highest_tvmaze_id": 1.5}).encode(),
    "bool_for_int": lambda good: json.dumps({"last_tvmaze_page": True}).encode(),
    "wrong_type_bool": lambda good: json.dumps({"initial_sync_complete": "yes"}).encode(),
    "wrong_type_str": lambda good: json.dumps({"last_full_sync": 12345}).encode(),
    "wrong_type_dict": lambda good: json.dumps({"last_cycle": []}).encode(),
}


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split()[0] for r in caplog.records if r.name == STATE_LOGGER]


@pytest.fixture
def files(tmp_path: Path) -> StateFile:
    return StateFile(tmp_path)


def test_missing_file_is_a_fresh_state_silently(
    files: StateFile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert files.load() == State()
    assert _events(caplog) == []
    assert not files.path.exists()  # loading never writes


def test_save_then_load_round_trips_without_leaving_a_tmp(files: StateFile) -> None:
    files.save(GOOD)
    assert files.load() == GOOD
    assert not files.tmp.exists()
    assert not files.bak.exists()  # only backup() writes the .bak
    assert json.loads(files.path.read_text(encoding="utf-8"))["last_tvmaze_page"] == 280
    files.save(OLDER)
    assert files.load() == OLDER
    assert sorted(p.name for p in files.path.parent.iterdir()) == ["state.json"]


def test_backup_writes_only_the_bak(files: StateFile) -> None:
    files.save(OLDER)
    files.backup(GOOD)
    assert files.load() == OLDER
    assert json.loads(files.bak.read_text(encoding="utf-8"))["highest_tvmaze_id"] == 70123
    assert not files.tmp.exists()


def test_unknown_keys_are_ignored(files: StateFile) -> None:
    files.path.write_text(json.dumps({**GOOD.to_json(), "from_the_future": 1}), encoding="utf-8")
    assert files.load() == GOOD


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_state_with_a_good_backup_is_restored(
    files: StateFile, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    files.save(OLDER)
    files.backup(GOOD)
    files.path.write_bytes(CORRUPTIONS[kind](files.path.read_bytes()))
    caplog.set_level(logging.INFO)
    assert files.load() == GOOD
    assert _events(caplog) == ["state_corrupt", "state_restored_from_backup"]
    assert str(files.path) in caplog.records[0].getMessage()


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_both_corrupt_starts_fresh_and_says_so(
    files: StateFile, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    files.save(GOOD)
    files.backup(GOOD)
    corrupt = CORRUPTIONS[kind](files.path.read_bytes())
    files.path.write_bytes(corrupt)
    files.bak.write_bytes(corrupt)
    caplog.set_level(logging.INFO)
    assert files.load() == State()
    assert _events(caplog) == ["state_corrupt", "state_corrupt", "state_reset"]
    assert all(r.levelno == logging.ERROR for r in caplog.records if r.name.endswith("state"))


def test_missing_state_with_a_backup_uses_the_backup(
    files: StateFile, caplog: pytest.LogCaptureFixture
) -> None:
    files.backup(GOOD)
    caplog.set_level(logging.INFO)
    assert files.load() == GOOD
    assert _events(caplog) == ["state_missing", "state_restored_from_backup"]


def test_corrupt_state_without_a_backup_starts_fresh(
    files: StateFile, caplog: pytest.LogCaptureFixture
) -> None:
    files.path.write_text("{", encoding="utf-8")
    caplog.set_level(logging.INFO)
    assert files.load() == State()
    assert _events(caplog) == ["state_corrupt", "state_reset"]


def test_a_recovered_state_is_saved_whole_next_time(files: StateFile) -> None:
    files.backup(GOOD)
    files.path.write_text('{"last_tvmaze_page": ', encoding="utf-8")
    state = files.load()
    state.last_tvmaze_page = 281
    files.save(state)
    reloaded = files.load()
    assert reloaded.last_tvmaze_page == 281 and reloaded.highest_tvmaze_id == 70123


def test_a_stale_tmp_from_a_killed_write_is_harmless(files: StateFile) -> None:
    files.save(GOOD)
    files.tmp.write_text('{"last_tvmaze_page": 9', encoding="utf-8")  # died mid-write
    assert files.load() == GOOD
    files.save(OLDER)
    assert files.load() == OLDER and not files.tmp.exists()


def test_unwritable_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StorageError, match="cannot write"):
        StateFile(tmp_path / "file").save(GOOD)


def test_unreadable_state_is_a_storage_error(files: StateFile) -> None:
    files.path.mkdir()  # a directory where the file should be
    with pytest.raises(StorageError, match="cannot read"):
        files.load()


def test_a_fifo_in_place_of_the_state_is_refused_without_waiting(files: StateFile) -> None:
    os.mkfifo(files.path)
    with pytest.raises(StorageError, match="is not a regular file"):
        files.load()


def test_save_replaces_atomically(files: StateFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that dies before the rename leaves the previous state.json untouched."""
    files.save(OLDER)

    def die(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", die)
    with pytest.raises(StorageError, match="No space left on device"):
        files.save(GOOD)
    monkeypatch.undo()
    assert files.load() == OLDER


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.one_of(_json, st.dictionaries(_field, _json, max_size=5)),
    raw=st.binary(max_size=40),
)
def test_any_file_contents_load_as_a_state(tmp_path: Path, document: object, raw: bytes) -> None:
    """Whatever is on disk, load() returns a State (a good one or a fresh one), never raises."""
    files = StateFile(tmp_path)
    files.path.write_text(json.dumps(document), encoding="utf-8")
    files.bak.write_bytes(raw)
    state = files.load()
    assert isinstance(state, State)
    json.dumps(state.to_json())  # and it can be saved again


def test_read_state_answers_on_a_read_only_file_system(tmp_path: Path) -> None:
    """`tvmaze-sync state` on a read-only mount: nothing can be written, all is read."""
    from tests.helpers_faults import remount, tmpfs
    from tvmaze_sync.storage.state import read_state

    with tmpfs(tmp_path / "mnt", "16m") as mount:
        if isinstance(mount, str):
            pytest.skip(mount)
        storage = mount / "data"
        storage.mkdir()
        store = store_at(storage)
        store.db.table("shows").insert_all(
            {"tvmaze_id": i, "title": f"Show {i}", "last_checked": "now"} for i in range(1, 4)
        )
        store.close()
        StateFile(storage).save(GOOD)
        files = sorted(p.name for p in storage.iterdir())
        remount(mount, "ro")
        try:
            shown = read_state(storage)
        finally:
            remount(mount, "rw")
        assert shown["state"] == GOOD.to_json()
        assert shown["shows"]["total"] == 3 and shown["shows"]["by_status"]["pending"] == 3
        assert sorted(p.name for p in storage.iterdir()) == files


@pytest.mark.parametrize(
    "key", ["last_full_sync", "last_incremental_sync", "last_updates_check", "last_census"]
)
def test_a_time_that_does_not_parse_makes_the_state_corrupt(tmp_path: Path, key: str) -> None:
    """Code parses these times; a bad one must fall back to .bak, not crash every sync."""
    good = State(last_census="2026-01-01T00:00:00Z", highest_tvmaze_id=7)
    files = StateFile(tmp_path)
    files.save(good)
    files.backup(good)
    data = json.loads(files.path.read_text(encoding="utf-8"))
    data[key] = "not a time"
    files.path.write_text(json.dumps(data), encoding="utf-8")
    assert files.load() == good


def test_a_cycle_summary_keeps_counts_but_bounded_titles_in_state(tmp_path: Path) -> None:
    """A first run can match thousands of shows; state.json stays small all the same."""
    from tvmaze_sync.core.models import TITLES_KEPT, CycleSummary

    titles = [f"Show {n}" for n in range(TITLES_KEPT * 40)]
    summary = CycleSummary(started_at="2026-01-01T00:00:00Z", added_titles=titles[:3])
    summary.would_add_titles = titles
    kept = summary.to_state()
    assert kept["would_add_count"] == len(titles) and kept["added_count"] == 3
    assert kept["would_add_titles"] == titles[:TITLES_KEPT]
    assert kept["added_titles"] == titles[:3]
    files = StateFile(tmp_path)
    files.save(State(last_cycle=kept))
    assert files.path.stat().st_size < 10_000
    assert files.load().last_cycle == kept


def test_read_state_refuses_a_storage_path_that_is_a_file(tmp_path: Path) -> None:
    """As sync does: a file where the storage directory should be is exit 2, not a blank state."""
    storage = tmp_path / "storage"
    storage.write_text("not a directory", encoding="utf-8")
    with pytest.raises(StorageError, match=r"storage\.path: .*storage is not a directory"):
        read_state(storage)
