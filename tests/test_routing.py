"""Routing (issue #16): each show to the right root folder, quality profile, tags and series
type, through the real CLI against the Sonarr and TVMaze simulators; the route matcher's
properties; the configuration's checks of `routes` and `instances`; the ledger migration."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.helpers_ports import free_port, refused_port
from tests.helpers_store import store_at
from tests.sonarr_helpers import OPEN_FILTERS, real_shows
from tests.test_docs import parse_facts
from tvmaze_sync.core.config import Route, RouteMatch, build_config
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.core.models import Show
from tvmaze_sync.cycle.metrics import build_registry
from tvmaze_sync.decisions import routing
from tvmaze_sync.serve.endpoints import CustomList
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.store import SCHEMA_VERSION, Store

#: Real TVMaze shows: 1 Under the Dome and 2 Person of Interest (CBS), 5 True Detective and
#: 82 Game of Thrones (HBO), 25 Hellsing and 40 Death Note (genre Anime, in Japanese).
UNROUTED, HBO, ANIME = (1, 2), (5, 82), (25, 40)
ROUTES: list[dict[str, Any]] = [
    {
        "name": "anime",
        "match": {"genres": ["Anime"]},
        "set": {"root_folder": "/anime", "series_type": "anime", "tags": ["anime"]},
    },
    {"name": "prestige", "match": {"networks": ["HBO"]}, "set": {"quality_profile": "Ultra-HD"}},
]
PROFILES = [{"id": 1, "name": "Any"}, {"id": 4, "name": "HD-1080p"}, {"id": 7, "name": "Ultra-HD"}]


def _config(
    tmp_path: Path, tvmaze_url: str, sonarr: SonarrSimulator, routes: list[dict[str, Any]]
) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "sonarr": {"url": sonarr.url, "api_key": SONARR_API_KEY, "add_interval": "0s"},
        "routes": routes,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _bodies(sim: SonarrSimulator) -> dict[str, dict[str, Any]]:
    return {body["title"]: body for body in sim.posts_to("/api/v3/series")}


def _get(sim: SonarrSimulator, path: str) -> Any:
    """What Sonarr holds, read over HTTP as a user's script would."""
    answer = requests.get(f"{sim.url}{path}", headers={"X-Api-Key": SONARR_API_KEY}, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_each_show_goes_where_its_route_says_the_rest_with_the_defaults(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    shows = real_shows([*UNROUTED, *HBO, *ANIME])
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    sonarr = sonarr_sim_factory(
        root_folders=["/tv", "/anime"], quality_profiles=PROFILES, tags=["auto-sync", "anime"]
    )
    config = _config(tmp_path, tvmaze.url, sonarr, ROUTES)
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 0, result.stderr
    titles = {show["id"]: show["name"] for show in shows}
    bodies = _bodies(sonarr)
    assert set(bodies) == set(titles.values())
    anime_tag = [t["id"] for t in _get(sonarr, "/api/v3/tag") if t["label"] == "anime"]
    for tvmaze_id in ANIME:
        body = bodies[titles[tvmaze_id]]
        assert body["rootFolderPath"] == "/anime"
        assert body["seriesType"] == "anime"
        assert body["tags"] == anime_tag
        assert body["qualityProfileId"] == 4  # not overridden: the instance's
    for tvmaze_id in HBO:
        body = bodies[titles[tvmaze_id]]
        assert (body["rootFolderPath"], body["qualityProfileId"]) == ("/tv", 7)
        assert body["seriesType"] == "standard"  # the lookup's: the route sets none
    for tvmaze_id in UNROUTED:
        body = bodies[titles[tvmaze_id]]
        assert (body["rootFolderPath"], body["qualityProfileId"], body["tags"]) == ("/tv", 4, [])
    # What Sonarr holds, not only what was sent.
    library = {s["title"]: s for s in _get(sonarr, "/api/v3/series")}
    assert library[titles[25]]["seriesType"] == "anime"
    assert library[titles[25]]["path"].startswith("/anime/")

    explained = json.loads(
        run_cli(tmp_path, "--config", str(config), "explain", "25", "--format", "json").stdout
    )
    assert explained["route"] == "anime"
    [target] = explained["targets"]
    assert target["instance"] == "default" and target["root_folder"] == "/anime"
    assert target["series_type"] == "anime" and target["quality_profile"] == "HD-1080p"
    text = run_cli(tmp_path, "--config", str(config), "explain", "1").stdout
    assert "no route (the instance's own settings) -> default: root_folder /tv" in text

    # The anime route now asks for another folder: Game of Thrones' route changes too.
    # Nothing already added moves; explain says so.
    changed = [dict(ROUTES[1], match={"genres": ["Fantasy"]})]
    config = _config(tmp_path, tvmaze.url, sonarr, changed)
    text = run_cli(tmp_path, "--config", str(config), "explain", "5").stdout
    assert "added following route 'prestige'; it now follows no route: not moved" in text
    text = run_cli(tmp_path, "--config", str(config), "explain", "82").stdout
    assert "not moved" not in text  # Game of Thrones is Fantasy: still 'prestige'

    # The same route with other settings, and the instance's own profile changed: the
    # series keep what they got; explain names what changed.
    moved_anime = dict(ROUTES[0], set={"root_folder": "/anime2", "series_type": "anime"})
    config = _config(tmp_path, tvmaze.url, sonarr, [moved_anime, ROUTES[1]])
    data = yaml.safe_load(config.read_text("utf-8"))
    data["sonarr"]["quality_profile"] = "Any"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    text = run_cli(tmp_path, "--config", str(config), "explain", "25").stdout
    assert (
        "added with root_folder /anime, quality_profile HD-1080p, tags [anime]; its target now "
        "has root_folder /anime2, quality_profile Any, tags []: not moved"
    ) in " ".join(text.split())
    text = run_cli(tmp_path, "--config", str(config), "explain", "1").stdout
    assert "added with quality_profile HD-1080p; its target now has quality_profile Any" in (
        " ".join(text.split())
    )
    text = run_cli(tmp_path, "--config", str(config), "explain", "82").stdout
    assert "not moved" not in text  # 'prestige' sets its own profile: unchanged


def test_a_route_target_missing_in_sonarr_is_exit_2_naming_the_route_before_any_add(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows([*UNROUTED, *ANIME]), rate_limit=None)
    sonarr = sonarr_sim_factory()  # /tv only, no Ultra-HD, no `anime` tag
    config = _config(tmp_path, tvmaze.url, sonarr, ROUTES)
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # Every problem at once, each naming its route and key.
    assert "route 'anime' (routes[0].set.root_folder): root folder '/anime' not found" in (
        result.stderr
    )
    assert "route 'anime' (routes[0].set.tags): tag 'anime' not found" in result.stderr
    assert "route 'prestige' (routes[1].set.quality_profile): quality profile 'Ultra-HD'" in (
        result.stderr
    )
    assert sonarr.posts_to("/api/v3/series") == []
    assert sonarr.posts_to("/api/v3/tag") == []


def test_config_check_names_an_unknown_instance_and_a_typo_in_a_match(tmp_path: Path) -> None:
    data = {
        "routes": [
            {"name": "anime", "match": {"genres": ["Anmie"]}, "instances": ["defualt"]},
            {"name": "anime", "match": {"languages": ["Japanese"]}},
            {"name": "empty", "match": {}},
        ]
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_cli(tmp_path, "--config", str(path), "config", "check")
    assert result.returncode == 2
    assert "routes[0].instances: unknown instance 'defualt'; did you mean 'default'?" in (
        result.stderr
    )
    assert "routes[1].name: 'anime' is the name of an earlier route" in result.stderr
    assert "routes[2].match: give at least one of" in result.stderr
    path.write_text(
        yaml.safe_dump({"routes": [{"name": "a", "match": {"genres": ["Anmie"]}}]}),
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "--config", str(path), "config", "check")
    assert result.returncode == 2
    assert "routes[0].match.genres: 'Anmie' is not a TVMaze genre; did you mean 'Anime'?" in (
        result.stderr
    )


def test_instances_take_environment_overrides_and_valid_names() -> None:
    data = {
        "sonarr": {"url": "http://sonarr:8989", "api_key": "k1"},
        "instances": {"4k": {"root_folder": "/tv4k"}},
        "routes": [{"name": "hbo", "match": {"networks": ["HBO"]}, "instances": ["4k", "default"]}],
    }
    env = {"INSTANCES_4K_URL": "http://sonarr4k:8989", "INSTANCES_4K_API_KEY": "secret-4k-key"}
    config = build_config(data, env)
    assert config.instances["4k"].url == "http://sonarr4k:8989"
    assert config.instances["4k"].root_folder == "/tv4k"
    assert "secret-4k-key" in config.secrets()
    assert config.to_dict()["instances"]["4k"]["api_key"] == "***"
    with pytest.raises(ConfigError) as raised:
        build_config(data, {})
    assert "instances.4k.url: required (env INSTANCES_4K_URL)" in raised.value.problems
    with pytest.raises(ConfigError) as raised:
        build_config({**data, "instances": {"4K": {}, "default": {}}}, {})
    text = "\n".join(raised.value.problems)
    assert "instances.4K: not a valid instance name" in text
    assert "instances.default: `default` is the `sonarr` section" in text


def test_routes_come_from_the_file_only() -> None:
    config = build_config({}, {"ROUTES": "anything", "ROUTES_0_NAME": "x"})
    assert config.routes == []


# --- the matcher ------------------------------------------------------------------------------

WORDS = st.sampled_from(["Anime", "Drama", "Comedy", "HBO", "Netflix", "US", "GB", "Japanese"])
TYPES = st.sampled_from(["Scripted", "Animation", "Reality", "Documentary"])
LANGUAGES = st.sampled_from(["English", "Japanese", "German"])
#: Title words, and keywords: whole words, parts of them ("gun", "ones", "of t" across a
#: space) and words no title has, in mixed case.
TITLE_WORDS = st.sampled_from(["The", "Gundam", "Wing", "of", "Thrones", "Dome"])
KEYWORDS = st.sampled_from(["gundam", "GUN", "ones", "Of T", "the", "wing", "Hellsing", "x"])


def _maybe(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), values)


shows = st.builds(
    Show,
    tvmaze_id=st.integers(1, 50),
    title=st.lists(TITLE_WORDS, min_size=1, max_size=4).map(" ".join),
    genres=st.lists(WORDS, max_size=3).map(tuple),
    network=_maybe(WORDS),
    web_channel=_maybe(WORDS),
    country=_maybe(st.sampled_from(["US", "GB", "JP"])),
    type=_maybe(TYPES),
    language=_maybe(LANGUAGES),
)
matches = st.builds(
    RouteMatch,
    genres=st.lists(WORDS, max_size=2),
    types=st.lists(st.one_of(TYPES, TYPES.map(str.upper)), max_size=2),
    networks=st.lists(WORDS, max_size=2),
    languages=st.lists(st.one_of(LANGUAGES, LANGUAGES.map(str.lower)), max_size=2),
    countries=st.lists(st.sampled_from(["US", "UK", "gb", "JP"]), max_size=2),
    title=st.lists(KEYWORDS, max_size=2),
    ids=st.lists(st.integers(1, 50), max_size=2),
)
#: A match of one or two keys: with every key drawn, a show rarely holds all but one, so
#: what one key does alone would be left to chance.
narrow_matches = st.builds(
    lambda m, keys: RouteMatch(**{key: getattr(m, key) for key in keys}),
    matches,
    st.lists(st.sampled_from([f.name for f in dataclasses.fields(RouteMatch)]), max_size=2),
)
route_lists = st.lists(
    st.builds(lambda i, m: Route(name=f"r{i}", match=m), st.integers(0, 99), matches), max_size=4
)


@given(route_lists, shows)
def test_the_first_matching_route_wins_and_none_means_default(
    routes: list[Route], show: Show
) -> None:
    chosen = routing.route_for(routes, show)
    hits = [r for r in routes if routing.matches(r.match, show)]
    assert chosen is (hits[0] if hits else None)
    assert routing.instances_for(routes, show) == (chosen.instances if chosen else ["default"])


@given(st.one_of(matches, narrow_matches), shows)
def test_a_match_holds_when_every_key_given_holds(match: RouteMatch, show: Show) -> None:
    def folded(values: Any) -> set[str]:
        return {str(v).casefold() for v in values if v}

    def any_of(wanted: list[str], *values: str | None) -> bool:
        return bool(folded(wanted) & folded(values))

    country = {"UK": "GB"}.get((show.country or "").upper(), (show.country or "").upper())
    expected = [
        not match.genres or any_of(match.genres, *show.genres),
        not match.types or any_of(match.types, show.type),
        not match.networks or any_of(match.networks, show.network, show.web_channel),
        not match.languages or any_of(match.languages, show.language),
        not match.countries
        or country in {{"UK": "GB"}.get(c.upper(), c.upper()) for c in match.countries},
        not match.title
        or any(re.search(re.escape(k), show.title, re.IGNORECASE) for k in match.title),
        not match.ids or show.tvmaze_id in match.ids,
    ]
    given_any = any(dataclasses.asdict(match).values())
    assert routing.matches(match, show) is (given_any and all(expected))


@given(shows, st.sampled_from(["anime", "ANIME", " Anime "]))
def test_a_match_ignores_case_and_spaces_as_the_filters_do(show: Show, spelled: str) -> None:
    match = RouteMatch(genres=[spelled])
    assert routing.matches(match, show) is ("Anime" in show.genres)


@given(shows, st.data())
def test_any_part_of_the_title_in_any_case_is_a_keyword_that_matches(
    show: Show, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(show.title) - 1))
    end = data.draw(st.integers(start + 1, len(show.title)))
    keyword = show.title[start:end]
    if not keyword.strip():
        return  # a blank keyword is a configuration error (test_routing_config.py)
    spelled = data.draw(st.sampled_from([keyword, keyword.upper(), keyword.lower()]))
    assert routing.matches(RouteMatch(title=[f" {spelled} "]), show)
    assert not routing.matches(RouteMatch(title=[show.title + "x"]), show)


SPELLINGS = st.sampled_from([str, str.upper, str.lower, lambda w: f"  {w} "])


@given(shows, SPELLINGS)
def test_a_show_s_own_value_in_any_case_matches_its_key(show: Show, spell: Any) -> None:
    own = {
        "genres": list(show.genres),
        "types": [show.type],
        "networks": [show.network, show.web_channel],  # either one
        "languages": [show.language],
        "countries": [show.country, "UK" if show.country == "GB" else None],
    }
    for key, values in own.items():
        for value in values:
            if value is not None:
                assert routing.matches(RouteMatch(**{key: [spell(value)]}), show), (key, value)


@given(shows, SPELLINGS)
def test_a_type_or_language_matches_in_any_case_and_unknown_matches_none(
    show: Show, spell: Any
) -> None:
    for key, value in (("types", show.type), ("languages", show.language)):
        for word in ("Scripted", "English"):
            match = RouteMatch(**{key: [spell(word)]})
            assert routing.matches(match, show) is (value == word), (key, word)


# --- the migration ------------------------------------------------------------------------------


def test_an_existing_cache_migrates_keeping_every_status_and_the_ledger(tmp_path: Path) -> None:
    """A single-Sonarr cache (schema 8) gains the ledger's `route` column; nothing is lost."""
    store = store_at(tmp_path)
    statuses = ["pending", "added", "exists", "excluded", "removed_by_user", "failed"]
    rows = [
        {"tvmaze_id": i, "title": f"Show {i}", "tvdb_id": 1000 + i, "processing_status": status}
        for i, status in enumerate(statuses, 1)
    ]
    shows = [Show(tvmaze_id=r["tvmaze_id"], title=r["title"], tvdb_id=r["tvdb_id"]) for r in rows]
    store.upsert_shows([row_from_show(show) for show in shows], "2026-01-01T00:00:00Z")
    with store.atomic():
        for row in rows:
            store.db.execute(
                "UPDATE shows SET processing_status = ? WHERE tvmaze_id = ?",
                [row["processing_status"], row["tvmaze_id"]],
            )
        store.db.table("sonarr_ledger").insert(
            {"tvdb_id": 1002, "tvmaze_id": 2, "title": "Show 2", "sonarr_series_id": 9}
        )
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN target")
        store.db.execute("ALTER TABLE sonarr_ledger DROP COLUMN route")
        store.db.execute("PRAGMA user_version = 8")
    store.close()
    store = store_at(tmp_path)  # migrates
    try:
        assert store.schema_version == SCHEMA_VERSION
        got = dict(store.db.execute("SELECT tvmaze_id, processing_status FROM shows").fetchall())
        assert got == {row["tvmaze_id"]: row["processing_status"] for row in rows}
        [item] = store.db.table("sonarr_ledger").rows
        assert (item["tvdb_id"], item["sonarr_series_id"], item["route"]) == (1002, 9, None)
        assert item["target"] is None  # nothing claimed about a series added before
    finally:
        store.close()


# --- the guide ------------------------------------------------------------------------------


def _guide_examples() -> list[tuple[str, str, list[tuple[str, str, str, str]]]]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "routing.md").read_text("utf-8")
    section = text.split("## Worked examples", 1)[1]
    found = []
    for part in re.split(r"^### ", section, flags=re.M)[1:]:
        name = part.splitlines()[0]
        (config_yaml,) = re.findall(r"```yaml\n(.*?)```", part, re.S)
        rows = re.findall(r"^\| (?!show |---)(.+?) \| (.+?) \| (.+?) \| (.+?) \|$", part, re.M)
        found.append((name, config_yaml, rows))
    return found


