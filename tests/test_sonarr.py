"""sonarr/phase.py, sonarr/validation.py and sonarr/gateway.py: startup validation, every
add outcome, v3 vs v4, dry run, crash safety. Real pyarr over real sockets against the Sonarr
simulator; the Sonarr phase is run as cycle/run.py runs it (`connect`, then `process`) on a
cache seeded as the filters leave it."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SONARR_V3_VERSION, SonarrFactory
from tests.sonarr_helpers import (
    START,
    WEEK,
    FakeClock,
    Sleeps,
    catalogue_shows,
    ledger_rows,
    lookups,
    make_config,
    open_store,
    posted_tvdb_ids,
    run_sonarr,
    seed,
    seeded,
    status_of,
)
from tvmaze_sync.cli import render
from tvmaze_sync.core.errors import ConfigError, DependencyError, ExitCode
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus, Show
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.sonarr import gateway, ledger, phase
from tvmaze_sync.sonarr.gateway import Exclusion, LibrarySeries, SonarrGateway, endpoint_name

# --- startup validation ---------------------------------------------------------------------


def test_validation_resolves_names_to_ids_on_v4(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sonarr_sim, tags=["AUTO-SYNC"], quality_profile="HD-1080p")
    requests: dict[str, int] = {}
    gateway = phase.connect(config.sonarr, FakeClock(), requests=requests)
    info = gateway.info
    assert info is not None
    assert (info.major, info.quality_profile_id, info.tag_ids) == (4, 4, [1])
    assert info.language_profile_id is None and info.root_folder == "/tv"
    assert requests == {
        "sonarr:system_status:200": 1,
        "sonarr:rootfolder:200": 1,
        "sonarr:qualityprofile:200": 1,
        "sonarr:tag:200": 1,
    }
    assert not sonarr_sim.requests_to("/api/v3/languageprofile")
    gateway.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"quality_profile": "HD-1080"},
            "sonarr.quality_profile: quality profile 'HD-1080' not found in Sonarr; "
            "available: Any, HD-1080p",
        ),
        (
            {"root_folder": "/media/tv"},
            "sonarr.root_folder: root folder '/media/tv' not found in Sonarr; available: /tv",
        ),
        (
            {"tags": ["auto-sync", "tvmaze"]},
            "sonarr.tags: tag 'tvmaze' not found in Sonarr; available: auto-sync "
            "(or set sonarr.create_missing_tags: true)",
        ),
        ({"monitor": "recent"}, None),  # fine on v4
    ],
)
def test_a_wrong_setting_names_the_value_and_the_choices(
    sonarr_sim: SonarrSimulator, tmp_path: Path, options: dict[str, Any], message: str | None
) -> None:
    config = make_config(tmp_path, sonarr_sim, **options)
    if message is None:
        phase.connect(config.sonarr, FakeClock()).close()
        return
    with pytest.raises(ConfigError) as caught:
        phase.connect(config.sonarr, FakeClock())
    assert caught.value.exit_code == ExitCode.USAGE == 2
    assert caught.value.problems == [message]
    assert not [r for r in sonarr_sim.request_log if r.method != "GET"]  # nothing written


def test_every_wrong_setting_is_reported_at_once(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sonarr_sim, quality_profile="4K", root_folder="/x", tags=["a"])
    with pytest.raises(ConfigError) as caught:
        phase.connect(config.sonarr, FakeClock())
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "sonarr.root_folder",
        "sonarr.quality_profile",
        "sonarr.tags",
    ]


def test_missing_tags_are_created_when_asked(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config = make_config(
        tmp_path, sonarr_sim, tags=["auto-sync", "TVMaze"], create_missing_tags=True
    )
    gateway = phase.connect(config.sonarr, FakeClock())
    assert sonarr_sim.posts_to("/api/v3/tag") == [{"label": "TVMaze"}]
    created = {t["label"]: t["id"] for t in sonarr_sim.tags()}
    assert gateway.info is not None and gateway.info.tag_ids == [1, created["tvmaze"]]
    gateway.close()
    # A dry run validates without writing: the tag is not created.
    config = make_config(tmp_path, sonarr_sim, tags=["new-one"], create_missing_tags=True)
    phase.connect(config.sonarr, FakeClock(), read_only=True).close()
    assert "new-one" not in {t["label"] for t in sonarr_sim.tags()}


def test_wrong_key_is_exit_3_naming_the_url_never_the_key(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sonarr_sim)
    config.sonarr.api_key = "not-the-key-0123456789"
    with pytest.raises(DependencyError) as caught:
        phase.connect(config.sonarr, FakeClock())
    text = str(caught.value)
    assert caught.value.exit_code == ExitCode.DEPENDENCY == 3
    assert sonarr_sim.url in text and "401" in text and "sonarr.api_key" in text
    assert "not-the-key" not in text
    assert len(sonarr_sim.request_log) == 1  # a refusal is not retried


def test_unreachable_sonarr_retries_with_backoff_then_exit_3(tmp_path: Path) -> None:
    sim = SonarrSimulator("k").start()
    url = sim.url
    sim.stop()  # nothing listens there any more
    config = make_config(tmp_path, None)
    config.sonarr.url, config.sonarr.api_key = url, "k"  # type: ignore[assignment]
    sleeps = Sleeps()
    requests: dict[str, int] = {}
    with pytest.raises(DependencyError, match=rf"Sonarr at {url} is unavailable") as caught:
        phase.connect(config.sonarr, FakeClock(), sleep=sleeps, requests=requests)
    assert "gave up after 3 attempts" in str(caught.value)
    assert sleeps == [1.0, 4.0]
    assert requests == {"sonarr:system_status:error": 3}


def test_a_passing_5xx_at_startup_is_retried(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    sonarr_sim.fail_next(2, 503, "/api/v3/qualityprofile")
    sleeps = Sleeps()
    phase.connect(make_config(tmp_path, sonarr_sim).sonarr, FakeClock(), sleep=sleeps).close()
    assert sleeps == [1.0, 4.0]


def test_wrong_url_base_is_a_config_error(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(url_base="/sonarr")
    config = make_config(tmp_path, sim)
    config.sonarr.url = sim.url.removesuffix("/sonarr")  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"answers 404 for /api/v3/system/status"):
        phase.connect(config.sonarr, FakeClock())
    phase.connect(make_config(tmp_path, sim).sonarr, FakeClock()).close()  # with it: fine


class _Redirector(http.server.BaseHTTPRequestHandler):
    """A proxy that moved: every request is sent on to `target` with a 308."""

    target = ""
    keys_seen: ClassVar[list[str | None]] = []

    def _redirect(self) -> None:
        type(self).keys_seen.append(self.headers.get("X-Api-Key"))
        self.send_response(308)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_redirecting_url_is_a_config_error_and_the_key_goes_nowhere(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(url_base="/sonarr")
    handler = type("Handler", (_Redirector,), {"target": sim.url, "keys_seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = make_config(tmp_path, sim)
        moved = f"http://127.0.0.1:{server.server_address[1]}"
        config.sonarr.url = moved  # type: ignore[assignment]
        with pytest.raises(ConfigError) as caught:
            phase.connect(config.sonarr, FakeClock())
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value).endswith(f"sonarr.url redirects to {sim.url}; set sonarr.url to that")
    assert SONARR_API_KEY not in str(caught.value)
    assert len(handler.keys_seen) == 1  # stopped at the first answer
    assert sim.request_log == []  # the key was never carried to the other address


def test_an_inaccessible_root_folder_stops_before_any_add(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(root_folders=[{"path": "/tv", "accessible": False}])
    with pytest.raises(DependencyError, match="root folder '/tv' is not accessible"):
        phase.connect(make_config(tmp_path, sim).sonarr, FakeClock())


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """This test's Sonarr records only: under `-n 2` a thread another test left behind (a
    store opening, a server shutting down) may log into the same capture."""
    return [r for r in caplog.records if r.name.startswith("tvmaze_sync.sonarr.")]


def test_v4_ignores_a_language_profile_with_one_warning(
    sonarr_sim: SonarrSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, store, _ = seeded(
        tmp_path, sonarr_sim, 1, language_profile="English", monitor_new_items="none"
    )
    with caplog.at_level(logging.WARNING):
        run_sonarr(config, store, FakeClock())
    warnings = [r.getMessage() for r in _ours(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("sonarr_language_profile_ignored")
    [body] = sonarr_sim.posts_to("/api/v3/series")
    assert "languageProfileId" not in body and body["monitorNewItems"] == "none"


def test_v3_needs_a_language_profile_by_name(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path
) -> None:
    sim = sonarr_sim_factory(version=SONARR_V3_VERSION, language_profiles=["English", "Any"])
    with pytest.raises(ConfigError) as caught:
        phase.connect(make_config(tmp_path, sim).sonarr, FakeClock())
    assert caught.value.problems == [
        f"sonarr.language_profile: required by Sonarr v3 ({SONARR_V3_VERSION}); "
        "available: English, Any"
    ]
    with pytest.raises(ConfigError, match="language profile 'French' not found in Sonarr; "):
        phase.connect(make_config(tmp_path, sim, language_profile="French").sonarr, FakeClock())
    with pytest.raises(ConfigError, match=r"'recent' needs Sonarr v4 .* accepts: all, future"):
        phase.connect(
            make_config(tmp_path, sim, language_profile="Any", monitor="recent").sonarr,
            FakeClock(),
        )


def test_v3_add_sends_the_language_profile_and_v3_monitor_names(
    sonarr_sim_factory: SonarrFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = sonarr_sim_factory(version=SONARR_V3_VERSION, language_profiles=["English", "Any"])
    config, store, [show] = seeded(
        tmp_path, sim, 1, language_profile="Any", monitor="lastSeason", monitor_new_items="none"
    )
    caplog.clear()  # only the Sonarr phase's warnings, whatever level an earlier test left
    with caplog.at_level(logging.WARNING):
        summary = run_sonarr(config, store, FakeClock())
    assert summary.results == {"added": 1}
    [body] = sim.posts_to("/api/v3/series")
    assert body["languageProfileId"] == 2
    assert body["addOptions"]["monitor"] == "latestSeason"  # v3's name for lastSeason
    assert "monitorNewItems" not in body
    assert [r.getMessage().split()[0] for r in _ours(caplog)] == [
        "sonarr_monitor_new_items_ignored"
    ]
    assert sim.series_by_tvdb(show.tvdb_id or 0) is not None


# --- add outcomes ---------------------------------------------------------------------------


def test_201_is_added_with_id_time_ledger_and_counters(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(
        tmp_path, sonarr_sim, 1, tags=["auto-sync"], monitor="future", search_on_add=False
    )
    clock = FakeClock()
    summary = run_sonarr(config, store, clock)
    row = store.get_row(show.tvmaze_id)
    assert row is not None
    series = sonarr_sim.series_by_tvdb(show.tvdb_id or 0)
    assert series is not None
    assert row["processing_status"] == "added"
    assert row["sonarr_series_id"] == series["id"]
    assert row["added_to_sonarr_at"] == iso(clock())
    assert ledger_rows(store)[show.tvdb_id or 0] | {"exclusion_posted_at": None} == {
        "tvdb_id": show.tvdb_id,
        "sonarr_series_id": series["id"],
        "tvmaze_id": show.tvmaze_id,
        "title": show.title,
        "added_at": iso(clock()),
        "removed_at": None,
        "exclusion_posted_at": None,
        "held_at": None,
        "route": None,  # no route configured: the instance's own settings
        # The lasting settings the add got (migration 10): `explain` compares them.
        "target": json.dumps(
            {
                "quality_profile": "HD-1080p",
                "root_folder": "/tv",
                "season_folder": True,
                "series_type": None,
                "tags": ["auto-sync"],
            },
            sort_keys=True,
        ),
    }
    assert summary.results == {"added": 1} and summary.added_titles == [show.title]
    assert store.counters("shows_processed") == {"added": 1}
    assert summary.requests["sonarr:series_add:201"] == 1
    assert summary.requests["sonarr:series_lookup:200"] == 1
    [body] = sonarr_sim.posts_to("/api/v3/series")
    assert body["tags"] == [1] and body["qualityProfileId"] == 4
    assert body["rootFolderPath"] == "/tv" and body["seasonFolder"] is True
    assert body["addOptions"]["monitor"] == "future"
    assert body["addOptions"]["searchForMissingEpisodes"] is False
    assert body["monitorNewItems"] == "all" and "id" not in body
    assert series["tags"] == [1] and not sonarr_sim.searches


def test_search_on_add_starts_a_search(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 1, monitor="none")
    run_sonarr(config, store, FakeClock())
    [series] = sonarr_sim.library()
    assert sonarr_sim.searches == [series["id"]]
    assert series["monitored"] is False  # monitor none: Sonarr unmonitors the series


def test_library_import_marks_exists_without_lookup_or_add(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 3)
    in_sonarr = sonarr_sim.add_series(shows[0].tvdb_id or 0)
    summary = run_sonarr(config, store, FakeClock())
    assert status_of(store, shows[0].tvmaze_id) == "exists"
    assert store.get_row(shows[0].tvmaze_id)["sonarr_series_id"] == in_sonarr["id"]  # type: ignore[index]
    assert f"tvdb:{shows[0].tvdb_id}" not in lookups(sonarr_sim)
    assert shows[0].tvdb_id not in posted_tvdb_ids(sonarr_sim)
    assert summary.results == {"exists": 1, "added": 2}
    assert shows[0].tvdb_id not in ledger_rows(store)  # not ours


def _race_after_lookup(sim: SonarrSimulator, tvdb_id: int) -> None:
    """Someone adds the series in Sonarr between our lookup and our POST."""
    original = sim.handle

    def handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        reply = original(method, target, *args, **kwargs)
        if method == "GET" and "series/lookup" in target and str(tvdb_id) in target:
            sim.add_series(tvdb_id)
        return reply

    sim.handle = handle  # type: ignore[method-assign]


def test_400_series_exists_is_exists_not_ours(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    _race_after_lookup(sonarr_sim, show.tvdb_id or 0)
    summary = run_sonarr(config, store, FakeClock())
    [post] = sonarr_sim.requests_to("/api/v3/series", "POST")
    assert post.status == 400
    assert post.body and "SeriesExistsValidator" not in json.dumps(post.body)  # our body
    row = store.get_row(show.tvmaze_id)
    assert row is not None and row["processing_status"] == "exists"
    assert row["sonarr_series_id"] == sonarr_sim.series_by_tvdb(show.tvdb_id or 0)["id"]  # type: ignore[index]
    assert summary.results == {"exists": 1} and summary.added_titles == []
    assert ledger_rows(store) == {}  # someone else's series: never ours to manage


def test_409_race_is_exists(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.race_next_add(insert=True)
    summary = run_sonarr(config, store, FakeClock())
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [409]
    assert status_of(store, show.tvmaze_id) == "exists"
    assert summary.results == {"exists": 1} and ledger_rows(store) == {}


def test_other_400_is_failed_with_sonarrs_message(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, (good, taken) = seeded(tmp_path, sonarr_sim, 2)
    folder = sonarr_sim.catalogue[taken.tvdb_id or 0]["title"]
    other = next(t for t in sonarr_sim.catalogue if t not in (good.tvdb_id, taken.tvdb_id))
    sonarr_sim.add_series(other, path=f"/tv/{folder}")  # the folder is used by another series
    summary = run_sonarr(config, store, FakeClock())
    row = store.get_row(taken.tvmaze_id)
    assert row is not None and row["processing_status"] == "failed"
    assert row["status_reason"] == "rejected_by_sonarr"
    assert "Path" in row["error_message"] and "another series" in row["error_message"].lower()
    assert status_of(store, good.tvmaze_id) == "added"
    assert summary.results == {"added": 1, "failed": 1}
    assert taken.tvdb_id not in ledger_rows(store)


def test_no_tvdb_id_or_empty_lookup_is_pending_tvdb_with_retry_after(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sonarr_sim, sync={"retry_delay": "3d"})
    store = open_store(config)
    seed(store, Show(1, "No id"), Show(2, "Unknown to TheTVDB", tvdb_id=999_999_999))
    clock = FakeClock()
    summary = run_sonarr(config, store, clock)
    for tvmaze_id, reason in ((1, "no_tvdb_id"), (2, "tvdb_not_in_sonarr")):
        row = store.get_row(tvmaze_id)
        assert row is not None
        assert (row["processing_status"], row["status_reason"]) == ("pending_tvdb", reason)
        assert row["retry_after"] == iso(START + 3 * 86_400)
    assert lookups(sonarr_sim) == ["tvdb:999999999"]  # never a lookup without an id
    assert posted_tvdb_ids(sonarr_sim) == []
    assert summary.results == {"pending_tvdb": 2}


def test_401_mid_cycle_stops_and_marks_nothing(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, (first, second, third) = seeded(tmp_path, sonarr_sim, 3)
    original = sonarr_sim.handle

    def handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        reply = original(method, target, *args, **kwargs)
        if method == "POST":
            sonarr_sim.rotate_api_key()  # the user regenerates the key during our adds
        return reply

    sonarr_sim.handle = handle  # type: ignore[method-assign]
    with pytest.raises(DependencyError, match="refused the API key") as caught:
        run_sonarr(config, store, FakeClock())
    assert caught.value.exit_code == 3
    assert status_of(store, first.tvmaze_id) == "added"
    assert status_of(store, second.tvmaze_id) == "pending"
    assert status_of(store, third.tvmaze_id) == "pending"
    assert set(ledger_rows(store)) == {first.tvdb_id}  # no intent left behind by the refused call


def test_5xx_is_retried_within_the_cycle(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)
    sonarr_sim.fail_next(2, 500, "/api/v3/series", method="POST")
    sleeps = Sleeps()
    summary = run_sonarr(config, store, FakeClock(), sleeps=sleeps)
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [500, 500, 201]
    assert sleeps == [1.0, 4.0]
    assert status_of(store, show.tvmaze_id) == "added"
    assert summary.requests["sonarr:series_add:500"] == 2


def test_5xx_beyond_the_retries_leaves_the_show_pending_for_next_cycle(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 2)
    sonarr_sim.fail_next(3, 503, "/api/v3/series", method="POST")
    summary = run_sonarr(config, store, FakeClock())
    assert status_of(store, shows[0].tvmaze_id) == "pending"  # deferred, not failed
    assert status_of(store, shows[1].tvmaze_id) == "added"
    assert summary.results == {"pending": 1, "added": 1}
    # Next cycle: the library read shows the 503s created nothing; the add is tried again.
    summary = run_sonarr(config, store, FakeClock())
    assert status_of(store, shows[0].tvmaze_id) == "added"
    assert posted_tvdb_ids(sonarr_sim).count(shows[0].tvdb_id or 0) == 4


def test_a_dead_sonarr_stops_the_cycle_after_three_shows(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 6)
    sonarr_sim.fail_next(100, 502, "/api/v3/series/lookup")
    with pytest.raises(DependencyError, match="3 shows in a row"):
        run_sonarr(config, store, FakeClock())
    # The first show gets its three tries, the next two one each, then the cycle stops.
    assert len(sonarr_sim.requests_to("/api/v3/series/lookup")) == 3 + 1 + 1
    assert {status_of(store, s.tvmaze_id) for s in shows} == {"pending"}


def test_a_timed_out_add_that_landed_is_recorded_as_ours(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1, timeout="1s")
    sonarr_sim.delay_next(1, seconds=1.5, path_prefix="/api/v3/series", method="POST")
    summary = run_sonarr(config, store, FakeClock())
    # The first POST timed out but Sonarr added the series; the retry met "exists".
    assert [r.status for r in sonarr_sim.requests_to("/api/v3/series", "POST")] == [201, 400]
    assert summary.requests["sonarr:series_add:timeout"] == 1
    assert status_of(store, show.tvmaze_id) == "added"
    assert (
        ledger_rows(store)[show.tvdb_id or 0]["sonarr_series_id"] == sonarr_sim.library()[0]["id"]
    )
    assert summary.added_titles == [show.title]


# --- crash safety ---------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying (kill -9) at one precise line."""


