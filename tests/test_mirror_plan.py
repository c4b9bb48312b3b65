"""The mirror's pure decisions: which mode and window, when a census is due, which pages pay.

Hypothesis states each promise over arbitrary maps and times; the examples pin the numbers
docs/tvmaze-mirror.md quotes.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.storage.state import State
from tvmaze_sync.tvmaze.plan import (
    CENSUS_INTERVAL,
    DAY,
    WINDOWS,
    Mode,
    census_candidates,
    census_due,
    changed_ids,
    choose_mode,
    choose_window,
    index_hit_chance,
    newer,
    page_of,
    plan_fetches,
)

HOUR = 3600
NOW = 2_000_000_000.0

ids = st.integers(min_value=1, max_value=5000)  # 21 pages: many ids share one
stamps = st.integers(min_value=int(NOW) - 3 * DAY, max_value=int(NOW))
announced_maps = st.dictionaries(ids, stamps, max_size=60)
stored_maps = st.dictionaries(ids, st.none() | stamps, max_size=60)


# --- windows and modes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("needed_hours", "floor", "expected"),
    [
        (7, "day", "day"),
        (7, "week", "week"),
        (30, "day", "week"),
        (24 * 8, "day", "month"),
        (24 * 28, "week", "month"),
        (24 * 28 + 1, "day", None),
    ],
)
def test_choose_window(needed_hours: float, floor: str, expected: str | None) -> None:
    assert choose_window(needed_hours * HOUR, floor) == expected


@given(needed=st.floats(min_value=0, max_value=40 * DAY), floor=st.sampled_from(list(WINDOWS)))
def test_the_window_is_the_smallest_that_covers(needed: float, floor: str) -> None:
    window = choose_window(needed, floor)
    fitting = [w for w, size in WINDOWS.items() if size >= needed and size >= WINDOWS[floor]]
    assert window == (min(fitting, key=WINDOWS.__getitem__) if fitting else None)


def synced(checked_ago: float, census_ago: float | None) -> State:
    census = None if census_ago is None else iso(NOW - census_ago)
    return State(
        initial_sync_complete=True, last_updates_check=iso(NOW - checked_ago), last_census=census
    )


def test_choose_mode() -> None:
    assert choose_mode(State(), NOW, "week") == (Mode.FULL, None)
    # Six hours ago, plus the updates map's own hour of edge cache and skew margin.
    assert choose_mode(synced(6 * HOUR, DAY), NOW, "day") == (Mode.INCREMENTAL, "day")
    assert choose_mode(synced(6 * HOUR, DAY), NOW, "week") == (Mode.INCREMENTAL, "week")
    assert choose_mode(synced(23 * HOUR, DAY), NOW, "day") == (Mode.INCREMENTAL, "week")
    in_pass = State(last_tvmaze_page=7, last_cycle={"started_at": iso(NOW - DAY)})
    assert choose_mode(in_pass, NOW, "week") == (Mode.RESUME, None)
    in_pass.last_cycle["started_at"] = iso(NOW - 40 * DAY)  # too old to resume from
    assert choose_mode(in_pass, NOW, "week") == (Mode.FULL, None)


def test_a_census_is_due_weekly_and_reads_the_whole_map() -> None:
    assert census_due(synced(HOUR, None), NOW)  # never done
    assert not census_due(synced(HOUR, CENSUS_INTERVAL - 1), NOW)
    assert census_due(synced(HOUR, CENSUS_INTERVAL), NOW)
    broken = synced(HOUR, DAY)
    broken.last_census = "last tuesday"  # state.json edited by hand
    assert census_due(broken, NOW)
    assert choose_mode(synced(HOUR, 8 * DAY), NOW, "day") == (Mode.INCREMENTAL, None)


def test_no_gap_is_too_long_for_the_whole_map() -> None:
    """A month away used to mean a full rescan (~330 pages); the whole map covers any gap."""
    state = synced(29 * DAY, 29 * DAY)
    assert choose_mode(state, NOW, "day") == (Mode.INCREMENTAL, None)
    state.last_census = iso(NOW - HOUR)  # even if the census itself were recent
    assert choose_mode(state, NOW, "day") == (Mode.INCREMENTAL, None)


@given(
    checked_ago=st.floats(min_value=0, max_value=60 * DAY),
    census_ago=st.none() | st.floats(min_value=0, max_value=60 * DAY),
    floor=st.sampled_from(list(WINDOWS)),
)
def test_an_incremental_read_always_covers_the_gap(
    checked_ago: float, census_ago: float | None, floor: str
) -> None:
    mode, since = choose_mode(synced(checked_ago, census_ago), NOW, floor)
    assert mode == Mode.INCREMENTAL
    if since is not None:  # a window: it covers the gap and its margin, and no census is due
        assert WINDOWS[since] >= checked_ago + 2 * HOUR
        assert census_ago is not None and census_ago < CENSUS_INTERVAL


# --- what changed, what is gone ----------------------------------------------------------------


def test_changed_ids_are_new_or_newer() -> None:
    announced = {1: 100, 2: 200, 3: 300, 4: 400}
    stored: dict[int, int | None] = {1: 100, 2: 150, 3: None}
    assert changed_ids(announced, stored) == {2: 200, 3: 300, 4: 400}


@given(announced=announced_maps, stored=stored_maps)
def test_changed_ids_is_exactly_what_the_cache_lacks(
    announced: dict[int, int], stored: dict[int, int | None]
) -> None:
    changed = changed_ids(announced, stored)
    assert changed.items() <= announced.items()
    for show_id, updated in announced.items():
        behind = show_id not in stored or (stored[show_id] or 0) < updated
        assert (show_id in changed) == behind


@given(updated=st.none() | stamps, stored=st.none() | stamps)
def test_newer_orders_unknown_as_oldest(updated: int | None, stored: int | None) -> None:
    assert newer(updated, stored) == (
        (updated is not None and (stored is None or updated > stored))
        or (updated is None and stored is None)
    )


@given(everything=announced_maps, stored=st.sets(ids, max_size=60))
def test_census_candidates_are_the_stored_ids_the_map_lacks(
    everything: dict[int, int], stored: set[int]
) -> None:
    candidates = census_candidates(everything, stored)
    assert candidates == sorted(stored - set(everything))


# --- which pages pay -------------------------------------------------------------------------


def test_plan_groups_changed_ids_sharing_a_page() -> None:
    now = 10 * DAY
    wanted = {10: 1, 20: 1, 30: 1, 260: 2, 600: 3, 610: 3, 2000: 4}
    plan = plan_fetches(wanted, now)
    assert plan.page_numbers == [0, 2]
    assert plan.pages[0] == {10: 1, 20: 1, 30: 1}
    assert plan_fetches(wanted, now, min_share=3).page_numbers == [0]


def test_plan_skips_pages_of_changes_too_fresh_to_be_indexed() -> None:
    now = 10 * DAY
    minutes_ago = int(now - 600)
    half_a_day_ago = int(now - DAY / 2)
    assert index_hit_chance(minutes_ago, now) == pytest.approx(600 / DAY)
    assert index_hit_chance(int(now - 3 * DAY), now) == 1.0
    fresh = {i: minutes_ago for i in range(5)}  # five changes, probably none on the page yet
    assert plan_fetches(fresh, now).page_numbers == []
    halfway = {i: half_a_day_ago for i in range(4)}  # two expected on the page
    assert plan_fetches(halfway, now).page_numbers == [0]
    assert plan_fetches({**halfway, 3: minutes_ago}, now).page_numbers == []


@given(wanted=announced_maps, min_share=st.floats(min_value=0.5, max_value=5))
def test_a_page_is_planned_exactly_when_it_is_expected_to_serve_enough(
    wanted: dict[int, int], min_share: float
) -> None:
    plan = plan_fetches(wanted, NOW, min_share)
    for page in {page_of(i) for i in wanted}:
        on_page = {i: u for i, u in wanted.items() if page_of(i) == page}
        expected = sum(index_hit_chance(u, NOW) for u in on_page.values())
        assert (page in plan.pages) == (expected >= min_share)
        if page in plan.pages:
            assert plan.pages[page] == on_page  # every changed id of the page, nothing else
    assert plan.page_numbers == sorted(plan.pages)


@given(updated=stamps, now=st.floats(min_value=NOW - 4 * DAY, max_value=NOW + 4 * DAY))
def test_the_index_hit_chance_is_a_probability_growing_with_age(updated: int, now: float) -> None:
    chance = index_hit_chance(updated, now)
    assert 0.0 <= chance <= 1.0
    assert index_hit_chance(updated, now + HOUR) >= chance
