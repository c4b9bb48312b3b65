"""Hostile values inside Sonarr's JSON (review r1, F7/F3): over the real HTTP path (the
simulator's `fail_next` with raw bytes labelled application/json, real pyarr/httpx), an
unreadable answer to a read the cycle needs is SonarrUnavailable (exit 3), never a bug's
"unexpected error"; an unreadable answer about one show fails or defers that show only, so
the add queue moves on; exclusion paging always ends."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.sonarr_helpers import (
    FakeClock,
    ledger_rows,
    make_config,
    posted_tvdb_ids,
    run_sonarr,
    seeded,
    status_of,
)
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.sonarr.gateway import (
    INT32_MAX,
    SonarrGateway,
    SonarrUnavailable,
    sonarr_int,
)

JSON = "application/json; charset=utf-8"
DEEP = b"[" * 100_000
PAGED = "/api/v3/importlistexclusion/paged"


def _gateway(sim: SonarrSimulator, tmp_path: Path) -> SonarrGateway:
    return SonarrGateway(make_config(tmp_path, sim).sonarr, sleep=lambda _: None)


@pytest.mark.parametrize(
    ("path", "body", "read"),
    [
        ("/api/v3/series", DEEP, "library"),
        ("/api/v3/series", b"[" * 5000 + b"]" * 5000, "library"),
        ("/api/v3/series", b'[{"id": 1e400, "tvdbId": 81189}]', "library"),
        ("/api/v3/series", b'[{"id": "abc", "tvdbId": 81189}]', "library"),
        ("/api/v3/series", b'[{"id": 1, "tvdbId": true}]', "library"),
        ("/api/v3/series", b'[{"id": 1, "tvdbId": 81189.0}]', "library"),
        ("/api/v3/series", b'[{"id": 99999999999999999999, "tvdbId": 81189}]', "library"),
        ("/api/v3/system/status", b"[" * 5000 + b"]" * 5000, "status"),
        (PAGED, b'{"records": ' + DEEP + b"}", "exclusions"),
        (PAGED, b'{"records": [], "totalRecords": "abc"}', "exclusions"),
        (PAGED, b'{"records": [], "totalRecords": 1e400}', "exclusions"),
        (PAGED, b'{"records": [], "totalRecords": [1]}', "exclusions"),
        (PAGED, b'{"records": [{"id": 1, "tvdbId": "5"}], "totalRecords": 1}', "exclusions"),
        (PAGED, b'{"records": [{"id": true, "tvdbId": 5}], "totalRecords": 1}', "exclusions"),
    ],
)  # fmt: skip
def test_an_unreadable_answer_to_a_cycle_read_is_an_unavailable_sonarr(
    sonarr_sim: SonarrSimulator, tmp_path: Path, path: str, body: bytes, read: str
) -> None:
    sonarr_sim.fail_next(10, status=200, path_prefix=path, body=body, content_type=JSON)
    with _gateway(sonarr_sim, tmp_path) as gateway, pytest.raises(SonarrUnavailable) as failure:
        if read == "status":
            gateway.get("system/status")
        else:
            getattr(gateway, read)()
    assert f"Sonarr at {sonarr_sim.url}" in str(failure.value)


def test_endless_exclusion_paging_is_refused_at_once(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    """F3: a `totalRecords` of a billion would be 4,000,000 pages; it is refused, fast."""
    page = {"records": [{"id": 1, "tvdbId": 5, "title": "x"}], "totalRecords": 1_000_000_000}
    sonarr_sim.fail_next(10**6, status=200, path_prefix="/api/v3/importlistexclusion", body=page)
    started = time.monotonic()
    with _gateway(sonarr_sim, tmp_path) as gateway, pytest.raises(SonarrUnavailable) as failure:
        gateway.exclusions()
    assert "would take more than 400 pages" in str(failure.value)
    assert time.monotonic() - started < 10
    assert len(sonarr_sim.requests_to("/api/v3/importlistexclusion/paged")) == 1


def test_a_sonarr_repeating_one_page_ends_the_read(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    """Within the bound, a Sonarr that ignores `page` (the same ids again) ends the read
    after the repeated page, and the read, short of its total, is refused."""
    page = {"records": [{"id": 1, "tvdbId": 5, "title": "x"}], "totalRecords": 50_000}
    sonarr_sim.fail_next(10**6, status=200, path_prefix="/api/v3/importlistexclusion", body=page)
    with _gateway(sonarr_sim, tmp_path) as gateway, pytest.raises(SonarrUnavailable) as failure:
        gateway.exclusions()
    assert "changed while being read" in str(failure.value)
    assert len(sonarr_sim.requests_to("/api/v3/importlistexclusion/paged")) == 4  # 2 x 2 pages


@pytest.mark.parametrize("bad_id", ["abc", 1e300, [1], True, 1.5, {"a": 1}, -3, INT32_MAX + 1])
def test_one_lookup_with_a_bad_id_fails_that_show_and_the_queue_moves_on(
    sonarr_sim: SonarrSimulator, tmp_path: Path, bad_id: Any
) -> None:
    """F7: the first show's lookup result carries an id Sonarr would never send: that show
    is `failed` (`unreadable_answer`, retried like a refused add), the others are added."""
    config, store, shows = seeded(tmp_path, sonarr_sim, 4)
    first = shows[0].tvdb_id
    result = {"tvdbId": first, "id": bad_id, "title": "x"}
    sonarr_sim.fail_next(1, status=200, path_prefix="/api/v3/series/lookup", body=[result])
    summary = run_sonarr(config, store, FakeClock())
    row = store.get_row(shows[0].tvmaze_id)
    assert row is not None
    assert (row["processing_status"], row["status_reason"]) == ("failed", "unreadable_answer")
    assert "series_lookup" in row["error_message"] and len(row["error_message"]) < 300
    assert row["retry_after"] is not None  # the failed-retry rules apply
    assert sorted(posted_tvdb_ids(sonarr_sim)) == sorted(s.tvdb_id for s in shows[1:])
    assert summary.results == {"failed": 1, "added": 3}


@pytest.mark.parametrize("body", [b"5", b"null", b'{"id": 1}', DEEP])
def test_a_lookup_answer_that_is_not_a_list_defers_that_show_only(
    sonarr_sim: SonarrSimulator, tmp_path: Path, body: bytes
) -> None:
    """Retried like any unreadable answer (pyarr refuses a non-list), then the show stays
    pending for the next cycle and the queue moves on."""
    config, store, shows = seeded(tmp_path, sonarr_sim, 3)
    sonarr_sim.fail_next(
        3, status=200, path_prefix="/api/v3/series/lookup", body=body, content_type=JSON
    )
    summary = run_sonarr(config, store, FakeClock())
    assert status_of(store, shows[0].tvmaze_id) == "pending"
    assert summary.results == {"pending": 1, "added": 2}


def test_a_lookup_tvdb_id_of_the_wrong_type_is_not_the_show(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    """`True == 1` and `"81189" != 81189`: only a JSON integer equal to the id counts."""
    _, _, shows = seeded(tmp_path, sonarr_sim, 1)
    tvdb = shows[0].tvdb_id
    for wrong in (str(tvdb), float(tvdb)):
        sonarr_sim.fail_next(
            1, status=200, path_prefix="/api/v3/series/lookup", body=[{"tvdbId": wrong}]
        )
        with _gateway(sonarr_sim, tmp_path) as gateway:
            assert gateway.lookup(tvdb) is None


@pytest.mark.parametrize("bad_id", [b'"abc"', b"1e400", b"[1]", b"true", b"0", b"2.5"])
def test_an_add_answered_with_a_bad_id_defers_that_show_and_the_next_read_decides(
    sonarr_sim: SonarrSimulator, tmp_path: Path, bad_id: bytes
) -> None:
    """A 201 may have created the series, so a bad id in it is no `failed`: the show stays
    pending with its intent row, the next shows are added, and the next cycle's library read
    tells (here the fault answered for Sonarr, nothing was created: it is added then)."""
    config, store, shows = seeded(tmp_path, sonarr_sim, 3)
    body = b'{"id": ' + bad_id + b"}"
    sonarr_sim.fail_next(
        1, status=201, path_prefix="/api/v3/series", method="POST", body=body, content_type=JSON
    )
    clock = FakeClock()
    summary = run_sonarr(config, store, clock)
    assert status_of(store, shows[0].tvmaze_id) == "pending"
    assert shows[0].tvdb_id in ledger_rows(store)  # the intent row waits for the next read
    assert summary.results == {"pending": 1, "added": 2}
    clock.advance(3600)
    summary = run_sonarr(config, store, clock)
    assert status_of(store, shows[0].tvmaze_id) == "added"
    assert summary.results == {"added": 1}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0, True),
        (81189, True),
        (INT32_MAX, True),
        (INT32_MAX + 1, False),
        (-1, False),
        (True, False),
        (False, False),
        (1.0, False),
        (float("inf"), False),
        ("1", False),
        (None, False),
        ([1], False),
    ],
)
def test_sonarr_int_is_strict(value: Any, ok: bool) -> None:
    if ok:
        assert sonarr_int(value) == value
    else:
        with pytest.raises(ValueError, match="not an integer"):
            sonarr_int(value)


# --- the exclusion guard (review r1, F1b) -----------------------------------------------------


def _excluded_then(
    tmp_path: Path, sim: SonarrSimulator, excluded: int, **options: Any
) -> tuple[Any, Any, list[Any], FakeClock]:
    """`excluded` of `excluded + 2` shows on Sonarr's exclusion list, one cycle run: the
    others are added, those are `excluded`."""
    config, store, shows = seeded(tmp_path, sim, excluded + 2, **options)
    for show in shows[:excluded]:
        sim.add_exclusion(show.tvdb_id, show.title)
    clock = FakeClock()
    summary = run_sonarr(config, store, clock)
    assert summary.results == {"excluded": excluded, "added": 2}
    clock.advance(3600)
    return config, store, shows, clock


def test_an_empty_exclusion_read_frees_no_excluded_show(
    sonarr_sim: SonarrSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One well-formed, self-consistent, empty exclusion page: nothing is added, the
    shows stay excluded, the summary and a warning say so; the next read is believed."""
    config, store, shows, clock = _excluded_then(tmp_path, sonarr_sim, 11)
    empty = {"page": 1, "pageSize": 250, "totalRecords": 0, "records": []}
    sonarr_sim.fail_next(1, status=200, path_prefix=PAGED, body=empty)
    summary = run_sonarr(config, store, clock)
    assert posted_tvdb_ids(sonarr_sim) == [s.tvdb_id for s in shows[11:]]  # the first cycle's
    assert {status_of(store, s.tvmaze_id) for s in shows[:11]} == {"excluded"}
    assert summary.exclusions_distrusted == 11
    assert "sonarr_exclusions_distrusted vanished=11" in caplog.text
    clock.advance(3600)
    summary = run_sonarr(config, store, clock)
    assert summary.exclusions_distrusted == 0
    assert {status_of(store, s.tvmaze_id) for s in shows[:11]} == {"excluded"}


