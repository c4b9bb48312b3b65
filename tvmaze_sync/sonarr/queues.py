"""The queues a show can wait in, and the user's hand on them: retry, skip, unskip.

Every queue ends (phase.py and ledger.py hold the automatic side):
- `pending_tvdb`: retried every `sync.retry_delay`, `failed` after `sync.abandon_after`
  whatever it waits for (no TheTVDB id, or one Sonarr's lookup does not know);
- `failed` by Sonarr (`rejected_by_sonarr`, `conflict_in_sonarr`): put back in the queue
  after `retry_delay` (`release_failed`), at most `sync.max_retries` times, then final;
- `pending` beyond `sonarr.max_adds_per_cycle`: added by a later cycle;
- `pending` because Sonarr answered this show unusably while answering others
  (`unanswered_by_sonarr`): `failed` for good after `sync.max_retries` such cycles.
A user can put a show back now (`retry`), keep it out for good (`skip`: never added, kept
through refilter and rescans, since the filters only decide the open statuses) and lift that
(`unskip`). A show put back goes through today's filters first: `failed` and `skipped`
shows were last decided by the filters of their day.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config, SyncConfig
from tvmaze_sync.core.errors import UsageError
from tvmaze_sync.core.models import ProcessingStatus, StatusReason
from tvmaze_sync.core.timeutil import Clock, iso, parse_iso, system_clock
from tvmaze_sync.decisions import filters
from tvmaze_sync.sonarr import ledger
from tvmaze_sync.sonarr.ledger import RETRIED_FAILURES
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.store import Store

log = logging.getLogger(__name__)

P = ProcessingStatus


class Action(StrEnum):
    RETRY = "retry"
    SKIP = "skip"
    UNSKIP = "unskip"


#: Statuses each action applies to; the message says what to do instead for the others.
ACCEPTS: dict[Action, frozenset[ProcessingStatus]] = {
    Action.RETRY: frozenset({P.FAILED, P.PENDING_TVDB, P.PENDING}),
    Action.SKIP: frozenset(set(P) - {P.ADDED, P.EXISTS}),
    Action.UNSKIP: frozenset({P.SKIPPED}),
}


@dataclass(frozen=True)
class Change:
    """One show an action touched: its status before and after (after today's filters)."""

    tvmaze_id: int
    title: str
    old: str
    new: str

    def to_json(self) -> dict[str, Any]:
        return {"tvmaze_id": self.tvmaze_id, "title": self.title, "old": self.old, "new": self.new}


# --- the automatic side -----------------------------------------------------------------


def release_failed(store: Store, now: float, dry_run: bool) -> int:
    """Put every failed add whose `retry_after` has passed back in the queue, as `pending`
    for today's filters to decide (`filters.apply` runs next in the cycle). Returns how many.

    Only shows Sonarr refused carry a `retry_after` (`sonarr._Cycle._fail`); it is None
    once `max_retries` are spent, and for abandoned waits, which are final.
    """
    if dry_run:
        return 0
    stamp = iso(now)
    due = store.failed_retries_due([r.value for r in RETRIED_FAILURES], stamp)
    with store.atomic():
        for row in due:
            retry = (row["retry_count"] or 0) + 1
            ledger.update(
                store,
                row["tvmaze_id"],
                stamp,
                P.PENDING,
                StatusReason.RETRYING_FAILED,
                needs_filter=1,
                retry_after=None,
                retry_count=retry,
            )
            log.info(
                "sonarr_failed_retry_due tvmaze_id=%d tvdb_id=%s retry=%d",
                row["tvmaze_id"],
                row["tvdb_id"],
                retry,
            )
    return len(due)


# --- the user's hand --------------------------------------------------------------------


def _refusal(action: Action, row: Mapping[str, Any]) -> str:
    status, name = row["processing_status"], f"{row['tvmaze_id']} ({row['title']})"
    if action is Action.UNSKIP:
        return f"show {name} is not skipped (it is {status})"
    if status in (P.ADDED, P.EXISTS):
        return f"show {name} is in Sonarr ({status}): delete it there to get rid of it"
    if status == P.SKIPPED:
        return f"show {name} is skipped: `tvmaze-sync unskip {row['tvmaze_id']}` queues it again"
    return (
        f"show {name} is {status}: only failed or pending_tvdb shows can be retried "
        "(see `tvmaze-sync explain`)"
    )


def _rows(store: Store, ids: list[int], action: Action) -> list[dict[str, Any]]:
    """The shows named, all checked before anything is written: an unknown id or a status
    the action does not apply to is a UsageError (exit 2) and nothing changes."""
    rows, problems = [], []
    for tvmaze_id in dict.fromkeys(ids):
        row = store.get_row(tvmaze_id)
        if row is None:
            problems.append(
                f"no show with TVMaze id {tvmaze_id} in the cache "
                "(find ids with `tvmaze-sync shows -q <title>`)"
            )
        elif row["processing_status"] not in ACCEPTS[action]:
            problems.append(_refusal(action, row))
        else:
            rows.append(row)
    if problems:
        raise UsageError("; ".join(problems))
    return rows


def _put_back(store: Store, row: Mapping[str, Any], stamp: str) -> None:
    """Queued again with fresh retries, for today's filters to decide first."""
    if row["processing_status"] == P.PENDING_TVDB:  # keeps waiting, but is due now
        store.update_show(row["tvmaze_id"], retry_after=None, retry_count=0)
    elif row["processing_status"] != P.PENDING:
        ledger.update(
            store,
            row["tvmaze_id"],
            stamp,
            P.PENDING,
            needs_filter=1,
            retry_after=None,
            retry_count=0,
            error_message=None,
        )


def apply_action(
    config: Config,
    action: Action,
    ids: list[int],
    status: ProcessingStatus | None = None,
    clock: Clock = system_clock,
    instance: str = DEFAULT_INSTANCE,
) -> list[Change]:
    """`tvmaze-sync retry|skip|unskip`: change the named shows (or, for retry, every show of
    `status`) in one transaction under the writer lock, then let today's filters decide the
    shows put back. Returns what changed; raises UsageError naming every bad id.
    `instance`: whose statuses (each instance keeps its own, in its own cache)."""
    stamp = iso(clock())
    with instances.opened(config.storage_dir, instance, lock=True) as store:
        if status is not None:
            ids = [r["tvmaze_id"] for r in store.shows_in_status(status, ["tvmaze_id"])]
        rows = _rows(store, ids, action)
        with store.atomic():
            for row in rows:
                if action is Action.SKIP:
                    ledger.skip(store, row["tvmaze_id"], stamp, StatusReason.SKIPPED_BY_USER)
                else:
                    _put_back(store, row, stamp)
            processor = filters.build_processor(config.filters, config.routes, instance)
            filters.apply(store, processor)
        changes = []
        for row in rows:
            after = store.get_row(row["tvmaze_id"]) or row
            changes.append(
                Change(
                    row["tvmaze_id"],
                    row["title"],
                    row["processing_status"],
                    after["processing_status"],
                )
            )
            log.info(
                "show_%s tvmaze_id=%d old=%s new=%s",
                action.value,
                row["tvmaze_id"],
                row["processing_status"],
                after["processing_status"],
            )
    return changes


# --- explain ----------------------------------------------------------------------------


def note(row: Mapping[str, Any], sync: SyncConfig) -> str | None:
    """Which queue the show is in, when it leaves it, and the command that moves it."""
    status, reason, tvmaze_id = row["processing_status"], row.get("status_reason"), row["tvmaze_id"]
    retries = row.get("retry_count") or 0
    if status == P.SKIPPED:
        denied = reason == StatusReason.DENIED_IN_REVIEW
        how = "denied by `tvmaze-sync review deny`" if denied else "skipped by `tvmaze-sync skip`"
        return (
            f"{how}: never added, whatever the filters say; "
            f"`tvmaze-sync unskip {tvmaze_id}` lets today's filters decide it again"
        )
    if status == P.PENDING_TVDB:
        since = row.get("pending_tvdb_since")
        give_up = f" until {iso(parse_iso(since) + sync.abandon_after)}" if since else ""
        return (
            f"waits for a TheTVDB id Sonarr can add{give_up} (sync.abandon_after), then "
            f"failed; `tvmaze-sync retry {tvmaze_id}` asks Sonarr again at the next sync"
        )
    if status == P.FAILED and row.get("retry_after"):
        return (
            f"retried automatically after {row['retry_after']} "
            f"(retry {retries + 1} of sync.max_retries {sync.max_retries}); "
            f"`tvmaze-sync retry {tvmaze_id}` queues it now"
        )
    if status == P.FAILED:
        return f"no automatic retry left; `tvmaze-sync retry {tvmaze_id}` queues it again"
    if status == P.PENDING and reason == StatusReason.RETRYING_FAILED:
        return f"automatic retry {retries} of sync.max_retries {sync.max_retries} of a failed add"
    return None
