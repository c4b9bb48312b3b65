"""The Sonarr-side statuses of shows, and the ownership ledger that keeps deleted series out.

`sonarr_ledger` records every series this tool added (tvdb id, Sonarr id, title, time). It is
the only record of ownership: refilter, filter changes and rescans rewrite `shows`, never the
ledger. Each cycle `reconcile` compares it with a complete read of the Sonarr library: a
series the tool added that is gone was deleted by the user, so its show becomes
`removed_by_user` and no later cycle adds it again (`sonarr.on_user_removal` may instead let
it back in, `allow_readd`). Shows the tool did not add (`exists`) are never touched.

The removal guard (`vanished`): a user deletes a few series at a time; a library that lost
more than `sonarr.max_removals` of ours at once (or all of its series) is a new, reset or
restored Sonarr far more often. A series whose deletion left an Import List Exclusion
(Sonarr's "prevent re-add") was deleted on purpose and is not counted. When too many others
are missing, nothing is concluded for any of them: each is *held*
(`held_at`), neither `removed_by_user` nor added again, and stays held, cycle after cycle,
until it reappears in the library (released silently) or the user decides with
`tvmaze-sync removals accept` or `readd` (removals.py).

The exclusion guard (`lifted_exclusions`) is its mirror for Import List Exclusions: a show
recorded `excluded` whose exclusion is missing from a read is freed (the user lifted it),
unless more than `sonarr.max_removals` vanished at once, or more than one with the list
come back empty. Then none is freed this cycle (`sonarr_exclusions_distrusted`,
`exclusions_distrusted` in the summary); each read decides again, so a list that really
shrank that much frees its shows only on the user's word: a run with a higher
`sonarr.max_removals`, or lifting the last exclusion on its own (docs/troubleshooting.md).

Crash safety of an add (phase.py): before the POST the ledger gets an *intent* row (no
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
from dataclasses import dataclass
from typing import Any, Literal

from tvmaze_sync.core.models import CycleSummary, ProcessingStatus, StatusReason
from tvmaze_sync.core.timeutil import iso, parse_iso
from tvmaze_sync.sonarr.gateway import Exclusion, LibrarySeries
from tvmaze_sync.storage.statuses import CANDIDATE_COLUMNS
from tvmaze_sync.storage.store import Store

log = logging.getLogger(__name__)

P = ProcessingStatus
Removal = Literal["keep_out", "exclude_in_sonarr", "allow_readd"]


# --- statuses -----------------------------------------------------------------------------


def count(summary: CycleSummary, status: ProcessingStatus) -> None:
    summary.results[status.value] = summary.results.get(status.value, 0) + 1


def uncount(summary: CycleSummary, status: ProcessingStatus) -> None:
    """Take back one `count` (a show counted pending, then settled otherwise this cycle)."""
    left = summary.results.get(status.value, 0) - 1
    if left > 0:
        summary.results[status.value] = left
    else:
        summary.results.pop(status.value, None)


def update(
    store: Store,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: StatusReason | None = None,
    **columns: Any,
) -> None:
    """Move a show to `status` (and `reason`) without counting it as a result.

    `pending_tvdb_since` follows: set on entering pending_tvdb, kept while it stays there
    (the right-hand side reads the old status), cleared on leaving.
    """
    store.set_status(tvmaze_id, stamp, status, reason, **columns)


def settle(
    store: Store,
    summary: CycleSummary,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: StatusReason | None = None,
    **columns: Any,
) -> None:
    """Set a show's result and count it, in one transaction (the caller's, if open)."""
    with store.atomic():
        update(store, tvmaze_id, stamp, status, reason, **columns)
        store.bump_counter("shows_processed", status.value)
    count(summary, status)


def skip(store: Store, tvmaze_id: int, stamp: str, reason: StatusReason) -> None:
    """The one way a show becomes `skipped` (`skip`, `review deny`): never added, kept
    through refilter and rescans (the filters and the mirror never change `skipped`), its
    automatic retry and its approval dropped. Counted as a result like every other status
    change."""
    with store.atomic():
        update(store, tvmaze_id, stamp, P.SKIPPED, reason, retry_after=None, approved_at=None)
        store.bump_counter("shows_processed", P.SKIPPED.value)


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
        store.ledger_update(row["tvdb_id"], sonarr_series_id=series_id, added_at=added_at)
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


#: Failed adds the automatic retry gives another chance (abandoned waits are final).
RETRIED_FAILURES = (
    StatusReason.REJECTED_BY_SONARR,
    StatusReason.CONFLICT_IN_SONARR,
    StatusReason.UNREADABLE_ANSWER,
)


def by_popularity(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` in the store's `POPULARITY_ORDER` (most popular first), for lists SQL did not
    sort (stable sorts, last key first; None sorts last as in SQLite's DESC)."""
    rows = sorted(rows, key=lambda r: int(r["tvmaze_id"]))
    for column in ("premiered", "rating", "weight"):
        rows.sort(key=lambda r: (r[column] is not None, r[column] or 0), reverse=True)
    return rows


