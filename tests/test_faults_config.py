"""Fault suite, part four: whatever a config file or the environment holds, the CLI answers
with an exit code it documents (0, 1, 2 or 3) and at most a one-line message, never a
traceback, never an "unexpected error", never a secret.

Inputs come from hypothesis: config files built from the real schema with values of every
type (and raw YAML and non-YAML text), and environment values for every option. Most run
in-process through typer's CliRunner; a handful go through real processes. `sync --dry-run`
runs against an empty TVMaze simulator (a whole, fast cycle) and, sometimes, a Sonarr
simulator; the variables that could make a run slow or write outside the test's directory
(URLs, rate limit, storage path) are pinned after generation.
"""

from __future__ import annotations

import logging
import os
import string
import tempfile
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_cli import clean_env, run_cli
from tvmaze_sync.cli.main import app
from tvmaze_sync.core.config import Duration, IsoDate, Url, iter_options

pytestmark = pytest.mark.faults

OPTIONS = list(iter_options())
OPTION_ENV = [option.env for option in OPTIONS]
#: Pinned for `sync` runs: a dead or throttled URL would make each example wait on
#: retries, and a generated storage path could point anywhere on this machine.
PINNED = {"TVMAZE_BASE_URL", "TVMAZE_RATE_LIMIT", "STORAGE_PATH", "SONARR_URL"}
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3}
#: At DEBUG the CLI logs tracebacks on purpose; the flag wins over a generated level.
QUIET = ["--log-level", "INFO"]

# --- what hypothesis generates ----------------------------------------------------------------

#: Secrets are long random-looking tokens, so "never printed" can be checked exactly.
SECRET = st.text(string.ascii_letters + string.digits, min_size=12, max_size=20).map(
    lambda s: "sk-" + s
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "6h",
            "0s",
            "1y",
            "30 seconds",
            "2025-01-01",
            "2025-13-45",
            "http://127.0.0.1:9",
            "ftp://example.com",
            "${UNSET_VARIABLE}",
            "${HOME}",
            "English",
            "Scripted, Animation",
            "true",
            "off",
            "null",
            "~",
            "-1",
            "1e400",
        ]
    ),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def valid_values(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the option's own type, so that many documents get past validation."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return st.none() | valid_values(next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(valid_values(args[0]), max_size=3)
    if tp is Duration:
        return st.sampled_from(["30s", "15m", "6h", "1d", "1w", "1y"])
    if tp is IsoDate:
        return st.dates().map(lambda d: d.isoformat())
    if tp is Url:
        return st.just("http://127.0.0.1:9")
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=1, max_value=10**6)
    if tp is float:
        return st.floats(min_value=0, max_value=10)
    return st.text(string.ascii_letters + " -", max_size=12)


@st.composite
def config_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A YAML mapping shaped like the schema: real keys, right or wrong values, typos."""
    document: dict[str, Any] = {}
    wrong = draw(st.sampled_from([0, 10, 50]))  # percent of values drawn from anything at all
    for option in draw(st.lists(st.sampled_from(OPTIONS), max_size=8, unique_by=lambda o: o.path)):
        node = document
        for part in option.path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            fitting = SECRET if option.secret else valid_values(option.type)
            node[option.path[-1]] = draw(_value if draw(st.integers(0, 99)) < wrong else fitting)
    if wrong and draw(st.booleans()):  # a misspelt key, a wrong nesting, a section that is a scalar
        section = draw(st.sampled_from([*sorted({o.path[0] for o in OPTIONS}), "filter"]))
        document[section] = draw(_value | st.dictionaries(st.text(max_size=10), _value))
    return document


#: Raw file contents: YAML that is not a mapping, broken YAML, binary, recursion.
RAW_FILES = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=100),
    st.sampled_from(
        [
            "",
            "---\n",
            "- a\n- b\n",
            "just a string",
            "filters:\n\tgenres: []\n",
            "sonarr: {url: [}\n",
            "filters: &loop\n  genres: *loop\n",
            "a: &x [1, *x]\n",
            "storage: !!python/object:os.system {}\n",
            "tvmaze:\n  rate_limit: *undefined\n",
            "\ufeffdry_run: true\n",
            "sync:\n  poll_interval: 10\n" * 2,
        ]
    ),
)


#: Mostly schema-shaped documents; a quarter raw text, bytes or YAML oddities.
DOCUMENTS = st.one_of(config_documents(), config_documents(), config_documents(), RAW_FILES)


@st.composite
def environments(draw: st.DrawFn, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Option variables (and their _FILE forms): well-typed text, or any text but NUL."""
    options = [option for option in OPTIONS if option.env not in exclude]
    chosen = draw(st.lists(st.sampled_from(options), max_size=5, unique_by=lambda o: o.env))
    text = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=40)
    env: dict[str, str] = {}
    for option in chosen:
        kind = draw(st.integers(0, 5))
        if kind == 0:
            path = draw(st.sampled_from(["/nonexistent/secret", "/", "/dev/null"]))
            env[f"{option.env}_FILE"] = path
        elif option.secret:
            env[option.env] = draw(SECRET)
        elif kind <= 2:
            env[option.env] = draw(text)
        else:
            env[option.env] = draw(valid_values(option.type).map(_env_text))
    return env


