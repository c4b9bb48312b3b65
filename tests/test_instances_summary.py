"""With several Sonarr instances, the cycle's summary, its exit 4 and `state` speak for every
instance (issue #16): the counts are totals, each instance's own are in `instances`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.doubles.sonarr_sim.faults import _Fault
from tests.fixtures_sonarr import SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.sonarr_helpers import real_shows
from tests.test_routing import ANIME, HBO, UNROUTED, _fourk_env, two_instances


def test_the_summary_counts_every_instance_and_state_names_default(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, real_shows([*UNROUTED, *HBO, *ANIME])
    )
    env = _fourk_env(fourk.url)
    for args, posted in ((["--dry-run"], 0), ([], len(UNROUTED + ANIME) + 2 * len(HBO))):
        result = run_cli(tmp_path, "--config", str(config), "sync", *args, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        sent = default.posts_to("/api/v3/series") + fourk.posts_to("/api/v3/series")
        assert len(sent) == posted
    counted = re.search(r"sync_summary .* added=(\d+) ", result.stderr)
    assert counted and int(counted.group(1)) == posted, result.stderr
    last = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))["last_cycle"]
    assert last["results"]["added"] == posted
    assert last["instances"]["default"]["results"]["added"] == len(UNROUTED + ANIME + HBO)
    assert last["instances"]["4k"]["results"]["added"] == len(HBO)

    shown = run_cli(tmp_path, "--config", str(config), "state", env=env).stdout
    assert re.search(r"instance default ok\s*│\s*6", shown), shown
    assert re.search(r"instance 4k ok\s*│\s*2", shown), shown
    assert "shows (total)" not in shown


class _AfterFirst(_Fault):
    """A fault that lets the first matching request through, then answers the next ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = 0

    def matches(self, method: str, path: str) -> bool:
        if not super().matches(method, path):
            return False
        self.seen += 1
        return self.seen > 1


def test_an_instance_failing_mid_run_still_counts_what_it_added(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """4k adds one series, then refuses the key: that series is in Sonarr, so the cycle's
    summary (the line, state, the notification) counts it, as it counts default's adds
    when default fails mid-run."""
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, real_shows([*UNROUTED, *HBO, *ANIME])
    )
    fourk._faults.append(_AfterFirst(99, 401, "/api/v3/series", "POST"))
    result = run_cli(tmp_path, "--config", str(config), "sync", env=_fourk_env(fourk.url))
    assert result.returncode == 3, result.stderr
    added_4k = [r for r in fourk.requests_to("/api/v3/series", "POST") if r.status < 300]
    assert len(added_4k) == 1
    in_sonarr = len(default.posts_to("/api/v3/series")) + len(added_4k)
    last = json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))["last_cycle"]
    assert last["results"]["added"] == in_sonarr, last
    assert any(title.endswith(" [4k]") for title in last["added_titles"]), last
    assert last["instances"]["4k"]["ok"] is False
    assert last["instances"]["4k"]["results"] == {"added": 1}, last["instances"]


def test_exit_3_for_a_down_instance_still_says_removals_are_held_elsewhere(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim_factory: SonarrFactory
) -> None:
    """default is down (exit 3) while 4k came back empty (its series held): the one line
    cron mails must say both, since exit 3 outranks exit 4."""
    _tvmaze, default, fourk, config = two_instances(
        tmp_path, tvmaze_sim_factory, sonarr_sim_factory, real_shows([*UNROUTED, *HBO])
    )
    env = _fourk_env(fourk.url)
    assert run_cli(tmp_path, "--config", str(config), "sync", env=env).returncode == 0
    for series in fourk.library():
        fourk.delete_series(series["id"])
    default.stop()
    result = run_cli(tmp_path, "--config", str(config), "sync", env=env, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "Sonarr instance 'default' failed" in result.stderr
    assert f"{len(HBO)} series missing from Sonarr are held for your decision" in result.stderr