@pytest.mark.parametrize("example", _guide_examples(), ids=lambda e: e[0])
def test_the_routing_guide_worked_examples_match_the_routing_code(
    example: tuple[str, str, list[tuple[str, str, str, str]]],
) -> None:
    _, config_yaml, rows = example
    config = build_config(yaml.safe_load(config_yaml), {})
    assert rows
    for n, (title, facts, route_name, folder) in enumerate(rows):
        route, [target] = routing.targets(config, parse_facts(facts, 90000 + n, title))
        assert (route.name if route else "-") == route_name, title
        assert target["root_folder"] == folder, title


@pytest.mark.parametrize("example", _guide_examples(), ids=lambda e: e[0])
def test_every_match_key_of_a_guide_example_decides_one_of_its_rows(
    example: tuple[str, str, list[tuple[str, str, str, str]]],
) -> None:
    """An example shows what each key it gives does: for every key, some row would go
    another way without it (a key no row depends on, or one missing from the YAML that the
    heading promises, is a gap in the guide)."""
    name, config_yaml, rows = example
    config = build_config(yaml.safe_load(config_yaml), {})
    shows = [parse_facts(facts, 90000 + n, title) for n, (title, facts, _, _) in enumerate(rows)]
    for route in config.routes:
        for key, value in dataclasses.asdict(route.match).items():
            if not value:
                continue
            without = dataclasses.replace(route.match, **{key: []})
            decided = [
                show.title
                for show in shows
                if routing.matches(route.match, show) != routing.matches(without, show)
            ]
            assert decided, f"{name}: no row shows what {route.name}'s match.{key} does"


