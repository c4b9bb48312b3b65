"""A good citizen of the user's Sonarr (issue 10): Import List Exclusions are honoured and a
series the user deleted stays deleted. Whole cycles (`sync.run_cycle`) against both
simulators, the tests acting as the user in the Sonarr simulator between cycles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_V3_VERSION, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.sonarr_helpers import (
    OPEN_FILTERS,
    WEEK,
    FakeClock,
    cycle,
    ledger_rows,
    lookups,
    make_config,
    open_store,
    posted_tvdb_ids,
    real_shows,
    status_of,
)
from tvmaze_sync.core.config import Config
from tvmaze_sync.core.errors import DependencyError
from tvmaze_sync.decisions import filters
from tvmaze_sync.decisions.explain import explain_show
from tvmaze_sync.sonarr import gateway, ledger, phase
from tvmaze_sync.storage.store import Store

#: TheTVDB id of each recorded TVMaze show the tests use (ids below 250 all have one).
TVDB: dict[int, int] = {s["id"]: s["externals"]["thetvdb"] for s in real_shows(range(1, 250))}


class World:
    """Both simulators, a clock, and the cache a run of `tvmaze-sync sync` keeps."""

    def __init__(
        self,
        tmp_path: Path,
        sonarr_sim: SonarrSimulator,
        tvmaze_sim: TvmazeSimulator,
        clock: FakeClock,
        **options: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.sonarr = sonarr_sim
        self.tvmaze = tvmaze_sim
        self.clock = clock
        self.options = options
        self.config = make_config(tmp_path, sonarr_sim, tvmaze_sim, **options)
        self.tvdb = TVDB

    def cycle(self, config: Config | None = None) -> Any:
        self.clock.advance(3600)
        return cycle(config or self.config, self.clock)

    def store(self) -> Store:
        return open_store(self.config)

    def status(self, tvmaze_id: int) -> str:
        store = self.store()
        try:
            return status_of(store, tvmaze_id)
        finally:
            store.close()

    def posts(self, tvmaze_id: int) -> int:
        return posted_tvdb_ids(self.sonarr).count(self.tvdb[tvmaze_id])

    def delete_in_sonarr(self, tvmaze_id: int, **kwargs: Any) -> None:
        series = self.sonarr.series_by_tvdb(self.tvdb[tvmaze_id])
        assert series is not None
        assert self.sonarr.delete_series(series["id"], **kwargs)


@pytest.fixture
def world_factory(
    tmp_path: Path, sonarr_sim_factory: SonarrFactory, tvmaze_sim_factory: TvmazeSimFactory
) -> Any:
    def make(
        ids: range | list[int] = range(1, 7), *, exclusions: Any = (), **options: Any
    ) -> World:
        clock = FakeClock()
        tvmaze_sim = tvmaze_sim_factory(shows=real_shows(ids), rate_limit=None, clock=clock)
        sonarr_sim = sonarr_sim_factory(exclusions=list(exclusions))
        return World(tmp_path, sonarr_sim, tvmaze_sim, clock, **options)

    return make


# --- Import List Exclusions -----------------------------------------------------------------


def test_an_exclusion_before_the_first_cycle_is_never_looked_up_or_added(
    world_factory: Any,
) -> None:
    excluded_tvdb = TVDB[2]
    world = world_factory(exclusions=[(excluded_tvdb, "Person of Interest")])
    summary = world.cycle()
    assert world.status(2) == "excluded"
    assert summary.results == {"added": 5, "excluded": 1}
    store = world.store()
    assert store.get_row(2)["status_reason"] == "sonarr_exclusion"  # type: ignore[index]
    assert [r["tvmaze_id"] for r in store.rows_where("processing_status = 'excluded'")] == [2]
    row = store.get_row(2)
    assert row is not None
    notes = explain_show(filters.FilterProcessor(world.config.filters), row).notes
    notes.append(ledger.explain(store, row) or "")  # as the explain command adds it
    assert " ".join(notes).lower().count("list exclusions") == 1  # the fact once, not twice
    assert f"lift TheTVDB id {excluded_tvdb} in Sonarr" in notes[-1]
    store.close()
    world.cycle()
    world.cycle()
    assert f"tvdb:{excluded_tvdb}" not in lookups(world.sonarr)
    assert world.posts(2) == 0
    assert world.status(2) == "excluded"


def test_an_exclusion_added_later_stops_the_show_there(world_factory: Any) -> None:
    world = world_factory(sync={"retry_delay": "1d"})
    tvdb = world.tvdb[3]
    entry = world.sonarr.catalogue.pop(tvdb)  # TheTVDB does not know it yet
    world.sonarr.fail_next(3, 503, "/api/v3/series", method="POST")  # and one add is deferred
    world.cycle()
    assert world.status(3) == "pending_tvdb"
    # Adds go most popular first: the first POST (the one deferred) is that show's.
    [deferred] = [i for i in range(1, 7) if world.status(i) == "pending"]
    # The user excludes both in Sonarr; TheTVDB learns the first one meanwhile.
    world.sonarr.add_exclusion(tvdb, "Bitten")
    world.sonarr.add_exclusion(world.tvdb[deferred], "Deferred")
    world.sonarr.catalogue[tvdb] = entry
    world.clock.advance(2 * 86_400)  # past retry_after
    summary = world.cycle()
    assert (world.status(3), world.status(deferred)) == ("excluded", "excluded")
    assert summary.results == {"excluded": 2}
    assert world.posts(3) == 0 and world.posts(deferred) == 3  # only the failed attempts
    assert f"tvdb:{tvdb}" in lookups(world.sonarr)  # looked up only while not excluded


def test_a_lifted_exclusion_makes_the_show_eligible_next_cycle(world_factory: Any) -> None:
    world = world_factory(exclusions=[(TVDB[4], "Arrow")])
    world.cycle()
    assert world.status(4) == "excluded"
    assert world.sonarr.remove_exclusion(world.tvdb[4])
    summary = world.cycle()
    assert world.status(4) == "added" and world.posts(4) == 1
    assert summary.added_titles == ["Arrow"]


#: Filters every recorded show of these tests fails (they are all in English).
JAPANESE_ONLY: dict[str, Any] = {**OPEN_FILTERS, "languages": {"include": ["Japanese"]}}


def test_a_lifted_exclusion_is_decided_by_todays_filters(world_factory: Any) -> None:
    world = world_factory(exclusions=[(TVDB[1], "Under the Dome")])
    world.cycle()
    assert world.status(1) == "excluded"
    japanese = make_config(world.tmp_path, world.sonarr, world.tvmaze, filters=JAPANESE_ONLY)
    world.cycle(japanese)
    assert world.status(1) == "excluded"  # refilter leaves Sonarr-side statuses alone
    assert world.sonarr.remove_exclusion(world.tvdb[1])
    summary = world.cycle(japanese)
    assert world.status(1) == "filtered" and world.posts(1) == 0
    assert summary.results == {"filtered": 1} and summary.added_titles == []
    world.cycle(japanese)
    assert world.posts(1) == 0


def test_120_exclusions_over_several_pages_are_all_read(
    world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway, "EXCLUSION_PAGE_SIZE", 50)
    ids = sorted(TVDB)[:150]
    excluded = {tvmaze_id: TVDB[tvmaze_id] for tvmaze_id in ids[:120]}
    world = world_factory(
        ids,
        exclusions=[(tvdb, f"Show {tvdb}") for tvdb in excluded.values()],
        max_adds_per_cycle=0,  # no budget: all 30 in one cycle
    )
    summary = world.cycle()
    pages = world.sonarr.requests_to("/api/v3/importlistexclusion/paged")
    assert [r.query["page"] for r in pages] == [["1"], ["2"], ["3"]]
    assert all(r.status == 200 and r.query["pageSize"] == ["50"] for r in pages)
    assert summary.results == {"excluded": 120, "added": 30}
    assert not set(posted_tvdb_ids(world.sonarr)) & set(excluded.values())
    assert not {f"tvdb:{t}" for t in excluded.values()} & set(lookups(world.sonarr))


def test_old_sonarr_without_paged_exclusions_falls_back_to_the_plain_list(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(version=SONARR_V3_VERSION, exclusions=[(10, "Ten"), (11, "Eleven")])
    config = make_config(tmp_path, sim, language_profile="English")
    gateway = phase.connect(config.sonarr, FakeClock())
    assert set(gateway.exclusions()) == {10, 11}
    assert [(r.path, r.status) for r in sim.request_log[-2:]] == [
        ("/api/v3/importlistexclusion/paged", 404),
        ("/api/v3/importlistexclusion", 200),
    ]
    gateway.close()


def test_a_page_that_moves_under_the_reader_is_read_again(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(exclusions=[(100 + i, f"S{i}") for i in range(5)])
    config = make_config(tmp_path, sim)
    gateway = phase.connect(config.sonarr, FakeClock())
    gateway.exclusion_page_size = 2
    original = sim.handle
    moved = False

    def handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal moved
        reply = original(method, target, *args, **kwargs)
        if "paged" in target and not moved:
            moved = True
            sim.remove_exclusion(100)  # the user deletes one while we read page 1
        return reply

    sim.handle = handle  # type: ignore[method-assign]
    assert set(gateway.exclusions()) == {101, 102, 103, 104}
    totals = [r.status for r in sim.requests_to("/api/v3/importlistexclusion/paged")]
    assert len(totals) == 4  # two pages announcing 5 then 4 records: read again (2 pages)
    gateway.close()


# --- the ownership ledger -------------------------------------------------------------------


def test_a_series_the_user_deleted_is_never_added_again(world_factory: Any) -> None:
    world = world_factory()
    world.cycle()
    assert world.status(3) == "added" and world.posts(3) == 1
    world.delete_in_sonarr(3)
    summary = world.cycle()
    assert world.status(3) == "removed_by_user"
    assert summary.results == {"removed_by_user": 1}
    store = world.store()
    entry = ledger_rows(store)[world.tvdb[3]]
    assert entry["removed_at"] is not None and entry["sonarr_series_id"] is not None
    line = ledger.explain(store, store.get_row(3)) or ""
    assert "it was deleted there" in line and entry["removed_at"] in line
    assert store.count_by_status()["removed_by_user"] == 1
    store.close()

    for _ in range(3):
        world.cycle()
    assert world.posts(3) == 1

    # refilter: every unsent or filtered show re-decided from the cache.
    store = world.store()
    filters.refilter(store, filters.FilterProcessor(world.config.filters))
    store.close()
    world.cycle()
    assert world.posts(3) == 1 and world.status(3) == "removed_by_user"

    # a filter change (the cycle refilters on its own).
    no_cooking = {**OPEN_FILTERS, "genres": {"exclude": ["Cooking"]}}
    changed = make_config(world.tmp_path, world.sonarr, world.tvmaze, filters=no_cooking)
    world.cycle(changed)
    assert world.posts(3) == 1

    # a full rescan of TVMaze (state gone) that brings the show's row a fresh copy.
    world.tvmaze.update_show(3, summary="<p>Changed on TVMaze.</p>")
    for name in ("state.json", "state.json.bak"):
        (world.config.storage_dir / name).unlink(missing_ok=True)
    summary = world.cycle()
    assert summary.mode == "full" and summary.shows_fetched == 1
    assert world.posts(3) == 1

    # even a show row rewritten to pending by anything at all: the ledger keeps it out.
    store = world.store()
    with store.atomic():
        store.db.execute("UPDATE shows SET processing_status = 'pending' WHERE tvmaze_id = 3")
    store.close()
    world.cycle()
    assert world.posts(3) == 1 and world.status(3) == "removed_by_user"
    assert not world.sonarr.posts_to("/api/v3/importlistexclusion")  # keep_out posts nothing


def test_exclude_in_sonarr_posts_exactly_one_exclusion(world_factory: Any) -> None:
    world = world_factory(on_user_removal="exclude_in_sonarr")
    world.cycle()
    world.delete_in_sonarr(2)
    world.cycle()
    assert world.status(2) == "removed_by_user"
    assert world.sonarr.posts_to("/api/v3/importlistexclusion") == [
        {"tvdbId": world.tvdb[2], "title": "Person of Interest"}
    ]
    assert [e["tvdbId"] for e in world.sonarr.exclusions()] == [world.tvdb[2]]
    world.cycle()
    world.cycle()
    # The user lifts that exclusion: it is theirs to manage, we do not post it again.
    world.sonarr.remove_exclusion(world.tvdb[2])
    world.cycle()
    world.cycle()
    assert len(world.sonarr.posts_to("/api/v3/importlistexclusion")) == 1
    assert world.posts(2) == 1 and world.status(2) == "removed_by_user"


def test_a_deletion_that_added_its_own_exclusion_posts_none(world_factory: Any) -> None:
    world = world_factory(on_user_removal="exclude_in_sonarr")
    world.cycle()
    world.delete_in_sonarr(5, add_exclusion=True)  # Sonarr's own "prevent re-add" box
    world.cycle()
    assert world.status(5) == "removed_by_user"
    assert world.sonarr.posts_to("/api/v3/importlistexclusion") == []
    store = world.store()
    assert ledger_rows(store)[world.tvdb[5]]["exclusion_posted_at"] is not None
    store.close()


def test_allow_readd_adds_a_deleted_series_again(world_factory: Any) -> None:
    world = world_factory(on_user_removal="allow_readd")
    world.cycle()
    first = world.sonarr.series_by_tvdb(world.tvdb[1])
    world.delete_in_sonarr(1)
    world.cycle()
    again = world.sonarr.series_by_tvdb(world.tvdb[1])
    assert world.posts(1) == 2 and world.status(1) == "added"
    assert first is not None and again is not None and again["id"] != first["id"]
    store = world.store()
    entry = ledger_rows(store)[world.tvdb[1]]
    assert (entry["sonarr_series_id"], entry["removed_at"]) == (again["id"], None)
    store.close()


def test_allow_readd_asks_todays_filters_first(world_factory: Any) -> None:
    world = world_factory(on_user_removal="allow_readd")
    world.cycle()
    assert world.status(1) == "added"
    japanese = make_config(
        world.tmp_path,
        world.sonarr,
        world.tvmaze,
        filters=JAPANESE_ONLY,
        on_user_removal="allow_readd",
    )
    world.cycle(japanese)
    world.delete_in_sonarr(1)
    summary = world.cycle(japanese)
    assert world.status(1) == "filtered" and world.posts(1) == 1
    assert summary.added_titles == []
    world.cycle(japanese)
    assert world.posts(1) == 1 and world.sonarr.series_by_tvdb(world.tvdb[1]) is None


def test_a_series_the_tool_did_not_add_is_never_touched(world_factory: Any) -> None:
    world = world_factory()
    world.sonarr.add_series(TVDB[6])  # the user's own series
    world.cycle()
    assert world.status(6) == "exists"
    world.delete_in_sonarr(6)
    for _ in range(3):
        world.cycle()
    assert world.status(6) == "exists" and world.posts(6) == 0
    store = world.store()
    assert world.tvdb[6] not in ledger_rows(store)
    store.close()


@pytest.mark.parametrize(
    "fault",
    [
        {"n": 3, "status": 503},  # Sonarr failing for the whole read
        {"n": 1, "status": 200, "body": '[{"id": 1, "tvdbId": 2641'},  # cut short
        {"n": 1, "status": 200, "body": [{"id": 1, "title": "no tvdb id"}]},  # malformed
    ],
    ids=["5xx", "truncated", "malformed"],
)
def test_a_failed_or_partial_library_read_concludes_nothing(
    world_factory: Any, fault: dict[str, Any]
) -> None:
    world = world_factory()
    world.cycle()
    world.delete_in_sonarr(4)
    world.sonarr.fail_next(path_prefix="/api/v3/series", method="GET", **fault)
    with pytest.raises(DependencyError) as caught:
        world.cycle()
    assert caught.value.exit_code == 3
    assert world.status(4) == "added"
    store = world.store()
    assert ledger_rows(store)[world.tvdb[4]]["removed_at"] is None
    store.close()
    assert world.posts(4) == 1
    # Once Sonarr answers in full, the removal is concluded.
    world.cycle()
    assert world.status(4) == "removed_by_user" and world.posts(4) == 1


def test_a_failed_exclusion_read_adds_nothing(world_factory: Any) -> None:
    world = world_factory()
    world.sonarr.fail_next(3, 500, "/api/v3/importlistexclusion")
    with pytest.raises(DependencyError):
        world.cycle()
    assert posted_tvdb_ids(world.sonarr) == [] and world.status(1) == "pending"
    world.clock.advance(WEEK)
    world.cycle()
    assert world.status(1) == "added"
