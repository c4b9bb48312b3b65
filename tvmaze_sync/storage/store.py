"""The SQLite cache (`shows.db`): opening it, its migrations, and `Store`, the one entry.

The database is the source of truth for shows and their processing status; state.json only
holds cursors. Each multi-row change runs in one transaction (`Store.atomic`), so a process
killed at any instant leaves either the old rows or the new ones.

Every SQL statement of the program lives in this package: `Store` gathers the queries of
each table (shows.py and statuses.py, ledger.py, counters.py) as named methods, and opens one way,
`Store.opened` (a context manager). The columns of `shows` are derived from the `Show`
dataclass (columns.py); only the migrations below spell them out, being history.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.storage.counters import CountersTable
from tvmaze_sync.storage.ledger import LedgerTable
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.nofollow import refuse_links, sqlite_files
from tvmaze_sync.storage.statuses import StatusQueries

log = logging.getLogger(__name__)

DB_NAME = "shows.db"


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
    # Series this tool added; no refilter or rescan rewrites it (see sonarr/ledger.py).
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
    # deleted them (sonarr/ledger.py); cleared when it reappears or by `tvmaze-sync removals`.
    # The read-only commands check for the column (Store.held_removals), so
    # READABLE_SCHEMA_VERSION is unaffected.
    db.table("sonarr_ledger").add_column("held_at", str)


def _migration_7(db: sqlite_utils.Database) -> None:
    """TVMaze's popularity (`weight`, 0-100) as a column, for `filters.weight`."""
    # Filled from the stored JSON, asking TVMaze nothing; the same bounds as the mapping
    # (tvmaze/mapping.py, _Fields.weight): a stored value not an integer 0-100 stays unknown.
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


def _migration_9(db: sqlite_utils.Database) -> None:
    """The route (`routes[].name`) a series this tool added followed; NULL: none."""
    # `explain` says when a show's route has changed since (the series is not moved: Sonarr
    # owns it). Rows added before routing followed none, which is what NULL says. The
    # read-only commands read it with .get, so READABLE_SCHEMA_VERSION is unaffected.
    db.table("sonarr_ledger").add_column("route", str)


def _migration_10(db: sqlite_utils.Database) -> None:
    """The lasting settings (routing.LASTING_SETTINGS, as JSON) a series this tool added
    got: `explain` says when its target has changed since (the series is not moved). NULL
    for series added before: nothing is claimed about them."""
    db.table("sonarr_ledger").add_column("target", str)


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
    _migration_10,
)
SCHEMA_VERSION = len(MIGRATIONS)
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


class Store(StatusQueries, LedgerTable, CountersTable):
    """One open `shows.db`, with every query as a named method. Not shared between threads:
    open one per thread, with `Store.opened`."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path

    # --- opening -----------------------------------------------------------------------

    @classmethod
    @contextmanager
    def opened(
        cls,
        storage: Path,
        *,
        readonly: bool = False,
        lock: bool = False,
        create: bool = False,
        folder: Path | None = None,
    ) -> Iterator[Store]:
        """The one way to open `shows.db` in the `storage` directory (or in `folder` below
        it: another Sonarr instance's cache, storage/instances.py); closed on exit.

        - `readonly`: an existing database for the read-only commands and the server, which
          never take the lock, never block on or disturb a running writer, and never migrate;
          an SQLite error while reading is a StorageError naming the file (exit 2), not an
          OperationalError.
        - otherwise for writing, migrated to this build's schema; `lock` takes the writer
          lock first (LockHeld when a sync holds it), as every command that changes statuses
          does; without it the caller holds the lock, or only bumps counters (notify).
          `create` lets it make the database (only `sync` and `serve` do); without it a
          missing cache is a StorageError.
        """
        where = storage if folder is None else folder
        path = where / DB_NAME
        if readonly:
            if lock or create:
                raise ValueError("a read-only store takes no lock and creates nothing")
            store = cls._open(where, readonly=True)
            try:
                yield store
            except sqlite3.Error as error:
                raise store.read_error(error) from None
            finally:
                store.close()
            return
        if not create and not path.exists():
            raise StorageError(f"no cache at {path} yet: run `tvmaze-sync sync` first")
        with contextlib.ExitStack() as stack:
            if lock:
                prepare_storage_dir(storage)
                stack.enter_context(writer_lock(storage))
            if create and where != storage:
                prepare_storage_dir(where.parent)
                prepare_storage_dir(where)
            store = cls._open(where)
            stack.callback(store.close)
            yield store

    @classmethod
    def _open(cls, storage_dir: Path, *, readonly: bool = False) -> Store:
        """Open (creating and migrating) the database in `storage_dir`; `opened` closes it."""
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

    def copy_to(self, path: Path) -> None:
        """A consistent copy of this database at `path` (SQLite's backup: a dry run works on
        such a scratch copy, so nothing it decides lands in the real cache)."""
        target = sqlite3.connect(path)
        try:
            self.db.conn.backup(target)
        finally:
            target.close()

    def read_error(self, error: sqlite3.Error) -> StorageError:
        """What a failed read means. A column or table missing from a cache older than this
        build is a migration only `sync` makes (the read-only commands never write, so they
        work on a read-only mount and never hold up a writer): it says so, rather than
        SQLite's "no such column"."""
        missing = isinstance(error, sqlite3.OperationalError) and str(error).startswith(
            ("no such column", "no such table")
        )
        try:
            version = self.schema_version
        except sqlite3.Error:
            version = SCHEMA_VERSION
        if missing and version < SCHEMA_VERSION:
            return StorageError(
                f"cannot read {self.path}: it is at schema {version}, older than this "
                f"tvmaze-sync ({SCHEMA_VERSION}); run `tvmaze-sync sync` once to migrate it"
            )
        return StorageError(f"cannot read {self.path}: {error}")

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        """One transaction; nests as a savepoint. Every multi-row change goes through it."""
        with self.db.atomic() as db:
            yield db
