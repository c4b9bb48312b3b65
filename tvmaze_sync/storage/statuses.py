"""The `shows` table by processing status: the Sonarr side's queues, the review queue, the
Custom List and the metrics, one named method each.

A mixin of `Store` (store.py), beside shows.py (the mirror, one show, the filters); callers
never write SQL, and every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.storage.shows import ShowsTable, marks

P = ProcessingStatus

#: Most popular first: TVMaze's `weight` (an unknown one sorts last, as NULLs do in a DESC
#: order), then the rating, then the newest premiere; the id settles ties so the order is
#: the same every cycle.
POPULARITY_ORDER = "weight DESC, rating DESC, premiered DESC, tvmaze_id"
#: What the add path reads of a candidate (the popularity columns: `sonarr.ledger.by_popularity`).
CANDIDATE_COLUMNS = (
    "tvmaze_id",
    "title",
    "tvdb_id",
    "processing_status",
    "status_reason",
    "retry_count",
    "approved_at",
    "weight",
    "rating",
    "premiered",
)


class StatusQueries(ShowsTable):
    """The queries of shows by status (`Store` has them all)."""

    # --- the Sonarr side -------------------------------------------------------------------

    def add_candidates(self, now: str | None = None) -> list[dict[str, Any]]:
        """Shows the filters passed (and have seen since their data last changed), unsent,
        most popular first (POPULARITY_ORDER), as CANDIDATE_COLUMNS. With `now`, also the
        `pending_tvdb` shows with a TVDB id whose retry is due."""
        where = "processing_status = ? AND needs_filter = 0"
        params: list[Any] = [P.PENDING.value]
        if now is not None:
            where = (
                f"({where}) OR (processing_status = ? AND tvdb_id IS NOT NULL "
                "AND (retry_after IS NULL OR retry_after <= ?))"
            )
            params += [P.PENDING_TVDB.value, now]
        select = ", ".join(CANDIDATE_COLUMNS)
        return list(self.rows_where(where, params, order_by=POPULARITY_ORDER, select=select))

    def tvdb_waits_due(self, now: str) -> list[dict[str, Any]]:
        """`pending_tvdb` shows whose `retry_after` has passed (or was never set), by id."""
        return list(
            self.rows_where(
                "processing_status = ? AND (retry_after IS NULL OR retry_after <= ?)",
                [P.PENDING_TVDB.value, now],
                order_by="tvmaze_id",
                select="tvmaze_id, tvdb_id, pending_tvdb_since, retry_count",
            )
        )

    def release_found_tvdb_waits(self, stamp: str, waiting: str) -> None:
        """Shows waiting with reason `waiting` (no TVDB id) that have one now, and that the
        filters have seen since, become pending at once."""
        self.db.execute(
            "UPDATE shows SET processing_status = ?, status_reason = NULL, retry_after = NULL, "
            "pending_tvdb_since = NULL, updated_at = ? "
            "WHERE processing_status = ? AND status_reason = ? "
            "AND tvdb_id IS NOT NULL AND needs_filter = 0",
            [P.PENDING.value, stamp, P.PENDING_TVDB.value, waiting],
        )

    def with_tvdb_in(self, statuses: Sequence[ProcessingStatus]) -> list[dict[str, Any]]:
        """tvmaze_id, tvdb_id and status of the shows in `statuses` that have a TVDB id."""
        return list(
            self.rows_where(
                f"processing_status IN ({marks(statuses)}) AND tvdb_id IS NOT NULL",
                [s.value for s in statuses],
                select="tvmaze_id, tvdb_id, processing_status",
            )
        )

    def failed_retries_due(self, reasons: Sequence[str], now: str) -> list[dict[str, Any]]:
        """Failed shows with one of `reasons` whose `retry_after` has passed, by id."""
        return list(
            self.rows_where(
                f"processing_status = ? AND status_reason IN ({marks(reasons)}) "
                "AND retry_after IS NOT NULL AND retry_after <= ?",
                [P.FAILED.value, *reasons, now],
                order_by="tvmaze_id",
                select="tvmaze_id, tvdb_id, retry_count",
            )
        )

    def review_candidates(self) -> list[dict[str, Any]]:
        """Decided, unsent shows and the shows waiting for review, by id."""
        return list(
            self.rows_where(
                "processing_status IN (?, ?) AND needs_filter = 0",
                [P.PENDING.value, P.REVIEW.value],
                order_by="tvmaze_id",
                select="tvmaze_id, title, tvdb_id, processing_status, approved_at",
            )
        )

    def release_review(self, stamp: str) -> int:
        """Every show waiting for review back to pending, for the filters to decide again."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE shows SET processing_status = ?, status_reason = NULL, needs_filter = 1, "
                "updated_at = ? WHERE processing_status = ?",
                [P.PENDING.value, stamp, P.REVIEW.value],
            )
        return cursor.rowcount or 0

    def review_queue(self) -> list[dict[str, Any]]:
        """The shows waiting for review, most popular (TVMaze weight) first: tvmaze_id,
        title, network (or web channel), premiered, rating, weight."""
        cursor = self.db.execute(
            "SELECT tvmaze_id, title, COALESCE(network, web_channel) AS network, premiered, "
            "rating, weight FROM shows WHERE processing_status = ? "
            "ORDER BY weight DESC NULLS LAST, rating DESC NULLS LAST, tvmaze_id",
            [P.REVIEW.value],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def sonarr_list_rows(self, statuses: Sequence[ProcessingStatus]) -> list[dict[str, Any]]:
        """tvmaze_id, title, tvdb_id and imdb_id of the shows in `statuses` with a TVDB id, by
        tvmaze id; a `pending` show the filters have not judged since its data changed is left
        out."""
        return list(
            self.rows_where(
                f"tvdb_id IS NOT NULL AND (processing_status IN ({marks(statuses)}) "
                "AND NOT (processing_status = ? AND needs_filter = 1))",
                [*(s.value for s in statuses), P.PENDING.value],
                select="tvmaze_id, title, tvdb_id, imdb_id",
                order_by="tvmaze_id",
            )
        )

    def undecided_pending_ids(self) -> set[int]:
        """Pending shows the filters have not judged since their data changed (a mirror
        marks them `needs_filter`; the cycle's filter phase clears it): the Custom List
        cannot say yet whether they belong on it."""
        return {
            tvmaze_id
            for (tvmaze_id,) in self.db.execute(
                "SELECT tvmaze_id FROM shows WHERE needs_filter = 1 AND processing_status = ?",
                [P.PENDING.value],
            )
        }

    # --- the metrics -----------------------------------------------------------------------

    def filtered_by_rule(self) -> dict[str, int]:
        """Filtered shows by rule: the part of `filter_reason` before the first ':'
        ("genre_excluded:Reality"); by value it would be one series per genre (unbounded)."""
        return dict(
            self.db.execute(
                "SELECT CASE WHEN instr(filter_reason, ':') > 0 "
                "THEN substr(filter_reason, 1, instr(filter_reason, ':') - 1) "
                "ELSE COALESCE(NULLIF(filter_reason, ''), 'unknown') END AS rule, COUNT(*) "
                "FROM shows WHERE processing_status = ? GROUP BY rule",
                [P.FILTERED.value],
            ).fetchall()
        )

    def pending_tvdb_reasons(self) -> dict[str, int]:
        """`pending_tvdb` shows by status reason."""
        return dict(
            self.db.execute(
                "SELECT COALESCE(status_reason, 'unknown') AS reason, COUNT(*) "
                "FROM shows WHERE processing_status = ? GROUP BY reason",
                [P.PENDING_TVDB.value],
            ).fetchall()
        )

    def check_readable(self) -> None:
        """Raise unless the shows table can be read (the server's readiness)."""
        self.db.execute("SELECT 1 FROM shows LIMIT 1").fetchall()
