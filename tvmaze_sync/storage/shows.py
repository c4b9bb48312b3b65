"""The `shows` table: the mirror's writes, one show, the filters' reads and writes, one
named method each (statuses.py has the queries by status).

A mixin of `Store` (store.py), which holds the connection; callers never write SQL. Values
are always bound parameters; the only names formatted into SQL are column names checked
against the one declaration of the table's columns (columns.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlite_utils

from tvmaze_sync.core.models import SETTLED_IN_SONARR, ProcessingStatus, Show
from tvmaze_sync.storage.columns import (
    ALL_COLUMNS,
    FACET_COLUMNS,
    JSON_POSITIONS,
    LIST_COLUMNS,
    METADATA_COLUMNS,
    SHOW_COLUMNS,
    DamagedRow,
    FacetColumn,
    decode_list,
    show_from_row,
)

log = logging.getLogger(__name__)

P = ProcessingStatus

_SETTLED = sorted(status.value for status in SETTLED_IN_SONARR)
_SETTLED_SQL = f"processing_status IN ({','.join('?' * len(_SETTLED))})"
#: The processing columns a filter decision reads after the show's own.
_DECISION_TAIL = ("processing_status", "filter_reasons", "needs_filter")
# An approval (`review approve`) is for a show the filters passed: a show they reject loses it,
# so should they pass it again later it waits for review anew.
_DECIDE_SQL = (
    "UPDATE shows SET processing_status = ?, filter_reason = ?, filter_reasons = ?, "
    "needs_filter = 0, approved_at = CASE WHEN ? = 'filtered' THEN NULL ELSE approved_at END "
    "WHERE tvmaze_id = ?"
)
#: A filter decision to write: status, first reason, JSON reasons, status again, tvmaze id.
Decision = tuple[str, str | None, str | None, str, int]
#: What the filters read of an open row: the show, its status, its reasons, needs_filter.
DecisionRow = tuple[Show, str, str | None, int]


def _names(columns: Iterable[str]) -> list[str]:
    """Column names for SQL text: only declared ones (never a value, never user input)."""
    names = list(columns)
    unknown = [c for c in names if c not in ALL_COLUMNS]
    if unknown:
        raise ValueError(f"not a column of shows: {unknown}")
    return names


def marks(values: Sequence[Any]) -> str:
    """One `?` per value, for `IN (...)`."""
    return ",".join("?" * len(values))


def decision_sql(statuses: int, only_needing: bool) -> str:
    """The query of `ShowsTable.decision_rows` for that many statuses (bench/ reads it too)."""
    # `+processing_status` keeps SQLite off the status index: open rows are most of the
    # cache, and one pass in rowid order beats a random lookup per row (and keeps the
    # updates in order).
    return (
        f"SELECT {', '.join((*SHOW_COLUMNS, *_DECISION_TAIL))} FROM shows "
        f"WHERE +processing_status IN ({','.join('?' * statuses)})"
        + (" AND needs_filter = 1" if only_needing else "")
    )


class ShowsTable:
    """The queries of the `shows` table (mixed into `Store`)."""

    db: sqlite_utils.Database

    # --- the mirror's side -------------------------------------------------------------

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
        with self.db.atomic():
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
            for (tvmaze_id,) in self.db.execute(
                f"SELECT tvmaze_id FROM shows WHERE tvmaze_id IN ({marks(chunk)})", chunk
            ):
                yield tvmaze_id

    def damaged_rows(self) -> list[tuple[int, str | None, bool]]:
        """(tvmaze_id, raw, whether its filter reasons are damaged) of every row with a JSON
        list column that is not a list of text (LIST_COLUMNS): what `mirror.repair` rebuilds.
        One pass of SQLite's JSON functions over the table, no row decoded in Python."""

        def broken(column: str) -> str:
            return (
                f"(CASE WHEN {column} IS NULL OR {column} = '' THEN 0 "
                f"WHEN json_valid({column}) THEN json_type({column}) != 'array' OR EXISTS "
                f"(SELECT 1 FROM json_each({column}) WHERE type != 'text') ELSE 1 END)"
            )

        shows = " OR ".join(broken(c) for c in LIST_COLUMNS if c != "filter_reasons")
        sql = (
            f"SELECT tvmaze_id, raw, reasons FROM (SELECT tvmaze_id, raw, {shows} AS facts, "
            f"{broken('filter_reasons')} AS reasons FROM shows) WHERE facts OR reasons"
        )
        return [(i, raw, bool(reasons)) for i, raw, reasons in self.db.execute(sql)]

    def forget_filter_reasons(self, tvmaze_id: int) -> None:
        """Unreadable reasons: dropped, and the show decided again by the next filter run."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE shows SET filter_reasons = NULL, needs_filter = 1 WHERE tvmaze_id = ?",
                [tvmaze_id],
            )

    def forget_updated(self, tvmaze_id: int) -> None:
        """An unusable stored copy: its TVMaze `updated` is forgotten, so the mirror takes
        any copy TVMaze announces as newer (at the latest, the weekly read of the whole
        updates map)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE shows SET tvmaze_updated_at = NULL WHERE tvmaze_id = ?", [tvmaze_id]
            )

    def updated_map(self) -> dict[int, int | None]:
        """tvmaze_id -> stored `updated`, for comparing with TVMaze's updates map."""
        return dict(self.db.execute("SELECT tvmaze_id, tvmaze_updated_at FROM shows").fetchall())

    def updated_between(self, low: int, high: int) -> dict[int, int | None]:
        """tvmaze_id -> stored `updated` of the shows whose id is in [low, high] (one page)."""
        rows = self.db.execute(
            "SELECT tvmaze_id, tvmaze_updated_at FROM shows WHERE tvmaze_id BETWEEN ? AND ?",
            [low, high],
        )
        return dict(rows.fetchall())

    def ids_from(self, low: int) -> list[int]:
        """The stored ids at or above `low` (past the end of TVMaze's index)."""
        rows = self.db.execute("SELECT tvmaze_id FROM shows WHERE tvmaze_id >= ?", [low])
        return [tvmaze_id for (tvmaze_id,) in rows]

    def settled_ids(self) -> set[int]:
        """Shows whose status records a fact about the user's Sonarr library."""
        rows = self.db.execute(f"SELECT tvmaze_id FROM shows WHERE {_SETTLED_SQL}", _SETTLED)
        return {tvmaze_id for (tvmaze_id,) in rows}

    def forget_show(self, tvmaze_id: int) -> bool:
        """Delete a show TVMaze no longer has, unless its status records a fact about the
        user's Sonarr library (added, exists, removed by the user); True if deleted."""
        cursor = self.db.execute(
            f"DELETE FROM shows WHERE tvmaze_id = ? AND NOT {_SETTLED_SQL}",
            [tvmaze_id, *_SETTLED],
        )
        return bool(cursor.rowcount)

    def highest_id(self) -> int | None:
        return self.db.execute("SELECT MAX(tvmaze_id) FROM shows").fetchone()[0]

    # --- one show ------------------------------------------------------------------------

    def get_row(self, tvmaze_id: int) -> dict[str, Any] | None:
        rows = list(self.db["shows"].rows_where("tvmaze_id = ?", [tvmaze_id]))
        return rows[0] if rows else None

    def get_show(self, tvmaze_id: int) -> Show | None:
        row = self.get_row(tvmaze_id)
        return show_from_row(row) if row else None

    def rows_where(
        self, where: str | None = None, params: Iterable[Any] = (), **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Parameterised row query (sqlite-utils `rows_where`), for the storage layer and
        tests; the program calls the named methods."""
        return self.db["shows"].rows_where(where, list(params), **kwargs)

    def update_show(self, tvmaze_id: int, **columns: Any) -> None:
        """Set columns of one show, nothing else (the caller's transaction)."""
        assignments = ", ".join(f"{name} = ?" for name in _names(columns))
        self.db.execute(
            f"UPDATE shows SET {assignments} WHERE tvmaze_id = ?", [*columns.values(), tvmaze_id]
        )

    def set_status(
        self,
        tvmaze_id: int,
        stamp: str,
        status: ProcessingStatus,
        reason: str | None = None,
        **columns: Any,
    ) -> None:
        """Move a show to `status` (and `reason`), stamping `updated_at`.

        `pending_tvdb_since` follows: set on entering pending_tvdb, kept while it stays there
        (the right-hand side reads the old status), cleared on leaving.
        """
        assignments = {"processing_status": status.value, "status_reason": reason, **columns}
        sql = ", ".join(f"{name} = :{name}" for name in _names(assignments))
        self.db.execute(
            f"UPDATE shows SET {sql}, updated_at = :stamp, pending_tvdb_since = CASE "
            "WHEN :processing_status != :waiting THEN NULL "
            "WHEN processing_status = :waiting AND pending_tvdb_since IS NOT NULL "
            "THEN pending_tvdb_since ELSE :stamp END WHERE tvmaze_id = :tvmaze_id",
            {**assignments, "stamp": stamp, "tvmaze_id": tvmaze_id, "waiting": str(P.PENDING_TVDB)},
        )

    def bump_retry_count(self, tvmaze_id: int) -> None:
        """One more retry of a queued show (the TVDB lookup retry, sonarr/phase.py)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE shows SET retry_count = COALESCE(retry_count, 0) + 1 WHERE tvmaze_id = ?",
                [tvmaze_id],
            )

    # --- by status -----------------------------------------------------------------------

    def count_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in ProcessingStatus}
        for status, count in self.db.execute(
            "SELECT processing_status, COUNT(*) FROM shows GROUP BY processing_status"
        ):
            counts[status] = count
        return counts

    def count_in_status(self, status: ProcessingStatus) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM shows WHERE processing_status = ?", [status])
        return int(row.fetchone()[0])

    def shows_in_status(
        self, status: ProcessingStatus, columns: Sequence[str] = ("tvmaze_id", "title")
    ) -> list[dict[str, Any]]:
        """`columns` of every show in `status`, by tvmaze id."""
        return list(
            self.rows_where(
                "processing_status = ?",
                [status.value],
                select=", ".join(_names(columns)),
                order_by="tvmaze_id",
            )
        )

    def shows_by_ids(self, ids: Sequence[int], columns: Sequence[str]) -> list[dict[str, Any]]:
        """`columns` of the stored shows among `ids` (any order)."""
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows.extend(
                self.rows_where(
                    f"tvmaze_id IN ({marks(chunk)})", chunk, select=", ".join(_names(columns))
                )
            )
        return rows

    def shows_of_series(self, tvmaze_id: int | None, tvdb_id: int) -> list[dict[str, Any]]:
        """The shows a ledger entry speaks of (its TVMaze id, or its TheTVDB id)."""
        return list(
            self.rows_where(
                "tvmaze_id = ? OR tvdb_id = ?",
                [tvmaze_id, tvdb_id],
                select="tvmaze_id, title, processing_status",
            )
        )

    def distinct_values(self, column: FacetColumn) -> set[str]:
        """Every value TVMaze gave a column of the mirror (each genre of the lists, for
        `genres`): what the filter-value check accepts beyond its built-in vocabulary."""
        if column == "genres":
            sql = "SELECT DISTINCT j.value FROM shows, json_each(shows.genres) AS j"
        else:
            assert column in FACET_COLUMNS, column  # a name from a fixed set, never user input
            sql = f"SELECT DISTINCT {column} FROM shows"
        return {value for (value,) in self.db.execute(sql) if isinstance(value, str) and value}

    # --- the filters ---------------------------------------------------------------------

    def decision_rows(
        self, statuses: Iterable[ProcessingStatus], only_needing: bool
    ) -> Iterator[DecisionRow]:
        """Every show in `statuses` (only those whose data changed since the filters last
        saw them, with `only_needing`), in table order, as the filters read it.

        The hot loop of refilter, run over the whole cache (bench/refilter_bench.py): rows
        are read as tuples, Shows built positionally, and each distinct genre list decoded
        once.
        """
        values = [s.value for s in statuses]
        sql = decision_sql(len(values), only_needing)
        width, positions = len(SHOW_COLUMNS), JSON_POSITIONS
        lists: dict[Any, tuple[str, ...]] = {None: (), "": (), "[]": ()}
        for row in self.db.execute(sql, values):
            fields = list(row[:width])
            try:
                for i in positions:  # show_from_values, inlined: this loop is the refilter
                    text = fields[i]
                    try:
                        fields[i] = lists[text]
                    except KeyError:
                        fields[i] = lists[text] = decode_list(text, fields[0], SHOW_COLUMNS[i])
            except DamagedRow as damaged:  # decided once the next sync has rebuilt it
                log.warning("show_row_damaged tvmaze_id=%s error=%r", fields[0], str(damaged))
                continue
            yield Show(*fields), row[width], row[width + 1], row[width + 2]

    def record_decisions(self, decisions: Iterable[Decision]) -> None:
        """Write filter decisions (the caller's transaction); approval is lost on `filtered`."""
        self.db.conn.executemany(_DECIDE_SQL, decisions)
