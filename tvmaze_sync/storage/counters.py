"""The `counters` table: lifetime counters, and the database's record of a full mirror.

A mixin of `Store` (store.py). The counters survive the short cron processes, so metrics add
up across runs.
"""

from __future__ import annotations

import sqlite_utils

#: The counters row that says a full mirror completed into this database (record_full_mirror).
FULL_MIRRORS = "full_mirrors_completed"


class CountersTable:
    """Lifetime counters (mixed into `Store`)."""

    db: sqlite_utils.Database

    def bump_counter(self, name: str, label: str = "", by: int = 1) -> None:
        """Add to a lifetime counter, inside the caller's transaction when there is one.

        Call it in the same transaction as the work it counts, so a kill cannot count work
        that was rolled back.
        """
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO counters (name, label, value) VALUES (?, ?, ?) "
                "ON CONFLICT(name, label) DO UPDATE SET value = value + excluded.value",
                [name, label, by],
            )

    def counters(self, name: str) -> dict[str, int]:
        return dict(
            self.db.execute("SELECT label, value FROM counters WHERE name = ?", [name]).fetchall()
        )

    def record_full_mirror(self) -> None:
        """Mark this database as holding a completed full TVMaze mirror.

        state.json says the first full mirror completed, but it is a separate file: a
        deleted, replaced or restored shows.db beside it would be taken for complete, and an
        empty or half-rebuilt list served to Sonarr as the whole list (server.CustomList).
        The mark is a row of the counters table, set to 1 (idempotent: a cycle killed after
        it and resumed sets it again); a database that lacks it is a new one.
        """
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO counters (name, label, value) VALUES (?, '', 1) "
                "ON CONFLICT(name, label) DO UPDATE SET value = 1",
                [FULL_MIRRORS],
            )

    def full_mirror_recorded(self) -> bool:
        """Whether this database has completed a full mirror (record_full_mirror)."""
        return self.counters(FULL_MIRRORS).get("", 0) > 0
