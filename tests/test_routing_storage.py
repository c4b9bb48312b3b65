"""The attack's leftovers on issue #16's instances: their folders in storage, the
`instance` label's values, a broken instance cache, and instance names whose variables
would collide."""

from __future__ import annotations

import copy
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from tests.fixtures_sonarr import SONARR_API_KEY, SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.sonarr_helpers import OPEN_FILTERS, real_shows
from tests.test_routing import HBO, PROFILES, UNROUTED, _bodies
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.cycle.metrics import build_registry
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import DB_NAME, Store


def _open(storage: Path, name: str, **options: bool) -> None:
    with instances.opened(storage, name, **options):
        pass


def _main_cache(storage: Path) -> None:
    with Store.opened(storage, create=True, lock=True):
        pass


@pytest.mark.parametrize("linked", ["instances", "instances/4k"])
def test_a_linked_instance_folder_is_refused_naming_it_and_nothing_is_written_there(
    tmp_path: Path, linked: str
) -> None:
    storage = tmp_path / "data"
    _main_cache(storage)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "4k").mkdir(parents=True)
    link = storage / linked
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(elsewhere if linked == "instances" else elsewhere / "4k")
    for options in ({"create": True}, {"readonly": True}):
        with pytest.raises(StorageError, match="is a symbolic link") as caught:
            _open(storage, "4k", **options)
        assert str(link) in str(caught.value)
    assert list(elsewhere.rglob("*")) == [elsewhere / "4k"]  # no shows.db made through it
    if linked == "instances":
        with pytest.raises(StorageError, match="is a symbolic link"):
            instances.existing(storage)
    else:
        assert instances.existing(storage) == []  # a linked folder is not an instance's cache


def test_a_file_where_the_instance_folder_belongs_is_refused(tmp_path: Path) -> None:
    storage = tmp_path / "data"
    _main_cache(storage)
    (storage / "instances").mkdir()
    (storage / "instances" / "4k").write_text("not a folder", encoding="utf-8")
    with pytest.raises(StorageError, match="is not a directory") as caught:
        _open(storage, "4k", create=True)
    assert str(storage / "instances" / "4k") in str(caught.value)


def test_a_missing_instance_folder_is_made_private_and_a_dangling_link_is_not_followed(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "data"
    _main_cache(storage)
    with instances.opened(storage, "4k", create=True) as store:
        store.record_full_mirror()
    folder = storage / "instances" / "4k"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / DB_NAME).is_file() and instances.existing(storage) == ["4k"]
    (storage / "instances" / "hd").symlink_to(tmp_path / "nowhere")
    with pytest.raises(StorageError, match="is a symbolic link"):
        _open(storage, "hd", create=True)
    assert not (tmp_path / "nowhere").exists()


def _healthy_labels(registry_text: str) -> set[str]:
    return set(re.findall(r'tvmaze_sync_instance_healthy\{instance="([^"]*)"\}', registry_text))


def test_the_instance_label_takes_only_configured_names_never_state_json_s_alone(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "data"
    _main_cache(storage)
    planted = {f"planted{i}": {"ok": True} for i in range(500)}
    outcomes = {"default": {"ok": True}, "4k": {"ok": False}, **planted, 'x"}': {"ok": 1}}
    StateFile(storage).save(State(last_cycle={"ok": False, "instances": outcomes}))

    configured = generate_latest(build_registry(storage, instance_names=["default", "4k"]))
    assert _healthy_labels(configured.decode()) == {"default", "4k"}
    assert 'tvmaze_sync_instance_healthy{instance="4k"} 0.0' in configured.decode()
    # Without a configuration at hand (a bare registry): default and the instances that
    # have a cache, whose folder names are checked.
    with instances.opened(storage, "hd", create=True):
        pass
    bare = generate_latest(build_registry(storage)).decode()
    assert _healthy_labels(bare) == {"default"}
    assert 'tvmaze_sync_instance_shows{instance="hd",status="added"} 0.0' in bare


def _three_instance_config(tmp_path: Path, tvmaze_url: str, default_url: str) -> Path:
    """default, then 4k, then hd: HBO to every one of them."""
    instance = {"root_folder": "/tv4k", "quality_profile": "Ultra-HD", "add_interval": "0s"}
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "sonarr": {"url": default_url, "api_key": SONARR_API_KEY, "add_interval": "0s"},
        "instances": {"4k": dict(instance), "hd": dict(instance)},
        "routes": [
            {
                "name": "prestige",
                "match": {"networks": ["HBO"]},
                "instances": ["default", "4k", "hd"],
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_damaged_instance_cache_fails_that_instance_only_and_the_run_exits_2(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    shows = real_shows([*UNROUTED, *HBO])
    titles = {show["id"]: show["name"] for show in shows}
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    default = sonarr_sim_factory(root_folders=["/tv"])
    fourk, hd = (
        sonarr_sim_factory(api_key="other-key", root_folders=["/tv4k"], quality_profiles=PROFILES)
        for _ in range(2)
    )
    env = {
        "INSTANCES_4K_URL": fourk.url,
        "INSTANCES_4K_API_KEY": "other-key",
        "INSTANCES_HD_URL": hd.url,
        "INSTANCES_HD_API_KEY": "other-key",
    }
    damaged = tmp_path / "data" / "instances" / "4k" / DB_NAME
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"this is not a database" * 100)
    config = _three_instance_config(tmp_path, tvmaze.url, default.url)

    result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Sonarr instance '4k' failed" in result.stderr and str(damaged) in result.stderr
    assert "the others ran (default, hd)" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(_bodies(default)) == {titles[i] for i in (*UNROUTED, *HBO)}
    assert set(_bodies(hd)) == {titles[i] for i in HBO}  # after the failed one: still ran
    assert fourk.posts_to("/api/v3/series") == []
    state = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))
    outcome = state["last_cycle"]["instances"]
    assert outcome["4k"]["ok"] is False and outcome["hd"]["ok"] is True
    assert state["last_cycle"]["exit_code"] == 2


@pytest.mark.parametrize(
    ("names", "variable"),
    [
        (["x", "x_create_missing"], "INSTANCES_X_CREATE_MISSING_TAGS"),
        (["4k_create_missing", "4k"], "INSTANCES_4K_CREATE_MISSING_TAGS"),
    ],
)
def test_instance_names_whose_variables_collide_are_exit_2_naming_both(
    tmp_path: Path, names: list[str], variable: str
) -> None:
    data = {"instances": {name: {} for name in names}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_cli(tmp_path, "--config", str(path), "config", "check")
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and "Traceback" not in result.stderr
    assert all(f"instances.{name}" in result.stderr for name in names)
    assert "rename one instance" in result.stderr
    # Names that merely share a start are fine: INSTANCES_HD_* and INSTANCES_HDR_*.
    path.write_text(
        yaml.safe_dump(
            {
                "sonarr": {"url": "http://sonarr:8989", "api_key": "k"},
                "instances": {"hd": {}, "hdr": {}},
            }
        ),
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "--config", str(path), "config", "check")
    assert "rename one instance" not in result.stderr
