"""The configuration's checks of `routes` and `instances` (issue #16): a value that can never
match is an error naming its key, a null means the default, and each problem is reported
once, without a follow-on error caused by the first."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_type_hints

import pytest
import yaml

from tests.helpers_cli import run_cli
from tvmaze_sync.core.config import RouteMatch, build_config
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.core.models import Show
from tvmaze_sync.decisions import routing

TEXT_KEYS = [key for key, tp in get_type_hints(RouteMatch).items() if tp == list[str]]


def _problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        build_config(data, env or {})
    return raised.value.problems


def _route(**match: Any) -> dict[str, Any]:
    return {"routes": [{"name": "r", "match": match}]}


def test_every_text_match_key_is_checked() -> None:
    assert TEXT_KEYS == ["genres", "types", "networks", "languages", "countries", "title"]


@pytest.mark.parametrize("key", TEXT_KEYS)
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_match_value_is_an_error_naming_its_key(key: str, blank: str) -> None:
    """A blank value never matches a show (a blank title keyword was skipped, a blank genre
    equals none): the route would be dead without a word."""
    good = {"countries": "GB", "title": "Gundam"}.get(key, "Anime")
    assert _problems(_route(**{key: [good, blank]})) == [
        f"routes[0].match.{key}: {[good, blank]!r} is not valid; "
        "expected a list of text with no blank item"
    ]


@pytest.mark.parametrize("ids", [[0], [-5], [82, 0, -5]])
def test_a_match_id_below_1_is_an_error_naming_the_key(ids: list[int]) -> None:
    bad = [i for i in ids if i < 1]
    assert _problems(_route(ids=ids)) == [
        f"routes[0].match.ids: {i} is not a TVMaze id; expected a whole number of at least 1"
        for i in bad
    ]


def test_duplicates_and_good_values_are_accepted() -> None:
    config = build_config(_route(title=["Gundam", "gundam"], ids=[1, 1], genres=["Anime"]), {})
    assert config.routes[0].match.ids == [1, 1]


def test_config_check_refuses_a_blank_keyword_and_id_0_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "routes:\n"
        "  - name: gundam\n"
        "    match: {title: ['  ']}\n"
        "  - name: picked\n"
        "    match: {ids: [0, -5]}\n",
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "--config", str(path), "config", "check")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "routes[0].match.title: ['  '] is not valid; expected a list of text with no blank" in (
        result.stderr
    )
    assert "routes[1].match.ids: 0 is not a TVMaze id" in result.stderr
    assert "routes[1].match.ids: -5 is not a TVMaze id" in result.stderr


def test_instances_with_no_value_means_the_default_as_if_absent() -> None:
    """`instances:` with nothing after it (a list emptied by commenting its items out)."""
    data = yaml.safe_load("routes:\n  - name: r\n    match: {ids: [82]}\n    instances:\n")
    assert data["routes"][0]["instances"] is None
    assert build_config(data, {}).routes[0].instances == ["default"]


def test_an_explicit_empty_instances_list_is_an_error() -> None:
    data = yaml.safe_load("routes:\n  - name: r\n    match: {ids: [82]}\n    instances: []\n")
    assert _problems(data) == [
        "routes[0].instances: empty; a route must target at least one instance "
        "(leave `instances` out for `[default]`)"
    ]


@pytest.mark.parametrize(
    ("match", "problem"),
    [
        ({"genres": "Anime"}, "routes[0].match.genres: 'Anime' is not valid; expected a list"),
        ({"ids": 82}, "routes[0].match.ids: 82 is not valid; expected a list"),
        ({"genre": ["Anime"]}, "routes[0].match.genre: unknown key; did you mean"),
        ("Anime", "routes[0].match: 'Anime' is not valid; expected a section (mapping)"),
    ],
)
def test_a_refused_match_is_reported_once_without_a_follow_on(match: Any, problem: str) -> None:
    """A scalar where a list is expected is refused, as `filters.genres.include: Anime` is;
    the refused key is not then reported again as a match that gives nothing."""
    [reported] = _problems({"routes": [{"name": "r", "match": match}]})
    assert reported.startswith(problem), reported
    assert _problems({"filters": {"genres": {"include": "Anime"}}}) == [
        "filters.genres.include: 'Anime' is not valid; expected a list of text"
    ]


@pytest.mark.parametrize("match", [None, {}, {"genres": []}, {"genres": None}])
def test_a_match_that_gives_nothing_is_still_an_error(match: Any) -> None:
    [reported] = _problems({"routes": [{"name": "r", "match": match}]})
    assert reported.startswith("routes[0].match: give at least one of genres, types"), reported


SONARR = {"url": "http://sonarr:8989", "root_folder": "/tv", "quality_profile": "HD"}
FOURK = {"url": "http://sonarr4k:8989", "root_folder": "/tv4k", "quality_profile": "UHD"}


@pytest.mark.parametrize(
    ("instance", "variable"),
    [
        ("sonarr", "SONARR_API_KEY_FILE"),
        ("4k", "INSTANCES_4K_API_KEY_FILE"),
        ("4k", "INSTANCES_4K_URL_FILE"),
        ("sonarr", "SONARR_URL_FILE"),
    ],
)
def test_a_missing_secret_file_is_the_one_problem_reported(
    tmp_path: Path, instance: str, variable: str
) -> None:
    """The file is the problem; its key is not then also `required` (the default instance
    and another one alike)."""
    data = {"sonarr": dict(SONARR, api_key="k"), "instances": {"4k": dict(FOURK, api_key="k")}}
    section = data["sonarr"] if instance == "sonarr" else data["instances"]["4k"]
    key = "url" if variable.endswith("_URL_FILE") else "api_key"
    del section[key]
    missing = tmp_path / "nonexistent"
    assert _problems(data, {variable: str(missing)}) == [
        f"{variable}: cannot read {missing}: No such file or directory"
    ]


@pytest.mark.parametrize("instance", ["sonarr", "4k"])
def test_a_refused_api_key_is_not_also_reported_missing(tmp_path: Path, instance: str) -> None:
    data = {"sonarr": dict(SONARR, api_key="k"), "instances": {"4k": dict(FOURK, api_key="k")}}
    section = data["sonarr"] if instance == "sonarr" else data["instances"]["4k"]
    section["api_key"] = "abc\x01def"
    [reported] = _problems(data)
    assert "contains a control character" in reported and "abc" not in reported


def test_set_tags_replaces_the_instance_s_tags_as_documented() -> None:
    """docs/routing.md: a route names the complete set of tags; none is merged in."""
    routes = [
        {"name": "anime", "match": {"genres": ["Anime"]}, "set": {"tags": ["anime"]}},
        {"name": "bare", "match": {"genres": ["Drama"]}, "set": {"tags": []}},
        {"name": "kept", "match": {"genres": ["Comedy"]}, "set": {"root_folder": "/c"}},
    ]
    config = build_config({"sonarr": {"tags": ["tvmaze"]}, "routes": routes}, {})
    for genre, tags in (("Anime", ["anime"]), ("Drama", []), ("Comedy", ["tvmaze"])):
        show = Show(tvmaze_id=1, title="A show", genres=(genre,))
        _, [target] = routing.targets(config, show)
        assert target["tags"] == tags, genre
