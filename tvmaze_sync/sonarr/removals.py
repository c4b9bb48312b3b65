"""The way out of the removal guard: list the series it holds, and settle them either way.

ledger.py holds a series this tool added when it vanished from Sonarr together with too many
others (more than `sonarr.max_removals` in one library read, or every series): a new, reset
or restored Sonarr looks like that, and concluding "the user deleted 132 series" would keep
them out for good (and post 132 exclusions under `exclude_in_sonarr`). Only the user knows:

- `accept`: they were deleted on purpose. Each is concluded `removed_by_user` exactly as a
  single deletion is, and `sonarr.on_user_removal` applies (keep_out; an exclusion posted by
  the next sync; allow_readd lets today's filters take it back).
- `readd`: they were lost with the old Sonarr. Their ledger rows go (nothing of ours is in
  this Sonarr) and their shows are candidates again: the next sync adds every one today's
  filters pass, like any new show.

Both run offline under the writer lock, in one transaction, and act on every held series or
on the TheTVDB ids given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config
from tvmaze_sync.core.errors import RemovalsHeld, UsageError
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus
from tvmaze_sync.core.timeutil import Clock, iso, system_clock
from tvmaze_sync.sonarr import ledger
from tvmaze_sync.sonarr.ledger import Removal
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.store import DB_NAME, Store

log = logging.getLogger(__name__)

Action = Literal["accept", "readd"]

#: What `tvmaze-sync removals` shows of each held series (ledger columns).
COLUMNS = ("tvdb_id", "tvmaze_id", "title", "sonarr_series_id", "added_at", "held_at")


def held(storage_dir: Path, instance: str = DEFAULT_INSTANCE) -> list[dict[str, Any]]:
    """Every held series of `instance`, read-only (never waits on a running sync)."""
    if not (instances.storage_dir(storage_dir, instance) / DB_NAME).exists():
        return []
    with instances.opened(storage_dir, instance, readonly=True) as store:
        return [{c: row.get(c) for c in COLUMNS} for row in store.held_removals()]


def settle(
    config: Config,
    action: Action,
    tvdb_ids: Sequence[int] = (),
    clock: Clock = system_clock,
    instance: str = DEFAULT_INSTANCE,
) -> list[dict[str, Any]]:
    """`removals accept` / `removals readd`: settle the held series of `instance` (all, or
    these ids) and return them. An id that is not held is a UsageError naming it; nothing
    is changed."""
    writing = instances.opened(config.storage_dir, instance, lock=True)
    with writing as store, store.atomic():
        chosen = _chosen(store, tvdb_ids)
        on_removal = config.instance(instance).on_user_removal
        _apply(store, on_removal, action, chosen, iso(clock()))
    log.info("removals_settled action=%s count=%d", action, len(chosen))
    return [{c: row.get(c) for c in COLUMNS} for row in chosen]


def _chosen(store: Store, tvdb_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = store.held_removals()
    if not tvdb_ids:
        return rows
    by_id = {row["tvdb_id"]: row for row in rows}
    unknown = [str(i) for i in dict.fromkeys(tvdb_ids) if i not in by_id]
    if unknown:
        raise UsageError(
            f"TheTVDB id {', '.join(unknown)} is not held by the removal guard; "
            "`tvmaze-sync removals` lists the held ones"
        )
    return [by_id[i] for i in dict.fromkeys(tvdb_ids)]


def _apply(
    store: Store, on_removal: Removal, action: Action, chosen: list[dict[str, Any]], stamp: str
) -> None:
    counts = CycleSummary(started_at=stamp)  # settle() counts into a summary; none is shown
    for item in chosen:
        if action == "accept":
            ledger.conclude_removed(store, counts, item, stamp, on_removal)
        else:
            ledger.release(store, item, stamp, ProcessingStatus.ADDED)
            ledger.drop(store, item["tvdb_id"])
        log.info(
            "removal_settled action=%s tvdb_id=%d title=%r", action, item["tvdb_id"], item["title"]
        )


def check(summary: CycleSummary, config: Config) -> None:
    """Raise RemovalsHeld (exit 4) after a cycle that holds series: cron and systemd must
    see that a decision waits, though the cycle itself went through. With several
    instances, the message names each instance that holds some, with its own way out."""
    if not summary.removals_held:
        return
    held = {DEFAULT_INSTANCE: summary.removals_held}
    if summary.instances:
        held = {
            name: outcome["removals_held"]
            for name, outcome in summary.instances.items()
            if outcome.get("removals_held")
        }
    raise RemovalsHeld(
        "; ".join(
            held_message(count, config.instance(name).max_removals, summary.dry_run, name)
            for name, count in held.items()
        )
    )


def held_message(
    count: int, max_removals: int, dry_run: bool, instance: str = DEFAULT_INSTANCE
) -> str:
    default = instance == DEFAULT_INSTANCE
    key = "sonarr" if default else f"instances.{instance}"
    where = "Sonarr" if default else f"Sonarr instance '{instance}'"
    head = (
        f"{count} series tvmaze-sync added are missing from {where}, too many to conclude you "
        f"deleted them (more than {key}.max_removals={max_removals} at once, or every "
        "series); "
    )
    if dry_run:
        return head + "a real sync holds them and concludes nothing (this dry run wrote nothing)"
    option = "" if default else f" --instance {instance}"
    return head + (
        f"none is concluded removed until you decide: `tvmaze-sync removals{option}` lists "
        f"them, `tvmaze-sync removals accept{option}` if you deleted them, "
        f"`tvmaze-sync removals readd{option}` if Sonarr was replaced or reset (they are "
        "added again)"
    )
