"""The SQLite cache: migrations, pragmas, upserts that keep processing state, clear errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from tests.helpers_cli import run_cli
from tests.helpers_store import store_at
from tvmaze_sync.core.errors import ExitCode, StorageError
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.storage import store as store_module
from tvmaze_sync.storage.columns import row_from_show, show_from_row
from tvmaze_sync.storage.store import DB_NAME, SCHEMA_VERSION, Store, prepare_storage_dir

SPEC_INDEXES = {
    "idx_processing_status",
    "idx_tvdb_id",
    "idx_language",
    "idx_country",
    "idx_type",
    "idx_premiered",
    "idx_retry_after",
    "idx_tvmaze_updated_at",
}


def make_show(tvmaze_id: int, title: str = "Show", **changes: object) -> Show:
    fields: dict[str, object] = {
        "tvmaze_id": tvmaze_id,
        "title": title,
        "tvdb_id": 1000 + tvmaze_id,
        "imdb_id": f"tt{tvmaze_id:07d}",
        "language": "English",
        "country": "US",
        "type": "Scripted",
        "status": "Running",
        "premiered": "2015-03-04",
        "ended": None,
        "network": "HBO",
        "web_channel": None,
        "genres": ("Drama", "Crime"),
        "runtime": 60,
        "rating": 8.1,
        "updated": 1_700_000_000 + tvmaze_id,
    }
    fields.update(changes)
    return Show(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = store_at(tmp_path)
    yield opened
    opened.close()


def pragma(store: Store, name: str) -> object:
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def test_empty_directory_is_migrated_to_the_current_schema(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION == len(store_module.MIGRATIONS)
    assert pragma(store, "user_version") == SCHEMA_VERSION
    assert set(store.db.table_names()) >= {"shows", "counters", "sonarr_ledger"}
    columns = store.db.table("shows").columns_dict
    for column in ("tvmaze_id", "title", "processing_status", "last_checked", "raw", "rating"):
        assert column in columns
    assert {index.name for index in store.db.table("shows").indexes} >= SPEC_INDEXES
    assert store.db.table("shows").pks == ["tvmaze_id"]


def test_pragmas(store: Store) -> None:
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "foreign_keys") == 1
    assert int(pragma(store, "busy_timeout")) >= 5000  # type: ignore[call-overload]
    assert not store.db.conn.in_transaction


def _v1_database(path: Path) -> None:
    """A shows.db as the first release left it: migration 1 only, rows in it."""
    db = sqlite_utils.Database(path)
    with db.atomic():
        store_module.MIGRATIONS[0](db)
        db.execute("PRAGMA user_version = 1")
    db.table("shows").insert_all(
        [
            {
                "tvmaze_id": 1,
                "title": "Under the Dome",
                "processing_status": "added",
                "sonarr_series_id": 77,
                "last_checked": "2024-01-01T00:00:00Z",
                "genres": '["Drama"]',
            },
            {
                "tvmaze_id": 2,
                "title": "Person of Interest",
                "processing_status": "filtered",
                "filter_reason": "genre",
                "last_checked": "2024-01-01T00:00:00Z",
            },
        ]
    )
    db.close()


def test_an_older_database_is_upgraded_with_its_rows_intact(tmp_path: Path) -> None:
    _v1_database(tmp_path / DB_NAME)
    store = store_at(tmp_path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        rows = {row["tvmaze_id"]: row for row in store.rows_where(order_by="tvmaze_id")}
        assert rows[1]["title"] == "Under the Dome"
        assert rows[1]["processing_status"] == "added"
        assert rows[1]["sonarr_series_id"] == 77
        assert rows[2]["filter_reason"] == "genre"
        assert rows[1]["needs_filter"] == 1 and rows[1]["raw"] is None
        fresh = store_at(prepare_storage_dir(tmp_path / "fresh"))
        try:  # the upgraded schema is the one a new database gets
            assert store.db.table("shows").columns_dict == fresh.db.table("shows").columns_dict
            assert set(store.db.table_names()) == set(fresh.db.table_names())
            assert {i.name for i in store.db.table("shows").indexes} == {
                i.name for i in fresh.db.table("shows").indexes
            }
        finally:
            fresh.close()
        store.bump_counter("shows_processed", "added")
        assert store.counters("shows_processed") == {"added": 1}
    finally:
        store.close()
    reopened = store_at(tmp_path)  # migrations run once
    assert reopened.schema_version == SCHEMA_VERSION
    assert reopened.count_by_status()["added"] == 1
    reopened.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store_at(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    for readonly in (False, True):
        with pytest.raises(StorageError, match="newer than this tvmaze-sync"):
            store_at(tmp_path, readonly=readonly)


def test_readonly_open_of_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"no cache at .*shows\.db yet: run `tvmaze-sync sync`"):
        store_at(tmp_path, readonly=True)
    assert not (tmp_path / DB_NAME).exists()


def test_readonly_open_of_an_unmigrated_database(tmp_path: Path) -> None:
    _v1_database(tmp_path / DB_NAME)
    with pytest.raises(StorageError, match="schema 1; run `tvmaze-sync sync` once"):
        store_at(tmp_path, readonly=True)


def test_readonly_open_reads_a_database_only_missing_index_migrations(tmp_path: Path) -> None:
    """After an upgrade, `state` and `shows` work before the next `sync` migrates."""
    from tvmaze_sync.storage.store import MIGRATIONS, READABLE_SCHEMA_VERSION

    writer = store_at(tmp_path)
    writer.upsert_shows([row_from_show(make_show(1))], now="2025-01-01T00:00:00Z")
    writer.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("DROP INDEX idx_needs_filter")  # what migration 4 added
    conn.execute(f"PRAGMA user_version = {READABLE_SCHEMA_VERSION}")
    conn.commit()
    conn.close()
    assert len(MIGRATIONS) > READABLE_SCHEMA_VERSION
    reader = store_at(tmp_path, readonly=True)
    try:
        assert reader.count_by_status()["pending"] == 1
    finally:
        reader.close()


def test_readonly_reads_while_a_writer_holds_a_transaction(tmp_path: Path) -> None:
    writer = store_at(tmp_path)
    writer.upsert_shows([row_from_show(make_show(1))], now="2025-01-01T00:00:00Z")
    with writer.atomic():
        writer.upsert_shows([row_from_show(make_show(2))], now="2025-01-01T00:00:00Z")
        reader = store_at(tmp_path, readonly=True)
        assert reader.count_by_status()["pending"] == 1  # committed rows only, no blocking
        with pytest.raises(sqlite3.OperationalError):
            reader.db.execute("DELETE FROM shows")
        reader.close()
    writer.close()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StorageError, match="cannot use"):
        store_at(tmp_path)


def test_upsert_refreshes_metadata_and_keeps_processing_columns(store: Store) -> None:
    raw = {"id": 5, "name": "Original", "genres": ["Drama"]}
    assert store.upsert_shows(
        [row_from_show(make_show(5, "Original"), raw)], "2025-01-01T00:00:00Z"
    )
    row = store.get_row(5)
    assert row is not None
    assert row["processing_status"] == ProcessingStatus.PENDING.value
    assert row["needs_filter"] == 1
    assert row["created_at"] == row["last_checked"] == "2025-01-01T00:00:00Z"
    assert json.loads(row["raw"]) == raw

    with store.atomic():
        store.db.execute(
            "UPDATE shows SET processing_status = ?, sonarr_series_id = 9, retry_count = 2, "
            "filter_reason = 'x', needs_filter = 0, error_message = 'e' WHERE tvmaze_id = 5",
            [ProcessingStatus.ADDED.value],
        )
    store.upsert_shows(
        [row_from_show(make_show(5, "Renamed", runtime=30), raw)], "2025-02-01T00:00:00Z"
    )
    row = store.get_row(5)
    assert row is not None
    assert row["title"] == "Renamed" and row["runtime"] == 30
    assert row["processing_status"] == ProcessingStatus.ADDED.value
    assert (row["sonarr_series_id"], row["retry_count"], row["error_message"]) == (9, 2, "e")
    assert row["created_at"] == "2025-01-01T00:00:00Z"  # first seen stays first seen
    assert row["last_checked"] == "2025-02-01T00:00:00Z"
    assert row["needs_filter"] == 1  # the filters must look at the new data
    assert not store.db.conn.in_transaction


def test_upsert_with_a_show_listed_twice(store: Store) -> None:
    rows = [row_from_show(make_show(3, "First")), row_from_show(make_show(3, "Second"))]
    store.upsert_shows(rows, "2025-01-01T00:00:00Z")
    row = store.get_row(3)
    assert row is not None and row["title"] == "Second"
    assert store.db.table("shows").count == 1


def test_upsert_is_one_transaction(store: Store) -> None:
    good = row_from_show(make_show(1))
    bad = {**row_from_show(make_show(2)), "title": None}  # NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_shows([good, bad], "2025-01-01T00:00:00Z")
    assert store.db.table("shows").count == 0
    assert not store.db.conn.in_transaction


def test_show_round_trips_through_a_row(store: Store) -> None:
    show = make_show(42, "Ω Unicode", country=None, genres=())
    store.upsert_shows([row_from_show(show)], "2025-01-01T00:00:00Z")
    assert store.get_show(42) == show
    assert show_from_row(row_from_show(make_show(7))) == make_show(7)


def test_queries(store: Store) -> None:
    store.upsert_shows([row_from_show(make_show(i)) for i in (3, 1, 2)], "2025-01-01T00:00:00Z")
    assert store.highest_id() == 3
    assert store.updated_map() == {i: 1_700_000_000 + i for i in (1, 2, 3)}
    counts = store.count_by_status()
    assert set(counts) == {status.value for status in ProcessingStatus}
    assert counts["pending"] == 3 and sum(counts.values()) == 3


def test_counters_roll_back_with_their_transaction(store: Store) -> None:
    store.bump_counter("api_requests", "tvmaze:page:200", 3)
    with pytest.raises(RuntimeError), store.atomic():
        store.bump_counter("api_requests", "tvmaze:page:200", 5)
        raise RuntimeError("killed")
    store.bump_counter("api_requests", "tvmaze:page:200")
    assert store.counters("api_requests") == {"tvmaze:page:200": 4}


def _chmod_is_enforced(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o500)
    try:
        return not os.access(probe, os.W_OK)
    finally:
        probe.chmod(0o700)


def test_prepare_storage_dir(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert prepare_storage_dir(target) == target and target.is_dir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StorageError, match=r"storage\.path: cannot create .*file/sub"):
        prepare_storage_dir(tmp_path / "file" / "sub")


@pytest.mark.parametrize("how", ["under_a_file", "read_only_dir"])
def test_unusable_storage_path_exits_2_through_the_cli(tmp_path: Path, how: str) -> None:
    if how == "under_a_file":
        (tmp_path / "plain-file").write_text("x", encoding="utf-8")
        storage = tmp_path / "plain-file" / "sub"
    else:
        if not _chmod_is_enforced(tmp_path):
            pytest.skip("running as root: chmod cannot make a directory unwritable")
        storage = tmp_path / "locked"
        storage.mkdir()
        storage.chmod(0o500)
    try:
        result = run_cli(tmp_path, "sync", env={"STORAGE_PATH": str(storage)})
    finally:
        if how == "read_only_dir":
            storage.chmod(0o700)
    assert result.returncode == ExitCode.USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: storage.path: ")
    assert str(storage) in lines[0]
    assert "Traceback" not in result.stderr


# --- migration 4: the rows filters.apply decides ----------------------------------------------


def test_apply_reads_only_the_rows_needing_a_decision_through_the_partial_index(
    store: Store,
) -> None:
    from tvmaze_sync.core.config import FiltersConfig
    from tvmaze_sync.decisions.filters import FilterProcessor, apply

    (index,) = [i for i in store.db.table("shows").indexes if i.name == "idx_needs_filter"]
    assert index.columns == ["tvmaze_id"]
    sql = store.db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'idx_needs_filter'"
    ).fetchone()[0]
    assert sql.endswith("WHERE needs_filter = 1")
    store.upsert_shows([row_from_show(make_show(i)) for i in range(1, 41)], "2025-01-01T00:00:00Z")
    processor = FilterProcessor(FiltersConfig())
    apply(store, processor)
    store.upsert_shows([row_from_show(make_show(i)) for i in (7, 30)], "2025-01-02T00:00:00Z")

    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        report = apply(store, processor)
    finally:
        store.db.conn.set_trace_callback(None)

    assert report.evaluated == 2
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "shows" in s]
    assert reads, statements
    for read in reads:  # the statement as run, values bound: its plan is apply's plan
        plan = " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {read}"))
        assert "USING INDEX idx_needs_filter" in plan, (read, plan)
    waiting = "SELECT COUNT(*) FROM shows INDEXED BY idx_needs_filter WHERE needs_filter = 1"
    assert store.db.execute(waiting).fetchone()[0] == 0


# --- read-only storage, and a directory this user cannot write ----------------------------------


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    from tests.helpers_faults import tmpfs

    with tmpfs(tmp_path / "mnt", "16m") as mounted:
        if isinstance(mounted, str):
            pytest.skip(mounted)
        yield mounted


def _cache(storage: Path, shows: int = 5) -> None:
    store = store_at(prepare_storage_dir(storage))
    store.upsert_shows(
        [row_from_show(make_show(i)) for i in range(1, shows + 1)], "2025-01-01T00:00:00Z"
    )
    store.close()


def _files(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in sorted(directory.iterdir())}


def test_read_only_file_system_is_read_and_named(mount: Path) -> None:
    from tests.helpers_faults import remount

    storage = mount / "data"
    _cache(storage)
    before = _files(storage)
    remount(mount, "ro")
    try:
        reader = store_at(storage, readonly=True)  # no -shm can be created: immutable
        try:
            assert reader.count_by_status()["pending"] == 5
            assert reader.get_show(3) == make_show(3)
            with pytest.raises(sqlite3.OperationalError):
                reader.db.execute("DELETE FROM shows")
        finally:
            reader.close()
        with pytest.raises(StorageError, match=r"is not writable: read-only file system$"):
            prepare_storage_dir(storage)
        with pytest.raises(StorageError, match=r"shows\.db: read-only file system; SQLite said"):
            store_at(storage)
        assert _files(storage) == before
    finally:
        remount(mount, "rw")


def test_read_only_file_system_after_a_killed_writer(mount: Path) -> None:
    """A writer killed before its last checkpoint leaves commits in -wal: read through it, or
    refuse clearly when its -shm is gone (immutable would silently read the older file)."""
    from tests.helpers_faults import remount

    storage = mount / "data"
    _cache(storage)
    killed = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from tests.test_store import make_show\n"
        "from tests.helpers_store import store_at\n"
        "from tvmaze_sync.storage.columns import row_from_show\n"
        "store = store_at(Path(sys.argv[1]))\n"
        "store.upsert_shows([row_from_show(make_show(i)) for i in range(6, 9)], 'now')\n"
        "os._exit(9)\n"
    )
    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, "-c", killed, str(storage)], cwd=root, check=False)
    assert done.returncode == 9
    assert (storage / f"{DB_NAME}-wal").stat().st_size > 0
    remount(mount, "ro")
    try:
        reader = store_at(storage, readonly=True)
        assert reader.count_by_status()["pending"] == 8  # the -wal's commits included
        reader.close()
    finally:
        remount(mount, "rw")
    (storage / f"{DB_NAME}-shm").unlink()
    remount(mount, "ro")
    try:
        with pytest.raises(StorageError, match=r"shows\.db-wal holds changes not yet in the"):
            store_at(storage, readonly=True)
    finally:
        remount(mount, "rw")
    reader = store_at(storage, readonly=True)  # writable again: SQLite replays the -wal
    assert reader.count_by_status()["pending"] == 8
    reader.close()


def test_a_directory_this_user_cannot_write_is_named(tmp_path: Path) -> None:
    if not _chmod_is_enforced(tmp_path):
        pytest.skip("running as root: chmod cannot make a directory unwritable")
    storage = tmp_path / "data"
    _cache(storage)
    storage.chmod(0o500)
    try:
        with pytest.raises(StorageError, match=r"cannot read .*shows\.db: SQLite must create"):
            store_at(storage, readonly=True)
        with pytest.raises(StorageError, match=r"is not writable by this user$"):
            prepare_storage_dir(storage)
    finally:
        storage.chmod(0o700)


def test_read_queries_on_foreign_tables_name_the_file(tmp_path: Path) -> None:
    """This build's user_version, wrong tables: the read-only commands say so, exit 2."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(f"create table shows(x); pragma user_version={SCHEMA_VERSION};")
    conn.close()
    failed = pytest.raises(StorageError, match=r"cannot read .*shows\.db: no such column")
    with failed, Store.opened(tmp_path, readonly=True) as store:
        store.count_by_status()
    with pytest.raises(sqlite3.ProgrammingError):  # leaving the context closed it
        store.db.execute("select 1")