# --- several instances ------------------------------------------------------------------------


def _two_instance_config(tmp_path: Path, tvmaze_url: str, default_url: str, fourk_url: str) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "sonarr": {"url": default_url, "api_key": SONARR_API_KEY, "add_interval": "0s"},
        "instances": {
            "4k": {"root_folder": "/tv4k", "quality_profile": "Ultra-HD", "add_interval": "0s"}
        },
        "routes": [
            {
                "name": "anime",
                "match": {"genres": ["Anime"]},
                "set": {"root_folder": "/anime", "series_type": "anime"},
            },
            {"name": "prestige", "match": {"networks": ["HBO"]}, "instances": ["default", "4k"]},
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def two_instances(
    home: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    shows: list[dict[str, Any]],
) -> tuple[TvmazeSimulator, SonarrSimulator, SonarrSimulator, Path]:
    """TVMaze serving `shows`; `default`'s Sonarr (/tv, /anime) and `4k`'s (/tv4k, with
    Ultra-HD, key `fourk-key`); and `_two_instance_config` at `home`, which leaves 4k's URL
    and key to the environment (`_fourk_env`)."""
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
    fourk = sonarr_sim_factory(
        api_key="fourk-key", root_folders=["/tv4k"], quality_profiles=PROFILES
    )
    config = _two_instance_config(home, tvmaze.url, default.url, "http://unused")
    return tvmaze, default, fourk, config


def _fourk_env(url: str) -> dict[str, str]:
    """The second instance's URL and key from the environment, as a container gets them."""
    return {"INSTANCES_4K_URL": url, "INSTANCES_4K_API_KEY": "fourk-key"}


def test_two_instances_anime_apart_hbo_to_both_the_rest_to_default(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    shows = real_shows([*UNROUTED, *HBO, *ANIME])
    titles = {show["id"]: show["name"] for show in shows}
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    env = _fourk_env(fourk.url)
    result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 0, result.stderr

    in_default = _bodies(default)
    assert set(in_default) == {titles[i] for i in (*UNROUTED, *HBO, *ANIME)}
    for tvmaze_id in ANIME:
        body = in_default[titles[tvmaze_id]]
        assert (body["rootFolderPath"], body["seriesType"]) == ("/anime", "anime")
    for tvmaze_id in (*UNROUTED, *HBO):
        assert in_default[titles[tvmaze_id]]["rootFolderPath"] == "/tv"
    in_fourk = _bodies(fourk)
    assert set(in_fourk) == {titles[i] for i in HBO}  # HBO only: to both
    for body in in_fourk.values():
        assert (body["rootFolderPath"], body["qualityProfileId"]) == ("/tv4k", 7)

    # Per instance: `shows --instance`, and the state's summary.
    listed = json.loads(
        run_cli(
            tmp_path,
            "--config",
            str(config),
            "shows",
            "--instance",
            "4k",
            "--status",
            "added",
            "--format",
            "json",
            env=env,
        ).stdout
    )
    assert sorted(row["tvmaze_id"] for row in listed) == sorted(HBO)
    state = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))
    assert state["last_cycle"]["instances"]["4k"]["added_count"] == len(HBO)
    assert state["last_cycle"]["instances"]["default"]["ok"] is True

    text = run_cli(tmp_path, "--config", str(config), "explain", "82", env=env).stdout
    assert "route 'prestige' -> default: root_folder /tv, quality_profile HD-1080p" in text
    assert "route 'prestige' -> 4k: root_folder /tv4k, quality_profile Ultra-HD" in text
    assert "instance default: added" in text and "instance 4k: added" in text
    assert "instance default: tvmaze-sync added it to Sonarr on " in text  # whose ledger
    text = run_cli(tmp_path, "--config", str(config), "explain", "1", env=env).stdout
    assert "instance 4k: never routed there" in text
    moved = {**env, "INSTANCES_4K_QUALITY_PROFILE": "Any"}
    text = " ".join(
        run_cli(tmp_path, "--config", str(config), "explain", "82", env=moved).stdout.split()
    )
    assert (
        "instance 4k: added with quality_profile Ultra-HD; its target now has quality_profile "
        "Any: not moved"
    ) in text
    assert "instance default: added with" not in text
    shown = json.loads(
        run_cli(tmp_path, "--config", str(config), "state", "--format", "json", env=env).stdout
    )
    assert shown["instances"]["4k"]["by_status"]["added"] == len(HBO)
    text = generate_latest(build_registry(tmp_path / "data")).decode()
    assert f'tvmaze_sync_instance_shows{{instance="4k",status="added"}} {len(HBO)}.0' in text
    added = len(UNROUTED + HBO + ANIME)
    assert f'tvmaze_sync_instance_shows{{instance="default",status="added"}} {added}.0' in text
    assert 'tvmaze_sync_instance_healthy{instance="4k"} 1.0' in text
    # One Custom List per instance: /sonarr/list stays default's.
    fourk_list = json.loads(CustomList(tmp_path / "data", "4k").body())
    assert sorted(item["title"] for item in fourk_list) == sorted(titles[i] for i in HBO)
    default_list = json.loads(CustomList(tmp_path / "data").body())
    assert len(default_list) == added

    # A second cycle adds nothing anywhere: each instance reads its own library.
    default.clear_log()
    fourk.clear_log()
    result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert default.posts_to("/api/v3/series") == [] and fourk.posts_to("/api/v3/series") == []


