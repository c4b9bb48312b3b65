"""What a mirror run fetches, decided from state and TVMaze's updates map (pure functions).

mirror.py carries the decisions out (HTTP, SQLite, checkpoints); docs/tvmaze-mirror.md says
why they are what they are. Everything here is tested with hypothesis in
tests/test_mirror_plan.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tvmaze_sync.core.timeutil import parse_iso
from tvmaze_sync.storage.state import State

DAY = 86_400
PAGE_SIZE = 250  # /shows?page=N holds ids 250·N … 250·N+249
#: The `since` windows of /updates/shows. TVMaze does not define "month"; 28 days is the
#: shortest it can mean, so a month window is only trusted to cover that much.
WINDOWS: dict[str, int] = {"day": DAY, "week": 7 * DAY, "month": 28 * DAY}
#: The updates map is cached for up to an hour at TVMaze's edge; one more hour of margin
#: absorbs clock skew between us and TVMaze.
UPDATES_LAG = 2 * 3600
#: The show index (pages) is cached for up to 24 hours.
INDEX_LAG = DAY
#: A page is fetched instead of its changed shows when it is expected to serve at least this
#: many of them (each counted by the chance its page copy already holds the change).
MIN_SHARE = 2.0
#: How often the whole updates map (no `since`) is read to find shows TVMaze deleted. It
#: replaces that run's windowed read, so it costs no extra request: only a larger answer
#: (1.5 MB for 80,000 shows, 0.6 MB gzipped on the wire) and one /shows/:id per candidate.
CENSUS_INTERVAL = 7 * DAY
#: Candidates confirmed per run; the rest wait for the next run (the census stays due).
CENSUS_BATCH = 250


class Mode(StrEnum):
    """`CycleSummary.mode` of a cycle's mirror phase."""

    FULL = "full"
    RESUME = "resume"
    INCREMENTAL = "incremental"


def choose_window(needed: float, floor: str) -> str | None:
    """Smallest updates window (not below `floor`) covering `needed` seconds; None if none."""
    for name, size in WINDOWS.items():
        if size >= WINDOWS[floor] and size >= needed:
            return name
    return None


def census_due(state: State, now: float) -> bool:
    """Whether this run reads the whole updates map (never done, or done a week ago)."""
    if not state.last_census:
        return True
    try:
        return now - parse_iso(state.last_census) >= CENSUS_INTERVAL
    except (ValueError, OverflowError):  # a hand-edited time: the census rewrites it
        return True


def choose_mode(state: State, now: float, update_window: str) -> tuple[Mode, str | None]:
    """(mode, since): what this run does, and the window of an incremental run's updates read.

    `since` None means the whole map (a census): when one is due, and when no window covers
    the time since the last read, since the whole map covers any gap.
    """
    if state.last_tvmaze_page is not None:
        previous = state.last_cycle.get("started_at")
        if isinstance(previous, str) and now - parse_iso(previous) > WINDOWS["month"]:
            # Pages stored that long ago are no base to resume from.
            return Mode.FULL, None
        return Mode.RESUME, None
    if not state.initial_sync_complete or not state.last_updates_check:
        return Mode.FULL, None
    if census_due(state, now):
        return Mode.INCREMENTAL, None
    needed = now - parse_iso(state.last_updates_check) + UPDATES_LAG
    return Mode.INCREMENTAL, choose_window(needed, update_window)


def page_of(tvmaze_id: int) -> int:
    return tvmaze_id // PAGE_SIZE


def newer(updated: int | None, stored: int | None) -> bool:
    """Whether a copy stamped `updated` is newer than what is stored (unknown: oldest)."""
    return (updated or 0) > (stored or 0) or (stored is None and updated is None)


def changed_ids(announced: Mapping[int, int], stored: Mapping[int, int | None]) -> dict[int, int]:
    """Announced ids that are new or newer than the stored copy."""
    return {
        show_id: updated
        for show_id, updated in announced.items()
        if show_id not in stored or newer(updated, stored[show_id])
    }


def census_candidates(everything: Mapping[int, int], stored: Iterable[int]) -> list[int]:
    """Stored ids the whole updates map does not list: deleted, or too new for the map.

    Only /shows/:id can tell which (the map may be an hour old), so each is asked.
    """
    return sorted(show_id for show_id in stored if show_id not in everything)


def index_hit_chance(updated: int, now: float) -> float:
    """Chance that the show index already lists a change made at `updated`.

    A page copy is up to INDEX_LAG old, so an older change is certainly on it; a change
    made t seconds ago is on a copy of uniformly random age with chance t / INDEX_LAG.
    """
    return min(1.0, max(0.0, (now - updated) / INDEX_LAG))


@dataclass(frozen=True)
class FetchPlan:
    """Pages worth fetching for an incremental run; every other changed id goes alone."""

    pages: dict[int, dict[int, int]]  # page -> {id: announced updated} expected on it

    @property
    def page_numbers(self) -> list[int]:
        return sorted(self.pages)


def plan_fetches(wanted: Mapping[int, int], now: float, min_share: float = MIN_SHARE) -> FetchPlan:
    """The pages worth a request: those expected to serve at least `min_share` changed ids.

    A page costs one request plus one per changed show its copy turns out to hide, the
    shows alone one each; so a page pays when it serves more than one, and a page of
    changes made minutes ago (not indexed yet, most likely) is skipped.
    """
    by_page: dict[int, dict[int, int]] = {}
    for show_id, updated in wanted.items():
        by_page.setdefault(page_of(show_id), {})[show_id] = updated
    return FetchPlan(
        {
            page: ids
            for page, ids in by_page.items()
            if sum(index_hit_chance(u, now) for u in ids.values()) >= min_share
        }
    )
