"""SQLite's error types for the layers above, and the one fact read of a file that is not
`shows.db`: requests-cache's HTTP cache (tvmaze/client.py) carries a `user_version`.

The layers above storage import no `sqlite3`: they catch these names.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

#: Any SQLite failure (a full disk mid-run, a corrupt file).
Error = sqlite3.Error
#: The file is not a database, or is malformed.
DatabaseError = sqlite3.DatabaseError
#: The file cannot be used as it is (a full or read-only disk, a lock).
OperationalError = sqlite3.OperationalError


def user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def set_user_version(path: Path, version: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {int(version)}")
