"""The SQLite cache (`shows.db`): schema, migrations and the queries every stage shares.

The database is the source of truth for shows and their processing status; state.json only
holds cursors. Each multi-row change runs in one transaction (`Store.atomic`), so a process
killed at any instant leaves either the old rows or the new ones.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import sqlite_utils

from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.nofollow import refuse_links, sqlite_files

log = logging.getLogger(__name__)

DB_NAME = "shows.db"

#: Columns that come from TVMaze (rewritten on every fetch). Processing columns are not here:
#: an upsert of fresh metadata never resets a show's status.
METADATA_COLUMNS = (
    "tvdb_id",
    "imdb_id",
    "title",
    "language",
    "country",
    "type",
    "status",
    "premiered",
    "ended",
    "network",
    "web_channel",
    "genres",
    "runtime",
    "rating",
    "tvmaze_updated_at",
    "raw",
    "weight",
)

#: The columns a list filter compares with TVMaze's words (`Store.distinct_values`).
FacetColumn = Literal["genres", "type", "status", "language", "country"]
FACET_COLUMNS: tuple[FacetColumn, ...] = typing.get_args(FacetColumn)


def _migration_1(db: sqlite_utils.Database) -> None:
    """The first schema: the `shows` table and its indexes (later migrations add to it)."""
    db.table("shows").create(
        {
            "tvmaze_id": int,
            "tvdb_id": int,
            "imdb_id": str,
            "title": str,
            "language": str,
            "country": str,
            "type": str,
            "status": str,
            "premiered": str,
            "ended": str,
            "network": str,
            "web_channel": str,
            "genres": str,
            "runtime": int,
            "processing_status": str,
            "filter_reason": str,
            "sonarr_series_id": int,
            "added_to_sonarr_at": str,
            "last_checked": str,
            "tvmaze_updated_at": int,
            "retry_after": str,
            "retry_count": int,
            "error_message": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="tvmaze_id",
        not_null={"title", "processing_status", "last_checked"},
        defaults={"processing_status": "pending", "retry_count": 0},
    )
    for column in (
        "processing_status",
        "tvdb_id",
        "language",
        "country",
        "type",
        "premiered",
        "retry_after",
        "tvmaze_updated_at",
    ):
        db.table("shows").create_index([column], index_name=f"idx_{column}")


def _migration_2(db: sqlite_utils.Database) -> None:
    """Full JSON, rating, lifetime counters and the ownership ledger."""
    shows = db.table("shows")
    shows.add_column("raw", str)  # the show's full TVMaze JSON: new filters need no refetch
    shows.add_column("rating", float)
    shows.add_column("filter_reasons", str)  # JSON list of every failing rule
    # 1 when TVMaze data changed since the filters last looked at the row.
    shows.add_column("needs_filter", int, not_null_default=1)
    # Lifetime counters survive the short cron processes, so metrics add up across runs.
    db.table("counters").create({"name": str, "label": str, "value": int}, pk=("name", "label"))
    # Series this tool added; no refilter or rescan rewrites it (see sonarr.py).
    db.table("sonarr_ledger").create(
        {
            "tvdb_id": int,
            "sonarr_series_id": int,
            "tvmaze_id": int,
            "title": str,
            "added_at": str,
            "removed_at": str,
        },
        pk="tvdb_id",
    )


def _migration_3(db: sqlite_utils.Database) -> None:
    """Why a show sits in a Sonarr-side status, and the exclusions this tool posted."""
    # sonarr_exclusion, abandoned_no_tvdb, no_tvdb_id, tvdb_not_in_sonarr, rejected_by_sonarr,
    # deleted_in_sonarr (models.StatusReason); filter_reason stays the filters' alone.
    db.table("shows").add_column("status_reason", str)
    # When `on_user_removal: exclude_in_sonarr` posted the exclusion: exactly once, and never
    # again should the user delete that exclusion.
    db.table("sonarr_ledger").add_column("exclusion_posted_at", str)


def _migration_4(db: sqlite_utils.Database) -> None:
    """Let `filters.apply` find the rows awaiting a decision without scanning the table."""
    # Each cycle changes a page or two of a 100k-row cache; the partial index holds just
    # those rows, and in tvmaze_id order, so apply visits them in table order. (sqlite-utils'
    # create_index cannot make a partial index.)
    db.execute("CREATE INDEX idx_needs_filter ON shows (tvmaze_id) WHERE needs_filter = 1")


def _migration_5(db: sqlite_utils.Database) -> None:
    """When a pending_tvdb show started waiting: `sync.abandon_after` counts from there."""
    # Not from created_at: a show the filters pass only after a user widens them a year
    # later must get its whole wait. Rows already waiting count from their last status
    # change (never earlier than the wait began, so none is abandoned sooner than before).
    # The read-only commands never read it, so READABLE_SCHEMA_VERSION is unaffected.
    db.table("shows").add_column("pending_tvdb_since", str)
    db.execute(
        "UPDATE shows SET pending_tvdb_since = COALESCE(updated_at, created_at) "
        "WHERE processing_status = 'pending_tvdb'"
    )


def _migration_6(db: sqlite_utils.Database) -> None:
    """When the removal guard held a series this tool added that vanished from Sonarr."""
    # Set while the series is missing but too many vanished at once to conclude the user
    # deleted them (ledger.py); cleared when it reappears or by `tvmaze-sync removals`.
    # The read-only commands check for the column (Store.held_removals), so
    # READABLE_SCHEMA_VERSION is unaffected.
    db.table("sonarr_ledger").add_column("held_at", str)


def _migration_7(db: sqlite_utils.Database) -> None:
    """TVMaze's popularity (`weight`, 0-100) as a column, for `filters.weight`."""
    # Filled from the stored JSON, asking TVMaze nothing; the same bounds as
    # the mapping (tvmaze_json._Fields.weight): a stored value not an integer 0-100 stays unknown.
    db.table("shows").add_column("weight", int)
    db.execute(
        "UPDATE shows SET weight = json_extract(raw, '$.weight') "
        "WHERE raw IS NOT NULL AND json_valid(raw) "
        "AND json_type(raw, '$.weight') = 'integer' "
        "AND json_extract(raw, '$.weight') BETWEEN 0 AND 100"
    )


