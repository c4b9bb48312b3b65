"""Filter values are checked against TVMaze's words and the local mirror (vocabulary.py).

The exit codes and messages are checked through the real CLI (a subprocess); the matching
rules (any case, UK is GB, a typo gets the nearest word) with hypothesis over the whole
vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers_cli import data_dir, run_cli
from tests.helpers_store import store_at
from tests.test_docs import worked_examples
from tvmaze_sync.core.config import Config, FiltersConfig, ListFilter, StatusFilter, load_config
from tvmaze_sync.core.models import Show
from tvmaze_sync.decisions.vocabulary import (
    _TEXT_FACETS,
    FACETS,
    Facet,
    Findings,
    Mirror,
    check,
    edit_distance,
)
from tvmaze_sync.storage.columns import FACET_COLUMNS, row_from_show
from tvmaze_sync.storage.store import DB_NAME

ROOT = Path(__file__).resolve().parent.parent
NO_MIRROR = Mirror(None)


def write(home: Path, data: dict[str, Any]) -> Path:
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def config_check(home: Path, text: str | None = None, **env: str) -> Any:
    args = ["config", "check", "--format", "json"]
    if text is not None:
        (home / "config.yaml").write_text(text, encoding="utf-8")
        args = ["-c", str(home / "config.yaml"), *args]
    return run_cli(home, *args, env=env)


def seed_mirror(storage: Path, **facts: Any) -> None:
    storage.mkdir(parents=True, exist_ok=True)
    store = store_at(storage)
    try:
        show = Show(tvmaze_id=1, title="A Puppet Show", **facts)
        store.upsert_shows([row_from_show(show)], "2026-01-01T00:00:00Z")
    finally:
        store.close()


# --- through the CLI -----------------------------------------------------------------------


def test_a_mistyped_genre_is_exit_2_with_the_nearest_word(tmp_path: Path) -> None:
    result = config_check(tmp_path, "filters:\n  genres:\n    exclude: [Realty]\n")
    assert result.returncode == 2, result.stderr
    assert "filters.genres.exclude: 'Realty' is not a TVMaze genre" in result.stderr
    assert "did you mean 'Reality'?" in result.stderr
    assert "configuration is valid" not in result.stdout + result.stderr


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = "filters:\n  genres:\n    include: [Dramma]\n  languages:\n    include: [Englsh]\n"
    result = config_check(tmp_path, text)
    assert result.returncode == 2
    assert "configuration has 2 errors" in result.stderr
    assert "filters.genres.include: 'Dramma' is not a TVMaze genre; did you mean 'Drama'?" in (
        result.stderr
    )
    assert "did you mean 'English'?" in result.stderr


def test_usa_is_not_a_country_code_and_us_is_suggested(tmp_path: Path) -> None:
    result = config_check(tmp_path, "filters:\n  countries:\n    include: [USA, GB]\n")
    assert result.returncode == 2
    assert (
        "filters.countries.include: 'USA' is not an ISO 3166-1 alpha-2 country code; "
        "did you mean 'US' (United States of America)?"
    ) in result.stderr


def test_no_is_norway_not_false(tmp_path: Path) -> None:
    result = config_check(tmp_path, "filters:\n  countries:\n    include: [NO, uk, Us]\n")
    assert result.returncode == 0, result.stderr
    filters = json.loads(result.stdout)["config"]["filters"]
    assert filters["countries"]["include"] == ["NO", "uk", "Us"]


def test_the_environment_is_checked_too(tmp_path: Path) -> None:
    result = config_check(tmp_path, FILTERS_GENRES_EXCLUDE="Sports,Realty")
    assert result.returncode == 2
    assert "filters.genres.exclude: 'Realty' is not a TVMaze genre" in result.stderr
    ok = config_check(tmp_path, FILTERS_COUNTRIES_INCLUDE="NO,SE", FILTERS_STATUS_INCLUDE="running")
    assert ok.returncode == 0, ok.stderr


def test_a_word_only_the_mirror_knows_is_accepted(tmp_path: Path) -> None:
    text = "filters:\n  genres:\n    include: [puppetry]\n"
    refused = config_check(tmp_path, text)
    assert refused.returncode == 2
    assert not (data_dir(tmp_path) / DB_NAME).exists(), "config check created the mirror"

    seed_mirror(data_dir(tmp_path), genres=("Puppetry", "Comedy"))
    db = data_dir(tmp_path) / DB_NAME
    before = (db.stat().st_mtime_ns, db.stat().st_size)
    accepted = config_check(tmp_path, text)
    assert accepted.returncode == 0, accepted.stderr
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before  # read, never written
    # And a typo of it is suggested from the mirror.
    typo = config_check(tmp_path, "filters:\n  genres:\n    include: [Pupetry]\n")
    assert "did you mean 'Puppetry'?" in typo.stderr


def test_an_unreadable_mirror_is_no_mirror(tmp_path: Path) -> None:
    storage = data_dir(tmp_path)
    storage.mkdir(parents=True)
    (storage / DB_NAME).write_bytes(b"not a database at all")
    result = config_check(tmp_path, "filters:\n  genres:\n    include: [puppetry]\n")
    assert result.returncode == 2
    assert "'puppetry' is not a TVMaze genre" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_word_of_another_list_is_a_warning(tmp_path: Path) -> None:
    result = config_check(tmp_path, "filters:\n  genres:\n    exclude: [Reality, Sports]\n")
    assert result.returncode == 0, result.stderr
    assert (
        "warning: filters.genres.exclude: 'Reality' is a TVMaze show type, not a TVMaze "
        "genre, so it matches no show; did you mean filters.types.exclude?"
    ) in " ".join(result.stderr.split())


def test_the_defaults_and_the_examples_need_no_warning(tmp_path: Path) -> None:
    result = config_check(tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    example = config_check(tmp_path, (ROOT / "examples" / "config.yaml").read_text())
    assert example.returncode == 0 and "warning" not in example.stderr, example.stderr
    k8s = yaml.safe_load((ROOT / "examples" / "kubernetes" / "configmap.yaml").read_text())
    filters = yaml.safe_load(k8s["data"]["config.yaml"])["filters"]
    findings = check(load(tmp_path, {"filters": filters}), NO_MIRROR)
    assert findings == Findings()


@pytest.mark.parametrize(
    "command",
    [
        ("sync",),
        ("sync", "--dry-run"),
        ("refilter", "--dry-run"),
        ("shows",),
        ("explain", "1"),
        ("state",),
        ("serve",),
        ("healthcheck",),
    ],
    ids=" ".join,
)
def test_every_command_refuses_a_mistyped_value(tmp_path: Path, command: tuple[str, ...]) -> None:
    config = write(tmp_path, {"filters": {"languages": {"include": ["Englsh"]}}})
    result = run_cli(tmp_path, "-c", str(config), *command, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "did you mean 'English'?" in result.stderr
    assert not (data_dir(tmp_path) / DB_NAME).exists()


def test_the_worked_examples_of_the_guide_use_real_words(tmp_path: Path) -> None:
    for name, config_yaml, _ in worked_examples():
        findings = check(load(tmp_path, yaml.safe_load(config_yaml)), NO_MIRROR)
        assert findings == Findings(), name


# --- YAML 1.1 booleans ------------------------------------------------------------------------


def load(home: Path, data: dict[str, Any]) -> FiltersConfig:
    return load_config(write(home, data or {}), env={"HOME": str(home)}).filters


def test_yaml_booleans_stay_booleans_where_the_option_is_one(tmp_path: Path) -> None:
    text = "dry_run: yes\nserver:\n  enabled: off\nfilters:\n  countries:\n    include: [NO, On]\n"
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, env={"HOME": str(tmp_path)})
    assert config.dry_run is True and config.server.enabled is False
    assert config.filters.countries.include == ["NO", "On"]


# --- the rules of matching, over the whole vocabulary -----------------------------------------


def filters_with(facet: Facet, which: str, value: str) -> FiltersConfig:
    config = FiltersConfig(
        genres=ListFilter(),
        types=ListFilter(),
        countries=ListFilter(),
        languages=ListFilter(),
        status=StatusFilter(exclude_ended=False),
    )
    setattr(getattr(config, facet.section), which, [value])
    return config


def any_case(draw: Any, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    cased = "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=True))
    return draw(st.sampled_from(["", " "])) + cased + draw(st.sampled_from(["", "  "]))


@st.composite
def known_values(draw: Any) -> tuple[Facet, str]:
    facet = draw(st.sampled_from(FACETS))
    word = draw(st.sampled_from(facet.known + (("UK",) if facet.section == "countries" else ())))
    return facet, any_case(draw, word)


@given(known_values(), st.sampled_from(["include", "exclude"]))
def test_every_known_value_is_accepted_in_any_case(known: tuple[Facet, str], which: str) -> None:
    facet, value = known
    assert check(filters_with(facet, which, value), NO_MIRROR) == Findings()


def _known_anywhere(text: str) -> bool:
    return any(f.key(text) in {f.key(k) for k in f.known} for f in FACETS)


@st.composite
def typos(draw: Any) -> tuple[Facet, str, str]:
    """A word of a text filter with one letter dropped, doubled, changed or two swapped."""
    facet = draw(st.sampled_from(_TEXT_FACETS))
    word = draw(st.sampled_from(facet.known))
    at = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "double", "change", "swap"]))
    letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))
    if kind == "drop":
        typo = word[:at] + word[at + 1 :]
    elif kind == "double":
        typo = word[: at + 1] + word[at:]
    elif kind == "change":
        typo = word[:at] + letter + word[at + 1 :]
    else:
        at = min(at, len(word) - 2)
        typo = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    typo = any_case(draw, typo)
    if not typo.strip() or _known_anywhere(typo):
        typo = word + "x"  # the mutation made a real word: mistype it differently
    return facet, word, typo


@given(typos(), st.sampled_from(["include", "exclude"]))
def test_every_typo_is_refused_with_a_suggestion(typo: tuple[Facet, str, str], which: str) -> None:
    facet, word, value = typo
    findings = check(filters_with(facet, which, value), NO_MIRROR)
    assert findings.warnings == []
    (problem,) = findings.problems
    assert problem.startswith(f"filters.{facet.section}.{which}: {value!r} is not {facet.noun}")
    assert "; did you mean '" in problem
    suggested = problem.split("did you mean '", 1)[1].split("'", 1)[0]
    assert edit_distance(facet.key(value), facet.key(suggested)) <= edit_distance(
        facet.key(value), facet.key(word)
    )


@given(st.sampled_from(FACETS[-1:]), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=3))
def test_a_country_code_is_known_or_refused(facet: Facet, code: str) -> None:
    findings = check(filters_with(facet, "include", code), NO_MIRROR)
    assert findings.warnings == []
    assert bool(findings.problems) != (facet.key(code) in facet.known)


def test_edit_distance() -> None:
    assert edit_distance("realty", "reality") == 1
    assert edit_distance("dramma", "drama") == 1
    assert edit_distance("darma", "drama") == 1  # a swap is one edit
    assert edit_distance("", "war") == 3
    assert edit_distance("mandarin", "romanian") > 2


# --- the mirror -----------------------------------------------------------------------------


def test_store_distinct_values(tmp_path: Path) -> None:
    seed_mirror(
        tmp_path,
        genres=("Puppetry", "Comedy"),
        type="Scripted",
        language="Klingon",
        country="XK",
        status="Running",
    )
    store = store_at(tmp_path, readonly=True)
    try:
        found = {column: store.distinct_values(column) for column in FACET_COLUMNS}
    finally:
        store.close()
    assert found == {
        "genres": {"Puppetry", "Comedy"},
        "type": {"Scripted"},
        "status": {"Running"},
        "language": {"Klingon"},
        "country": {"XK"},
    }


def test_the_mirror_is_read_only_when_a_value_is_unknown(tmp_path: Path) -> None:
    class Counting(Mirror):
        reads: list[str] = []  # noqa: RUF012

        def _read(self, column: Any) -> set[str]:
            self.reads.append(column)
            return set()

    mirror = Counting(tmp_path)
    assert check(Config().filters, mirror) == Findings()
    assert mirror.reads == []
    check(filters_with(FACETS[3], "include", "Klingon"), mirror)
    check(filters_with(FACETS[3], "exclude", "Vulcan"), mirror)
    assert mirror.reads.count("language") == 1  # once per column, then remembered
    assert os.listdir(tmp_path) == []
