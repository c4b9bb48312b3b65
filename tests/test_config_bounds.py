"""A configuration file is bounded: size, alias uses and alias expansion (issue #14).

A "billion laughs" file composes in microseconds (PyYAML shares an alias's node) and then
costs gigabytes when anything walks it; it must be a configuration error (exit 2) at once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers_cli import run_cli
from tvmaze_sync.core.config import (
    MAX_ALIASES,
    MAX_CONFIG_BYTES,
    MAX_EXPANDED_VALUES,
    load_config,
)
from tvmaze_sync.core.errors import ConfigError, ExitCode


def billion_laughs(levels: int = 9, fan: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_a_config_error_at_once(tmp_path: Path) -> None:
    config = tmp_path / "laughs.yaml"
    config.write_text(billion_laughs(), encoding="utf-8")
    started = time.monotonic()
    result = run_cli(tmp_path, "--config", str(config), "config", "check", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "laughs.yaml" in result.stderr
    assert f"YAML aliases expand to more than {MAX_EXPANDED_VALUES} values" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 5  # loose: the unbounded walk takes minutes and gigabytes


def test_sync_refuses_billion_laughs_before_touching_storage(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    config = tmp_path / "laughs.yaml"
    config.write_text(f"storage: {{path: {storage}}}\n" + billion_laughs(), encoding="utf-8")
    result = run_cli(tmp_path, "--config", str(config), "sync", timeout=30)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "billion laughs" in result.stderr
    assert not storage.exists()


def test_alias_inside_its_own_anchor(tmp_path: Path) -> None:
    config = tmp_path / "loop.yaml"
    config.write_text("filters:\n  genres:\n    exclude: &x [*x]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="alias inside its own anchor"):
        load_config(config, env={})


def test_too_many_alias_uses(tmp_path: Path) -> None:
    uses = ", ".join(["*a"] * (MAX_ALIASES + 1))
    config = tmp_path / "many.yaml"
    config.write_text(f"x: &a 1\ny: [{uses}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"more than {MAX_ALIASES} YAML alias uses"):
        load_config(config, env={})


def test_oversized_file(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big\.yaml: larger than 1024 KiB"):
        load_config(config, env={})


def test_ordinary_anchors_still_work(tmp_path: Path) -> None:
    config = tmp_path / "anchors.yaml"
    config.write_text(
        "filters:\n  genres: {exclude: &boring [Reality, News]}\n  types: {exclude: *boring}\n",
        encoding="utf-8",
    )
    loaded = load_config(config, env={})
    assert loaded.filters.genres.exclude == ["Reality", "News"]
    assert loaded.filters.types.exclude == ["Reality", "News"]


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("# nothing yet\n", encoding="utf-8")
    assert load_config(config, env={}).filters.min_runtime == 20
