"""Opening the cache in tests that keep it open across many steps.

The program opens `shows.db` one way, `Store.opened` (a context manager that closes it). A
test that holds a store for its whole body, as most store tests do, opens it the same way
without the context (`Store._open`, which `opened` calls) and closes it itself, or leaves it
to the garbage collector as a short test process may.
"""

from __future__ import annotations

from pathlib import Path

from tvmaze_sync.storage.store import Store


def store_at(storage: Path, *, readonly: bool = False) -> Store:
    """The store `Store.opened(storage)` yields: read-only, or for writing (created if
    missing, migrated; the caller holds the writer lock if it needs one)."""
    return Store._open(storage, readonly=readonly)