def test_an_empty_exclusion_list_is_distrusted_below_max_removals(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    """Two excluded, an empty list: the default limit (10) alone would believe it."""
    config, store, shows, clock = _excluded_then(tmp_path, sonarr_sim, 2)
    sonarr_sim.fail_next(1, status=200, path_prefix=PAGED, body={"records": [], "totalRecords": 0})
    summary = run_sonarr(config, store, clock)
    assert [status_of(store, s.tvmaze_id) for s in shows[:2]] == ["excluded"] * 2
    assert summary.exclusions_distrusted == 2


def test_the_last_exclusion_lifted_alone_frees_its_show(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows, clock = _excluded_then(tmp_path, sonarr_sim, 1)
    sonarr_sim.remove_exclusion(shows[0].tvdb_id)
    summary = run_sonarr(config, store, clock)
    assert status_of(store, shows[0].tvmaze_id) == "added"
    assert summary.exclusions_distrusted == 0


def test_more_lifted_exclusions_than_max_removals_at_once_free_none(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    config, store, shows, clock = _excluded_then(tmp_path, sonarr_sim, 5, max_removals=2)
    for show in shows[:3]:
        sonarr_sim.remove_exclusion(show.tvdb_id)
    summary = run_sonarr(config, store, clock)
    assert summary.exclusions_distrusted == 3
    assert {status_of(store, s.tvmaze_id) for s in shows[:5]} == {"excluded"}
    assert len(posted_tvdb_ids(sonarr_sim)) == 2


def test_a_few_lifted_exclusions_free_their_shows_as_before(
    sonarr_sim: SonarrSimulator, tmp_path: Path
) -> None:
    """At most `max_removals` at once is a user lifting exclusions: added this cycle."""
    config, store, shows, clock = _excluded_then(tmp_path, sonarr_sim, 5, max_removals=2)
    for show in shows[:2]:
        sonarr_sim.remove_exclusion(show.tvdb_id)
    summary = run_sonarr(config, store, clock)
    assert summary.exclusions_distrusted == 0
    assert [status_of(store, s.tvmaze_id) for s in shows[:5]] == ["added"] * 2 + ["excluded"] * 3
    assert summary.results.get("added") == 2


# --- redirects (review r1, F9) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("https://{host}/api/v3/system/status", "sonarr.url redirects to https://{host}; set "),
        ("http://{host}/sonarr/api/v3/system/status", "redirects to http://{host}/sonarr; set "),
        ("ftp://{host}/shows", "redirects elsewhere (ftp://127.0.0.1); check sonarr.url"),
        ("http://evil.invalid/api/v3/system/status", "elsewhere (http://evil.invalid); check"),
        ("http://[::1/updates\x1b[31m", "sonarr.url redirects to a malformed URL; check"),
        ("http://exa mple.com:99999/", "sonarr.url redirects elsewhere (http://exa%20mple.com)"),
    ],
)  # fmt: skip
def test_a_redirect_is_a_config_error_suggesting_only_the_same_host(
    sonarr_sim: SonarrSimulator, tmp_path: Path, location: str, message: str
) -> None:
    host = sonarr_sim.url.removeprefix("http://")
    sonarr_sim.fail_next(
        1,
        status=302,
        path_prefix="/api/v3/system",
        headers={"Location": location.format(host=host)},
    )
    with _gateway(sonarr_sim, tmp_path) as gateway, pytest.raises(ConfigError) as failure:
        gateway.get("system/status")
    assert message.format(host=host) in str(failure.value)
    assert "\x1b" not in str(failure.value)
