"""Configuration inputs that used to do harm quietly, through the real CLI (FINDINGS F16, F4,
F6, F10): each is now a warning that changes nothing, or exit 2 naming the key and never the
secret, and the storage is left as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import data_dir, run_cli
from tests.helpers_metrics import read_store, small_real_shows
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.storage.state import STATE_NAME

# --- F16: an empty variable never switches a filter off ---------------------------------------

NARROW = {"types": {"include": ["Scripted"]}, "languages": {"include": ["English"]}}


def narrow_config(home: Path, tvmaze_url: str, sonarr_url: str, storage: Path) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url, "rate_limit": 1000, "timeout": "10s"},
        "storage": {"path": str(storage)},
        "filters": NARROW,
        "sonarr": {
            "url": sonarr_url,
            "api_key": SONARR_API_KEY,
            "add_interval": "0s",
            "max_adds_per_cycle": 1000,
        },
    }
    path = home / f"{storage.name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


EMPTY = {"FILTERS_TYPES_INCLUDE": "", "FILTERS_LANGUAGES_INCLUDE": "", "FILTERS_RATING_MIN": ""}


def test_config_check_ignores_an_empty_list_variable_with_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"filters": NARROW}), encoding="utf-8")
    result = run_cli(tmp_path, "-c", str(config), "config", "check", "--format", "json", env=EMPTY)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "FILTERS_TYPES_INCLUDE is empty: ignored; the file's value applies" in result.stderr
    assert "FILTERS_LANGUAGES_INCLUDE is empty: ignored; the file's value applies" in result.stderr
    assert "FILTERS_RATING_MIN is empty: ignored; the default applies" in result.stderr
    filters = json.loads(result.stdout)["config"]["filters"]
    assert filters["types"]["include"] == ["Scripted"]
    assert filters["languages"]["include"] == ["English"]


def test_an_empty_sonarr_url_still_unsets_it_as_documented(tmp_path: Path) -> None:
    """Outside the filters an empty variable unsets an optional scalar: SONARR_URL= is a dry run
    (the safe side), with no warning about it being ignored."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"sonarr": {"url": "http://sonarr:8989", "api_key": "k" * 32}}),
        encoding="utf-8",
    )
    result = run_cli(
        tmp_path, "-c", str(config), "config", "check", "--format", "json", env={"SONARR_URL": ""}
    )
    assert result.returncode == ExitCode.OK, result.stderr
    assert json.loads(result.stdout)["config"]["sonarr"]["url"] is None
    assert "is empty: ignored" not in result.stderr


