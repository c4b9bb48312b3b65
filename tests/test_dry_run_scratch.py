"""A dry run previews each other instance on a scratch copy of its cache in a temporary
folder (storage/instances.scratch): without a usable one (a read-only root file system, a
TMPDIR that is not there) the instance fails with a message saying what to set, the others
are still previewed, and nothing is written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.fixtures_sonarr import SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import invoke_cli
from tests.sonarr_helpers import real_shows
from tests.test_routing import ANIME, HBO, UNROUTED, _fourk_env, two_instances


def test_a_dry_run_without_a_usable_temporary_folder_names_the_fix(
    tmp_path: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, real_shows([*UNROUTED, *HBO, *ANIME])
    )
    missing = tmp_path / "no-such-tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    result = invoke_cli(
        tmp_path, "--config", str(config), "sync", "--dry-run", env=_fourk_env(fourk.url)
    )
    assert result.returncode == 2, result.stderr
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert "'4k' failed" in result.stderr and "TMPDIR" in result.stderr, result.stderr
    assert "[4k]" not in result.stderr
    assert default.posts_to("/api/v3/series") == [] and fourk.posts_to("/api/v3/series") == []
    assert not (tmp_path / "data" / "instances").exists()


def test_a_dry_run_whose_temporary_folder_fills_up_says_so(
    tmp_path: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large instance cache copied to a small /tmp: SQLite's own 'database or disk is
    full' (a page limit stands in for the small disk) is the temporary folder's, so the
    message says where and what to set, not that the instance's cache failed."""
    import contextlib
    import sqlite3

    from tvmaze_sync.storage.store import Store

    _tvmaze, _default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, real_shows([*UNROUTED, *HBO, *ANIME])
    )
    env = _fourk_env(fourk.url)
    assert invoke_cli(tmp_path, "--config", str(config), "sync", env=env).returncode == 0

    def copy_to_a_small_disk(self: Store, path: Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as target:
            target.execute("PRAGMA max_page_count = 1")
            self.db.conn.backup(target)

    monkeypatch.setattr(Store, "copy_to", copy_to_a_small_disk)
    result = invoke_cli(tmp_path, "--config", str(config), "sync", "--dry-run", env=env)
    assert result.returncode == 2, result.stderr
    assert "cannot copy instance '4k'" in result.stderr and "TMPDIR" in result.stderr
    assert "failed mid-run" not in result.stderr