def _env_text(value: Any) -> str:
    """How a value is written in an environment variable (lists comma-separated)."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


# --- running the CLI ------------------------------------------------------------------------------


@contextmanager
def _logging_restored() -> Iterator[None]:
    """The CLI installs a root handler on CliRunner's stream; put the test's back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _isolated_env(home: Path, env: Mapping[str, str]) -> dict[str, str | None]:
    """os.environ as `clean_env` would leave it, expressed as CliRunner's overrides."""
    wanted = clean_env(home, env)
    overrides: dict[str, str | None] = {name: None for name in os.environ if name not in wanted}
    overrides.update(wanted)
    return overrides


def invoke(home: Path, args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr). Fails on any escaped exception."""
    runner = CliRunner()
    with _logging_restored():
        result = runner.invoke(app, args, env=_isolated_env(home, env), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: escaped {result.exception!r}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_clean_answer(
    code: int, stdout: str, stderr: str, secrets: list[str], what: object
) -> None:
    event(f"exit {code}")
    assert code in DOCUMENTED_EXIT_CODES, (code, stderr, what)
    assert "Traceback" not in stderr + stdout, (stderr, what)
    assert "unexpected error" not in stderr, (stderr, what)
    for secret in secrets:
        assert secret not in stdout + stderr, (secret, what)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if code:
        # One error line; a config with several problems lists them below it, indented.
        assert len(errors) == 1, (stderr, what)
        message = stderr[stderr.index("error:") :].splitlines()
        assert all(line.startswith("  - ") for line in message[1:]), (stderr, what)
    else:
        assert errors == [], (stderr, what)


def _secrets(document: Any, env: Mapping[str, str]) -> list[str]:
    found = [value for value in env.values() if value.startswith("sk-")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, str) and node.startswith("sk-") and len(node) >= 15:
            found.append(node)

    walk(document)
    return found


def _write(home: Path, content: dict[str, Any] | str | bytes) -> Path:
    path = home / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[TvmazeSimulator, SonarrSimulator]]:
    """An empty TVMaze (a whole cycle in a few requests) and a standard Sonarr."""
    tvmaze = TvmazeSimulator([], rate_limit=None).start()
    sonarr = SonarrSimulator(
        api_key=SONARR_API_KEY,
        root_folders=["/tv"],
        quality_profiles=[{"id": 1, "name": "Any"}, {"id": 4, "name": "HD-1080p"}],
        tags=["auto-sync"],
    ).start()
    try:
        yield tvmaze, sonarr
    finally:
        tvmaze.stop()
        sonarr.stop()


FAST = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FAST
@given(document=DOCUMENTS, env=environments())
@example(document="filters: &loop\n  genres: *loop\n", env={})
@example(document="a: " + "[" * 1000 + "]" * 1000 + "\n", env={})  # deeper than Python recurses
@example(document={"sonarr": {"url": "http://127.0.0.1:9"}}, env={})
def test_config_check_answers_any_file_and_environment_cleanly(
    document: dict[str, Any] | str | bytes, env: dict[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        config = _write(home, document)
        args = ["--config", str(config), *QUIET, "config", "check"]
        code, stdout, stderr = invoke(home, args, env)
    assert code in (0, 2), (code, stderr, document, env)  # offline: valid, or a config error
    assert_clean_answer(code, stdout, stderr, _secrets(document, env), (document, env))


@settings(FAST, max_examples=40)
@given(
    document=DOCUMENTS,
    env=environments(exclude=frozenset(PINNED)),
    with_sonarr=st.booleans(),
)
@example(document={"sonarr": {"api_key": SONARR_API_KEY}}, env={}, with_sonarr=True)
@example(document={"sonarr": {"quality_profile": "Nope"}}, env={}, with_sonarr=True)
@example(document={"sonarr": {"api_key": "sk-wrongwrongwrong"}}, env={}, with_sonarr=True)
def test_sync_dry_run_answers_any_file_and_environment_cleanly(
    simulators: tuple[TvmazeSimulator, SonarrSimulator],
    document: dict[str, Any] | str | bytes,
    env: dict[str, str],
    with_sonarr: bool,
) -> None:
    tvmaze, sonarr = simulators
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        config = _write(home, document)
        pinned = {
            **env,
            "TVMAZE_BASE_URL": tvmaze.url,
            "TVMAZE_RATE_LIMIT": "1000000",
            "STORAGE_PATH": str(home / "data"),
        }
        pinned["SONARR_URL"] = sonarr.url if with_sonarr else ""  # empty: no Sonarr
        args = ["--config", str(config), *QUIET, "sync", "--dry-run"]
        code, stdout, stderr = invoke(home, args, pinned)
    assert_clean_answer(code, stdout, stderr, _secrets(document, env), (document, env))


# Processes are slow: a few examples, and a failure is reported as found, not shrunk.
@settings(FAST, max_examples=5, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(document=DOCUMENTS, env=environments(exclude=frozenset(PINNED)))
def test_the_real_process_answers_generated_input_cleanly(
    simulators: tuple[TvmazeSimulator, SonarrSimulator],
    document: dict[str, Any] | str | bytes,
    env: dict[str, str],
) -> None:
    """The same contract through real processes: what cron and systemd see."""
    tvmaze, _ = simulators
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        config = _write(home, document)
        env = {
            **env,
            "TVMAZE_BASE_URL": tvmaze.url,
            "TVMAZE_RATE_LIMIT": "1000000",
            "STORAGE_PATH": str(home / "data"),
            "SONARR_URL": "",
        }
        for args in (["config", "check"], ["sync", "--dry-run"]):
            result = run_cli(home, "--config", str(config), *QUIET, *args, env=env)
            what = (args, document, env)
            assert_clean_answer(
                result.returncode, result.stdout, result.stderr, _secrets(document, env), what
            )
