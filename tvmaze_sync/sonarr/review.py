"""The approval queue: with `sonarr.require_approval`, wanted shows wait for the user's word.

A show that passes every filter and that Sonarr would get (not in the library, not excluded,
not deleted by the user, with a TVDB id) becomes `review` instead of being added. The user
lists the queue (`tvmaze-sync review`), approves (the show goes back to `pending` with
`approved_at` set, and the next sync adds it through the normal add path: lookup, exclusions,
library check) or denies (`skipped`: never added, kept through refilter and rescans).

The filters still judge a waiting show: one they reject leaves the queue (`filtered`). A
waiting show the user adds to Sonarr by hand becomes `exists`, one excluded there `excluded`.
Turning `require_approval` off sends the whole queue back through today's filters.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config
from tvmaze_sync.core.errors import UsageError
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus, StatusReason
from tvmaze_sync.core.timeutil import Clock, iso, system_clock
from tvmaze_sync.sonarr import ledger
from tvmaze_sync.sonarr.gateway import Exclusion, LibrarySeries
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.store import Store

log = logging.getLogger(__name__)

P = ProcessingStatus

#: A show's page on TVMaze (its id is enough; TVMaze redirects to the page with the slug).
TVMAZE_SHOW_URL = "https://www.tvmaze.com/shows/{}"
#: What `tvmaze-sync review` lists of each waiting show.
QUEUE_COLUMNS = ("tvmaze_id", "title", "network", "premiered", "rating", "weight", "url")


def tvmaze_url(tvmaze_id: int) -> str:
    return TVMAZE_SHOW_URL.format(int(tvmaze_id))


# --- the cycle's side ----------------------------------------------------------------------


def waiting(store: Store) -> int:
    """How many shows wait for review."""
    return store.count_in_status(P.REVIEW)


def queue(
    store: Store,
    summary: CycleSummary,
    stamp: str,
    library: Mapping[int, LibrarySeries],
    blocked: set[int],
    exclusions: Mapping[int, Exclusion],
) -> None:
    """Put every decided, unsent, unapproved show Sonarr would get into the queue, and take
    out of it the waiting shows Sonarr now has or refuses. Called after `ledger.reconcile`
    (which settled the pending shows Sonarr has or refuses) and before the adds."""
    for row in store.review_candidates():
        tvmaze_id = row["tvmaze_id"]
        decision = ledger.decide(row["tvdb_id"], library, blocked, exclusions)
        if row["processing_status"] == P.REVIEW:
            if decision is P.EXISTS:
                series = library[row["tvdb_id"]].series_id
                ledger.settle_exists(store, summary, tvmaze_id, stamp, series)
            elif decision is P.REMOVED_BY_USER:
                ledger.settle(
                    store, summary, tvmaze_id, stamp, decision, StatusReason.DELETED_IN_SONARR
                )
            elif decision is P.EXCLUDED:
                ledger.settle(
                    store, summary, tvmaze_id, stamp, decision, StatusReason.SONARR_EXCLUSION
                )
            continue
        if decision is not None or row["approved_at"]:
            continue  # no TVDB id yet (the adds make it wait), or approved: added next
        ledger.settle(store, summary, tvmaze_id, stamp, P.REVIEW)
        summary.review_titles.append(row["title"])
        summary.review_ids.append(tvmaze_id)
        log.info("review_queued tvmaze_id=%d title=%r", tvmaze_id, row["title"])
    summary.review_waiting = waiting(store)


def release(store: Store, stamp: str) -> int:
    """`require_approval` is off: every waiting show goes back to today's filters (pending,
    to be decided again before any add). Returns how many."""
    released = store.release_review(stamp)
    if released:
        log.info("review_queue_released shows=%d", released)
    return released


# --- the user's side -----------------------------------------------------------------------


def list_queue(store: Store) -> list[dict[str, Any]]:
    """The waiting shows, most popular (TVMaze weight) first, as `QUEUE_COLUMNS`."""
    return [{**row, "url": tvmaze_url(row["tvmaze_id"])} for row in store.review_queue()]


@dataclass
class Decision:
    """What `review approve` or `review deny` did."""

    action: str  # "approve" or "deny"
    shows: list[dict[str, Any]]  # tvmaze_id, title

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "shows": self.shows}


def decide(
    config: Config,
    action: str,
    ids: Sequence[int],
    *,
    everything: bool = False,
    clock: Clock = system_clock,
    instance: str = DEFAULT_INSTANCE,
) -> Decision:
    """Approve or deny waiting shows under the writer lock, all or none.

    Every id must be waiting for review: an id that is not (a typo, a show already decided)
    is a UsageError naming its status, and nothing changes. `everything` takes the whole
    queue; an empty queue is not an error (nothing waits). `instance`: whose queue (each
    instance keeps its own, in its own cache).
    """
    if action not in ("approve", "deny"):
        raise UsageError(f"unknown review action {action!r}")
    if bool(ids) == everything:
        raise UsageError(f"review {action}: give TVMaze ids or --all (not both)")
    with instances.opened(config.storage_dir, instance, lock=True) as store:
        rows = _chosen(store, ids, everything)
        stamp = iso(clock())
        with store.atomic():
            for row in rows:
                if action == "approve":
                    ledger.update(store, row["tvmaze_id"], stamp, P.PENDING, approved_at=stamp)
                else:
                    ledger.skip(store, row["tvmaze_id"], stamp, StatusReason.DENIED_IN_REVIEW)
    for row in rows:
        log.info("review_%s tvmaze_id=%d title=%r", action, row["tvmaze_id"], row["title"])
    return Decision(action, [{"tvmaze_id": r["tvmaze_id"], "title": r["title"]} for r in rows])


def _chosen(store: Store, ids: Sequence[int], everything: bool) -> list[dict[str, Any]]:
    if everything:
        return store.shows_in_status(P.REVIEW, ["tvmaze_id", "title"])
    rows, problems = [], []
    for tvmaze_id in dict.fromkeys(ids):
        row = store.get_row(tvmaze_id)
        if row is None:
            problems.append(f"{tvmaze_id} (not cached)")
        elif row["processing_status"] != P.REVIEW:
            problems.append(f"{tvmaze_id} {row['title']!r} ({row['processing_status']})")
        else:
            rows.append({"tvmaze_id": tvmaze_id, "title": row["title"]})
    if problems:
        raise UsageError(
            "not waiting for review, nothing changed: "
            + "; ".join(problems)
            + " (`tvmaze-sync review` lists the queue)"
        )
    return rows
