"""One truth for configuration: docs/config.schema.json and `config check` agree.

Both come from config.py (`coerce` and its twin `value_schema`). A corpus of good and bad
files, each with the verdict it must get, goes through the real `tvmaze-sync config check`
(CliRunner), the schema in-process (jsonschema, formats checked), and the real
`check-jsonschema` CLI an editor or CI would use, which reads YAML 1.2 (`yes` is text
there). Generated documents then check the agreement beyond the corpus.

What a schema cannot know is left out on purpose and is `config check`'s alone: the value
of a `${VAR}` (the schema accepts any reference), checks across keys (`sonarr.url` needs an
API key, which may come from the environment), and NaN (JSON has none).
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.helpers_tools import run, tool
from tvmaze_sync.cli.main import app
from tvmaze_sync.core.config import _Loader, build_config, iter_options, json_schema
from tvmaze_sync.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "config.schema.json"

GOOD, BAD = True, False

#: (name, config.yaml, its verdict, environment). Bounds, enumerations, durations, booleans
#: written as text, ranges, empty hosts, dates, URLs, lists, unknown keys, sections.
CORPUS: list[tuple[str, str, bool, dict[str, str]]] = [
    ("empty file", "", GOOD, {}),
    ("examples/config.yaml", (ROOT / "examples" / "config.yaml").read_text(), GOOD, {}),
    ("null section", "server:\n", GOOD, {}),
    ("port lowest", "server:\n  port: 1\n", GOOD, {}),
    ("port highest", "server:\n  port: 65535\n", GOOD, {}),
    ("port 0", "server:\n  port: 0\n", BAD, {}),
    ("port 65536", "server:\n  port: 65536\n", BAD, {}),
    ("port 70000", "server:\n  port: 70000\n", BAD, {}),
    ("port negative", "server:\n  port: -1\n", BAD, {}),
    ("port quoted", "server:\n  port: '8080'\n", BAD, {}),
    ("port whole float", "server:\n  port: 8080.0\n", GOOD, {}),
    ("port fraction", "server:\n  port: 8080.5\n", BAD, {}),
    ("port boolean", "server:\n  port: true\n", BAD, {}),
    ("port null", "server:\n  port:\n", BAD, {}),
    ("port from a reference", "server:\n  port: ${PORT}\n", GOOD, {"PORT": "9000"}),
    ("host IPv6 wildcard", "server:\n  host: '::'\n", GOOD, {}),
    ("host empty (every interface)", "server:\n  host: ''\n", BAD, {}),
    ("host blank", "server:\n  host: '   '\n", BAD, {}),
    ("host a number", "server:\n  host: 127\n", BAD, {}),
    ("duration 1s", "sync:\n  poll_interval: 1s\n", GOOD, {}),
    ("duration padded", "sync:\n  poll_interval: ' 6h '\n", GOOD, {}),
    ("duration seconds", "sync:\n  poll_interval: 3600\n", GOOD, {}),
    ("duration zero, no minimum", "sync:\n  retry_delay: 0s\n", GOOD, {}),
    ("duration 0s under a minimum", "sync:\n  poll_interval: 0s\n", BAD, {}),
    ("duration 000m under a minimum", "sync:\n  poll_interval: 000m\n", BAD, {}),
    ("duration 0 under a minimum", "sync:\n  poll_interval: 0\n", BAD, {}),
    ("duration in words", "sync:\n  poll_interval: 6 hours\n", BAD, {}),
    ("duration upper-case unit", "sync:\n  poll_interval: 6H\n", BAD, {}),
    ("duration negative", "sync:\n  retry_delay: -1d\n", BAD, {}),
    ("duration fraction", "sync:\n  retry_delay: 1.5\n", BAD, {}),
    ("duration 13 digits", "sync:\n  retry_delay: 1000000000000s\n", BAD, {}),
    ("timeout zero", "tvmaze:\n  timeout: 0s\n", BAD, {}),
    ("boolean yes (text in YAML 1.2)", "dry_run: yes\n", GOOD, {}),
    ("boolean quoted Yes", "dry_run: 'Yes'\n", GOOD, {}),
    ("boolean quoted OFF", "dry_run: ' OFF '\n", GOOD, {}),
    ("boolean quoted 1", "server:\n  enabled: '1'\n", GOOD, {}),
    ("boolean perhaps", "dry_run: perhaps\n", BAD, {}),
    ("boolean as number", "dry_run: 1\n", BAD, {}),
    ("boolean empty", "dry_run: ''\n", BAD, {}),
    ("boolean null", "dry_run:\n", BAD, {}),
    ("enum any case", "logging:\n  level: debug\n", GOOD, {}),
    ("enum mixed case", "sonarr:\n  monitor: FIRSTSEASON\n", GOOD, {}),
    ("enum unknown", "logging:\n  level: verbose\n", BAD, {}),
    ("enum with a space", "sonarr:\n  monitor: first season\n", BAD, {}),
    ("enum a number", "tvmaze:\n  update_window: 7\n", BAD, {}),
    ("rating 0", "filters:\n  rating:\n    min: 0\n", GOOD, {}),
    ("rating 10", "filters:\n  rating:\n    min: 10\n", GOOD, {}),
    ("rating 7.5", "filters:\n  rating:\n    min: 7.5\n", GOOD, {}),
    ("rating null", "filters:\n  rating:\n    min: ~\n", GOOD, {}),
    ("rating 11", "filters:\n  rating:\n    min: 11\n", BAD, {}),
    ("rating negative", "filters:\n  rating:\n    min: -0.5\n", BAD, {}),
    ("rating quoted", "filters:\n  rating:\n    min: '7.5'\n", BAD, {}),
    ("rating infinite", "filters:\n  rating:\n    min: .inf\n", BAD, {}),
    ("runtime 0", "filters:\n  min_runtime: 0\n", GOOD, {}),
    ("runtime -5", "filters:\n  min_runtime: -5\n", BAD, {}),
    ("max runtime -1", "filters:\n  max_runtime: -1\n", BAD, {}),
    ("rate limit whole float", "tvmaze:\n  rate_limit: 20.0\n", GOOD, {}),
    ("rate limit 0", "tvmaze:\n  rate_limit: 0\n", BAD, {}),
    ("rate limit in words", "tvmaze:\n  rate_limit: ten\n", BAD, {}),
    ("date leap day", "filters:\n  premiered:\n    after: '2020-02-29'\n", GOOD, {}),
    ("date unquoted", "filters:\n  premiered:\n    after: 2021-06-01\n", GOOD, {}),
    ("date impossible", "filters:\n  premiered:\n    after: '2020-02-30'\n", BAD, {}),
    ("date compact", "filters:\n  premiered:\n    after: '20200101'\n", BAD, {}),
    ("date short", "filters:\n  premiered:\n    after: '2020-1-1'\n", BAD, {}),
    ("date padded", "filters:\n  premiered:\n    after: ' 2020-01-01'\n", BAD, {}),
    ("url upper-case scheme", "tvmaze:\n  base_url: HTTPS://api.tvmaze.com\n", GOOD, {}),
    ("url blank unsets", "sonarr:\n  url: ''\n", GOOD, {}),
    ("url ftp", "sonarr:\n  url: ftp://sonarr\n", BAD, {}),
    ("url no host", "sonarr:\n  url: 'http://'\n", BAD, {}),
    ("url no scheme", "sonarr:\n  url: sonarr:8989\n", BAD, {}),
    ("url the word null", "sonarr:\n  url: 'null'\n", BAD, {}),
    ("list null", "sonarr:\n  tags:\n", GOOD, {}),
    ("list of ids", "filters:\n  ids:\n    exclude: [1, 2]\n", GOOD, {}),
    ("list item reference", "filters:\n  ids:\n    allow: ['${ID}']\n", GOOD, {"ID": "82"}),
    ("list as text", "filters:\n  genres:\n    exclude: Reality\n", BAD, {}),
    ("list of text ids", "filters:\n  ids:\n    exclude: [x]\n", BAD, {}),
    ("list of fractions", "filters:\n  ids:\n    exclude: [1.5]\n", BAD, {}),
    ("list nested", "sonarr:\n  tags: [[a]]\n", BAD, {}),
    ("text from a number", "sonarr:\n  root_folder: 1080\n", GOOD, {}),
    ("text from a list", "sonarr:\n  root_folder: [a]\n", BAD, {}),
    ("secret", "metrics:\n  pushgateway_password: hunter2\n", GOOD, {}),
    ("unknown key", "sonarr:\n  ulr: http://sonarr:8989\n", BAD, {}),
    ("unknown section", "filter:\n  genres: {}\n", BAD, {}),
    ("section a scalar", "filters: 5\n", BAD, {}),
    ("section a list", "filters:\n  genres: []\n", BAD, {}),
    ("top level a list", "- a\n- b\n", BAD, {}),
]


def config_check(tmp_path: Path, name: str, text: str, env: dict[str, str]) -> bool:
    """`tvmaze-sync config check` on `text`: True on exit 0, False on exit 2."""
    path = tmp_path / f"{re.sub(r'\W+', '-', name)}.yaml"
    path.write_text(text, encoding="utf-8")
    home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), **env}
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"], env=home)
    assert result.exit_code in (0, 2), (name, result.output)
    return result.exit_code == 0


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    """The checked-in schema, itself checked against the meta-schema once per process (that
    check costs more than a hundred validations)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_the_checked_in_schema_is_the_one_config_py_builds() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


