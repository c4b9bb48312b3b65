"""Files in the storage directory are never reached through a symbolic link.

A link planted in `storage.path` (`tvmaze-sync.lock -> ~/.bashrc`, `shows.db -> /etc/…`)
would make an unattended cycle truncate or rewrite whatever it points to, with the rights
of the user running it. So every file this program writes there (the lock, state.json and
its .tmp/.bak, shows.db and its -wal/-shm/-journal, the HTTP cache and its -wal/-shm) is
opened with O_NOFOLLOW where we open it ourselves, and checked before SQLite opens it (SQLite
follows links itself): a link there is a StorageError (exit 2) naming it, and nothing is
written.

The storage directory itself may be a link: pointing `/var/lib/tvmaze-sync` at a NAS mount
is an ordinary setup, and the directory is the user's own choice in `storage.path`; only
the last component of each path is refused, which is what O_NOFOLLOW checks.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tvmaze_sync.core.errors import StorageError


def link_refused(path: Path) -> StorageError:
    """The error for a link found at `path` (one message wherever it is found)."""
    never = "is a symbolic link; tvmaze-sync never follows links inside its storage directory"
    return StorageError(
        f"{path} {never} (it could overwrite the file the link points to): remove the link, "
        "or point storage.path at the directory the file should live in"
    )


def refuse_links(*paths: Path) -> None:
    """Raise StorageError if any of `paths` is a symbolic link (a dangling one too), or a
    FIFO, device or socket: opening a FIFO there would wait forever (holding the writer
    lock), and a device would be read or written as if it were ours. A directory is left to
    the caller's own error (the HTTP cache replaces it; SQLite cannot open it)."""
    for path in paths:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as error:
            raise StorageError(f"cannot use {path}: {error.strerror}") from None
        if stat.S_ISLNK(mode):
            raise link_refused(path)
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise not_a_file(path)


def not_a_file(path: Path) -> StorageError:
    """The error for a device, FIFO or socket where a file of ours belongs."""
    return StorageError(
        f"{path} is not a regular file (a device, a pipe or a socket); "
        "tvmaze-sync keeps only its own files in the storage directory: remove it"
    )


def sqlite_files(path: Path) -> tuple[Path, ...]:
    """A SQLite database and the files SQLite opens beside it."""
    return (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")))


def open_nofollow(path: Path, flags: int, mode: int = 0o666) -> int:
    """os.open without following a link at `path`; a link is a StorageError, and so is
    anything but a regular file with one name when the file is opened for writing (a hard
    link would let a write reach a file outside the storage directory just the same)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise link_refused(path) from None
        raise
    if flags & (os.O_WRONLY | os.O_RDWR):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(fd)
            raise StorageError(
                f"{path} is not a plain file of its own (a device, a pipe or a hard link)"
                "; tvmaze-sync writes only its own files in the storage directory: remove it"
            )
    return fd


def create_fresh(path: Path, mode: int = 0o666) -> int:
    """A new, empty file at `path` for writing, whatever was there (a link is only unlinked)."""
    path.unlink(missing_ok=True)
    return open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def own_dir(path: Path, *, create: bool) -> bool:
    """Check that `path` (a folder of ours below the storage directory, such as an instance's)
    is a real directory, not a link to one elsewhere: a link there would put a cache, and
    every write to it, wherever it points. Made (0700) when missing and `create`; returns
    whether it exists. A link or anything but a directory is a StorageError naming it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not create:
            return False
        try:
            path.mkdir(mode=0o700)  # mkdir never follows a link planted at `path` meanwhile
        except FileExistsError:
            pass
        except OSError as error:
            raise StorageError(f"cannot create {path}: {error.strerror}") from None
        mode = os.lstat(path).st_mode
    except OSError as error:
        raise StorageError(f"cannot use {path}: {error.strerror}") from None
    if stat.S_ISLNK(mode):
        raise link_refused(path)
    if not stat.S_ISDIR(mode):
        raise StorageError(
            f"{path} is not a directory; tvmaze-sync keeps an instance's cache in a folder "
            "of its own there: remove it"
        )
    return True
