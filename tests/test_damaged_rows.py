"""One damaged row in the cache never wedges the cycles after it (storage is untrusted: a
disk error, a hand edit). Its JSON lists are rebuilt from its stored TVMaze JSON by the
next sync; when that is unusable too, the row waits for TVMaze's next copy and the filters
and the Sonarr phase pass it by. Through the real CLI and the simulators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import data_dir, run_cli
from tests.helpers_store import store_at
from tests.sonarr_helpers import FakeClock, real_shows, run_sonarr, seeded
from tvmaze_sync.core.config import build_config

DAMAGE = ["[x", "[" * 100_000, '"Drama"', '[["Drama"]]', "[1]", "{}"]
#: 1 Under the Dome, 2 Person of Interest, 5 True Detective, 82 Game of Thrones.
IDS = (1, 2, 5, 82)


def _sync(home: Path, tvmaze_url: str, *args: str) -> None:
    env = {"TVMAZE_BASE_URL": tvmaze_url, "TVMAZE_RATE_LIMIT": "1000000"}
    result = run_cli(home, "sync", *args, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return None


def _tamper(home: Path, tvmaze_id: int, **columns: object) -> None:
    store = store_at(data_dir(home))
    try:
        with store.atomic():
            sets = ", ".join(f"{c} = ?" for c in columns)
            store.db.execute(
                f"UPDATE shows SET {sets} WHERE tvmaze_id = ?", [*columns.values(), tvmaze_id]
            )
    finally:
        store.close()


def _row(home: Path, tvmaze_id: int) -> dict[str, object]:
    store = store_at(data_dir(home))
    try:
        row = store.get_row(tvmaze_id)
        assert row is not None
        return dict(row)
    finally:
        store.close()


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_list_is_rebuilt_from_the_stored_json_by_the_next_sync(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, damage: str
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(IDS), rate_limit=None)
    _sync(tmp_path, tvmaze.url)
    genres, status = _row(tmp_path, 82)["genres"], _row(tmp_path, 82)["processing_status"]
    _tamper(tmp_path, 82, genres=damage)
    _tamper(tmp_path, 5, filter_reasons=damage, processing_status="filtered")

    explained = run_cli(tmp_path, "explain", "82")
    assert explained.returncode == 2, explained.stderr  # StorageError, not a traceback
    assert "the cached record of TVMaze show 82 is damaged (genres" in explained.stderr
    assert run_cli(tmp_path, "explain", "5").returncode == 0  # reasons unreadable: said so

    _sync(tmp_path, tvmaze.url, "--verbose")
    row = _row(tmp_path, 82)
    assert (row["genres"], row["processing_status"]) == (genres, status)
    assert json.loads(str(_row(tmp_path, 5)["filter_reasons"] or "[]")) is not None
    assert (
        _row(tmp_path, 5)["processing_status"] != "filtered" or _row(tmp_path, 5)["filter_reasons"]
    )
    assert run_cli(tmp_path, "explain", "82").returncode == 0


def test_a_row_whose_stored_json_is_damaged_too_is_fetched_again(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    """Genres and raw both unreadable: the row's `updated` is forgotten, so TVMaze's copy
    (here, on the page the incremental run reads for new shows) replaces it."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(IDS), rate_limit=None)
    _sync(tmp_path, tvmaze.url)
    genres = _row(tmp_path, 82)["genres"]
    _tamper(tmp_path, 82, genres="[x", raw="{not json", needs_filter=1)
    _sync(tmp_path, tvmaze.url)
    assert _row(tmp_path, 82)["genres"] == genres


def test_the_filters_and_readers_pass_an_unrebuildable_row_by(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    """Until TVMaze's next copy comes, refilter decides every other row, `shows` lists it,
    `explain` says what is wrong (exit 2), not once but every time."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(IDS), rate_limit=None)
    _sync(tmp_path, tvmaze.url)
    _tamper(tmp_path, 82, genres="[" * 100_000, raw="{not json")
    _tamper(tmp_path, 1, processing_status="filtered", filter_reasons='["old"]')
    for _ in range(2):
        result = run_cli(tmp_path, "refilter")
        assert result.returncode == 0, result.stderr
        assert "show_row_damaged tvmaze_id=82" in result.stderr
    assert _row(tmp_path, 1)["filter_reasons"] != '["old"]'  # the others were decided
    result = run_cli(tmp_path, "shows", "--format", "json")
    assert result.returncode == 0 and 82 in [r["tvmaze_id"] for r in json.loads(result.stdout)]
    result = run_cli(tmp_path, "explain", "82")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_the_sonarr_phase_keeps_a_damaged_routed_show_queued_and_adds_the_others(
    tmp_path: Path, sonarr_sim: SonarrSimulator
) -> None:
    """With routes, each add reads the show to choose its route: a damaged row is left
    pending for the next cycle instead of stopping every add after it."""
    config, store, shows = seeded(
        tmp_path,
        sonarr_sim,
        3,
        add_interval="0s",
    )
    config = build_config(
        {
            "storage": {"path": str(config.storage_dir)},
            "sonarr": {"url": sonarr_sim.url, "api_key": SONARR_API_KEY, "add_interval": "0s"},
            "routes": [{"name": "drama", "match": {"genres": ["Drama"]}}],
        },
        env={},
    )
    damaged = shows[1].tvmaze_id
    with store.atomic():
        store.db.execute("UPDATE shows SET genres = '[x' WHERE tvmaze_id = ?", [damaged])
    summary = run_sonarr(config, store, FakeClock())
    assert summary.results.get("added") == 2
    row = store.get_row(damaged)
    assert row is not None and row["processing_status"] == "pending"
    store.close()
