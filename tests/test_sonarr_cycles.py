"""The Sonarr side of whole cycles: the TVDB retry queue on an injected clock, a real kill -9
during adds, the CLI's exit codes and output, and every request tvmaze-sync sends checked
against Sonarr's own OpenAPI description."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SONARR_V3_VERSION, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import clean_env, invoke_cli, run_cli
from tests.helpers_store import store_at
from tests.helpers_tvmaze import UNLIMITED
from tests.sonarr_helpers import (
    DAY,
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
)
from tvmaze_sync.core.timeutil import iso


def _without_tvdb(shows: list[dict[str, Any]], *ids: int) -> list[dict[str, Any]]:
    shows = copy.deepcopy(shows)
    for show in shows:
        if show["id"] in ids:
            show["externals"]["thetvdb"] = None
    return shows


def _row(config: Any, tvmaze_id: int) -> dict[str, Any]:
    store = open_store(config)
    try:
        row = store.get_row(tvmaze_id)
        assert row is not None
        return row
    finally:
        store.close()


def _show_fetches(tvmaze: TvmazeSimulator, tvmaze_id: int) -> int:
    return sum(1 for r in tvmaze.request_log if r.path.split("?")[0] == f"/shows/{tvmaze_id}")


# --- the TVDB retry queue -------------------------------------------------------------------


def test_retry_queue_waits_for_retry_after_then_abandons(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(
        shows=_without_tvdb(real_shows(range(1, 4)), 2), rate_limit=None, clock=clock
    )
    config = make_config(
        tmp_path, sonarr_sim, tvmaze, sync={"retry_delay": "1w", "abandon_after": "3w"}
    )
    first_seen = clock()
    summary = cycle(config, clock)
    assert summary.results == {"added": 2, "pending_tvdb": 1}
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == ("pending_tvdb", "no_tvdb_id")
    assert row["retry_after"] == iso(first_seen + WEEK)
    assert row["created_at"] == iso(first_seen)

    clock.advance(3 * DAY)  # not due yet: TVMaze is not asked about it
    cycle(config, clock)
    assert _show_fetches(tvmaze, 2) == 0
    assert _row(config, 2)["retry_after"] == iso(first_seen + WEEK)

    clock.advance(4 * DAY)  # due: still without an id, waits another week
    before = len(tvmaze.request_log)
    cycle(config, clock)
    # Nothing changed at TVMaze, so the retry asks it nothing: the mirror's read is all.
    assert _show_fetches(tvmaze, 2) == 0
    assert not [r for r in tvmaze.request_log[before:] if r.path.startswith("/shows/")]
    row = _row(config, 2)
    assert (row["processing_status"], row["retry_count"]) == ("pending_tvdb", 1)
    assert row["retry_after"] == iso(clock() + WEEK)

    clock.advance(WEEK)  # two weeks since first seen: not yet abandoned
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "pending_tvdb"

    clock.advance(WEEK)  # three weeks: given up
    summary = cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == ("failed", "abandoned_no_tvdb")
    assert row["retry_after"] is None and iso(first_seen) in row["error_message"]
    assert summary.results == {"failed": 1}
    assert _show_fetches(tvmaze, 2) == 0
    clock.advance(10 * WEEK)
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "failed"  # failed is final
    assert 2 not in {r for r in posted_tvdb_ids(sonarr_sim)}


def test_abandon_after_counts_from_the_start_of_the_wait_not_the_first_sighting(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(
        shows=_without_tvdb(real_shows(range(1, 3)), 2), rate_limit=None, clock=clock
    )
    sync = {"retry_delay": "1w", "abandon_after": "3w"}
    japanese = {**OPEN_FILTERS, "languages": {"include": ["Japanese"]}}
    narrow = make_config(tmp_path, sonarr_sim, tvmaze, filters=japanese, sync=sync)
    cycle(narrow, clock)
    assert _row(narrow, 2)["processing_status"] == "filtered"
    clock.advance(52 * WEEK)  # a year later the user widens the filters
    config = make_config(tmp_path, sonarr_sim, tvmaze, sync=sync)
    widened = clock()
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["pending_tvdb_since"]) == ("pending_tvdb", iso(widened))
    clock.advance(WEEK)  # the first retry: a week of waiting is not three
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["retry_count"]) == ("pending_tvdb", 1)
    clock.advance(2 * WEEK)  # three weeks since the wait began: given up
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == ("failed", "abandoned_no_tvdb")
    assert iso(widened) in row["error_message"] and row["pending_tvdb_since"] is None


def test_a_tvdb_id_sonarr_learns_is_added_when_the_retry_comes(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvdb = shows[1]["externals"]["thetvdb"]
    entry = sonarr_sim.catalogue.pop(tvdb)
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    config = make_config(tmp_path, sonarr_sim, tvmaze, sync={"retry_delay": "2d"})
    cycle(config, clock)
    row = _row(config, 2)
    assert (row["processing_status"], row["status_reason"]) == (
        "pending_tvdb",
        "tvdb_not_in_sonarr",
    )
    sonarr_sim.catalogue[tvdb] = entry
    clock.advance(DAY)
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "pending_tvdb"  # retry not due
    clock.advance(DAY + 60)
    before = lookups(sonarr_sim).count(f"tvdb:{tvdb}")
    summary = cycle(config, clock)
    assert _show_fetches(tvmaze, 2) == 0  # only Sonarr's lookup is retried
    assert lookups(sonarr_sim).count(f"tvdb:{tvdb}") == before + 1
    assert _row(config, 2)["retry_count"] == 1
    assert summary.results == {"added": 1} and summary.added_titles == [shows[1]["name"]]
    assert posted_tvdb_ids(sonarr_sim).count(tvdb) == 1


def test_a_tvdb_id_tvmaze_adds_later_is_used_at_once(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    clock = FakeClock()
    shows = real_shows(range(1, 3))
    tvmaze = tvmaze_sim_factory(shows=_without_tvdb(shows, 2), rate_limit=None, clock=clock)
    config = make_config(tmp_path, sonarr_sim, tvmaze)
    cycle(config, clock)
    assert _row(config, 2)["processing_status"] == "pending_tvdb"
    clock.advance(DAY)
    tvmaze.update_show(2, **{"externals.thetvdb": shows[1]["externals"]["thetvdb"]})
    tvmaze.refresh_index()
    clock.advance(DAY)
    summary = cycle(config, clock)  # the mirror brings the id; no week-long wait
    assert _row(config, 2)["processing_status"] == "added"
    assert summary.added_titles == [shows[1]["name"]]


# --- kill -9 during adds --------------------------------------------------------------------


def _write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _sim_config(
    tmp_path: Path, sonarr_sim: SonarrSimulator | None, tvmaze: TvmazeSimulator, **sonarr: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "logging": {"format": "json"},
    }
    if sonarr_sim is not None:
        # A real process sleeps for real: no pause between adds here.
        data["sonarr"] = {
            "url": sonarr_sim.url,
            "api_key": SONARR_API_KEY,
            "add_interval": "0s",
            **sonarr,
        }
    return data


@pytest.mark.slow
def test_kill_9_during_adds_then_rerun_posts_nothing_twice(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 13))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    config_path = _write_config(tmp_path / "config.yaml", _sim_config(tmp_path, sonarr_sim, tvmaze))
    # Each add is done at once but answered late: a kill lands between Sonarr's 201 and our
    # commit of `added`, the window a crash-safe tool must survive.
    sonarr_sim.delay_next(100, seconds=0.4, path_prefix="/api/v3/series", method="POST")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvmaze_sync", "--config", str(config_path), "sync"],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(sonarr_sim.requests_to("/api/v3/series", "POST")) < 4:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the subprocess never reached its fourth add"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    if proc.stderr:
        proc.stderr.close()
    killed_after = posted_tvdb_ids(sonarr_sim)
    assert len(killed_after) == 4 and len(sonarr_sim.library()) == 4

    sonarr_sim.reset_faults()
    result = run_cli(tmp_path, "--config", str(config_path), "sync")
    assert result.returncode == 0, result.stderr
    posted = posted_tvdb_ids(sonarr_sim)
    assert len(posted) == len(set(posted)) == 12  # every show added, none posted twice
    assert posted[:4] == killed_after
    store = store_at(tmp_path / "data")
    try:
        assert store.count_by_status()["added"] == 12
        owned = ledger_rows(store)
        assert len(owned) == 12 and all(e["sonarr_series_id"] for e in owned.values())
        # The add that was in flight at the kill is recorded as ours, not as `exists`.
        in_flight = store.get_row(shows[3]["id"])
        assert in_flight is not None and in_flight["processing_status"] == "added"
    finally:
        store.close()
    [line] = [json.loads(x) for x in result.stderr.splitlines() if '"sync_summary"' in x]
    assert line["added"] == 8 + 1  # eight new adds, one recovered from the kill


# --- the command line -----------------------------------------------------------------------


@pytest.mark.slow
def test_cli_exit_codes_for_a_bad_profile_and_a_bad_key(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None)
    data = _sim_config(tmp_path, sonarr_sim, tvmaze, quality_profile="HD-1080")
    result = run_cli(tmp_path, "--config", str(_write_config(tmp_path / "c.yaml", data)), "sync")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: configuration error: sonarr.quality_profile: quality profile 'HD-1080' not "
        "found in Sonarr; available: Any, HD-1080p"
    )
    data = _sim_config(tmp_path, sonarr_sim, tvmaze)
    data["sonarr"]["api_key"] = "wrong-key-abcdef"
    result = run_cli(tmp_path, "--config", str(_write_config(tmp_path / "c.yaml", data)), "sync")
    assert result.returncode == 3
    assert sonarr_sim.url in result.stderr and "401" in result.stderr
    assert "wrong-key-abcdef" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not posted_tvdb_ids(sonarr_sim)


@pytest.mark.slow
def test_cli_dry_run_summary_shows_and_state(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 5))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    sonarr_sim.add_exclusion(shows[0]["externals"]["thetvdb"], shows[0]["name"])
    config_path = _write_config(tmp_path / "c.yaml", _sim_config(tmp_path, sonarr_sim, tvmaze))
    result = run_cli(tmp_path, "--config", str(config_path), "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(x) for x in result.stderr.splitlines() if '"sync_summary"' in x]
    assert line["dry_run"] is True and line["excluded"] == 1 and line["added"] == 0
    assert sorted(line["would_add_titles"]) == sorted(s["name"] for s in shows[1:])
    assert not posted_tvdb_ids(sonarr_sim)

    result = run_cli(tmp_path, "--config", str(config_path), "sync")
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(x) for x in result.stderr.splitlines() if '"sync_summary"' in x]
    assert (line["added"], line["excluded"]) == (3, 1)
    assert sorted(line["added_titles"]) == sorted(s["name"] for s in shows[1:])

    # The queries read what the real processes left: in-process is enough.
    result = invoke_cli(
        tmp_path, "--config", str(config_path), "shows", "--status", "excluded", "--format", "json"
    )
    assert [r["title"] for r in json.loads(result.stdout)] == [shows[0]["name"]]
    result = invoke_cli(
        tmp_path, "--config", str(config_path), "explain", str(shows[0]["id"]), "--format", "json"
    )
    notes = json.loads(result.stdout)["notes"]
    assert " ".join(notes).lower().count("list exclusions") == 1, notes  # said once
    assert any(f"lift TheTVDB id {shows[0]['externals']['thetvdb']}" in n for n in notes), notes
    result = invoke_cli(tmp_path, "--config", str(config_path), "state", "--format", "json")
    by_status = json.loads(result.stdout)["shows"]["by_status"]
    assert (by_status["excluded"], by_status["removed_by_user"], by_status["added"]) == (1, 0, 3)


# --- requests against Sonarr's OpenAPI description ------------------------------------------


def _template(spec: dict[str, Any], path: str) -> str:
    candidates = []
    for template in spec["paths"]:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append(template)
    assert candidates, f"{path} is not in Sonarr's API"
    return min(candidates, key=lambda t: t.count("{"))  # literal segments win


def _check_query(
    spec: dict[str, Any], operation: dict[str, Any], query: dict[str, list[str]]
) -> None:
    declared = {p["name"].lower(): p for p in operation.get("parameters", []) if p["in"] == "query"}
    schemas = spec["components"]["schemas"]
    for name, values in query.items():
        assert name.lower() in declared, f"undeclared query parameter {name}"
        schema = declared[name.lower()].get("schema", {})
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        for value in values:
            if schema.get("type") == "integer":
                int(value)
            elif schema.get("type") == "boolean":
                assert value in ("true", "false")
            if "enum" in schema:
                assert value in schema["enum"], (name, value)


def test_every_request_conforms_to_sonarrs_openapi(
    tmp_path: Path,
    sonarr_sim_factory: SonarrFactory,
    tvmaze_sim_factory: TvmazeSimFactory,
    openapi: dict[str, Any],
    conform: Any,
) -> None:
    shows = real_shows(range(1, 6))
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None, clock=clock)
    v4 = sonarr_sim_factory(exclusions=[(shows[0]["externals"]["thetvdb"], "x")])
    config = make_config(
        tmp_path,
        v4,
        tvmaze,
        tags=["auto-sync", "new-tag"],
        create_missing_tags=True,
        on_user_removal="exclude_in_sonarr",
        monitor="pilot",
    )
    v4.race_next_add(insert=True)  # a 409, then the id asked for by tvdbId
    cycle(config, clock)
    v4.delete_series(v4.series_by_tvdb(shows[2]["externals"]["thetvdb"])["id"])  # type: ignore[index]
    cycle(config, clock)  # removal: one exclusion posted
    v3 = sonarr_sim_factory(version=SONARR_V3_VERSION)
    v3_config = make_config(tmp_path / "v3", v3, tvmaze, language_profile="English")
    cycle(v3_config, clock)

    kinds = set()
    for sim in (v4, v3):
        for record in sim.request_log:
            template = _template(openapi, record.path)
            operation = openapi["paths"][template][record.method.lower()]
            _check_query(openapi, operation, record.query)
            if record.body is not None:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                conform(record.body, schema)
            kinds.add((record.method, template, record.status))
    assert {
        ("GET", "/api/v3/system/status", 200),
        ("GET", "/api/v3/rootfolder", 200),
        ("GET", "/api/v3/qualityprofile", 200),
        ("GET", "/api/v3/languageprofile", 200),
        ("GET", "/api/v3/tag", 200),
        ("POST", "/api/v3/tag", 201),
        ("GET", "/api/v3/series", 200),
        ("GET", "/api/v3/series/lookup", 200),
        ("POST", "/api/v3/series", 201),
        ("POST", "/api/v3/series", 409),
        ("GET", "/api/v3/importlistexclusion/paged", 200),
        ("GET", "/api/v3/importlistexclusion/paged", 404),
        ("GET", "/api/v3/importlistexclusion", 200),
        ("POST", "/api/v3/importlistexclusion", 201),
    } <= kinds


def test_the_summary_counts_every_outcome_of_a_cycle(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 7))
    clock = FakeClock()
    tvmaze = tvmaze_sim_factory(shows=_without_tvdb(shows, 6), rate_limit=None, clock=clock)
    tvdb = {s["id"]: s["externals"]["thetvdb"] for s in shows}
    sonarr_sim.add_series(tvdb[2])
    sonarr_sim.add_exclusion(tvdb[3], "excluded")
    filters = copy.deepcopy(OPEN_FILTERS)
    filters["ids"] = {"exclude": [4]}
    config = make_config(tmp_path, sonarr_sim, tvmaze, filters=filters)
    summary = cycle(config, clock)
    assert summary.results == {
        "added": 2,
        "exists": 1,
        "excluded": 1,
        "filtered": 1,
        "pending_tvdb": 1,
    }
    assert sorted(summary.added_titles) == sorted([shows[0]["name"], shows[4]["name"]])