def candidates(store: Store, now: str | None = None) -> list[dict[str, Any]]:
    """Shows the filters passed (and have seen since their data last changed), unsent, most
    popular first (`POPULARITY_ORDER`: the add budget takes them in this order).

    With `now`, also the `pending_tvdb` shows with a TVDB id whose retry is due: Sonarr's
    lookup is asked again while they keep waiting, so `abandon_after` counts from the start
    of the wait."""
    return store.add_candidates(now)


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


def record_intent(
    store: Store, row: Mapping[str, Any], route: str | None = None, target: str | None = None
) -> None:
    """Committed before the POST: an add is about to be tried (see the module docstring),
    following `route` (its name; None: the instance's own settings) with the lasting
    settings `target` (JSON, routing.lasting)."""
    store.ledger_record_intent(row, route, target)


def drop(store: Store, tvdb_id: int) -> None:
    store.ledger_drop(tvdb_id)


def mark_exclusion_posted(store: Store, tvdb_id: int, stamp: str) -> None:
    with store.atomic():
        store.ledger_update(tvdb_id, exclusion_posted_at=stamp)


# --- the ledger against the library -------------------------------------------------------


def blocked_ids(
    store: Store, library: Mapping[int, LibrarySeries], on_user_removal: Removal
) -> set[int]:
    """TVDB ids this tool added that are gone from the library: never to be added again
    (held ones neither, whatever the policy: the user has not said yet what happened)."""
    held = {e["tvdb_id"] for e in store.ledger_rows(held_at=True)}
    if on_user_removal == "allow_readd":
        return held
    return held | {
        e["tvdb_id"] for e in store.ledger_rows(added_at=True) if e["tvdb_id"] not in library
    }


@dataclass(frozen=True)
class Vanished:
    """What one complete library read says of the series this tool added and still owns."""

    held: list[dict[str, Any]]  # missing and not concluded: the guard holds them
    removed: list[dict[str, Any]]  # missing, few enough at once: deleted by the user
    back: list[dict[str, Any]]  # held until now and in the library again: released


def vanished(
    store: Store,
    library: Mapping[int, LibrarySeries],
    max_removals: int,
    exclusions: Mapping[int, Exclusion],
) -> Vanished:
    """The removal guard (see the module docstring); reads only.

    Counted are the owned series missing from this read without an exclusion, held ones
    included, so a hold lasts while the library still looks replaced; a series held once
    stays held until it is back, excluded, or the user decides, even when later reads
    count fewer missing.
    """
    owned = store.ledger_rows(added_at=True, removed_at=False)
    gone = [e for e in owned if e["tvdb_id"] not in library]
    excluded = [e for e in gone if e["tvdb_id"] in exclusions]
    missing = [e for e in gone if e["tvdb_id"] not in exclusions]
    back = [e for e in owned if e["held_at"] and e["tvdb_id"] in library]
    if len(missing) > max_removals or (missing and not library):
        return Vanished(held=missing, removed=excluded, back=back)
    return Vanished(
        held=[e for e in missing if e["held_at"]],
        removed=excluded + [e for e in missing if not e["held_at"]],
        back=back,
    )


def lifted_exclusions(
    store: Store, exclusions: Mapping[int, Exclusion], max_removals: int
) -> tuple[list[int], bool]:
    """The exclusion guard: the `excluded` shows whose exclusion is absent from this read
    (by tvmaze id), and whether the read may be believed about them; reads only.

    A user lifts an exclusion or two at a time; a read in which more than `max_removals` of
    them vanish at once, or more than one from an empty exclusion list, is far more often a
    Sonarr mid-restore, a proxy or a plugin answering `[]`. Believed, it would free every
    series the user excluded and this cycle would add them all. Distrusted, none is
    released and the next read decides again. (The last exclusion lifted alone is believed:
    an empty list is what a user who lifted it sees too.)"""
    lifted = [
        row["tvmaze_id"]
        for row in store.with_tvdb_in([P.EXCLUDED])
        if row["tvdb_id"] not in exclusions
    ]
    trusted = len(lifted) <= max_removals and (len(lifted) <= 1 or bool(exclusions))
    return lifted, trusted


def hold(store: Store, verdict: Vanished, stamp: str) -> set[int]:
    """Record the guard's verdict (the caller's transaction); returns the held tvdb ids."""
    for item in verdict.back:
        store.ledger_update(item["tvdb_id"], held_at=None)
        log.info("sonarr_removal_hold_released tvdb_id=%d title=%r", item["tvdb_id"], item["title"])
    fresh = [item for item in verdict.held if not item["held_at"]]
    for item in fresh:
        store.ledger_update(item["tvdb_id"], held_at=stamp)
    if verdict.held:
        log.warning(
            "sonarr_removals_held held=%d new=%d",
            len(verdict.held),
            len(fresh),
        )
    return {item["tvdb_id"] for item in verdict.held}


