"""The Sonarr-side statuses of shows, and the ownership ledger that keeps deleted series out.

`sonarr_ledger` records every series this tool added (tvdb id, Sonarr id, title, time). It is
the only record of ownership: refilter, filter changes and rescans rewrite `shows`, never the
ledger. Each cycle `reconcile` compares it with a complete read of the Sonarr library: a
series the tool added that is gone was deleted by the user, so its show becomes
`removed_by_user` and no later cycle adds it again (`sonarr.on_user_removal` may instead let
it back in, `allow_readd`). Shows the tool did not add (`exists`) are never touched.

Crash safety of an add (sonarr.py): before the POST the ledger gets an *intent* row (no
`added_at`), committed on its own; after the 201 the confirmed row and the show's `added`
status are written in one transaction. If the process dies between the two, the next
`reconcile` finds the series in the library *and* an intent row, so it is recorded as `added`
(ours), not `exists`, and nothing is posted twice. An intent row whose series is missing from
the next complete library read was never created: it is dropped and the show tried again. The
one case left open: a user who deletes such a series before the next cycle gets it back once,
because that cannot be told apart from a POST that never arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from sqlite_utils.db import Table

from tvmaze_sync.models import CycleSummary, ProcessingStatus
from tvmaze_sync.sonarr_api import Exclusion, LibrarySeries
from tvmaze_sync.store import Store
from tvmaze_sync.timeutil import iso, parse_iso

log = logging.getLogger(__name__)

P = ProcessingStatus
Removal = Literal["keep_out", "exclude_in_sonarr", "allow_readd"]


class Reason(StrEnum):
    """`shows.status_reason`: why a show sits in a Sonarr-side status."""

    NO_TVDB_ID = "no_tvdb_id"  # pending_tvdb: TVMaze has no TheTVDB id for it
    TVDB_NOT_IN_SONARR = "tvdb_not_in_sonarr"  # pending_tvdb: Sonarr's lookup found nothing
    ABANDONED_NO_TVDB = "abandoned_no_tvdb"  # failed: still no usable id after abandon_after
    REJECTED_BY_SONARR = "rejected_by_sonarr"  # failed: a 400; Sonarr's words in error_message
    SONARR_EXCLUSION = "sonarr_exclusion"  # excluded: on Sonarr's Import List Exclusions
    DELETED_IN_SONARR = "deleted_in_sonarr"  # removed_by_user: we added it, the user deleted it
    DENIED_IN_REVIEW = "denied_in_review"  # skipped: `tvmaze-sync review deny`


# --- statuses -----------------------------------------------------------------------------


def count(summary: CycleSummary, status: ProcessingStatus) -> None:
    summary.results[status.value] = summary.results.get(status.value, 0) + 1


def update(
    store: Store,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: Reason | None = None,
    **columns: Any,
) -> None:
    """Move a show to `status` (and `reason`) without counting it as a result.

    `pending_tvdb_since` follows: set on entering pending_tvdb, kept while it stays there
    (the right-hand side reads the old status), cleared on leaving.
    """
    assignments = {"processing_status": status.value, "status_reason": reason, **columns}
    sql = ", ".join(f"{name} = :{name}" for name in assignments)
    store.db.execute(
        f"UPDATE shows SET {sql}, updated_at = :stamp, pending_tvdb_since = CASE "
        "WHEN :processing_status != :waiting THEN NULL "
        "WHEN processing_status = :waiting AND pending_tvdb_since IS NOT NULL "
        "THEN pending_tvdb_since ELSE :stamp END WHERE tvmaze_id = :tvmaze_id",
        {**assignments, "stamp": stamp, "tvmaze_id": tvmaze_id, "waiting": P.PENDING_TVDB.value},
    )


def settle(
    store: Store,
    summary: CycleSummary,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: Reason | None = None,
    **columns: Any,
) -> None:
    """Set a show's result and count it, in one transaction (the caller's, if open)."""
    with store.atomic():
        update(store, tvmaze_id, stamp, status, reason, **columns)
        store.bump_counter("shows_processed", status.value)
    count(summary, status)


def settle_exists(
    store: Store, summary: CycleSummary, tvmaze_id: int, stamp: str, series_id: int | None
) -> None:
    settle(
        store,
        summary,
        tvmaze_id,
        stamp,
        P.EXISTS,
        sonarr_series_id=series_id,
        retry_after=None,
        error_message=None,
    )


def settle_added(
    store: Store, summary: CycleSummary, row: Mapping[str, Any], series_id: int, added_at: str
) -> None:
    """The show is in Sonarr because of us: its status and the confirmed ledger row, at once."""
    with store.atomic():
        table(store).update(row["tvdb_id"], {"sonarr_series_id": series_id, "added_at": added_at})
        settle(
            store,
            summary,
            row["tvmaze_id"],
            added_at,
            P.ADDED,
            sonarr_series_id=series_id,
            added_to_sonarr_at=added_at,
            retry_after=None,
            error_message=None,
        )
    summary.added_titles.append(row["title"])
    summary.added_ids.append(row["tvmaze_id"])


def candidates(store: Store) -> list[dict[str, Any]]:
    """Shows the filters passed (and have seen since their data last changed), unsent."""
    return list(
        store.rows_where(
            "processing_status = ? AND needs_filter = 0",
            [P.PENDING.value],
            order_by="tvmaze_id",
            select="tvmaze_id, title, tvdb_id, approved_at",
        )
    )


def decide(
    tvdb_id: int | None,
    library: Mapping[int, LibrarySeries],
    blocked: set[int],
    exclusions: Mapping[int, Exclusion],
) -> ProcessingStatus | None:
    """What a decided, unsent show becomes without any request; None means: try the add."""
    if not tvdb_id:
        return P.PENDING_TVDB
    if tvdb_id in library:
        return P.EXISTS
    if tvdb_id in blocked:
        return P.REMOVED_BY_USER
    if tvdb_id in exclusions:
        return P.EXCLUDED
    return None


# --- the ledger table -----------------------------------------------------------------------


def table(store: Store) -> Table:
    return store.db.table("sonarr_ledger")


def entries(store: Store, where: str | None = None) -> list[dict[str, Any]]:
    return list(table(store).rows_where(where, order_by="tvdb_id"))


def entry(store: Store, tvdb_id: int | None) -> dict[str, Any] | None:
    if not tvdb_id:
        return None
    rows = list(table(store).rows_where("tvdb_id = ?", [tvdb_id]))
    return rows[0] if rows else None


def record_intent(store: Store, row: Mapping[str, Any]) -> None:
    """Committed before the POST: an add is about to be tried (see the module docstring)."""
    with store.atomic():
        table(store).upsert(
            {
                "tvdb_id": row["tvdb_id"],
                "tvmaze_id": row["tvmaze_id"],
                "title": row["title"],
                "sonarr_series_id": None,
                "added_at": None,
                "removed_at": None,
                "exclusion_posted_at": None,
            },
            pk="tvdb_id",
        )


def drop(store: Store, tvdb_id: int) -> None:
    with store.atomic():
        table(store).delete_where("tvdb_id = ?", [tvdb_id])


def mark_exclusion_posted(store: Store, tvdb_id: int, stamp: str) -> None:
    with store.atomic():
        table(store).update(tvdb_id, {"exclusion_posted_at": stamp})


# --- the ledger against the library -------------------------------------------------------


def blocked_ids(
    store: Store, library: Mapping[int, LibrarySeries], on_user_removal: Removal
) -> set[int]:
    """TVDB ids this tool added that are gone from the library: never to be added again."""
    if on_user_removal == "allow_readd":
        return set()
    return {
        e["tvdb_id"] for e in entries(store, "added_at IS NOT NULL") if e["tvdb_id"] not in library
    }


def reconcile(
    store: Store,
    summary: CycleSummary,
    stamp: str,
    library: Mapping[int, LibrarySeries],
    exclusions: Mapping[int, Exclusion],
    on_user_removal: Removal,
) -> set[int]:
    """Apply what one complete read of the library and the exclusions says, in one
    transaction, before any add. Returns the blocked tvdb ids (`blocked_ids`)."""
    readd = on_user_removal == "allow_readd"
    with store.atomic():
        for item in entries(store):
            series = library.get(item["tvdb_id"])
            if item["added_at"] is None:  # an intent row: did the POST create the series?
                if series is not None:
                    _confirm(store, summary, item, series, stamp)
                else:
                    drop(store, item["tvdb_id"])
            elif series is not None:
                if item["removed_at"] is not None:  # the user added it back by hand
                    for row in _shows_of(store, item):
                        if row["processing_status"] == P.REMOVED_BY_USER:
                            settle_exists(store, summary, row["tvmaze_id"], stamp, series.series_id)
            elif item["removed_at"] is None:
                table(store).update(item["tvdb_id"], {"removed_at": stamp})
                _removed(store, summary, item, stamp, on_user_removal)
            elif readd:
                _release(store, item, stamp, P.REMOVED_BY_USER)
        _settle_by_reads(store, summary, stamp, library, exclusions)
        blocked = blocked_ids(store, library, on_user_removal)
        for row in candidates(store):
            decision = decide(row["tvdb_id"], library, blocked, exclusions)
            if decision is P.EXISTS:
                series_id = library[row["tvdb_id"]].series_id
                settle_exists(store, summary, row["tvmaze_id"], stamp, series_id)
            elif decision is P.REMOVED_BY_USER:
                settle(store, summary, row["tvmaze_id"], stamp, decision, Reason.DELETED_IN_SONARR)
            elif decision is P.EXCLUDED:
                settle(store, summary, row["tvmaze_id"], stamp, decision, Reason.SONARR_EXCLUSION)
    return blocked


def _settle_by_reads(
    store: Store,
    summary: CycleSummary,
    stamp: str,
    library: Mapping[int, LibrarySeries],
    exclusions: Mapping[int, Exclusion],
) -> None:
    """Excluded or failed shows now in the library exist; a lifted exclusion frees its show
    (to be decided by the current filters: they last saw it before it was excluded);
    a TVDB id the mirror brought ends a no-id wait at once (a show Sonarr's lookup did not
    know still waits for its retry)."""
    for row in list(
        store.rows_where(
            "processing_status IN (?, ?) AND tvdb_id IS NOT NULL",
            [P.EXCLUDED.value, P.FAILED.value],
            select="tvmaze_id, tvdb_id, processing_status",
        )
    ):
        tvdb_id = row["tvdb_id"]
        if tvdb_id in library:
            settle_exists(store, summary, row["tvmaze_id"], stamp, library[tvdb_id].series_id)
        elif row["processing_status"] == P.EXCLUDED and tvdb_id not in exclusions:
            update(store, row["tvmaze_id"], stamp, P.PENDING, needs_filter=1)
            log.info("sonarr_exclusion_lifted tvmaze_id=%d tvdb_id=%d", row["tvmaze_id"], tvdb_id)
    store.db.execute(
        "UPDATE shows SET processing_status = ?, status_reason = NULL, retry_after = NULL, "
        "pending_tvdb_since = NULL, updated_at = ? "
        "WHERE processing_status = ? AND status_reason = ? "
        "AND tvdb_id IS NOT NULL AND needs_filter = 0",
        [P.PENDING.value, stamp, P.PENDING_TVDB.value, Reason.NO_TVDB_ID.value],
    )


def _confirm(
    store: Store,
    summary: CycleSummary,
    item: Mapping[str, Any],
    series: LibrarySeries,
    stamp: str,
) -> None:
    """An add whose 201 was never recorded (the process died): it is ours, record it."""
    added_at = iso(parse_iso(series.added)) if series.added else stamp
    row = store.get_row(item["tvmaze_id"]) if item["tvmaze_id"] else None
    if row is not None and row["processing_status"] != P.ADDED:
        settle_added(store, summary, row, series.series_id, added_at)
    else:
        table(store).update(
            item["tvdb_id"], {"sonarr_series_id": series.series_id, "added_at": added_at}
        )
    log.info(
        "sonarr_add_recovered tvdb_id=%d sonarr_id=%d tvmaze_id=%s",
        item["tvdb_id"],
        series.series_id,
        item["tvmaze_id"],
    )


def _removed(
    store: Store, summary: CycleSummary, item: Mapping[str, Any], stamp: str, policy: Removal
) -> None:
    log.info(
        "sonarr_series_removed_by_user tvdb_id=%d sonarr_id=%s action=%s title=%r",
        item["tvdb_id"],
        item["sonarr_series_id"],
        policy,
        item["title"],
    )
    if policy == "allow_readd":
        _release(store, item, stamp, P.ADDED)
        return
    for row in _shows_of(store, item):
        if row["processing_status"] != P.REMOVED_BY_USER:
            settle(
                store,
                summary,
                row["tvmaze_id"],
                stamp,
                P.REMOVED_BY_USER,
                Reason.DELETED_IN_SONARR,
            )


def _release(store: Store, item: Mapping[str, Any], stamp: str, status: ProcessingStatus) -> None:
    """allow_readd: the show is a candidate again, but only once today's filters pass it."""
    for row in _shows_of(store, item):
        if row["processing_status"] == status:
            update(store, row["tvmaze_id"], stamp, P.PENDING, needs_filter=1)


