"""Opening the cache in tests that keep it open across many steps.

The program opens `shows.db` one way, `Store.opened` (a context manager); a test that holds a
store for its whole body enters the same context here and keeps it entered for as long as
the store lives (closed by `store.close()`, or when the store is collected).
"""

from __future__ import annotations

from pathlib import Path

from tvmaze_sync.storage.store import Store


def store_at(storage: Path, *, readonly: bool = False) -> Store:
    """`Store.opened(storage)`, entered: read-only, or for writing (created if missing)."""
    manager = Store.opened(storage, readonly=readonly, create=not readonly)
    store = manager.__enter__()
    store._opened_by = manager  # type: ignore[attr-defined]  # keeps the context entered
    return store