def _migration_8(db: sqlite_utils.Database) -> None:
    """When the user approved a show of the review queue (`sonarr.require_approval`)."""
    db.table("shows").add_column("approved_at", str)


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: The counters row that says a full mirror completed into this database (record_full_mirror).
FULL_MIRRORS = "full_mirrors_completed"
#: The oldest schema the read-only commands can query: later migrations add only indexes and
#: columns those commands do not need, so `state` and `shows` keep working after an upgrade
#: until the next `sync` migrates.
READABLE_SCHEMA_VERSION = 3


#: Free space below which a failed write is put down to a full disk.
FULL_BELOW = 1 << 20
#: SQLite primary result codes that can come from the file system rather than the file.
_FILE_SYSTEM_CODES = frozenset(
    {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY}
)


def _read_only_file_system(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def file_system_trouble(directory: Path) -> str | None:
    """Why nothing can be written under `directory`, when the file system itself says so.

    Called after a write failed: SQLite reports a full disk as a bare "disk I/O error" when
    it is the `-shm` or `-wal` file that cannot grow.
    """
    if _read_only_file_system(directory):
        return "read-only file system"
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail  # root may use the reserve
    free = blocks * stats.f_frsize
    if free < FULL_BELOW:
        return f"the disk is full ({free // 1024} KiB free)"
    return None


def _reason(error: sqlite3.Error, directory: Path) -> str:
    """SQLite's message, led by the file system's trouble when that is the cause."""
    code = getattr(error, "sqlite_errorcode", None)
    trouble = file_system_trouble(directory) if code and code & 0xFF in _FILE_SYSTEM_CODES else None
    return f"{trouble}; SQLite said: {error}" if trouble else str(error)


def prepare_storage_dir(path: Path) -> Path:
    """Create the storage directory if needed (0700: only its owner may read what it holds)
    and prove it is writable. An existing directory keeps its mode: it may be shared on
    purpose (a Kubernetes volume with fsGroup)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"storage.path: cannot create {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        if _read_only_file_system(path):
            raise StorageError(f"storage.path: {path} is not writable: read-only file system")
        raise StorageError(f"storage.path: {path} is not writable by this user")
    return path


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, and never blocks or disturbs a writer.

    A WAL reader needs the `-shm` file beside the database, and creates it when no
    connection has the database open; the fallbacks below are for where it cannot.
    """
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens the WAL
        return conn
    except sqlite3.OperationalError as error:
        conn.close()
        if error.sqlite_errorcode != sqlite3.SQLITE_CANTOPEN:
            raise
        directory = path.parent
        if not _read_only_file_system(directory):
            if os.access(directory, os.W_OK):
                raise
            raise StorageError(
                f"cannot read {path}: SQLite must create {path.name}-shm beside it and this "
                f"user cannot write {directory}; run as the user that runs sync"
            ) from None
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise StorageError(
                f"cannot read {path} on a read-only file system: {wal.name} holds changes "
                "not yet in the database; open it once where it is writable"
            ) from None
    # Safe because nobody can be writing: the file system is read-only, and with no (or an
    # empty) -wal file the main file holds every commit and no connection has it open (a
    # WAL connection keeps a -wal file while open). `immutable=1` reads it without locks or
    # the -shm file. (Only a writer on another, writable mount of the same files could
    # appear meanwhile, and it changes the main file only when it checkpoints.)
    return sqlite3.connect(f"{uri}&immutable=1", uri=True)


class Store:
    """One open `shows.db`. Not shared between threads: open one per thread."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path

    # --- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, storage_dir: Path, *, readonly: bool = False) -> Store:
        """Open (creating and migrating) the database in `storage_dir`.

        `readonly` opens an existing database for the read-only commands, which must never
        block on or disturb a running writer.
        """
        path = storage_dir / DB_NAME
        refuse_links(*sqlite_files(path))  # SQLite would follow them (nofollow.py)
        conn: sqlite3.Connection | None = None
        try:
            if readonly:
                if not path.exists():
                    raise StorageError(f"no cache at {path} yet: run `tvmaze-sync sync` first")
                conn = _connect_readonly(path)
            else:
                conn = sqlite3.connect(path, timeout=30)
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                db.enable_wal()
                db.execute("PRAGMA synchronous = NORMAL")
            store = cls(db, path)
            version = store.schema_version
            if readonly and version < READABLE_SCHEMA_VERSION:
                raise StorageError(f"{path} is at schema {version}; run `tvmaze-sync sync` once")
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{path} has schema {version}, newer than this tvmaze-sync "
                    f"({SCHEMA_VERSION}); upgrade tvmaze-sync"
                )
            if not readonly:
                store.migrate()
            return store
        except sqlite3.DatabaseError as error:
            if conn is not None:
                conn.close()
            raise StorageError(f"cannot use {path}: {_reason(error, storage_dir)}") from None
        except StorageError:
            if conn is not None:
                conn.close()
            raise

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply each missing migration in its own transaction, bumping user_version."""
        for version in range(self.schema_version, SCHEMA_VERSION):
            with self.db.atomic():
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
            log.info("store_migrated version=%d path=%s", version + 1, self.path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """Run a read-only command's queries, then close: a file with the right user_version
        but other tables is a StorageError naming it (exit 2), not an OperationalError."""
        try:
            yield self
        except sqlite3.Error as error:
            raise StorageError(f"cannot read {self.path}: {error}") from None
        finally:
            self.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        """One transaction; nests as a savepoint. Every multi-row change goes through it."""
        with self.db.atomic() as db:
            yield db

    # --- shows ---------------------------------------------------------------------------

    def upsert_shows(self, rows: Iterable[Mapping[str, Any]], now: str) -> int:
        """Insert or refresh shows' TVMaze metadata in one transaction.

        Only metadata columns and `last_checked` are written for existing rows, so their
        processing status, Sonarr ids and retry bookkeeping survive a refetch. New rows start
        `pending` with `created_at` = now (the "first seen" time `abandon_after` counts from).
        """
        # One row per id (the last wins): a show listed twice must not fail the insert.
        batch = list({row["tvmaze_id"]: dict(row) for row in rows}.values())
        if not batch:
            return 0
        with self.atomic():
            ids = [row["tvmaze_id"] for row in batch]
            known = set(self._existing_ids(ids))
            fresh = [
                {**row, "created_at": now, "updated_at": now, "last_checked": now}
                for row in batch
                if row["tvmaze_id"] not in known
            ]
            if fresh:
                self.db.table("shows").insert_all(fresh, pk="tvmaze_id")
            columns = [c for c in METADATA_COLUMNS if c in batch[0]]
            assignments = ", ".join(f"{c} = :{c}" for c in columns)
            self.db.conn.executemany(
                f"UPDATE shows SET {assignments}, last_checked = :now, updated_at = :now, "
                "needs_filter = 1 "
                "WHERE tvmaze_id = :tvmaze_id",
                [{**row, "now": now} for row in batch if row["tvmaze_id"] in known],
            )
        return len(batch)

    def _existing_ids(self, ids: list[int]) -> Iterator[int]:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (tvmaze_id,) in self.db.execute(
                f"SELECT tvmaze_id FROM shows WHERE tvmaze_id IN ({marks})", chunk
            ):
                yield tvmaze_id

    def get_row(self, tvmaze_id: int) -> dict[str, Any] | None:
        rows = list(self.db["shows"].rows_where("tvmaze_id = ?", [tvmaze_id]))
        return rows[0] if rows else None

    def get_show(self, tvmaze_id: int) -> Show | None:
        row = self.get_row(tvmaze_id)
        return show_from_row(row) if row else None

    def rows_where(
        self, where: str | None = None, params: Iterable[Any] = (), **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Parameterised row query (sqlite-utils `rows_where`): never format values into SQL."""
        return self.db["shows"].rows_where(where, list(params), **kwargs)

    def updated_map(self) -> dict[int, int | None]:
        """tvmaze_id -> stored `updated`, for comparing with TVMaze's updates map."""
        return dict(self.db.execute("SELECT tvmaze_id, tvmaze_updated_at FROM shows").fetchall())

    def highest_id(self) -> int | None:
        return self.db.execute("SELECT MAX(tvmaze_id) FROM shows").fetchone()[0]

    def count_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in ProcessingStatus}
        for status, count in self.db.execute(
            "SELECT processing_status, COUNT(*) FROM shows GROUP BY processing_status"
        ):
            counts[status] = count
        return counts

    def distinct_values(self, column: FacetColumn) -> set[str]:
        """Every value TVMaze gave a column of the mirror (each genre of the lists, for
        `genres`): what the filter-value check accepts beyond its built-in vocabulary."""
        if column == "genres":
            sql = "SELECT DISTINCT j.value FROM shows, json_each(shows.genres) AS j"
        else:
            assert column in FACET_COLUMNS, column  # a name from a fixed set, never user input
            sql = f"SELECT DISTINCT {column} FROM shows"
        return {value for (value,) in self.db.execute(sql) if isinstance(value, str) and value}

    def bump_retry_count(self, tvmaze_id: int) -> None:
        """One more retry of a queued show (the TVDB lookup retry, `sonarr.py`)."""
        with self.atomic():
            self.db.execute(
                "UPDATE shows SET retry_count = COALESCE(retry_count, 0) + 1 WHERE tvmaze_id = ?",
                [tvmaze_id],
            )

    # --- the removal guard ---------------------------------------------------------------

    def held_removals(self) -> list[dict[str, Any]]:
        """Ledger rows the removal guard holds, oldest hold first; none before migration 6
        (the read-only commands may open a cache the next `sync` has yet to migrate)."""
        if "held_at" not in self.db["sonarr_ledger"].columns_dict:
            return []
        return list(
            self.db["sonarr_ledger"].rows_where("held_at IS NOT NULL", order_by="held_at, tvdb_id")
        )

    # --- lifetime counters ---------------------------------------------------------------

    def bump_counter(self, name: str, label: str = "", by: int = 1) -> None:
        """Add to a lifetime counter, inside the caller's transaction when there is one.

        Call it in the same transaction as the work it counts, so a kill cannot count work
        that was rolled back.
        """
        with self.atomic():
            self.db.execute(
                "INSERT INTO counters (name, label, value) VALUES (?, ?, ?) "
                "ON CONFLICT(name, label) DO UPDATE SET value = value + excluded.value",
                [name, label, by],
            )

    def counters(self, name: str) -> dict[str, int]:
        return dict(
            self.db.execute("SELECT label, value FROM counters WHERE name = ?", [name]).fetchall()
        )

    # --- the database's own record of a completed full mirror ----------------------------

    def record_full_mirror(self) -> None:
        """Mark this database as holding a completed full TVMaze mirror.

        state.json says the first full mirror completed, but it is a separate file: a
        deleted, replaced or restored shows.db beside it would be taken for complete, and an
        empty or half-rebuilt list served to Sonarr as the whole list (server.CustomList).
        The mark is a row of the counters table, set to 1 (idempotent: a cycle killed after
        it and resumed sets it again); a database that lacks it is a new one.
        """
        with self.atomic():
            self.db.execute(
                "INSERT INTO counters (name, label, value) VALUES (?, '', 1) "
                "ON CONFLICT(name, label) DO UPDATE SET value = 1",
                [FULL_MIRRORS],
            )

    def full_mirror_recorded(self) -> bool:
        """Whether this database has completed a full mirror (record_full_mirror)."""
        return self.counters(FULL_MIRRORS).get("", 0) > 0


def show_from_row(row: Mapping[str, Any]) -> Show:
    """Rebuild the domain object from a cached row (no network: refilter works offline)."""
    genres = row.get("genres")
    return Show(
        tvmaze_id=row["tvmaze_id"],
        title=row["title"],
        tvdb_id=row.get("tvdb_id"),
        imdb_id=row.get("imdb_id"),
        language=row.get("language"),
        country=row.get("country"),
        type=row.get("type"),
        status=row.get("status"),
        premiered=row.get("premiered"),
        ended=row.get("ended"),
        network=row.get("network"),
        web_channel=row.get("web_channel"),
        genres=tuple(json.loads(genres)) if genres else (),
        runtime=row.get("runtime"),
        rating=row.get("rating"),
        updated=row.get("tvmaze_updated_at"),
        weight=row.get("weight"),
    )


def row_from_show(show: Show, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata columns of a show; `raw` is its full TVMaze JSON."""
    return {
        "tvmaze_id": show.tvmaze_id,
        "tvdb_id": show.tvdb_id,
        "imdb_id": show.imdb_id,
        "title": show.title,
        "language": show.language,
        "country": show.country,
        "type": show.type,
        "status": show.status,
        "premiered": show.premiered,
        "ended": show.ended,
        "network": show.network,
        "web_channel": show.web_channel,
        "genres": json.dumps(list(show.genres), ensure_ascii=False),
        "runtime": show.runtime,
        "rating": show.rating,
        "tvmaze_updated_at": show.updated,
        "weight": show.weight,
        "raw": _json_text(raw) if raw else None,
    }


def _json_text(value: Any) -> str:
    """Compact JSON, raw UTF-8 where it can be: a lone surrogate (JSON's `\\ud800`) cannot
    be stored as UTF-8 text, so such a value is written with ASCII escapes instead."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(value, separators=(",", ":"))
    return text


@contextmanager
def open_for_writing(storage: Path) -> Iterator[Store]:
    """The cache opened for writing under the writer lock, as every command that changes
    statuses by hand does (`retry`, `skip`, `removals`, `review`); `sync` alone creates it."""
    if not (storage / DB_NAME).exists():
        raise StorageError(f"no cache at {storage / DB_NAME} yet: run `tvmaze-sync sync` first")
    prepare_storage_dir(storage)
    with writer_lock(storage):
        store = Store.open(storage)
        try:
            yield store
        finally:
            store.close()