def reconcile(
    store: Store,
    summary: CycleSummary,
    stamp: str,
    library: Mapping[int, LibrarySeries],
    exclusions: Mapping[int, Exclusion],
    on_user_removal: Removal,
    max_removals: int,
) -> set[int]:
    """Apply what one complete read of the library and the exclusions says, in one
    transaction, before any add. Returns the blocked tvdb ids (`blocked_ids`).

    Series the removal guard holds are left as they are (see the module docstring)."""
    readd = on_user_removal == "allow_readd"
    with store.atomic():
        held = hold(store, vanished(store, library, max_removals, exclusions), stamp)
        summary.removals_held = len(held)
        for item in store.ledger_rows():
            if item["tvdb_id"] in held:
                continue
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
                conclude_removed(store, summary, item, stamp, on_user_removal)
            elif readd:
                release(store, item, stamp, P.REMOVED_BY_USER)
        lifted, trusted = lifted_exclusions(store, exclusions, max_removals)
        if not trusted:
            summary.exclusions_distrusted = len(lifted)
            log.warning("sonarr_exclusions_distrusted vanished=%d", len(lifted))
        _settle_by_reads(store, summary, stamp, library, exclusions if trusted else None)
        blocked = blocked_ids(store, library, on_user_removal)
        for row in candidates(store, stamp):
            decision = decide(row["tvdb_id"], library, blocked, exclusions)
            if decision is P.EXISTS:
                series_id = library[row["tvdb_id"]].series_id
                settle_exists(store, summary, row["tvmaze_id"], stamp, series_id)
            elif decision is P.REMOVED_BY_USER and row["tvdb_id"] not in held:
                settle(
                    store,
                    summary,
                    row["tvmaze_id"],
                    stamp,
                    decision,
                    StatusReason.DELETED_IN_SONARR,
                )
            elif decision is P.EXCLUDED:
                settle(
                    store, summary, row["tvmaze_id"], stamp, decision, StatusReason.SONARR_EXCLUSION
                )
    return blocked


def _settle_by_reads(
    store: Store,
    summary: CycleSummary,
    stamp: str,
    library: Mapping[int, LibrarySeries],
    exclusions: Mapping[int, Exclusion] | None,
) -> None:
    """Excluded or failed shows now in the library exist; a lifted exclusion frees its show
    (to be decided by the current filters: they last saw it before it was excluded), unless
    the exclusion guard distrusts the read (`exclusions` None: none is freed);
    a TVDB id the mirror brought ends a no-id wait at once (a show Sonarr's lookup did not
    know still waits for its retry)."""
    for row in store.with_tvdb_in([P.EXCLUDED, P.FAILED]):
        tvdb_id = row["tvdb_id"]
        if tvdb_id in library:
            settle_exists(store, summary, row["tvmaze_id"], stamp, library[tvdb_id].series_id)
        elif (
            exclusions is not None
            and row["processing_status"] == P.EXCLUDED
            and tvdb_id not in exclusions
        ):
            update(store, row["tvmaze_id"], stamp, P.PENDING, needs_filter=1)
            log.info("sonarr_exclusion_lifted tvmaze_id=%d tvdb_id=%d", row["tvmaze_id"], tvdb_id)
    store.release_found_tvdb_waits(stamp, StatusReason.NO_TVDB_ID.value)


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
        store.ledger_update(item["tvdb_id"], sonarr_series_id=series.series_id, added_at=added_at)
    log.info(
        "sonarr_add_recovered tvdb_id=%d sonarr_id=%d tvmaze_id=%s",
        item["tvdb_id"],
        series.series_id,
        item["tvmaze_id"],
    )


def conclude_removed(
    store: Store, summary: CycleSummary, item: Mapping[str, Any], stamp: str, policy: Removal
) -> None:
    """The user deleted this series we added: record it, then apply `on_user_removal`."""
    with store.atomic():
        store.ledger_update(item["tvdb_id"], removed_at=stamp, held_at=None)
        _removed(store, summary, item, stamp, policy)


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
        release(store, item, stamp, P.ADDED)
        return
    for row in _shows_of(store, item):
        if row["processing_status"] != P.REMOVED_BY_USER:
            settle(
                store,
                summary,
                row["tvmaze_id"],
                stamp,
                P.REMOVED_BY_USER,
                StatusReason.DELETED_IN_SONARR,
            )


