"""Startup validation across instances and routes (issue #16): every problem of every
instance in one run, nothing written by a run that ends in exit 2 (not even a tag), and a
root folder Sonarr cannot reach stopping its own instance only, after the checks.

Through the real CLI against the Sonarr and TVMaze simulators."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SONARR_V3_VERSION, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.sonarr_helpers import OPEN_FILTERS, real_shows

#: Real TVMaze shows: 1 Under the Dome (CBS), 82 Game of Thrones (HBO), 25 Hellsing (Anime).
SHOWS = (1, 82, 25)
ROUTES: list[dict[str, Any]] = [
    {"name": "anime", "match": {"genres": ["Anime"]}, "set": {"root_folder": "/anime"}},
    {"name": "prestige", "match": {"networks": ["HBO"]}, "instances": ["default", "4k"]},
]


def _write(tmp_path: Path, tvmaze_url: str, sonarr: dict[str, Any], **more: Any) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "sonarr": {"api_key": SONARR_API_KEY, "add_interval": "0s", **sonarr},
        **more,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _nothing_written(*sims: SonarrSimulator) -> None:
    for sim in sims:
        assert sim.posts_to("/api/v3/series") == []
        assert sim.posts_to("/api/v3/tag") == []


def test_every_instance_s_problems_in_one_run_and_no_tag_created(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """default: a route's folder missing, a tag to create; 4k: its folder and profile
    missing. One run names all three problems, and the tag is not created."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(SHOWS), rate_limit=None)
    default = sonarr_sim_factory()  # /tv only
    fourk = sonarr_sim_factory(api_key="fourk-key")  # no /tv4k, no Ultra-HD
    config = _write(
        tmp_path,
        tvmaze.url,
        {"url": default.url, "tags": ["brandnew"], "create_missing_tags": True},
        instances={
            "4k": {
                "url": fourk.url,
                "api_key": "fourk-key",
                "root_folder": "/tv4k",
                "quality_profile": "Ultra-HD",
            }
        },
        routes=ROUTES,
    )
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "configuration has 3 errors" in result.stderr
    assert "route 'anime' (routes[0].set.root_folder): root folder '/anime' not found" in (
        result.stderr
    )
    assert "instances.4k.root_folder: root folder '/tv4k' not found" in result.stderr
    assert "instances.4k.quality_profile: quality profile 'Ultra-HD' not found" in result.stderr
    _nothing_written(default, fourk)

    # The same tag alone is created once everything checks out, and the adds carry it.
    data = yaml.safe_load(config.read_text("utf-8"))
    del data["instances"], data["routes"]
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 0, result.stderr
    [created] = default.posts_to("/api/v3/tag")
    tag_id = next(t["id"] for t in default.tags() if t["label"] == "brandnew")
    assert created["label"] == "brandnew"
    assert all(tag_id in body["tags"] for body in default.posts_to("/api/v3/series"))


def test_an_inaccessible_route_folder_is_listed_with_the_other_problems(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """An unmounted route folder no longer hides the configuration errors after it."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(SHOWS), rate_limit=None)
    sonarr = sonarr_sim_factory(root_folders=["/tv", {"path": "/anime", "accessible": False}])
    config = _write(
        tmp_path,
        tvmaze.url,
        {
            "url": sonarr.url,
            "quality_profile": "Nope",
            "tags": ["new"],
            "create_missing_tags": True,
        },
        routes=ROUTES[:1],
    )
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "sonarr.quality_profile: quality profile 'Nope' not found" in result.stderr
    assert "root folder '/anime' (of route 'anime' (routes[0].set.root_folder)) is not " in (
        result.stderr
    )
    _nothing_written(sonarr)


def test_an_inaccessible_folder_stops_its_instance_only(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """default's anime folder is unmounted: default fails (exit 3, a Sonarr-side problem the
    next run may get past), 4k still gets Game of Thrones."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(SHOWS), rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", {"path": "/anime", "accessible": False}])
    fourk = sonarr_sim_factory(api_key="fourk-key")
    config = _write(
        tmp_path,
        tvmaze.url,
        {"url": default.url},
        instances={"4k": {"url": fourk.url, "api_key": "fourk-key"}},
        routes=ROUTES,
    )
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 3, result.stderr
    assert "Sonarr instance 'default' failed" in result.stderr
    assert "'/anime'" in result.stderr and "not accessible" in result.stderr
    assert default.posts_to("/api/v3/series") == []
    assert [body["title"] for body in fourk.posts_to("/api/v3/series")] == ["Game of Thrones"]


def test_sonarr_v3_route_and_instance_problems_come_together(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """On v3 a missing language profile and a route's v4-only `monitor` are one run's two
    errors (the route's check knew the version although the instance had a problem)."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(SHOWS), rate_limit=None)
    sonarr = sonarr_sim_factory(version=SONARR_V3_VERSION)
    route = {"name": "hbo", "match": {"networks": ["HBO"]}, "set": {"monitor": "recent"}}
    config = _write(tmp_path, tvmaze.url, {"url": sonarr.url}, routes=[route])
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "sonarr.language_profile: required by Sonarr v3" in result.stderr
    assert "route 'hbo' (routes[0].set.monitor): 'recent' needs Sonarr v4" in result.stderr
    _nothing_written(sonarr)


def test_one_missing_tag_named_in_two_cases_is_created_once(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """Sonarr's labels have no case ('NewTag' is 'newtag'): a tag named in two cases, by
    the instance and a route alike, is one tag to create. Asked twice, Sonarr refuses the
    second (409, its UNIQUE label), and the instance failed its first run with no add."""
    tvmaze = tvmaze_sim_factory(shows=real_shows(SHOWS), rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
    route = dict(ROUTES[0], set={"root_folder": "/anime", "tags": ["NEWTAG"]})
    config = _write(
        tmp_path,
        tvmaze.url,
        {"url": default.url, "tags": ["newtag", "NewTag"], "create_missing_tags": True},
        routes=[route],
    )
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 0, result.stderr
    assert [t["label"] for t in default.posts_to("/api/v3/tag")] == ["newtag"]
    assert len(default.posts_to("/api/v3/series")) == len(SHOWS)
