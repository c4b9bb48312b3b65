"""A bad TVMaze record is one bad record, end to end (issue #14): `tvmaze-sync sync` as a
real process against the TVMaze simulator serving shows with values beyond int64, of the
wrong kind and null in every field. The sync exits 0, warns about and counts each bad
record, mirrors the rest of the page, and the next sync is not blocked."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.helpers_metrics import families, samples, write_config
from tests.helpers_tvmaze import cache_rows, compact_real_shows, load_state
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.tvmaze.mapping import INT64_MAX, SkipReason, map_show

BEYOND = INT64_MAX + 1
#: Shows whose id or `updated` no store can hold or trust: skipped whole.
SKIPPED = {
    3: {"id": 2**64},
    4: {"id": True},
    5: {"id": -7},
    6: {"id": 6.0},
    7: {"updated": BEYOND},
    8: {"updated": "yesterday"},
    9: {"updated": math.nan},
}
#: Shows with every other mapped field unusable: stored, those fields null.
DROPPED = {
    10: {
        "name": "x" * 5000,
        "runtime": BEYOND,
        "averageRuntime": -1,
        "rating__average": math.inf,
        "externals__thetvdb": BEYOND,
        "externals__imdb": 7,
        "genres": [True, "Drama"],
        "language": 12,
        "network": "BBC",
        "webChannel": {"name": ["x"], "country": {"code": 1}},
        "premiered": 20130624,
        "ended": BEYOND,
        "type": {"x": 1},
        "status": False,
    },
}
ALL_NULL = 11


def damage(sim: TvmazeSimulator) -> None:
    """Edit the simulator's data as a hostile or broken TVMaze would serve it."""
    for show_id, changes in {**SKIPPED, **DROPPED}.items():
        sim.update_show(show_id, **changes)
    nulls = {key: None for key in sim.get_show(ALL_NULL) or {} if key not in ("id", "updated")}
    sim.update_show(ALL_NULL, **nulls)
    sim.refresh_index()  # the pages serve the damaged copies
    # Listed by /updates/shows only (the index lags): a key beyond int64.
    sim.add_show(copy.deepcopy(sim.get_show(1) or {}), show_id=BEYOND)


def good_ids(sim: TvmazeSimulator) -> list[int]:
    return [i for i in sim.show_ids if i not in SKIPPED and i != BEYOND]


def sync(tmp_path: Path, config: Path) -> tuple[int, str, dict[str, float]]:
    prom = tmp_path / "tvmaze.prom"
    result = run_cli(
        tmp_path, "--config", str(config), "sync", "--dry-run", "--metrics-file", str(prom)
    )
    assert "Traceback" not in result.stderr
    skipped = samples(families(prom.read_text())["tvmaze_sync_records_skipped_total"], "reason")
    return result.returncode, result.stderr, skipped


def test_bad_records_are_skipped_and_counted_and_the_rest_is_mirrored(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    sim = tvmaze_sim_factory(shows=compact_real_shows(), rate_limit=None)
    damage(sim)
    storage = tmp_path / "storage"
    config = write_config(tmp_path / "config.yaml", storage, sim.url)

    code, stderr, skipped = sync(tmp_path, config)

    assert code == ExitCode.OK, stderr
    assert "show_skipped reason=invalid_id" in stderr
    assert "show_skipped reason=invalid_updated" in stderr
    assert "show_fields_dropped tvmaze_id=10" in stderr
    assert "updates_entries_skipped reason=invalid_updates_entry" in stderr
    # Every bad id on the page, and again when asked alone (/shows/3 names id 2**64).
    assert skipped[SkipReason.INVALID_ID] >= 4
    assert skipped[SkipReason.INVALID_UPDATED] >= 3
    assert skipped[SkipReason.INVALID_FIELD] == 1
    # The key beyond int64, and show 7's value beyond int64.
    assert skipped[SkipReason.INVALID_UPDATES_ENTRY] == 2
    assert skipped[SkipReason.OVERSIZED] == 0

    rows = cache_rows(storage)
    assert sorted(rows) == good_ids(sim)  # the rest of page 0 and every other page
    for show_id in good_ids(sim):
        show: Any = sim.get_show(show_id)
        expected = row_from_show(map_show(show).show, show)
        expected.pop("raw")
        assert {k: rows[show_id][k] for k in expected} == expected, show_id
    dropped = rows[10]
    for column in ("runtime", "rating", "tvdb_id", "imdb_id", "language", "network"):
        assert dropped[column] is None
    assert (dropped["title"], dropped["genres"], dropped["country"]) == ("", '["Drama"]', None)
    assert rows[ALL_NULL]["title"] == "" and rows[ALL_NULL]["runtime"] is None
    state = load_state(storage)
    assert state.initial_sync_complete and state.last_tvmaze_page is None
    assert state.highest_tvmaze_id == max(good_ids(sim))

    # The next sync is not blocked: incremental, and it stores what TVMaze repaired.
    sim.update_show(7, updated=int(sim.now()) + 60, name="Repaired")
    sim.reset_counters()
    code, stderr, _ = sync(tmp_path, config)
    assert code == ExitCode.OK, stderr
    state = load_state(storage)
    assert state.last_cycle["ok"] and state.last_cycle["mode"] == "incremental"
    assert sim.requests_by_kind["page"] <= 2  # the page scan from the end, not a rescan
    assert cache_rows(storage)[7]["title"] == "Repaired"