def test_one_instance_down_the_other_still_gets_its_adds_and_the_exit_code_says_so(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    shows = real_shows([*UNROUTED, *HBO])
    titles = {show["id"]: show["name"] for show in shows}
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
    with refused_port() as port:
        down = f"http://127.0.0.1:{port}"  # nothing listens: the 4k Sonarr is down
        config = _two_instance_config(tmp_path, tvmaze.url, default.url, down)
        env = _fourk_env(down)
        result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "Sonarr instance '4k' failed" in result.stderr
    assert "the others ran (default)" in result.stderr
    assert set(_bodies(default)) == {titles[i] for i in (*UNROUTED, *HBO)}
    state = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))
    outcome = state["last_cycle"]["instances"]
    assert outcome["default"]["ok"] is True and outcome["4k"]["ok"] is False

    # And the other way round: default down, 4k gets its HBO shows.
    fourk = sonarr_sim_factory(
        api_key="fourk-key", root_folders=["/tv4k"], quality_profiles=PROFILES
    )
    config = _two_instance_config(tmp_path, tvmaze.url, down, "http://unused")
    result = run_cli(
        tmp_path, "--config", str(config), "sync", env=_fourk_env(fourk.url), timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert "Sonarr instance 'default' failed" in result.stderr
    assert set(_bodies(fourk)) == {titles[i] for i in HBO}


def test_a_route_target_missing_in_the_second_instance_is_exit_2_before_any_add(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows([*UNROUTED, *HBO]), rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
    fourk = sonarr_sim_factory(api_key="fourk-key", root_folders=["/tv"])  # no /tv4k, no Ultra-HD
    config = _two_instance_config(tmp_path, tvmaze.url, default.url, "http://unused")
    result = run_cli(
        tmp_path, "--config", str(config), "sync", env=_fourk_env(fourk.url), timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "instances.4k.root_folder: root folder '/tv4k' not found" in result.stderr
    assert "instances.4k.quality_profile: quality profile 'Ultra-HD' not found" in result.stderr
    assert default.posts_to("/api/v3/series") == [] and fourk.posts_to("/api/v3/series") == []


def test_a_route_to_another_instance_only_keeps_its_shows_out_of_default(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    shows = real_shows([*UNROUTED, *HBO])
    titles = {show["id"]: show["name"] for show in shows}
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    data = yaml.safe_load(config.read_text("utf-8"))
    data["routes"][1]["instances"] = ["4k"]
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = _fourk_env(fourk.url)
    result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(_bodies(default)) == {titles[i] for i in UNROUTED}
    assert set(_bodies(fourk)) == {titles[i] for i in HBO}
    listed = json.loads(
        run_cli(
            tmp_path,
            "--config",
            str(config),
            "shows",
            "--reason",
            "routed_elsewhere",
            "--format",
            "json",
            env=env,
        ).stdout
    )
    assert sorted(row["tvmaze_id"] for row in listed) == sorted(HBO)
    assert {row["filter_reason"] for row in listed} == {"routed_elsewhere:prestige"}
    result = run_cli(tmp_path, "--config", str(config), "shows", "--instance", "4j", env=env)
    assert result.returncode == 2
    assert "--instance '4j' is not a configured instance; did you mean '4k'?" in result.stderr


def test_each_instance_has_its_own_removal_guard_and_way_out(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """The 4k Sonarr comes back empty (reset): its series are held, not concluded deleted;
    default is untouched; `removals --instance 4k readd` adds them to 4k again."""
    shows = real_shows([*UNROUTED, *HBO])
    _tvmaze, _default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    env = _fourk_env(fourk.url)

    def cli(*args: str) -> Any:
        return run_cli(tmp_path, "--config", str(config), *args, env=env, timeout=120)

    assert cli("sync").returncode == 0
    key = {"X-Api-Key": "fourk-key"}
    for series in requests.get(f"{fourk.url}/api/v3/series", headers=key, timeout=10).json():
        url = f"{fourk.url}/api/v3/series/{series['id']}"
        requests.delete(url, headers=key, timeout=10).raise_for_status()
    result = cli("sync")
    assert result.returncode == 4, result.stderr
    assert "missing from Sonarr instance '4k'" in result.stderr
    assert "instances.4k.max_removals=10" in result.stderr
    assert "`tvmaze-sync removals readd --instance 4k`" in result.stderr
    assert "missing from Sonarr," not in result.stderr  # default holds none
    held = json.loads(cli("removals", "--instance", "4k", "--format", "json").stdout)
    assert len(held) == len(HBO)
    assert json.loads(cli("removals", "--format", "json").stdout) == []  # default holds none
    assert cli("removals", "readd", "--instance", "4k").returncode == 0
    fourk.clear_log()
    assert cli("sync").returncode == 0
    assert len(fourk.posts_to("/api/v3/series")) == len(HBO)


def test_serve_offers_one_custom_list_per_instance(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    from tests.test_server import start_serve

    shows = real_shows([*UNROUTED, *HBO])
    titles = {show["id"]: show["name"] for show in shows}
    _tvmaze, _default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    port = free_port()
    data = yaml.safe_load(config.read_text("utf-8"))
    data["instances"]["4k"].update({"url": fourk.url, "api_key": "fourk-key"})
    data["server"] = {"port": port}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert run_cli(tmp_path, "--config", str(config), "sync", timeout=120).returncode == 0
    served = start_serve(tmp_path, config, tmp_path / "data", port)
    try:
        fourk_list = served.get("/sonarr/list/4k").json()
        assert sorted(i["title"] for i in fourk_list) == sorted(titles[i] for i in HBO)
        default_list = served.get("/sonarr/list").json()
        assert default_list == served.get("/sonarr/list/default").json()
        assert len(default_list) == len(UNROUTED + HBO)
        missing = served.get("/sonarr/list/4j")
        assert missing.status_code == 404 and "known: default, 4k" in missing.json()["error"]
        state = served.get("/state").json()
        assert state["instances"]["4k"]["by_status"]["added"] == len(HBO)
    finally:
        served.stop()


# --- attack review: an instance's copy of a show must not go stale ------------------------------


def _main_and_instance(tmp_path: Path) -> tuple[Store, Store]:
    (tmp_path / "main").mkdir()
    (tmp_path / "other").mkdir()
    return store_at(tmp_path / "main"), store_at(tmp_path / "other")


def _put(store: Store, show: Show, updated: int, status: str, reason: str | None = None) -> None:
    store.upsert_shows([{**row_from_show(show), "tvmaze_updated_at": updated}], "2026-01-01")
    with store.atomic():
        store.db.execute(
            "UPDATE shows SET processing_status = ?, filter_reason = ?, needs_filter = 0 "
            "WHERE tvmaze_id = ?",
            [status, reason, show.tvmaze_id],
        )


@pytest.mark.parametrize("main_status", ["filtered", "pending"])
def test_an_instance_copy_follows_tvmaze_changes_even_once_the_show_left_the_route(
    tmp_path: Path, main_status: str
) -> None:
    """True Detective was routed to 4k (HBO) and copied there, still waiting (add budget,
    review). TVMaze then changes it: now on Max (so routed to default), or ended and rejected
    by the filters. The 4k copy must take the new data, else 4k decides (and adds) on the
    old data: an HBO show that is no longer one, a show the filters now reject."""
    from tvmaze_sync.storage import instances

    main, other = _main_and_instance(tmp_path)
    try:
        then = Show(tvmaze_id=5, title="True Detective", network="HBO", status="Running")
        _put(main, then, 100, "pending")
        routed = lambda show: show.network == "HBO"  # noqa: E731
        assert instances.copy_routed(main, other, routed, "2026-01-02") == 1
        now = Show(tvmaze_id=5, title="True Detective", network="Max", status="Ended")
        reason = None if main_status == "pending" else "status"
        _put(main, now, 200, main_status, reason)
        instances.copy_routed(main, other, routed, "2026-01-03")
        row = other.get_row(5)
        assert row is not None
        assert (row["tvmaze_updated_at"], row["network"]) == (200, "Max")
        assert row["needs_filter"] == 1  # decided again on the new data
    finally:
        main.close()
        other.close()


def test_an_instance_list_is_503_until_its_cache_holds_a_completed_copy(tmp_path: Path) -> None:
    """A cycle killed right after creating the 4k cache (before the shows routed there were
    copied in) leaves an empty shows.db: Sonarr takes a 200 `[]` as the whole list and, with
    Clean Library on, drops every series the list gave it. Not ready until a copy completed."""
    from tvmaze_sync.serve.endpoints import ListNotReady
    from tvmaze_sync.storage import instances
    from tvmaze_sync.storage.state import StateFile

    storage = tmp_path / "data"
    storage.mkdir()
    main = store_at(storage)
    show = Show(tvmaze_id=5, title="True Detective", tvdb_id=270633, network="HBO")
    _put(main, show, 100, "pending")
    main.record_full_mirror()
    state_file = StateFile(storage)
    state = state_file.load()
    state.initial_sync_complete = True
    state_file.save(state)
    with instances.opened(storage, "4k", create=True):
        pass  # created, then killed
    with pytest.raises(ListNotReady):
        CustomList(storage, "4k").body()
    try:
        with instances.opened(storage, "4k") as other:
            instances.copy_routed(main, other, lambda _: True, "2026-01-02")
            with pytest.raises(ListNotReady):  # copied, not yet decided
                CustomList(storage, "4k").body()
            with other.atomic():
                other.db.execute("UPDATE shows SET needs_filter = 0")
    finally:
        main.close()
    assert json.loads(CustomList(storage, "4k").body())[0]["tvdbId"] == 270633


def test_an_environment_override_for_an_instance_not_in_the_file_is_an_error() -> None:
    """`INSTANCES_4L_URL` (a typo) or a whole instance given only by the environment (as a
    container's manifest would try) was silently ignored: that Sonarr got nothing and no one
    was told. The instance is declared in the file; the environment overrides its keys."""
    data = {
        "sonarr": {"url": "http://sonarr:8989", "api_key": "k1"},
        "instances": {"4k": {"url": "http://s4k", "api_key": "k", "root_folder": "/tv4k"}},
    }
    data["instances"]["4k"]["quality_profile"] = "Ultra-HD"
    env = {"INSTANCES_4L_API_KEY_FILE": "/run/secrets/4k", "INSTANCES_ANIME_URL": "http://a"}
    with pytest.raises(ConfigError) as raised:
        build_config(data, env)
    text = "\n".join(raised.value.problems)
    assert "INSTANCES_4L_API_KEY_FILE: no instance '4l' in the file's `instances`" in text
    assert "did you mean '4k'?" in text
    assert "INSTANCES_ANIME_URL: no instance 'anime' in the file's `instances`" in text
    # Unrelated variables that merely start with INSTANCES_ are none of our business.
    assert build_config(data, {"INSTANCES_TOTAL": "3"}).instances["4k"].url == "http://s4k"
    without = {"sonarr": data["sonarr"]}
    with pytest.raises(ConfigError) as raised:
        build_config(without, {"INSTANCES_4K_URL": "http://s4k"})
    assert "INSTANCES_4K_URL: no instance '4k'" in "\n".join(raised.value.problems)


def test_another_instance_review_queue_can_be_listed_approved_and_denied(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """`instances.4k.require_approval` (every key of `sonarr` is accepted) queues 4k's shows
    in 4k's cache; `review` only read default's, so that queue never ended: nothing could
    approve or deny them. `review --instance 4k` lists, approves and denies them."""
    shows = real_shows([*UNROUTED, *HBO])
    _tvmaze, _default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    data = yaml.safe_load(config.read_text("utf-8"))
    data["instances"]["4k"]["require_approval"] = True
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = _fourk_env(fourk.url)

    def cli(*args: str) -> Any:
        return run_cli(tmp_path, "--config", str(config), *args, env=env, timeout=120)

    assert cli("sync").returncode == 0
    assert fourk.posts_to("/api/v3/series") == []
    last = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))["last_cycle"]
    assert last["review_waiting"] == len(HBO)  # the notification tells of them too
    assert all(title.endswith(" [4k]") for title in last["review_titles"])
    assert json.loads(cli("review", "--format", "json").stdout) == []  # default waits for none
    waiting = json.loads(cli("review", "--instance", "4k", "--format", "json").stdout)
    assert sorted(row["tvmaze_id"] for row in waiting) == sorted(HBO)
    result = cli("review", "approve", str(HBO[0]), "--instance", "4k")
    assert result.returncode == 0, result.stderr
    result = cli("review", "deny", str(HBO[1]), "--instance", "4k")
    assert result.returncode == 0, result.stderr
    assert cli("review", "approve", "--all", "--instance", "4j").returncode == 2
    assert cli("sync").returncode == 0
    assert [body["title"] for body in fourk.posts_to("/api/v3/series")] == [
        show["name"] for show in shows if show["id"] == HBO[0]
    ]


def test_skip_and_unskip_reach_another_instance(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """`skip` only reached default's cache: a show the user wants in default but never in 4k
    (waiting there for the add budget) could not be kept out of 4k by the user's word.
    `skip --instance 4k` does; `unskip --instance 4k` lets the filters decide it again."""
    shows = real_shows([*UNROUTED, *HBO])
    titles = {show["id"]: show["name"] for show in shows}
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    data = yaml.safe_load(config.read_text("utf-8"))
    data["instances"]["4k"]["max_adds_per_cycle"] = 1  # the other HBO show waits in 4k
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = _fourk_env(fourk.url)

    def cli(*args: str) -> Any:
        return run_cli(tmp_path, "--config", str(config), *args, env=env, timeout=120)

    assert cli("sync").returncode == 0
    [first] = _bodies(fourk)
    [waiting] = [i for i in HBO if titles[i] != first]
    result = cli("skip", str(waiting), "--instance", "4k")
    assert result.returncode == 0, result.stderr
    assert cli("skip", str(waiting), "--instance", "4j").returncode == 2
    fourk.clear_log()
    assert cli("sync").returncode == 0
    assert fourk.posts_to("/api/v3/series") == []
    assert titles[waiting] in _bodies(default)  # default's own decision stands
    assert cli("unskip", str(waiting), "--instance", "4k").returncode == 0
    assert cli("sync").returncode == 0
    assert set(_bodies(fourk)) == {titles[waiting]}


def test_another_instance_s_url_and_key_problems_name_that_instance(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """4k's URL redirecting, or 4k refusing its key, was reported as `sonarr.url` /
    `sonarr.api_key`: the user would "fix" default's settings, which were right."""
    import http.server
    import threading

    from tests.test_sonarr import _Redirector

    tvmaze = tvmaze_sim_factory(shows=real_shows([*UNROUTED, *HBO]), rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
    fourk = sonarr_sim_factory(
        api_key="fourk-key", root_folders=["/tv4k"], quality_profiles=PROFILES
    )
    handler = type("Handler", (_Redirector,), {"target": fourk.url, "keys_seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = _two_instance_config(tmp_path, tvmaze.url, default.url, "http://unused")
    try:
        moved = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(
            tmp_path, "--config", str(config), "sync", env=_fourk_env(moved), timeout=120
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 2, result.stderr
    assert "instances.4k.url redirects to" in result.stderr
    assert "sonarr.url" not in result.stderr
    wrong = {**_fourk_env(fourk.url), "INSTANCES_4K_API_KEY": "not-the-key"}
    result = run_cli(tmp_path, "--config", str(config), "sync", env=wrong, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "check instances.4k.api_key" in result.stderr
    assert "not-the-key" not in result.stderr


def test_a_cycle_killed_between_instances_or_mid_add_ends_like_an_uninterrupted_one(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """kill -9 once default is done and 4k's phase starts (its cache just filled), and once
    with 4k's add created in Sonarr but its 201 still on the way; one whole run after that
    must leave both caches and both libraries as a never-interrupted run does."""
    import time

    from tests.helpers_faults import (
        db_snapshot,
        duplicate_adds,
        run_sync,
        snapshot_diff,
        spawn_sync,
        successful_adds,
    )

    shows = real_shows([*UNROUTED, *HBO, *ANIME])

    def world(home: Path) -> tuple[Path, SonarrSimulator, SonarrSimulator]:
        home.mkdir()
        tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
        default = sonarr_sim_factory(root_folders=["/tv", "/anime"])
        fourk = sonarr_sim_factory(
            api_key="fourk-key", root_folders=["/tv4k"], quality_profiles=PROFILES
        )
        config = _two_instance_config(home, tvmaze.url, default.url, fourk.url)
        data = yaml.safe_load(config.read_text("utf-8"))
        data["instances"]["4k"].update({"url": fourk.url, "api_key": "fourk-key"})
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        return config, default, fourk

    def kill_when(config: Path, ready: Any) -> None:
        proc = spawn_sync(config.parent, config)
        deadline = time.monotonic() + 90
        while proc.poll() is None and not ready():
            assert time.monotonic() < deadline, "never reached the kill point"
            time.sleep(0.001)
        proc.kill()
        assert proc.wait(timeout=30) == -9, "finished before the kill point"

    ref_config, ref_default, ref_fourk = world(tmp_path / "reference")
    assert run_sync(ref_config.parent, ref_config).returncode == 0
    config, default, fourk = world(tmp_path / "kills")
    kill_when(config, lambda: bool(fourk.requests_to("/api/v3/series", "GET")))
    fourk.delay_next(1, seconds=5.0, path_prefix="/api/v3/series", method="POST")
    kill_when(config, lambda: bool(successful_adds(fourk)))
    fourk.reset_faults()
    result = run_sync(config.parent, config)
    assert result.returncode == 0, result.stderr[-3000:]

    for got, want in ((default, ref_default), (fourk, ref_fourk)):
        assert duplicate_adds(got) == {}
        assert sorted(s["tvdbId"] for s in got.library()) == sorted(
            s["tvdbId"] for s in want.library()
        )
    for sub in (Path("data"), Path("data") / "instances" / "4k"):
        got_db = db_snapshot(config.parent / sub)
        want_db = db_snapshot(ref_config.parent / sub)
        assert snapshot_diff(got_db, want_db) == [], sub


@pytest.mark.parametrize("key", ["sonarr", "4k"])
def test_a_bad_url_is_echoed_without_its_password_or_query(key: str) -> None:
    """A URL refused for its query (`?apikey=…`) was echoed whole in the error, password and
    API key included, to the terminal and whatever collects cron's output."""
    bad = "http://bob:pw-secret-1@sonarr:8989/?apikey=key-secret-2#frag-secret-3"
    data: dict[str, Any] = {"sonarr": {"url": "http://sonarr:8989", "api_key": "k1"}}
    if key == "sonarr":
        data["sonarr"]["url"] = bad
    else:
        data["instances"] = {
            "4k": {"url": bad, "api_key": "k", "root_folder": "/t", "quality_profile": "q"}
        }
    with pytest.raises(ConfigError) as raised:
        build_config(data, {})
    text = "\n".join(raised.value.problems)
    assert "url: 'http://***@sonarr:8989/?***' is not valid" in text
    assert "secret" not in text


def test_a_dry_run_previews_every_instance_and_writes_no_instance_cache(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """`sync --dry-run` says what each instance would get (titles marked with the instance),
    posts nothing anywhere, and leaves every instance cache as it was (none before the first
    real cycle; unchanged after it)."""
    from tests.helpers_faults import db_snapshot, snapshot_diff

    shows = real_shows([*UNROUTED, *HBO, *ANIME])
    titles = {show["id"]: show["name"] for show in shows}
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, shows
    )
    env = _fourk_env(fourk.url)
    fourk_cache = tmp_path / "data" / "instances" / "4k"

    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert default.posts_to("/api/v3/series") == [] and fourk.posts_to("/api/v3/series") == []
    for tvmaze_id in HBO:
        assert f"{titles[tvmaze_id]} [4k]" in result.stderr
    for tvmaze_id in (*UNROUTED, *ANIME):
        assert f"{titles[tvmaze_id]} [4k]" not in result.stderr
    assert not fourk_cache.exists()

    assert run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120).returncode == 0
    assert sorted(_bodies(fourk)) == sorted(titles[i] for i in HBO)
    before = db_snapshot(fourk_cache)
    fourk.delete_series(fourk.library()[0]["id"])  # the user deleted one
    result = run_cli(tmp_path, "--config", str(config), "sync", "--dry-run", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "[4k]" not in result.stderr  # a user's deletion is not re-added, even in preview
    assert snapshot_diff(db_snapshot(fourk_cache), before) == []