def _shows_of(store: Store, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(
        store.rows_where(
            "tvmaze_id = ? OR tvdb_id = ?",
            [item["tvmaze_id"], item["tvdb_id"]],
            select="tvmaze_id, title, processing_status",
        )
    )


def preview(
    store: Store,
    summary: CycleSummary,
    library: Mapping[int, LibrarySeries],
    exclusions: Mapping[int, Exclusion],
    on_user_removal: Removal,
    *,
    require_approval: bool = False,
) -> None:
    """Dry run: count what `reconcile` and the adds would do; write nothing."""
    for item in entries(store, "added_at IS NOT NULL AND removed_at IS NULL"):
        if item["tvdb_id"] not in library:
            count(summary, P.REMOVED_BY_USER)
    blocked = blocked_ids(store, library, on_user_removal)
    for row in candidates(store):
        decision = decide(row["tvdb_id"], library, blocked, exclusions)
        if decision is None and require_approval and not row["approved_at"]:
            count(summary, P.REVIEW)
        elif decision is None:
            summary.would_add_titles.append(row["title"])
        else:
            count(summary, decision)


def explain(store: Store, row: Mapping[str, Any]) -> str | None:
    """What the Sonarr side knows about this show beyond its status, for `explain`: who
    added it and when, when the user deleted it, which exclusion keeps it out, why it waits."""
    status = row.get("processing_status")
    item = entry(store, row.get("tvdb_id"))
    if status == P.REMOVED_BY_USER and item and item["removed_at"]:
        return (
            f"tvmaze-sync added it to Sonarr on {item['added_at']}; it was deleted there "
            f"(noticed {item['removed_at']}), so it is not added again "
            "(sonarr.on_user_removal)"
        )
    if status == P.ADDED and item and item["added_at"]:
        return (
            f"tvmaze-sync added it to Sonarr on {item['added_at']} "
            f"as series {item['sonarr_series_id']}"
        )
    if status == P.EXCLUDED:  # the status note already says it is excluded: only the way out
        return (
            f"lift TheTVDB id {row.get('tvdb_id')} in Sonarr (Settings > Import Lists) "
            "and the next sync decides it by the filters again"
        )
    if status == P.PENDING_TVDB and row.get("status_reason") == Reason.TVDB_NOT_IN_SONARR:
        return f"Sonarr's metadata does not know TheTVDB id {row.get('tvdb_id')} yet"
    if status == P.FAILED and row.get("status_reason") == Reason.ABANDONED_NO_TVDB:
        return "given up: no usable TheTVDB id within sync.abandon_after of starting to wait"
    return None
