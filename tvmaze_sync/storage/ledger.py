"""The `sonarr_ledger` table: the series this tool added (sonarr/ledger.py says why).

A mixin of `Store` (store.py); callers never write SQL. Rows are chosen by which of their
moments are recorded (`added_at`, `removed_at`, `held_at`, `exclusion_posted_at`), the only
questions the Sonarr side asks of the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils
from sqlite_utils.db import Table

#: The ledger's moments, each a column that is NULL until it happened.
MOMENTS = ("added_at", "removed_at", "held_at", "exclusion_posted_at")


class LedgerTable:
    """The queries of the ownership ledger (mixed into `Store`)."""

    db: sqlite_utils.Database

    def _ledger(self) -> Table:
        return self.db.table("sonarr_ledger")

    def ledger_rows(self, **recorded: bool) -> list[dict[str, Any]]:
        """Ledger rows by tvdb id; each keyword of MOMENTS keeps the rows where that moment
        is recorded (True) or not (False): `ledger_rows(added_at=True, removed_at=False)`."""
        unknown = set(recorded) - set(MOMENTS)
        if unknown:
            raise ValueError(f"not a moment of the ledger: {sorted(unknown)}")
        where = " AND ".join(
            f"{moment} IS {'NOT ' if wanted else ''}NULL" for moment, wanted in recorded.items()
        )
        return list(self._ledger().rows_where(where or None, order_by="tvdb_id"))

    def ledger_entry(self, tvdb_id: int | None) -> dict[str, Any] | None:
        if not tvdb_id:
            return None
        rows = list(self._ledger().rows_where("tvdb_id = ?", [tvdb_id]))
        return rows[0] if rows else None

    def ledger_record_intent(
        self, row: Mapping[str, Any], route: str | None = None, target: str | None = None
    ) -> None:
        """A fresh intent row for `row` (tvdb_id, tvmaze_id, title) following `route` (its
        name; None: the instance's own settings) with the lasting settings `target` (JSON):
        no moment recorded."""
        with self.db.atomic():
            self._ledger().upsert(
                {
                    "tvdb_id": row["tvdb_id"],
                    "tvmaze_id": row["tvmaze_id"],
                    "title": row["title"],
                    "sonarr_series_id": None,
                    "added_at": None,
                    "removed_at": None,
                    "exclusion_posted_at": None,
                    "route": route,
                    "target": target,
                },
                pk="tvdb_id",
            )

    def ledger_update(self, tvdb_id: int, **columns: Any) -> None:
        """Set columns of one ledger row (the caller's transaction)."""
        self._ledger().update(tvdb_id, columns)

    def ledger_drop(self, tvdb_id: int) -> None:
        with self.db.atomic():
            self._ledger().delete_where("tvdb_id = ?", [tvdb_id])

    def held_removals(self) -> list[dict[str, Any]]:
        """Ledger rows the removal guard holds, oldest hold first; none before migration 6
        (the read-only commands may open a cache the next `sync` has yet to migrate)."""
        if "held_at" not in self._ledger().columns_dict:
            return []
        return list(self._ledger().rows_where("held_at IS NOT NULL", order_by="held_at, tvdb_id"))
