"""The single-writer lock: one `sync`, `refilter` or `serve` cycle at a time.

`fcntl.flock` on a file in the storage path: the kernel drops it when the process dies, even
on `kill -9`, so there is never a stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tvmaze_sync.core.errors import LockHeld, StorageError
from tvmaze_sync.storage.nofollow import open_nofollow

LOCK_NAME = "tvmaze-sync.lock"


@contextmanager
def writer_lock(storage_dir: Path) -> Iterator[Path]:
    """Hold the exclusive lock for the block; raise LockHeld at once if another run has it."""
    path = storage_dir / LOCK_NAME
    try:
        # Not through a link: the file is truncated and rewritten below (see nofollow.py).
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StorageError(f"cannot open lock file {path}: {error.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another tvmaze-sync run holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing releases the flock
