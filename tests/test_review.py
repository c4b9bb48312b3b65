"""The popularity filter and the approval queue, through the real CLI against both simulators.

`filters.weight` is decided offline (refilter asks TVMaze nothing), explained, listed and
counted by reason; `sonarr.require_approval` queues wanted shows, `review approve` sends them
through the next sync's normal add path, `review deny` skips them for good.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import invoke_cli, run_cli
from tests.helpers_store import store_at
from tests.helpers_tvmaze import UNLIMITED
from tests.sonarr_helpers import OPEN_FILTERS, posted_tvdb_ids, real_shows
from tvmaze_sync.cycle.metrics import build_registry
from tvmaze_sync.storage.store import SCHEMA_VERSION


def _config(
    tmp_path: Path,
    tvmaze: TvmazeSimulator,
    sonarr_sim: SonarrSimulator | None = None,
    *,
    filters: dict[str, Any] | None = None,
    **sonarr: Any,
) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
        "storage": {"path": str(tmp_path / "data")},
        "filters": {**copy.deepcopy(OPEN_FILTERS), **(filters or {})},
        "logging": {"format": "json"},
    }
    if sonarr_sim is not None:
        # a real process sleeps for real: no pause between adds (pacing is tested in-process)
        data["sonarr"] = {
            "url": sonarr_sim.url,
            "api_key": SONARR_API_KEY,
            "add_interval": "0s",
            **sonarr,
        }
    path = tmp_path / "config.yaml"  # each call rewrites it: the last one is in force
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _cli(tmp_path: Path, config: Path, *args: str, code: int = 0) -> str:
    """The command in-process; a failure's exit code from a real process."""
    run = run_cli if code else invoke_cli
    result = run(tmp_path, "--config", str(config), *args)
    assert result.returncode == code, result.stderr
    return result.stdout


def _json(tmp_path: Path, config: Path, *args: str) -> Any:
    return json.loads(_cli(tmp_path, config, *args, "--format", "json"))


def _statuses(tmp_path: Path) -> dict[int, str]:
    store = store_at(tmp_path / "data", readonly=True)
    try:
        return dict(store.db.execute("SELECT tvmaze_id, processing_status FROM shows").fetchall())
    finally:
        store.close()


# --- popularity ----------------------------------------------------------------------------


def test_weight_is_decided_offline_explained_listed_and_counted(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 13))  # weights 57 to 100
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    config = _config(tmp_path, tvmaze)
    _cli(tmp_path, config, "sync")  # no Sonarr: mirrors and decides
    weights = {s["id"]: s["weight"] for s in shows}
    listed = _json(tmp_path, config, "shows", "--sort", "weight:desc", "-n", "100")
    assert [r["weight"] for r in listed] == sorted(weights.values(), reverse=True)
    table = _cli(tmp_path, config, "shows", "--sort", "weight", "-n", "1").splitlines()
    assert "weight" in table[1] and table[3].rstrip(" │").endswith(str(min(weights.values())))

    requests_before = len(tvmaze.request_log)
    config = _config(tmp_path, tvmaze, filters={"weight": {"min": 90, "max": 97}})
    report = _json(tmp_path, config, "refilter")
    assert len(tvmaze.request_log) == requests_before  # decided from SQLite alone
    too_low = {i for i, w in weights.items() if w < 90}
    too_high = {i for i, w in weights.items() if w > 97}
    assert too_low and too_high
    assert report["transitions"] == {"pending->filtered": len(too_low | too_high)}
    rows = _json(tmp_path, config, "shows", "--reason", "weight_too_low", "-n", "100")
    assert {r["tvmaze_id"] for r in rows} == too_low
    assert {r["filter_reason"] for r in rows} == {f"weight_too_low:{weights[i]}" for i in too_low}
    rows = _json(tmp_path, config, "shows", "--reason", "weight_too_high", "-n", "100")
    assert {r["tvmaze_id"] for r in rows} == too_high

    glee = _json(tmp_path, config, "explain", "Glee")  # weight 57
    [verdict] = [v for v in glee["verdicts"] if v["rule"] == "weight"]
    assert verdict["value"] == "57" and verdict["reason"] == "weight_too_low:57"
    assert verdict["setting"] == "at least 90; at most 97; unknown fails"

    text = generate_latest(build_registry(tmp_path / "data")).decode()
    assert f'tvmaze_sync_shows_filtered{{reason="weight_too_low"}} {len(too_low)}.0' in text
    assert f'tvmaze_sync_shows_filtered{{reason="weight_too_high"}} {len(too_high)}.0' in text