def test_sync_with_empty_filter_variables_adds_what_the_file_allows(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """The same library, synced with and without the empty variables, adds the same shows."""
    tvmaze = tvmaze_sim_factory(shows=small_real_shows(), rate_limit=None)
    added: dict[str, set[str]] = {}
    for name, env in (("plain", {}), ("empty", EMPTY)):
        sonarr = sonarr_sim_factory()
        config = narrow_config(tmp_path, tvmaze.url, sonarr.url, tmp_path / name)
        result = run_cli(tmp_path, "-c", str(config), "sync", env=env)
        assert result.returncode == ExitCode.OK, result.stderr
        series = requests.get(
            sonarr.url + "/api/v3/series", headers={"X-Api-Key": SONARR_API_KEY}, timeout=10
        ).json()
        added[name] = {str(s["title"]) for s in series}
        assert read_store(tmp_path / name)["by_status"].get("added", 0) == len(added[name])
    assert added["plain"], "the narrow filters should still let some shows through"
    assert added["empty"] == added["plain"]


# --- F4: an API key that cannot be sent is refused, never printed -------------------------------


@pytest.mark.parametrize(
    "key", ["SEKRETabc\ndef", "SEKRETabc\r\nX-Evil: 1", "SEKRETé€abc", "SEKRET\x07bell"]
)
def test_an_unsendable_api_key_is_a_config_error_naming_the_key(tmp_path: Path, key: str) -> None:
    env = {"SONARR_URL": "http://127.0.0.1:9", "SONARR_API_KEY": key}
    for args in (("config", "check"), ("sync",)):
        result = run_cli(tmp_path, *args, env=env)
        assert result.returncode == ExitCode.USAGE, result.stderr
        assert "SONARR_API_KEY (sonarr.api_key)" in result.stderr
        assert "control character" in result.stderr
        output = result.stdout + result.stderr
        assert "SEKRET" not in output and "Traceback" not in output
    assert not (data_dir(tmp_path) / STATE_NAME).exists()


def test_a_yaml_block_api_key_is_stripped_and_works(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """`api_key: |` ends in a line break: stripped at load, Sonarr accepts the key, and no copy
    of it reaches the output or state.json."""
    tvmaze = tvmaze_sim_factory(shows=small_real_shows()[:30], rate_limit=None)
    sonarr = sonarr_sim_factory()
    storage = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"tvmaze:\n  base_url: {tvmaze.url}\n  rate_limit: 1000\n"
        f"storage:\n  path: {storage}\n"
        f"sonarr:\n  url: {sonarr.url}\n  add_interval: 0s\n  api_key: |\n    {SONARR_API_KEY}\n",
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "-c", str(config), "sync", "--verbose")
    assert result.returncode == ExitCode.OK, result.stderr
    assert SONARR_API_KEY not in result.stdout + result.stderr
    assert SONARR_API_KEY not in (storage / STATE_NAME).read_text(encoding="utf-8")


# --- F6: a *_FILE variable naming a FIFO or an endless device ----------------------------------


def test_a_file_variable_naming_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    result = run_cli(
        tmp_path, "config", "check", env={"SONARR_API_KEY_FILE": str(fifo)}, timeout=20
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"SONARR_API_KEY_FILE: {fifo} is not a regular file" in result.stderr


def test_a_file_variable_naming_dev_zero_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "check", env={"SONARR_API_KEY_FILE": "/dev/zero"})
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "SONARR_API_KEY_FILE: /dev/zero is not a regular file" in result.stderr


def test_a_file_variable_over_64_kib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "key"
    big.write_text("k" * (64 * 1024 + 1), encoding="utf-8")
    result = run_cli(tmp_path, "config", "check", env={"SONARR_API_KEY_FILE": str(big)})
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "is larger than 64 KiB" in result.stderr
    assert "kkkkkkkk" not in result.stderr


def test_a_file_variable_keeps_working(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("0123456789abcdef\n", encoding="utf-8")
    env = {"SONARR_API_KEY_FILE": str(key), "SONARR_URL": "http://sonarr:8989"}
    result = run_cli(tmp_path, "config", "check", env=env)
    assert result.returncode == ExitCode.OK, result.stderr


# --- F10: a query or fragment in a URL ----------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "key"), [("TVMAZE_BASE_URL", "tvmaze.base_url"), ("SONARR_URL", "sonarr.url")]
)
@pytest.mark.parametrize("tail", ["/?apikey=TVQUERYSECRET", "/#TVQUERYSECRET", "?x"])
def test_a_url_with_a_query_or_fragment_is_refused(
    tmp_path: Path, variable: str, key: str, tail: str
) -> None:
    env = {variable: "http://127.0.0.1:9" + tail, "SONARR_API_KEY": "k" * 32}
    result = run_cli(tmp_path, "sync", env=env)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"{variable} ({key})" in result.stderr
    assert "without a query (?…) or fragment (#…)" in result.stderr
    assert not data_dir(tmp_path).exists()


# --- F4: what a library quotes of a secret never reaches state.json ---------------------------


@pytest.fixture
def redactor() -> Any:
    from tvmaze_sync.core.logs import redact

    yield redact
    redact.set_secrets([])


@pytest.mark.parametrize("secret", ["SEKRETKEYblock\n", "SEKRETabc\ndef", "SEKRETé€abc"])
def test_the_redactor_catches_a_bytes_repr_quoted_again(redactor: Any, secret: str) -> None:
    redactor.set_secrets([secret])
    header_error = f"Illegal header value {secret.encode()!r}"  # httpx/h11's wording
    for text in (header_error, repr(header_error), repr(repr(secret)), f"detail={header_error!r}"):
        assert "SEKRET" not in redactor(text), text


def test_the_stored_error_is_redacted_and_state_shows_no_secret(
    tmp_path: Path, redactor: Any
) -> None:
    """A cycle's error quoting a secret (as a library wrote it) is masked in state.json, and
    a state.json an older version wrote is masked by `state` (and so by GET /state)."""
    from tvmaze_sync.storage.state import State, StateFile

    secret = "SEKRETKEY0123456789"
    quoted = f"Sonarr at x (system_status: error: Illegal header value {secret.encode()!r})"
    storage = tmp_path / "data"
    storage.mkdir()
    redactor.set_secrets([secret])
    StateFile(storage).save(State(last_cycle={"ok": False, "error": repr(quoted)}))
    assert "SEKRET" not in (storage / STATE_NAME).read_text(encoding="utf-8")

    # An old state.json, saved before the redaction: `state` masks it on the way out.
    (storage / STATE_NAME).write_text(
        json.dumps({"last_cycle": {"ok": False, "error": quoted}}), encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"storage": {"path": str(storage)}}), encoding="utf-8")
    env = {"SONARR_API_KEY": secret}
    result = run_cli(tmp_path, "-c", str(config), "state", "--format", "json", env=env)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "SEKRET" not in result.stdout + result.stderr
    assert "***" in result.stdout