def release(store: Store, item: Mapping[str, Any], stamp: str, status: ProcessingStatus) -> None:
    """Shows of `item` in `status` are candidates again (allow_readd, `removals readd`),
    but only once today's filters pass them."""
    for row in _shows_of(store, item):
        if row["processing_status"] == status:
            update(store, row["tvmaze_id"], stamp, P.PENDING, needs_filter=1)


def _shows_of(store: Store, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    return store.shows_of_series(item["tvmaze_id"], item["tvdb_id"])


def preview(
    store: Store,
    summary: CycleSummary,
    library: Mapping[int, LibrarySeries] | None,
    exclusions: Mapping[int, Exclusion],
    on_user_removal: Removal,
    max_removals: int,
    decided: Mapping[int, str] | None = None,
    *,
    require_approval: bool = False,
) -> None:
    """Dry run: count what `reconcile` and the adds would do; write nothing.

    `library` None means no Sonarr to read: the series we own are taken to be where we put
    them (nothing is reported removed), only what the ledger already knows is counted.
    `decided` holds the statuses the filters would give (`filters.preview`), by tvmaze id.
    """
    if library is None:
        library = _owned_as_library(store)
    verdict = vanished(store, library, max_removals, exclusions)
    summary.removals_held = len(verdict.held)
    lifted, trusted = lifted_exclusions(store, exclusions, max_removals)
    summary.exclusions_distrusted = 0 if trusted else len(lifted)
    for _ in verdict.removed:
        count(summary, P.REMOVED_BY_USER)
    held = {item["tvdb_id"] for item in verdict.held}
    blocked = blocked_ids(store, library, on_user_removal) | held
    for row in _preview_candidates(store, decided or {}):
        decision = decide(row["tvdb_id"], library, blocked, exclusions)
        if decision is None and require_approval and not row["approved_at"]:
            count(summary, P.REVIEW)
        elif decision is None:
            summary.would_add_titles.append(row["title"])
        elif not (decision is P.REMOVED_BY_USER and row["tvdb_id"] in held):
            count(summary, decision)


def _owned_as_library(store: Store) -> dict[int, LibrarySeries]:
    """The series we added and nobody has seen go: the library as far as the ledger knows."""
    return {
        e["tvdb_id"]: LibrarySeries(e["sonarr_series_id"] or 0, e["tvdb_id"], e["title"] or "")
        for e in store.ledger_rows(added_at=True, removed_at=False, held_at=False)
    }


def _preview_candidates(store: Store, decided: Mapping[int, str]) -> list[dict[str, Any]]:
    """`candidates` as they would be once the filters wrote `decided`."""
    kept = [r for r in candidates(store) if decided.get(r["tvmaze_id"], P.PENDING) == P.PENDING]
    known = {r["tvmaze_id"] for r in kept}
    fresh = [i for i, status in decided.items() if status == P.PENDING and i not in known]
    kept.extend(store.shows_by_ids(fresh, CANDIDATE_COLUMNS))
    return by_popularity(kept)


def explain(store: Store, row: Mapping[str, Any]) -> str | None:
    """What the Sonarr side knows about this show beyond its status, for `explain`: who
    added it and when, when the user deleted it, which exclusion keeps it out, why it waits."""
    status = row.get("processing_status")
    item = store.ledger_entry(row.get("tvdb_id"))
    if status == P.REMOVED_BY_USER and item and item["removed_at"]:
        return (
            f"tvmaze-sync added it to Sonarr on {item['added_at']}; it was deleted there "
            f"(noticed {item['removed_at']}), so it is not added again "
            "(sonarr.on_user_removal)"
        )
    if status == P.ADDED and item and item.get("held_at"):
        return (
            f"tvmaze-sync added it to Sonarr on {item['added_at']}; it is missing from "
            f"Sonarr's library since {item['held_at']}, with too many others at once to "
            "conclude you deleted it: `tvmaze-sync removals` says what to do"
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
    if status == P.PENDING_TVDB and row.get("status_reason") == StatusReason.TVDB_NOT_IN_SONARR:
        return f"Sonarr's metadata does not know TheTVDB id {row.get('tvdb_id')} yet"
    if row.get("status_reason") == StatusReason.UNANSWERED_BY_SONARR:
        cycles = row.get("retry_count") or 0
        if status == P.FAILED:
            return (
                f"given up: Sonarr answered this show with an error or garbage in {cycles + 1} "
                f"cycles while it answered others (sync.max_retries); `tvmaze-sync retry "
                f"{row.get('tvmaze_id')}` asks again, `tvmaze-sync skip` keeps it out"
            )
        return (
            f"Sonarr answered this show with an error or garbage in {cycles} cycle(s) while it "
            "answered others; failed after sync.max_retries of them"
        )
    if status == P.FAILED and row.get("status_reason") == StatusReason.ABANDONED_NO_TVDB:
        return "given up: no usable TheTVDB id within sync.abandon_after of starting to wait"
    return None
