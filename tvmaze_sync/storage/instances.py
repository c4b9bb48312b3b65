"""Each more Sonarr instance (`instances.<name>`) keeps its own cache: statuses, ownership
ledger, removal holds and counters, in `<storage>/instances/<name>/shows.db`.

The main `shows.db` is the TVMaze mirror and the `default` instance's statuses, as without
instances (so an existing single-Sonarr cache is already the `default` instance's, with
every status and ledger row). Another instance's database holds a copy of the show data of
the shows routed to it, with its own statuses: a show can be `added` in `default` and
`excluded` in `4k`. Being the same schema, the whole Sonarr phase (library import,
exclusions, the ledger, the removal guard, the review and retry queues, the add budget)
runs on it unchanged.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, INSTANCE_NAME
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.storage.columns import METADATA_COLUMNS, DamagedRow, show_from_row
from tvmaze_sync.storage.nofollow import own_dir
from tvmaze_sync.storage.store import DB_NAME, Store, prepare_storage_dir

log = logging.getLogger(__name__)

INSTANCES_DIR = "instances"

#: Main rows worth offering another instance: not rejected by the filters themselves (a
#: show filtered only because its route sends it away from `default` may be routed here).
_OFFERED_SQL = (
    f"SELECT tvmaze_id, {', '.join(METADATA_COLUMNS)} FROM shows "
    "WHERE processing_status != ? OR filter_reason LIKE 'routed_elsewhere%'"
)


def storage_dir(storage: Path, instance: str) -> Path:
    """Where `instance` keeps its database (`default`: the main one)."""
    return storage if instance == DEFAULT_INSTANCE else storage / INSTANCES_DIR / instance


def existing(storage: Path) -> list[str]:
    """The other instances that have a cache, by name (what the metrics report)."""
    root = storage / INSTANCES_DIR
    if not own_dir(root, create=False):
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if re.fullmatch(INSTANCE_NAME, p.name)
        and not p.is_symlink()
        and p.is_dir()
        and (p / DB_NAME).is_file()
    )


@contextmanager
def opened(
    storage: Path,
    instance: str,
    *,
    readonly: bool = False,
    lock: bool = False,
    create: bool = False,
) -> Iterator[Store]:
    """`instance`'s cache, opened like the main one (`Store.opened`, whose writer lock is
    the storage directory's, one for every instance). Its folders are never links (a
    StorageError naming the one that is), and are made (0700) only with `create`."""
    if instance != DEFAULT_INSTANCE:
        if create:
            prepare_storage_dir(storage)
        for folder in (storage / INSTANCES_DIR, storage_dir(storage, instance)):
            own_dir(folder, create=create)
    with Store.opened(
        storage,
        readonly=readonly,
        lock=lock,
        create=create,
        folder=storage_dir(storage, instance),
    ) as store:
        yield store


@contextmanager
def scratch(storage: Path, instance: str) -> Iterator[Store]:
    """A throwaway copy of `instance`'s cache (an empty one before its first cycle), in a
    temporary folder outside the storage directory: a dry run decides on it as a real
    cycle would, and the real cache is never written (it is only read, without the lock)."""
    try:
        temporary = tempfile.TemporaryDirectory(prefix="tvmaze-sync-dry-run-")
    except OSError as error:  # a read-only root file system, a TMPDIR that is not there
        raise StorageError(
            f"a dry run previews instance {instance!r} on a copy of its cache in a temporary "
            f"folder, and none can be made ({error}); set TMPDIR to a writable folder"
        ) from None
    with temporary as made:
        where = Path(made)
        folder = storage_dir(storage, instance)
        if (
            own_dir(storage / INSTANCES_DIR, create=False)  # a link: refused, as for real
            and own_dir(folder, create=False)
            and (folder / DB_NAME).exists()
        ):
            with opened(storage, instance, readonly=True) as real:
                _copy(real, where, instance)
        with Store.opened(where, create=True) as store:
            yield store


def _copy(real: Store, where: Path, instance: str) -> None:
    """`real` copied into the dry run's temporary folder `where`: a full one (a small /tmp
    that a large cache fills) is the folder's fault, not the instance cache's."""
    try:
        real.copy_to(where / DB_NAME)
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        raise StorageError(
            f"a dry run cannot copy instance {instance!r}'s cache to {where} ({error}); set "
            "TMPDIR to a folder with room for it"
        ) from None


def copy_routed(main: Store, store: Store, routed_here: Callable[[Show], bool], now: str) -> int:
    """Bring the show data of every show routed here from `main` into `store`: new ones, and
    those whose TVMaze `updated` changed (each then waits for the filters, `needs_filter`).
    Statuses already here are kept; a show no longer routed here is decided by the filters
    with the routes (`routed_elsewhere`). Returns the rows copied.

    A show already here is refreshed whenever its data changed, routed here or not and
    whatever `main` decided: its copy must not go stale, or this instance would decide (and
    add) it on data TVMaze has since changed (a network that moved it off the route, a
    status the filters now reject)."""
    known = store.updated_map()
    rows = []
    seen: set[int] = set()
    cursor = main.db.execute(_OFFERED_SQL, [ProcessingStatus.FILTERED.value])
    for row in _rows(cursor):
        tvmaze_id = row["tvmaze_id"]
        seen.add(tvmaze_id)
        if tvmaze_id in known:
            if known[tvmaze_id] != row["tvmaze_updated_at"]:
                rows.append(row)
        else:
            try:
                show = show_from_row(row)
            except DamagedRow:  # copied once the next sync has rebuilt it in `main`
                log.warning("instance_copy_postponed tvmaze_id=%d reason=damaged_row", tvmaze_id)
                continue
            if routed_here(show):
                rows.append(row)
    stale = [
        tvmaze_id
        for tvmaze_id, updated in main.updated_map().items()
        if tvmaze_id in known and tvmaze_id not in seen and known[tvmaze_id] != updated
    ]
    rows += _rows_by_id(main, stale)
    copied = store.upsert_shows(rows, now)
    # The list served for this instance (serve's CustomList) waits for this mark: an empty
    # cache, created by a cycle killed before this copy, is not an empty list.
    store.record_full_mirror()
    log.info("instance_shows_copied path=%s copied=%d", store.path, copied)
    return copied


def _rows(cursor: Any) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def _rows_by_id(main: Store, ids: list[int]) -> list[dict[str, Any]]:
    """The show data of `ids` in `main` (those the offered rows left out)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found += _rows(
            main.db.execute(
                f"SELECT tvmaze_id, {', '.join(METADATA_COLUMNS)} FROM shows "
                f"WHERE tvmaze_id IN ({marks})",
                chunk,
            )
        )
    return found