def test_killed_between_201_and_commit_the_rerun_posts_nothing_and_owns_it(
    sonarr_sim: SonarrSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 3)
    calls = 0
    record = phase._Cycle._record_add

    def dies_on_second(self: Any, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Killed
        record(self, *args)

    monkeypatch.setattr(phase._Cycle, "_record_add", dies_on_second)
    with pytest.raises(Killed):
        run_sonarr(config, store, FakeClock())
    monkeypatch.undo()
    assert posted_tvdb_ids(sonarr_sim) == [shows[0].tvdb_id, shows[1].tvdb_id]
    assert status_of(store, shows[1].tvmaze_id) == "pending"  # the 201 never committed
    assert ledger_rows(store)[shows[1].tvdb_id or 0]["added_at"] is None  # but the intent did

    store.close()
    store = open_store(config)  # a new process
    summary = run_sonarr(config, store, FakeClock())
    posted = posted_tvdb_ids(sonarr_sim)
    assert sorted(posted) == sorted(s.tvdb_id or 0 for s in shows)  # each exactly once
    assert {status_of(store, s.tvmaze_id) for s in shows} == {"added"}
    recovered = ledger_rows(store)[shows[1].tvdb_id or 0]
    assert recovered["sonarr_series_id"] == sonarr_sim.series_by_tvdb(shows[1].tvdb_id or 0)["id"]  # type: ignore[index]
    assert recovered["added_at"] is not None
    assert summary.results == {"added": 2} and shows[1].title in summary.added_titles


def test_an_intent_whose_post_never_arrived_is_dropped_and_retried(
    sonarr_sim: SonarrSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store, [show] = seeded(tmp_path, sonarr_sim, 1)

    def dies(self: Any, body: Any) -> Any:
        raise Killed

    monkeypatch.setattr(SonarrGateway, "add", dies)
    with pytest.raises(Killed):
        run_sonarr(config, store, FakeClock())
    monkeypatch.undo()
    assert ledger_rows(store)[show.tvdb_id or 0]["added_at"] is None
    run_sonarr(config, store, FakeClock())
    assert status_of(store, show.tvmaze_id) == "added"
    assert posted_tvdb_ids(sonarr_sim) == [show.tvdb_id]


def test_rerun_after_a_complete_cycle_adds_nothing(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, _ = seeded(tmp_path, sonarr_sim, 4)
    run_sonarr(config, store, FakeClock())
    sonarr_sim.clear_log()
    summary = run_sonarr(config, store, FakeClock())
    assert summary.results == {} and not sonarr_sim.requests_to("/api/v3/series", "POST")
    assert not sonarr_sim.requests_to("/api/v3/series/lookup")


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_reads_sonarr_writes_nothing_and_reports(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sonarr_sim, dry_run=True, tags=["x"], create_missing_tags=True)
    store = open_store(config)
    shows = catalogue_shows(sonarr_sim, 4)
    sonarr_sim.add_series(shows[0].tvdb_id or 0)
    sonarr_sim.add_exclusion(shows[1].tvdb_id or 0, "no thanks")
    seed(store, *shows, Show(99, "No id"))
    before = list(store.rows_where(order_by="tvmaze_id"))
    summary = run_sonarr(config, store, FakeClock())
    assert summary.dry_run
    assert summary.would_add_titles == [shows[2].title, shows[3].title]
    assert summary.results == {"exists": 1, "excluded": 1, "pending_tvdb": 1}
    assert list(store.rows_where(order_by="tvmaze_id")) == before  # no status changed
    assert [r.method for r in sonarr_sim.request_log if r.method != "GET"] == []
    assert store.counters("shows_processed") == {} and ledger_rows(store) == {}


def test_dry_run_by_flag_and_without_sonarr(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 2)
    summary = run_sonarr(config, store, FakeClock(), dry_run=True)  # --dry-run
    assert summary.would_add_titles == [s.title for s in shows]
    assert not sonarr_sim.requests_to("/api/v3/series", "POST")
    no_sonarr = make_config(tmp_path, None)
    summary = run_sonarr(no_sonarr, store, FakeClock())
    assert summary.dry_run and summary.would_add_titles == [s.title for s in shows]
    assert {status_of(store, s.tvmaze_id) for s in shows} == {"pending"}


# --- the summary ----------------------------------------------------------------------------


def test_cycle_summary_is_one_json_line_with_counts_and_titles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = CycleSummary(
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:05Z",
        ok=True,
        results={"added": 2, "excluded": 1, "pending": 1},
        added_titles=["Arrow", "Glee"],
        requests={"sonarr:series_add:201": 2},
    )
    render.cycle_summary(summary, fmt="json")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "sync_summary" and line["ts"] == "2026-01-01T00:00:05Z"
    assert {k: line[k] for k in render.SUMMARY_RESULTS} == {
        "added": 2,
        "exists": 0,
        "failed": 0,
        "pending_tvdb": 0,
        "filtered": 0,
        "excluded": 1,
        "removed_by_user": 0,
    }
    assert line["pending"] == 1 and line["added_titles"] == ["Arrow", "Glee"]


def test_cycle_summary_text_line_off_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    summary = CycleSummary(started_at="x", dry_run=True, would_add_titles=["A", "B"])
    with caplog.at_level(logging.WARNING):  # the default level: the summary still shows
        caplog.handler.setLevel(logging.NOTSET)  # as the CLI's handler: the logger decides
        render.cycle_summary(summary, fmt="text")
    [message] = [r.getMessage() for r in caplog.records if r.name == render.log.name]
    assert message.startswith("sync_summary ok=False dry_run=True added=0 exists=0 failed=0")
    assert "removed_by_user=0" in message and message.endswith("would_add='A; B'")
    assert "duration_seconds=0.0" in message


def test_endpoint_names() -> None:
    assert endpoint_name("POST", "/sonarr/api/v3/series") == "series_add"
    assert endpoint_name("GET", "/api/v3/series/lookup") == "series_lookup"
    assert endpoint_name("GET", "/api/v3/importlistexclusion/paged") == "importlistexclusion_paged"
    assert endpoint_name("DELETE", "/api/v3/series/12") == "series_delete"


def test_retry_after_uses_the_injected_clock(sonarr_sim: SonarrSimulator, tmp_path: Path) -> None:
    config = make_config(tmp_path, sonarr_sim)
    store = open_store(config)
    seed(store, Show(1, "No id"))
    clock = FakeClock(START + 5 * WEEK)
    run_sonarr(config, store, clock)
    assert store.get_row(1)["retry_after"] == iso(START + 6 * WEEK)  # type: ignore[index]


def test_403_on_the_library_read_stops_before_anything_is_marked(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows = seeded(tmp_path, sonarr_sim, 2)
    sonarr_sim.fail_next(1, 403, "/api/v3/series", method="GET")
    with pytest.raises(DependencyError, match=r"refused the API key \(HTTP 403\)") as caught:
        run_sonarr(config, store, FakeClock())
    assert caught.value.exit_code == 3
    assert {status_of(store, s.tvmaze_id) for s in shows} == {"pending"}
    assert not sonarr_sim.requests_to("/api/v3/series", "POST")
    assert len(sonarr_sim.requests_to("/api/v3/series", "GET")) == 1  # never retried


# --- properties -----------------------------------------------------------------------------


@given(st.text())
def test_any_400_body_becomes_a_rejection_with_a_message(text: str) -> None:
    failures = gateway._failures(text)
    message = gateway._failure_text(failures, text)
    rejected = gateway.SonarrRejected(failures, message)
    assert message and isinstance(rejected.series_exists, bool)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"propertyName": st.sampled_from(["TvdbId", "Path", "RootFolderPath", "Title"])},
            optional={
                "errorMessage": st.text(max_size=20),
                "errorCode": st.sampled_from(["SeriesExistsValidator", "NotEmptyValidator"]),
            },
        ),
        max_size=4,
    )
)
def test_sonarr_failure_arrays_are_read_whole(failures: list[dict[str, Any]]) -> None:
    rejected = gateway.SonarrRejected(gateway._failures(json.dumps(failures)), "x")
    assert rejected.failures == failures
    assert rejected.series_exists == any(
        f.get("errorCode") == "SeriesExistsValidator" for f in failures
    )
    assert rejected.about_settings == (
        bool(failures) and all(f["propertyName"] == "RootFolderPath" for f in failures)
    )


@given(
    tvdb=st.one_of(st.none(), st.integers(1, 6)),
    library=st.sets(st.integers(1, 6)),
    blocked=st.sets(st.integers(1, 6)),
    excluded=st.sets(st.integers(1, 6)),
)
def test_decisions_without_requests_follow_a_fixed_precedence(
    tvdb: int | None, library: set[int], blocked: set[int], excluded: set[int]
) -> None:
    """No id waits; in Sonarr means exists (even if once ours or excluded); then our
    deleted series; then the user's exclusions; only what is left is looked up and added."""
    lib = {t: LibrarySeries(t, t, "s") for t in library}
    exc = {t: Exclusion(t, t, "e") for t in excluded}
    got = ledger.decide(tvdb, lib, blocked, exc)
    if tvdb is None:
        assert got is ProcessingStatus.PENDING_TVDB
    elif tvdb in library:
        assert got is ProcessingStatus.EXISTS
    elif tvdb in blocked:
        assert got is ProcessingStatus.REMOVED_BY_USER
    elif tvdb in excluded:
        assert got is ProcessingStatus.EXCLUDED
    else:
        assert got is None
