"""Configuration: the schema, YAML, `${VAR}`/`${VAR_FILE}`, env overrides and validation."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers_cli import data_dir, run_cli
from tvmaze_sync.core.config import (
    Config,
    Duration,
    Host,
    IsoDate,
    Option,
    Url,
    _range_problems,
    build_config,
    iter_options,
    load_config,
    starter_yaml,
)
from tvmaze_sync.core.errors import ConfigError, ExitCode

OPTIONS = list(iter_options())
SECRET_OPTIONS = [option for option in OPTIONS if option.secret]


def value_of(config: Config, option: Option) -> Any:
    node: Any = config
    for part in option.path:
        node = getattr(node, part)
    return node


def _inner(tp: Any) -> Any:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def sample(option: Option) -> tuple[str, Any]:
    """A valid non-default value of `option` as an env string, and what it must load as."""
    tp = _inner(option.type)
    origin = typing.get_origin(tp)
    if option.path == ("server", "port"):
        return "9000", 9000
    if origin is Literal:
        choices = [a for a in typing.get_args(tp) if a != option.default]
        return str(choices[0]).upper(), choices[0]  # names are matched in any case
    if option.path == ("notify", "urls"):
        return "json://127.0.0.1:9/hook, ntfy://my-topic", [
            "json://127.0.0.1:9/hook",
            "ntfy://my-topic",
        ]
    if origin is list and typing.get_origin(typing.get_args(tp)[0]) is Literal:
        return "Removals, failure", ["removals", "failure"]
    if origin is list:
        if typing.get_args(tp)[0] is int:
            return " 7, 11 ,13", [7, 11, 13]
        return "Alpha, Beta Gamma ,D", ["Alpha", "Beta Gamma", "D"]
    if tp is bool:
        return ("Yes" if not option.default else "off"), not option.default
    if tp is Duration:
        return "2d", 2 * 86400
    if tp is IsoDate:
        return "2031-02-03", "2031-02-03"
    if tp is Url:
        return "http://host.test:8989/", "http://host.test:8989"
    if tp is int:
        number = (option.default or 40) + 5
        return str(number), number
    if tp is float:
        return "7.5", 7.5
    if tp is Host:
        return " ::1 ", "::1"
    if tp is str:
        return "value-xyz", "value-xyz"
    raise AssertionError(f"no sample for {option.key}: {option.type!r}")


# Options that only load together with another one (cross checks).
COMPANIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("sonarr", "url"): {"SONARR_API_KEY": "companion-key"}
}


def test_env_names_are_unique_and_never_another_options_file_form() -> None:
    names = [option.env for option in OPTIONS]
    assert len(names) == len(set(names))
    assert not {f"{name}_FILE" for name in names} & set(names)
    assert {"TVMAZE_RATE_LIMIT", "SONARR_ROOT_FOLDER", "FILTERS_GENRES_EXCLUDE"} <= set(names)
    assert {"FILTERS_PREMIERED_AFTER", "DRY_RUN", "SERVER_PORT", "STORAGE_PATH"} <= set(names)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.env)
def test_every_option_is_overridable_from_the_environment(option: Option) -> None:
    text, expected = sample(option)
    assert expected != option.default, "the sample must differ from the default"
    config = build_config({}, {option.env: text, **COMPANIONS.get(option.path, {})})
    assert value_of(config, option) == expected


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: f"{o.env}_FILE")
def test_every_option_also_reads_a_file(option: Option, tmp_path: Path) -> None:
    text, expected = sample(option)
    secret = tmp_path / "value.txt"
    secret.write_text(f"  {text}\n\n", encoding="utf-8")  # stripped, like a Docker secret
    env = {f"{option.env}_FILE": str(secret), **COMPANIONS.get(option.path, {})}
    assert value_of(build_config({}, env), option) == expected


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.env)
def test_file_form_wins_over_the_plain_variable(option: Option, tmp_path: Path) -> None:
    file_text, expected = sample(option)
    (tmp_path / "v").write_text(file_text, encoding="utf-8")
    env = {
        option.env: "{not valid for any option}",  # read at all, it would fail or differ
        f"{option.env}_FILE": str(tmp_path / "v"),
        **COMPANIONS.get(option.path, {}),
    }
    assert value_of(build_config({}, env), option) == expected


def test_env_overrides_the_yaml_file() -> None:
    config = build_config({"tvmaze": {"rate_limit": 5}}, {"TVMAZE_RATE_LIMIT": "9"})
    assert config.tvmaze.rate_limit == 9
    assert build_config({"tvmaze": {"rate_limit": 5}}, {}).tvmaze.rate_limit == 5


def test_file_form_that_cannot_be_read_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00\x81")
    for target in (tmp_path / "missing", tmp_path, tmp_path / "binary"):
        with pytest.raises(ConfigError) as caught:
            build_config({}, {"SONARR_API_KEY_FILE": str(target)})
        assert "SONARR_API_KEY_FILE" in str(caught.value)


# --- ${VAR} and ${VAR_FILE} inside YAML values ---------------------------------------------


def test_yaml_reference_reads_the_variable() -> None:
    data = {"sonarr": {"url": "http://${SONARR_HOST}:8989", "api_key": "${MY_KEY}"}}
    config = build_config(data, {"SONARR_HOST": "sonarr", "MY_KEY": "k-123"})
    assert config.sonarr.url == "http://sonarr:8989"
    assert config.sonarr.api_key == "k-123"


def test_yaml_reference_prefers_the_file_and_strips_it(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n", encoding="utf-8")
    data = {"tvmaze": {"api_key": "${MY_KEY}"}}
    env = {"MY_KEY": "from-env", "MY_KEY_FILE": str(tmp_path / "key")}
    assert build_config(data, env).tvmaze.api_key == "from-file"
    assert build_config(data, {"MY_KEY_FILE": str(tmp_path / "key")}).tvmaze.api_key == (
        "from-file"
    )


def test_yaml_reference_to_nothing_names_the_key_and_both_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"sonarr": {"root_folder": "${NOPE}"}, "storage": {"path": "${GONE}"}}, {})
    problems = caught.value.problems
    assert len(problems) == 2
    assert "sonarr.root_folder" in problems[0]
    assert "NOPE_FILE" in problems[0] and "NOPE " in problems[0]
    assert "storage.path" in problems[1] and "GONE" in problems[1]


def test_yaml_reference_in_a_list_item() -> None:
    config = build_config({"sonarr": {"tags": ["a", "${TAG}"]}}, {"TAG": "b"})
    assert config.sonarr.tags == ["a", "b"]


# --- where the file comes from ----------------------------------------------------------------


def _write(path: Path, port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"server:\n  port: {port}\n", encoding="utf-8")
    return path


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg), "XDG_DATA_HOME": str(tmp_path / "data")}

    # None anywhere: built-in defaults.
    config = load_config(None, env)
    assert config.source is None
    assert config.server.port == 8080
    assert config.storage.path == str(tmp_path / "data" / "tvmaze-sync")

    _write(xdg / "tvmaze-sync" / "config.yaml", 1001)
    assert load_config(None, env).server.port == 1001
    _write(work / "config.yaml", 1002)
    assert load_config(None, env).server.port == 1002
    from_env = _write(tmp_path / "env.yaml", 1003)
    assert load_config(None, {**env, "TVMAZE_SYNC_CONFIG": str(from_env)}).server.port == 1003
    explicit = _write(tmp_path / "explicit.yaml", 1004)
    both = {**env, "TVMAZE_SYNC_CONFIG": str(from_env)}
    loaded = load_config(explicit, both)
    assert loaded.server.port == 1004
    assert loaded.source == explicit


def test_named_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.yaml", {})
    with pytest.raises(ConfigError, match="TVMAZE_SYNC_CONFIG"):
        load_config(None, {"TVMAZE_SYNC_CONFIG": str(tmp_path / "nope.yaml")})


def test_default_storage_path_follows_xdg_then_home(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_config({}, {"XDG_DATA_HOME": "/x/data"}).storage.path == "/x/data/tvmaze-sync"
    monkeypatch.setenv("HOME", "/home/someone")
    assert build_config({}, {}).storage.path == "/home/someone/.local/share/tvmaze-sync"
    assert build_config({}, {"STORAGE_PATH": "/srv/tv"}).storage_dir == Path("/srv/tv")


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("6h", 21600),
        ("1d", 86400),
        ("1w", 604800),
        ("1y", 365 * 86400),
        (" 2 h ", 7200),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    config = build_config({}, {"SYNC_RETRY_DELAY": text})
    assert config.sync.retry_delay == seconds
    assert build_config({"sync": {"retry_delay": text}}, {}).sync.retry_delay == seconds
    assert Duration.parse(str(Duration(seconds))) == seconds  # prints back in its largest unit


@pytest.mark.parametrize("text", ["", "5", "1.5h", "h", "-1d", "1x", "1 d 2h", "six hours"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({}, {"SYNC_RETRY_DELAY": text})
    (problem,) = caught.value.problems
    assert problem.startswith("SYNC_RETRY_DELAY (sync.retry_delay): ")
    assert repr(text) in problem
    assert "30s, 15m, 6h, 1d, 1w or 1y" in problem


def test_a_yaml_integer_duration_is_seconds_and_zero_timeouts_are_refused() -> None:
    assert build_config({"sync": {"retry_delay": 90}}, {}).sync.retry_delay == 90
    with pytest.raises(ConfigError, match=r"tvmaze.timeout: '0s' is too small; .* 1s"):
        build_config({"tvmaze": {"timeout": "0s"}}, {})


# --- validation -----------------------------------------------------------------------------


def bad_value(option: Option) -> Any:
    """A YAML value `option` must refuse."""
    tp = _inner(option.type)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "bogus-choice"
    if origin is list:
        return {"not": "a list"}
    return {
        bool: "maybe",
        int: "many",
        float: "high",
        Duration: "soon",
        IsoDate: "2020-13-45",
        Url: "ftp://example.test",
        Host: "",
        str: ["a", "list"],
    }[tp]


def test_every_bad_value_is_reported_at_once_with_key_value_and_allowed() -> None:
    data: dict[str, Any] = {}
    for option in OPTIONS:
        node = data
        for part in option.path[:-1]:
            node = node.setdefault(part, {})
        node[option.path[-1]] = bad_value(option)
    with pytest.raises(ConfigError) as caught:
        build_config(data, {})
    problems = caught.value.problems
    assert len(problems) == len(OPTIONS)
    for option, problem in zip(OPTIONS, problems, strict=True):
        assert problem.startswith(f"{option.key}: "), problem
        shown = "'***'" if option.secret else repr(bad_value(option))
        assert shown in problem, problem
        assert "; expected " in problem, problem
    message = str(caught.value)
    assert message.startswith(f"configuration has {len(OPTIONS)} errors:")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TVMAZE_RATE_LIMIT": "0"}, "TVMAZE_RATE_LIMIT (tvmaze.rate_limit): '0' is too small"),
        ({"SERVER_PORT": "70000"}, "(server.port): '70000' is too large; expected at most 65535"),
        ({"SERVER_HOST": " "}, "(server.host): ' ' is not valid; expected an address or host"),
        ({"FILTERS_RATING_MIN": "11"}, "'11' is too large; expected at most 10"),
        ({"FILTERS_MIN_RUNTIME": "-5"}, "'-5' is too small; expected at least 0"),
        ({"TVMAZE_UPDATE_WINDOW": "year"}, "'year' is not valid; expected one of day, week, month"),
        ({"DRY_RUN": "perhaps"}, "DRY_RUN (dry_run): 'perhaps' is not valid; expected true or"),
        ({"FILTERS_IDS_EXCLUDE": "1,x"}, "'1,x' is not valid; expected a whole number"),
        ({"FILTERS_RATING_MIN": "nan"}, "'nan' is not valid; expected a finite number"),
        ({"FILTERS_RATING_MIN": "-1"}, "'-1' is too small; expected at least 0"),
        ({"SONARR_URL": "sonarr:8989"}, "'sonarr:8989' is not valid; expected an http://"),
        ({"SONARR_URL": "http://s:8989"}, "sonarr.api_key: required when sonarr.url is set"),
        (
            {"FILTERS_PREMIERED_AFTER": "2020-01-01", "FILTERS_PREMIERED_BEFORE": "2019-01-01"},
            "filters.premiered: after '2020-01-01' is not before '2019-01-01'",
        ),
        (
            {"FILTERS_MIN_RUNTIME": "60", "FILTERS_MAX_RUNTIME": "30"},
            "filters.min_runtime: 60 is above filters.max_runtime 30",
        ),
        (
            {"FILTERS_WEIGHT_MIN": "60", "FILTERS_WEIGHT_MAX": "30"},
            "filters.weight.min: 60 is above filters.weight.max 30",
        ),
        ({"FILTERS_PREMIERED_AFTER": "2020-02-30"}, "'2020-02-30' is not valid; expected a date"),
    ],
)
def test_single_validation_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({}, env)
    assert len(caught.value.problems) == 1
    assert fragment in caught.value.problems[0]


def test_a_yaml_timestamp_is_not_a_date() -> None:
    data = yaml.safe_load("filters:\n  premiered:\n    after: 2020-01-01 10:00:00\n")
    with pytest.raises(ConfigError, match=r"filters\.premiered\.after: .* expected a date"):
        build_config(data, {})
    data = yaml.safe_load("filters:\n  premiered:\n    after: 2020-01-01\n")
    assert build_config(data, {}).filters.premiered.after == "2020-01-01"


@pytest.mark.parametrize("text", ["2020-13-45", "2020-02-30", "99999-01-01", "2020-1-1 25:61"])
def test_an_impossible_yaml_date_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"filters:\n  premiered:\n    after: {text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"filters\.premiered\.after: .* expected a date"):
        load_config(path, {})


def test_a_yaml_date_loads_as_a_date(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("filters:\n  premiered:\n    after: 2021-03-04\n", encoding="utf-8")
    assert load_config(path, {}).filters.premiered.after == "2021-03-04"


def test_unknown_keys_get_a_did_you_mean() -> None:
    data = {
        "filter": {},
        "sonarr": {"api_kye": "x", "root_folder": "/tv"},
        "filters": {"genres": {"exclud": ["News"]}, "completely_unrelated_thing": 1},
    }
    with pytest.raises(ConfigError) as caught:
        build_config(data, {})
    problems = caught.value.problems
    assert "filter: unknown key; did you mean 'filters'?" in problems
    assert "sonarr.api_kye: unknown key; did you mean 'sonarr.api_key'?" in problems
    assert "filters.genres.exclud: unknown key; did you mean 'filters.genres.exclude'?" in problems
    unrelated = next(p for p in problems if p.startswith("filters.completely_unrelated_thing"))
    assert unrelated.startswith("filters.completely_unrelated_thing: unknown key; expected one of ")
    assert "genres, ids, languages" in unrelated  # the keys allowed there
    assert len(problems) == 4


def test_a_section_given_a_scalar() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"filters": ["News"], "sonarr": "supersecret-sonarr"}, {})
    message = str(caught.value)
    assert "filters: ['News'] is not valid; expected a section (mapping)" in message
    assert "supersecret-sonarr" not in message  # the sonarr section holds a secret


@pytest.mark.parametrize(
    ("section", "value", "shown"),
    [
        ("tvmaze", [1, 2], "[1, 2]"),
        ("server", True, "True"),
        ("sonarr", ["key-1234"], "'***'"),
        ("server", 123456789, "'***'"),
        ("tvmaze", {"base": None}, None),  # a mapping: checked key by key instead
    ],
)
def test_a_section_holding_a_secret_hides_only_what_could_be_one(
    section: str, value: Any, shown: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({section: value}, {})
    if shown is not None:
        assert f"{section}: {shown} is not valid; expected a section" in str(caught.value)
    assert "key-1234" not in str(caught.value) and "123456789" not in str(caught.value)


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80", "ftp://host", "host:8989"])
def test_a_bad_url_says_what_is_expected(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"tvmaze": {"base_url": url}}, {})
    expected = f"tvmaze.base_url: {url!r} is not valid; expected an http:// or https:// URL"
    assert caught.value.problems == [expected]


def test_empty_sections_and_an_empty_file_mean_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert load_config(path, {}) == build_config({}, {})
    path.write_text("sonarr:\nfilters:\n  genres:\n", encoding="utf-8")
    assert load_config(path, {}) == build_config({}, {})


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("tvmaze:\n  rate_limit: 20\n  update_window: [week\n", 4),
        ("server:\n  port: 8080\n   host: x: y\n", 3),
        ("dry_run: true\nsonarr:\n\turl: x\n", 3),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: line {line} is not valid YAML")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, {})


@pytest.mark.parametrize("option", SECRET_OPTIONS, ids=lambda o: o.key)
def test_bad_secret_values_are_never_printed(option: Option, tmp_path: Path) -> None:
    secret = "hunter2-very-secret"
    section, key = option.path
    for data in ({section: {key: [secret]}}, {section: {key: {secret: 1}}}):
        with pytest.raises(ConfigError) as caught:
            build_config(data, {})
        assert secret not in str(caught.value)
        assert option.key in str(caught.value)


def test_secrets_are_listed_for_redaction_and_masked_in_to_dict() -> None:
    env = {
        "SONARR_URL": "http://sonarr:8989",
        "SONARR_API_KEY": "sonarr-secret",
        "TVMAZE_API_KEY": "tvmaze-secret",
        "SERVER_TOKEN": "server-secret",
    }
    config = build_config({}, env)
    assert sorted(config.secrets()) == ["server-secret", "sonarr-secret", "tvmaze-secret"]
    shown = json.dumps(config.to_dict())
    assert "secret" not in shown.replace("sonarr-secret", "").replace("server", "")
    assert config.to_dict()["sonarr"]["api_key"] == "***"
    assert config.to_dict(redact=False)["sonarr"]["api_key"] == "sonarr-secret"
    assert build_config({}, {}).to_dict()["sonarr"]["api_key"] is None


def test_no_sonarr_url_means_dry_run() -> None:
    assert build_config({}, {}).effective_dry_run
    config = build_config({}, {"SONARR_URL": "http://s:1", "SONARR_API_KEY": "k12"})
    assert config.sonarr_enabled and not config.effective_dry_run
    assert build_config({}, {"SONARR_URL": "http://s:1", "SONARR_API_KEY": "k12", "DRY_RUN": "1"})


# --- the starter file ----------------------------------------------------------------------


def test_starter_yaml_loads_back_to_exactly_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(starter_yaml(), encoding="utf-8")
    loaded = load_config(path, {"XDG_DATA_HOME": str(tmp_path)})
    defaults = build_config({}, {"XDG_DATA_HOME": str(tmp_path)})
    assert loaded == defaults
    assert loaded.to_dict(redact=False) == defaults.to_dict(redact=False)
    text = starter_yaml()
    for option in OPTIONS:  # every option is documented with its env name
        assert f"env: {option.env}\n" in text


def test_starter_yaml_sets_every_non_secret_non_null_option(tmp_path: Path) -> None:
    data = yaml.safe_load(starter_yaml())
    for option in OPTIONS:
        node: Any = data
        for part in option.path:
            node = node.get(part) if isinstance(node, dict) else None
        if option.secret or option.default is None:
            assert node is None, option.key
        else:
            assert node is not None, option.key


# --- the CLI faces: `config check` and `config init` ----------------------------------------


def test_config_check_masks_secrets_in_both_formats(tmp_path: Path) -> None:
    secrets = {
        "SONARR_URL": "http://sonarr.test:8989",
        "SONARR_API_KEY": "0123456789abcdef-sonarr",
        "TVMAZE_API_KEY": "tvmaze-key-9876",
        "SERVER_TOKEN": "token-s3cr3t",
    }
    table = run_cli(tmp_path, "config", "check", env=secrets)
    as_json = run_cli(tmp_path, "config", "check", "--format", "json", env=secrets)
    for result in (table, as_json):
        assert result.returncode == 0, result.stderr
        for name, value in secrets.items():
            if name != "SONARR_URL":
                assert value not in result.stdout + result.stderr
        assert "***" in result.stdout
    document = json.loads(as_json.stdout)
    assert document["source"] == "built-in defaults"
    assert document["config"]["sonarr"]["api_key"] == "***"
    assert document["config"]["tvmaze"]["api_key"] == "***"
    assert document["config"]["server"]["token"] == "***"
    assert document["config"]["sonarr"]["url"] == "http://sonarr.test:8989"
    assert document["config"]["storage"]["path"] == str(data_dir(tmp_path))


def test_config_check_reports_all_problems_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "tvmaze:\n  rate_limit: lots\nsonarr:\n  api_key: [secret-in-a-list]\n  monitr: all\n",
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "config", "check", env={"SERVER_PORT": "http"})
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == ""
    assert "configuration has 4 errors" in result.stderr
    for fragment in ("tvmaze.rate_limit", "'lots'", "sonarr.api_key", "did you mean"):
        assert fragment in result.stderr
    assert "SERVER_PORT (server.port): 'http'" in result.stderr
    assert "secret-in-a-list" not in result.stderr
    assert "Traceback" not in result.stderr


def test_config_init_writes_defaults_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "config.yaml"
    first = run_cli(tmp_path, "config", "init", str(target))
    assert first.returncode == 0, first.stderr
    env = {"XDG_DATA_HOME": str(tmp_path)}
    assert load_config(target, env) == build_config({}, env)

    target.write_text("dry_run: true\n", encoding="utf-8")
    again = run_cli(tmp_path, "config", "init", str(target))
    assert again.returncode == ExitCode.USAGE
    assert "--force" in again.stderr and "Traceback" not in again.stderr
    assert target.read_text(encoding="utf-8") == "dry_run: true\n"

    forced = run_cli(tmp_path, "config", "init", "--force", str(target))
    assert forced.returncode == 0
    assert target.read_text(encoding="utf-8") == starter_yaml()


# --- property: nothing but a Config or a ConfigError ----------------------------------------

_env_text = st.text(st.characters(exclude_characters="\x00"), max_size=30)
_env_value = st.one_of(
    _env_text,
    st.sampled_from(["", " ", "0", "-1", "1e309", "nan", "3d", "2020-01-01", "http://x", "[/]"]),
    st.integers().map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([o.env for o in OPTIONS]), _env_value, max_size=6))
def test_random_env_values_give_a_config_or_a_config_error(env: dict[str, str]) -> None:
    try:
        config = build_config({}, env)
    except ConfigError as error:
        assert error.problems and all(isinstance(p, str) for p in error.problems)
    else:
        assert isinstance(config, Config)


_yaml_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
)
_yaml_value = st.recursive(
    _yaml_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(range(len(OPTIONS))), _yaml_value, max_size=6), st.booleans()
)
def test_random_yaml_values_give_a_config_or_a_config_error(
    values: dict[int, Any], cut_section: bool
) -> None:
    data: dict[str, Any] = {}
    for index, value in values.items():
        option = OPTIONS[index]
        node = data
        for part in option.path[:-1]:
            if not isinstance(node.get(part, {}), dict):
                break
            node = node.setdefault(part, {})
        else:
            node[option.path[-1]] = value
    if cut_section and values:
        first = OPTIONS[next(iter(values))]
        data[first.path[0]] = next(iter(values.values()))
    try:
        build_config(data, {})
    except ConfigError as error:
        assert error.problems


# What PyYAML's implicit timestamp resolver matches, in range or not (2020-13-45, 1-1-1 99:99).
_yaml_timestamp = st.builds(
    "{}-{}-{}{}".format,
    st.integers(0, 99999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.one_of(
        st.just(""),
        st.builds(
            " {}:{:02d}:{:02d}".format, st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(OPTIONS), _yaml_timestamp)
def test_yaml_timestamps_give_a_config_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, option: Option, text: str
) -> None:
    """Unquoted in the file, so it goes through the YAML loader's resolvers."""
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    lines = [f"{'  ' * depth}{part}:" for depth, part in enumerate(option.path[:-1])]
    lines.append(f"{'  ' * (len(option.path) - 1)}{option.path[-1]}: {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_config(path, {})
    except ConfigError as error:
        assert error.problems


@pytest.mark.parametrize(
    "data",
    [
        {"filters": {"genres": {"include": ["  "]}}},  # would keep no show
        {"filters": {"title": {"exclude": ["Idol", ""]}}},  # every title contains ""
        {"filters": {"networks": {"exclude": ["\t"]}}},
        {"sonarr": {"tags": [" "]}},
    ],
)
def test_a_blank_item_in_a_list_of_text_is_an_error_naming_its_key(data: dict[str, Any]) -> None:
    """A stray comma or an unset template variable must not silently keep or drop shows."""
    with pytest.raises(ConfigError) as raised:
        build_config(data, {})
    [problem] = raised.value.problems
    assert problem.endswith("is not valid; expected a list of text with no blank item")
    section, option = next(iter(data.items()))
    assert problem.startswith(f"{section}.{next(iter(option))}")


def test_a_new_range_section_has_its_bounds_checked_for_free() -> None:
    """min <= max is checked for every section with a min/max pair (config._range_problems),
    not written out per filter: a new range filter cannot miss it."""

    @dataclasses.dataclass
    class EpisodesFilter:  # a range filter that does not exist yet
        min: int | None = None
        max: int | None = None
        allow_unknown: bool = False

    @dataclasses.dataclass
    class Filters:
        episodes: EpisodesFilter
        min_seasons: int | None = None
        max_seasons: int | None = None

    inverted = Filters(EpisodesFilter(12, 6), min_seasons=3, max_seasons=1)
    assert _range_problems(inverted, "filters") == [
        "filters.episodes.min: 12 is above filters.episodes.max 6",
        "filters.min_seasons: 3 is above filters.max_seasons 1",
    ]
    assert _range_problems(Filters(EpisodesFilter(6, 6), 1, None), "filters") == []
    assert _range_problems(build_config({}, {}).filters, "filters") == []


@pytest.mark.parametrize(
    ("data", "env", "key"),
    [
        ({}, {"FILTERS_GENRES_INCLUDE": " , "}, "FILTERS_GENRES_INCLUDE"),  # ${A},${B}: unset
        ({}, {"FILTERS_GENRES_EXCLUDE": ","}, "FILTERS_GENRES_EXCLUDE"),  # drops Sports
        ({}, {"FILTERS_TITLE_EXCLUDE": "Idol,"}, "FILTERS_TITLE_EXCLUDE"),
        ({}, {"SONARR_TAGS": "tv,,4k"}, "SONARR_TAGS"),
        ({"filters": {"types": {"include": "${TYPES}"}}}, {"TYPES": ""}, "filters.types"),
    ],
)
def test_a_blank_item_in_a_list_from_the_environment_is_an_error_too(
    data: dict[str, Any], env: dict[str, str], key: str
) -> None:
    """Comma-separated, a list item left blank (a stray comma, `${A},${B}` with both unset)
    is the same mistake as in the file: taken as given it switched a filter off (`include`
    of nothing is any show) or dropped its default, without a word."""
    with pytest.raises(ConfigError) as raised:
        build_config(data, env)
    [problem] = raised.value.problems
    assert problem.startswith(key) and "with no blank item" in problem, problem