def test_the_migration_fills_weight_from_the_stored_json(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 5))
    shows[1] = {**shows[1], "weight": "heavy"}  # not a number: unknown
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    _cli(tmp_path, _config(tmp_path, tvmaze), "sync")
    store = store_at(tmp_path / "data")
    with store.atomic():  # back to the schema before the weight column
        store.db.execute("ALTER TABLE shows DROP COLUMN approved_at")
        store.db.execute("ALTER TABLE shows DROP COLUMN weight")
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN target")
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN route")
        store.db.execute("PRAGMA user_version = 6")
    store.close()
    assert SCHEMA_VERSION == 10
    store = store_at(tmp_path / "data")  # migrates
    try:
        got = dict(store.db.execute("SELECT tvmaze_id, weight FROM shows").fetchall())
    finally:
        store.close()
    assert got == {1: shows[0]["weight"], 2: None, 3: shows[2]["weight"], 4: shows[3]["weight"]}


@pytest.mark.parametrize(
    "args",
    [("review",), ("shows", "--sort", "weight"), ("explain", "1"), ("state",)],
    ids=["review", "shows_by_weight", "explain", "state"],
)
def test_readers_on_an_unmigrated_cache_say_run_sync(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, args: tuple[str, ...]
) -> None:
    """A cache from before the weight and approval columns (schema 6): the read-only
    commands cannot migrate it (they never write), so any of them that needs a newer column
    says to run `sync` (exit 2), never SQLite's "no such column"; `sync` then migrates it
    and the same command works."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 5)), rate_limit=None)
    config = _config(tmp_path, tvmaze)
    _cli(tmp_path, config, "sync")
    store = store_at(tmp_path / "data")
    with store.atomic():
        store.db.execute("ALTER TABLE shows DROP COLUMN approved_at")
        store.db.execute("ALTER TABLE shows DROP COLUMN weight")
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN target")
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN route")
        store.db.execute("PRAGMA user_version = 6")
    store.close()
    result = run_cli(tmp_path, "--config", str(config), *args)
    if result.returncode == 0:  # a reader that needs no newer column keeps working
        assert args in (("state",), ("explain", "1")), result.stdout
    else:
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: cannot read {tmp_path / 'data' / 'shows.db'}: it is at schema 6, older "
            f"than this tvmaze-sync ({SCHEMA_VERSION}); run `tvmaze-sync sync` once to migrate it"
        ]
    _cli(tmp_path, config, "sync")
    _cli(tmp_path, config, *args)


# --- the approval queue ----------------------------------------------------------------------


def test_review_queue_from_sync_to_approve_and_deny_to_the_next_adds(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 7))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    in_library, excluded = shows[4], shows[5]
    sonarr_sim.add_exclusion(excluded["externals"]["thetvdb"], excluded["name"])
    config = _config(tmp_path, tvmaze, sonarr_sim, require_approval=True)
    _cli(tmp_path, config, "sync")
    assert not posted_tvdb_ids(sonarr_sim)  # nothing added without approval
    statuses = _statuses(tmp_path)
    assert statuses[excluded["id"]] == "excluded"  # never reaches the queue
    queue = _json(tmp_path, config, "review")
    assert len(queue) == 5
    assert [r["weight"] for r in queue] == sorted((r["weight"] for r in queue), reverse=True)
    first = queue[0]
    source = next(s for s in shows if s["id"] == first["tvmaze_id"])
    assert first == {
        "tvmaze_id": source["id"],
        "title": source["name"],
        "network": (source["network"] or source["webChannel"])["name"],
        "premiered": source["premiered"],
        "rating": source["rating"]["average"],
        "weight": source["weight"],
        "url": f"https://www.tvmaze.com/shows/{source['id']}",
    }
    csv_lines = _cli(tmp_path, config, "review", "--format", "csv").splitlines()
    assert csv_lines[0] == "tvmaze_id,title,network,premiered,rating,weight,url"
    assert len(csv_lines) == 6
    assert "5 shows wait for review" in _cli(tmp_path, config, "review")
    assert {r["tvmaze_id"] for r in _json(tmp_path, config, "shows", "--status", "review")} == {
        r["tvmaze_id"] for r in queue
    }
    state = _json(tmp_path, config, "state")
    assert state["shows"]["by_status"]["review"] == 5
    notes = _json(tmp_path, config, "explain", str(shows[0]["id"]))["notes"]
    assert any("waits for your approval" in n for n in notes), notes

    # A typo changes nothing: every id must be waiting.
    result = run_cli(tmp_path, "--config", str(config), "review", "approve", "1", "999999")
    assert result.returncode == 2 and "999999 (not cached)" in result.stderr
    assert "Traceback" not in result.stderr
    assert _statuses(tmp_path)[1] == "review"

    # The user adds one by hand meanwhile: approving it still goes through the library check.
    sonarr_sim.add_series(in_library["externals"]["thetvdb"])
    _cli(tmp_path, config, "review", "approve", "1", "2", str(in_library["id"]))
    _cli(tmp_path, config, "review", "deny", "3")
    assert _statuses(tmp_path)[3] == "skipped"
    _cli(tmp_path, config, "sync")
    assert sorted(posted_tvdb_ids(sonarr_sim)) == sorted(
        s["externals"]["thetvdb"] for s in shows[:2]
    )
    statuses = _statuses(tmp_path)
    assert (statuses[1], statuses[2], statuses[in_library["id"]]) == ("added", "added", "exists")
    assert statuses[4] == "review" and statuses[3] == "skipped"

    # Denied stays skipped through a forced refilter and another sync.
    _cli(tmp_path, config, "refilter")
    _cli(tmp_path, config, "sync")
    assert _statuses(tmp_path)[3] == "skipped"
    _cli(tmp_path, config, "review", "deny", "--all")
    assert _statuses(tmp_path)[4] == "skipped"
    assert _json(tmp_path, config, "review") == []
    assert len(posted_tvdb_ids(sonarr_sim)) == 2


def test_turning_approval_off_sends_the_queue_through_todays_filters(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 9))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    _cli(tmp_path, _config(tmp_path, tvmaze, sonarr_sim, require_approval=True), "sync")
    assert len(_json(tmp_path, _config(tmp_path, tvmaze, sonarr_sim), "review")) == 8
    # Approval off, and a popularity floor that Glee (57) does not reach.
    config = _config(tmp_path, tvmaze, sonarr_sim, filters={"weight": {"min": 90}})
    _cli(tmp_path, config, "sync")
    statuses = _statuses(tmp_path)
    assert statuses[8] == "filtered"
    assert sorted(posted_tvdb_ids(sonarr_sim)) == sorted(
        s["externals"]["thetvdb"] for s in shows if s["weight"] >= 90
    )
    assert "review" not in statuses.values()


def test_review_approve_usage_errors(tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None)
    config = _config(tmp_path, tvmaze)
    result = run_cli(tmp_path, "--config", str(config), "review", "approve", "1")
    assert result.returncode == 2 and "no cache" in result.stderr
    _cli(tmp_path, config, "sync")
    for args in (("approve",), ("deny", "1", "--all")):
        result = run_cli(tmp_path, "--config", str(config), "review", *args)
        assert result.returncode == 2 and "give TVMaze ids or --all" in result.stderr
    result = run_cli(tmp_path, "--config", str(config), "review", "deny", "1")
    assert result.returncode == 2 and "(pending)" in result.stderr


def _row(tmp_path: Path, tvmaze_id: int) -> dict[str, Any]:
    store = store_at(tmp_path / "data", readonly=True)
    try:
        row = store.get_row(tvmaze_id)
        assert row is not None
        return row
    finally:
        store.close()


def test_waiting_and_denied_shows_through_a_rescan_and_filter_changes(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 5))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    config = _config(tmp_path, tvmaze, sonarr_sim, require_approval=True)
    _cli(tmp_path, config, "sync")
    _cli(tmp_path, config, "review", "deny", "1")
    _cli(tmp_path, config, "review", "approve", "2")

    # TVMaze changes both: the rescan refreshes their weight, never their status.
    tvmaze.update_show(1, weight=50)
    tvmaze.update_show(3, weight=40)
    _cli(tmp_path, _config(tmp_path, tvmaze), "sync")  # no Sonarr: nothing added
    config = _config(tmp_path, tvmaze, sonarr_sim, require_approval=True)
    assert (_row(tmp_path, 1)["processing_status"], _row(tmp_path, 1)["weight"]) == ("skipped", 50)
    assert (_row(tmp_path, 3)["processing_status"], _row(tmp_path, 3)["weight"]) == ("review", 40)
    assert [r["tvmaze_id"] for r in _json(tmp_path, config, "review")][-1] == 3  # least popular

    # A filter change that rejects a waiting show takes it out of the queue; an approved
    # show it rejects loses its approval, and waits for review again once it passes again.
    strict = _config(
        tmp_path,
        tvmaze,
        sonarr_sim,
        filters={"weight": {"min": 60}, "ids": {"exclude": [2]}},
        require_approval=True,
    )
    _json(tmp_path, strict, "refilter")
    assert _row(tmp_path, 3)["filter_reason"] == "weight_too_low:40"
    assert _row(tmp_path, 3)["processing_status"] == "filtered"
    assert _row(tmp_path, 2)["processing_status"] == "filtered"
    assert _row(tmp_path, 2)["approved_at"] is None
    assert _row(tmp_path, 1)["processing_status"] == "skipped"
    # Back to open filters: the filter change refilters.
    config = _config(tmp_path, tvmaze, sonarr_sim, require_approval=True)
    _cli(tmp_path, config, "sync")
    assert {r["tvmaze_id"] for r in _json(tmp_path, config, "review")} == {2, 3, 4}
    assert _row(tmp_path, 1)["processing_status"] == "skipped"
    assert not posted_tvdb_ids(sonarr_sim)


def test_a_dry_run_counts_what_would_wait_and_changes_nothing(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 4)), rate_limit=None)
    config = _config(tmp_path, tvmaze, sonarr_sim, require_approval=True)
    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(x) for x in result.stderr.splitlines() if '"sync_summary"' in x]
    assert (line["review"], line["would_add"]) == (3, 0)
    assert "review" not in _statuses(tmp_path).values()
    assert not posted_tvdb_ids(sonarr_sim)