@pytest.mark.parametrize(("name", "text", "verdict", "env"), CORPUS, ids=[c[0] for c in CORPUS])
def test_config_check_and_the_schema_agree_on_the_corpus(
    tmp_path: Path, name: str, text: str, verdict: bool, env: dict[str, str]
) -> None:
    assert config_check(tmp_path, name, text, env) is verdict, "config check"
    document = yaml.load(text, Loader=_Loader)  # what config check read
    errors = [e.message for e in validator().iter_errors(document)]
    assert (not errors) is verdict, f"schema: {errors}"


def test_check_jsonschema_agrees_on_the_corpus(tmp_path: Path) -> None:
    """The real CLI on every corpus file at once (one process): the same verdicts."""
    check = tool("check-jsonschema")
    files = {}
    for n, (name, text, verdict, _) in enumerate(CORPUS):
        path = tmp_path / f"case{n:03}.yaml"
        path.write_text(text, encoding="utf-8")
        files[path.name] = (name, verdict)
    result = run(
        check, "--schemafile", str(SCHEMA_FILE), "--output-format", "json",
        *(str(tmp_path / f) for f in files),
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert not report["parse_errors"], report["parse_errors"]
    refused = {Path(error["filename"]).name for error in report["errors"]}
    wrong = [name for file, (name, verdict) in files.items() if (file not in refused) != verdict]
    assert wrong == [], wrong


# --- beyond the corpus: generated documents -------------------------------------------------

OPTIONS = list(iter_options())
#: Problems that depend on more than one key (or the environment): not the schema's business.
#: Nor is whether Apprise can use a notification URL (`notify.urls[0]: not a URL`).
CROSS_KEY = re.compile(
    r"required when sonarr\.url is set|is not before|is above filters\.|^notify\.urls\["
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**15),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "", " ", "6h", "0s", " 15m ", "1y", "6 hours", "2020-02-29", "2020-02-30",
            "http://127.0.0.1:9", "HTTP://x", "http://", "ftp://x", "true", "Off", "YES",
            "null", "~", "-1", "8080", "7.5", "debug", "FUTURE", "week", "0.0.0.0", "::",
        ]
    ),
)  # fmt: skip
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A config-shaped mapping: real keys holding any value, now and then a section that is
    not a mapping or a key that does not exist."""
    document: dict[str, Any] = {}
    for option in draw(st.lists(st.sampled_from(OPTIONS), max_size=6, unique_by=lambda o: o.path)):
        node = document
        for part in option.path[:-1]:
            node = node.setdefault(part, {})
        node[option.path[-1]] = draw(_VALUES)
    if draw(st.integers(0, 9)) == 0:
        document[draw(st.sampled_from(["filters", "sonarr", "filter", "dry_run"]))] = draw(_VALUES)
    return document


def _finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not (isinstance(value, float) and not math.isfinite(value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_config_check_and_the_schema_agree_on_generated_documents(document: dict[str, Any]) -> None:
    if not _finite(document):  # JSON Schema has no NaN or infinity to compare with
        return
    try:
        build_config(document, {"HOME": "/nonexistent"})
        accepted = True
    except ConfigError as error:
        accepted = all(CROSS_KEY.search(p) for p in error.problems)
    errors = [e.message for e in VALIDATOR.iter_errors(document)]
    assert (not errors) is accepted, (document, errors)


VALIDATOR = validator()
