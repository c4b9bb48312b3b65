"""The TVMaze simulator itself, exercised over real loopback HTTP.

Client tests trust the simulator to behave like TVMaze; these tests pin down
that behaviour (paging, 404s, update windows, throttling, index lag, faults)
so a client bug is never mistaken for a simulator bug.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.doubles.tvmaze_sim import (
    DAY,
    DELETE,
    PAGE_SIZE,
    TvmazeSimulator,
    load_real_shows,
    synthetic_shows,
)
from tests.fixtures_tvmaze import TvmazeSimFactory

PAGE_NOT_FOUND = {"name": "Not Found", "message": "Page not found.", "code": 0, "status": 404}
SHOW_NOT_FOUND = {"name": "Not Found", "message": "", "code": 0, "status": 404}
UA = "tvmaze-sync-tests/1.0 (+https://example.invalid)"
T0 = 2_000_000_000.0  # 2033: every real show is older than a month


class FakeClock:
    """A settable clock so window and throttle tests need no sleeping."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["User-Agent"] = UA
        yield session


def get_page(http: requests.Session, sim: TvmazeSimulator, page: int) -> requests.Response:
    return http.get(f"{sim.url}/shows", params={"page": page}, timeout=5)


def null_paths(obj: Any, prefix: str = "") -> set[str]:
    if obj is None:
        return {prefix}
    if isinstance(obj, dict):
        return set().union(*(null_paths(v, f"{prefix}/{k}") for k, v in obj.items()))
    return set()


# ------------------------------------------------------------------ real data


def test_real_data_is_extracted_once_and_clean() -> None:
    shows = load_real_shows()
    ids = [s["id"] for s in shows]
    assert 1000 <= len(shows) <= 1300
    assert ids == sorted(set(ids))
    assert not any("_embedded" in s for s in shows)
    # The schema drift survives: 2016 shapes lack officialSite, 2024 ones have ended.
    assert any("officialSite" not in s for s in shows)
    assert any("ended" in s for s in shows)


def test_pages_follow_id_ranges_with_gaps(tvmaze_sim: TvmazeSimulator, http: requests.Session):
    page0 = get_page(http, tvmaze_sim, 0)
    assert page0.status_code == 200
    assert page0.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert page0.headers["Cache-Control"] == "public, max-age=3600"
    ids0 = [s["id"] for s in page0.json()]
    assert len(ids0) == 240 and ids0 == sorted(ids0)
    assert all(0 <= i < PAGE_SIZE for i in ids0)
    assert 17 not in ids0  # a deleted show: a gap, no shuffling

    ids1 = [s["id"] for s in get_page(http, tvmaze_sim, 1).json()]
    assert len(ids1) == 245
    assert all(PAGE_SIZE <= i < 2 * PAGE_SIZE for i in ids1)

    # /shows without ?page is page 0
    assert http.get(f"{tvmaze_sim.url}/shows", timeout=5).json() == page0.json()


def test_page_past_the_end_is_404(tvmaze_sim: TvmazeSimulator, http: requests.Session) -> None:
    last = tvmaze_sim.last_page
    assert last == tvmaze_sim.max_id // PAGE_SIZE
    last_page = get_page(http, tvmaze_sim, last)
    assert last_page.status_code == 200
    assert tvmaze_sim.max_id in [s["id"] for s in last_page.json()]
    for page in (last + 1, last + 50):
        resp = get_page(http, tvmaze_sim, page)
        assert resp.status_code == 404
        assert resp.json() == PAGE_NOT_FOUND
        assert resp.headers["Cache-Control"] == "public, max-age=3600"
        assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_empty_page_before_the_end_is_empty_list(
    tvmaze_sim: TvmazeSimulator, http: requests.Session
) -> None:
    used = {i // PAGE_SIZE for i in tvmaze_sim.show_ids}
    empty = next(p for p in range(tvmaze_sim.last_page) if p not in used)
    resp = get_page(http, tvmaze_sim, empty)
    assert resp.status_code == 200 and resp.json() == []


def test_bad_page_parameter_is_400(tvmaze_sim: TvmazeSimulator, http: requests.Session) -> None:
    for raw in ("abc", "-1"):
        resp = http.get(f"{tvmaze_sim.url}/shows?page={raw}", timeout=5)
        assert resp.status_code == 400 and resp.json()["status"] == 400


def test_every_real_show_is_served_and_parses(
    tvmaze_sim: TvmazeSimulator, http: requests.Session
) -> None:
    real = load_real_shows()
    paged: list[dict[str, Any]] = []
    page = 0
    while (resp := get_page(http, tvmaze_sim, page)).status_code == 200:
        paged.extend(json.loads(resp.content.decode("utf-8")))
        page += 1
    assert resp.status_code == 404
    assert paged == real
    for show in real:
        single = http.get(f"{tvmaze_sim.url}/shows/{show['id']}", timeout=5)
        assert single.status_code == 200
        assert single.json() == show
    assert tvmaze_sim.shows == real


def test_unknown_show_and_path_are_404(tvmaze_sim: TvmazeSimulator, http: requests.Session):
    resp = http.get(f"{tvmaze_sim.url}/shows/17", timeout=5)
    assert resp.status_code == 404 and resp.json() == SHOW_NOT_FOUND
    resp = http.get(f"{tvmaze_sim.url}/nope", timeout=5)
    assert resp.status_code == 404 and resp.json() == PAGE_NOT_FOUND


def test_embed(tvmaze_sim: TvmazeSimulator, http: requests.Session) -> None:
    resp = http.get(f"{tvmaze_sim.url}/shows/1?embed[]=cast&embed[]=nextepisode", timeout=5)
    assert resp.json()["_embedded"] == {"cast": []}
    resp = http.get(f"{tvmaze_sim.url}/shows/1?embed=bogus", timeout=5)
    assert resp.status_code == 400 and resp.json()["message"] == "Invalid embed type"


def test_lookup_and_search(tvmaze_sim: TvmazeSimulator, http: requests.Session) -> None:
    resp = http.get(f"{tvmaze_sim.url}/lookup/shows?thetvdb=279121", timeout=5)
    assert resp.history[0].status_code == 301
    assert resp.json()["id"] == 13
    assert http.get(f"{tvmaze_sim.url}/lookup/shows?imdb=tt0", timeout=5).status_code == 404
    hits = http.get(f"{tvmaze_sim.url}/search/shows?q=girls", timeout=5).json()
    assert 0 < len(hits) <= 10 and all("girls" in h["show"]["name"].lower() for h in hits)
    miss = http.get(f"{tvmaze_sim.url}/singlesearch/shows?q=zzqqxx", timeout=5)
    assert miss.status_code == 404 and miss.content == b""


# -------------------------------------------------------------------- updates


def test_updates_map_windows(tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session):
    sim = tvmaze_sim_factory(clock=FakeClock(), rate_limit=None)

    def updates(since: str | None = None) -> dict[str, int]:
        params = {"since": since} if since else {}
        resp = http.get(f"{sim.url}/updates/shows", params=params, timeout=5)
        assert resp.status_code == 200
        return dict(resp.json())

    everything = updates()
    assert len(everything) == sim.show_count
    assert all(isinstance(v, int) for v in everything.values())
    assert everything == {str(s["id"]): s["updated"] for s in load_real_shows()}
    assert updates("day") == updates("week") == updates("month") == {}

    sim.update_show(1, name="Twenty days ago")
    sim.advance(17 * DAY)
    sim.update_show(2, name="Three days ago")
    sim.advance(3 * DAY - 3600)
    sim.update_show(3, name="An hour ago")
    sim.advance(3600)

    assert set(updates("day")) == {"3"}
    assert set(updates("week")) == {"2", "3"}
    assert set(updates("month")) == {"1", "2", "3"}
    assert updates("month")["2"] == int(T0 + 17 * DAY)
    full = updates()
    for show_id in ("1", "2", "3", "250"):
        assert http.get(f"{sim.url}/shows/{show_id}", timeout=5).json()["updated"] == full[show_id]
    assert sim.updates_map("week") == {2: full["2"], 3: full["3"]}

    bad = http.get(f"{sim.url}/updates/shows?since=year", timeout=5)
    assert bad.status_code == 400 and bad.json()["status"] == 400


# ----------------------------------------------------------------- rate limit


def test_rate_limit_429_with_retry_after(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    rate_clock = FakeClock(100.0)
    sim = tvmaze_sim_factory(rate_limit=3, rate_window=10.0, rate_clock=rate_clock)
    url = f"{sim.url}/shows/1"
    assert [http.get(url, timeout=5).status_code for _ in range(3)] == [200, 200, 200]

    over = http.get(url, timeout=5)
    assert over.status_code == 429
    assert over.headers["Retry-After"] == "10"
    assert over.json() == {
        "name": "Too Many Requests",
        "message": over.json()["message"],
        "code": 0,
        "status": 429,
    }
    rate_clock.t = 104.2
    assert http.get(url, timeout=5).headers["Retry-After"] == "6"  # ceil(5.8)
    rate_clock.t = 110.0  # the first three calls leave the window
    assert http.get(url, timeout=5).status_code == 200
    assert sim.throttled == 2 and sim.requests_by_status[429] == 2

    sim.rate_limit = None
    assert all(http.get(url, timeout=5).status_code == 200 for _ in range(10))


def test_rate_limit_recovers_in_real_time(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    sim = tvmaze_sim_factory(rate_limit=2, rate_window=0.5)
    url = f"{sim.url}/updates/shows?since=day"
    assert [http.get(url, timeout=5).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.55)
    assert http.get(url, timeout=5).status_code == 200


# ------------------------------------------------------------------ index lag


def test_index_lags_behind_show_endpoint(
    tvmaze_sim: TvmazeSimulator, http: requests.Session
) -> None:
    sim = tvmaze_sim
    before = {s["id"]: s for s in get_page(http, sim, 0).json()}
    new = sim.update_show(1, name="Renamed", rating__average=9.9)

    current = http.get(f"{sim.url}/shows/1", timeout=5).json()
    assert current == new
    assert current["name"] == "Renamed" and current["rating"]["average"] == 9.9
    paged = {s["id"]: s for s in get_page(http, sim, 0).json()}
    assert paged[1] == before[1]  # the cached index still has the old copy
    update_map = http.get(f"{sim.url}/updates/shows", timeout=5).json()
    assert update_map["1"] == current["updated"] > paged[1]["updated"]

    added = sim.add_show(show_id=90_000)
    far_page = 90_000 // PAGE_SIZE
    assert http.get(f"{sim.url}/shows/90000", timeout=5).json() == added
    assert get_page(http, sim, far_page).status_code == 404  # index has not grown yet
    appended = sim.add_show()
    assert appended["id"] == 90_001

    sim.delete_show(2)
    assert http.get(f"{sim.url}/shows/2", timeout=5).status_code == 404
    assert 2 in {s["id"] for s in get_page(http, sim, 0).json()}
    assert "2" not in http.get(f"{sim.url}/updates/shows", timeout=5).json()

    sim.refresh_index()
    fresh = {s["id"]: s for s in get_page(http, sim, 0).json()}
    assert fresh[1] == current and 2 not in fresh
    assert [s["id"] for s in get_page(http, sim, far_page).json()] == [90_000, 90_001]
    assert sim.last_page == far_page


def test_index_max_age_expires_the_snapshot(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    sim = tvmaze_sim_factory(clock=FakeClock(), rate_limit=None, index_max_age=DAY)
    sim.update_show(1, name="Renamed")
    sim.advance(DAY - 1)
    assert get_page(http, sim, 0).json()[0]["name"] == "Under the Dome"
    sim.advance(1)
    assert get_page(http, sim, 0).json()[0]["name"] == "Renamed"


# ---------------------------------------------------------------------- faults


def test_truncation_gives_invalid_json(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    sim = tvmaze_sim_factory(rate_limit=None, truncate_rate=1.0)
    full = json.dumps(sim.get_show(1), ensure_ascii=False, separators=(",", ":")).encode()
    for path in ("/shows/1", "/shows?page=0", "/updates/shows"):
        resp = http.get(sim.url + path, timeout=5)
        assert resp.status_code == 200
        assert int(resp.headers["Content-Length"]) == len(resp.content) > 0
        with pytest.raises(ValueError):
            json.loads(resp.content)
    assert len(http.get(f"{sim.url}/shows/1", timeout=5).content) < len(full)
    sim.truncate_rate = 0.0
    assert http.get(f"{sim.url}/shows/1", timeout=5).content == full


def test_fail_next_queue(tvmaze_sim: TvmazeSimulator, http: requests.Session) -> None:
    url = f"{tvmaze_sim.url}/shows/1"
    tvmaze_sim.fail_next(2)
    assert [http.get(url, timeout=5).status_code for _ in range(3)] == [503, 503, 200]

    tvmaze_sim.fail_next(1, status=500, kind="page")
    assert http.get(url, timeout=5).status_code == 200  # a show request does not consume it
    assert get_page(http, tvmaze_sim, 0).status_code == 500
    assert get_page(http, tvmaze_sim, 0).status_code == 200

    tvmaze_sim.fail_next(1, status=429)
    throttled = http.get(url, timeout=5)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert tvmaze_sim.throttled == 1


def test_error_rate_is_seeded(tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session):
    def statuses(sim: TvmazeSimulator) -> list[tuple[int, str]]:
        out = []
        for _ in range(40):
            resp = http.get(f"{sim.url}/shows/1", timeout=5)
            out.append((resp.status_code, resp.headers["Content-Type"]))
        return out

    first = statuses(tvmaze_sim_factory(rate_limit=None, error_rate=0.5, seed=7))
    second = statuses(tvmaze_sim_factory(rate_limit=None, error_rate=0.5, seed=7))
    assert first == second
    codes = {code for code, _ in first}
    assert 200 in codes and codes - {200} <= {500, 502, 503} and codes - {200}
    error_types = {ctype for code, ctype in first if code != 200}
    assert error_types == {"text/html", "application/json; charset=UTF-8"}


def test_slow_responses_trip_client_timeouts(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    sim = tvmaze_sim_factory(rate_limit=None, slow_rate=1.0, slow_seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.url}/shows/1", timeout=0.2)
    sim.slow_rate = 0.0
    started = time.perf_counter()
    assert requests.get(f"{sim.url}/shows/1", timeout=5).status_code == 200
    assert time.perf_counter() - started < 0.9


# -------------------------------------------------------------------- counters


def test_counters_log_user_agent_and_key(tvmaze_sim: TvmazeSimulator, http: requests.Session):
    sim = tvmaze_sim
    for path in ("/shows?page=0", "/shows/1", "/shows/17", "/updates/shows?since=day", "/x"):
        http.get(sim.url + path, timeout=5)
    assert sim.requests_by_kind == {"page": 1, "show": 2, "updates": 1, "other": 1}
    assert sim.requests_by_status == {200: 3, 404: 2}
    assert sim.request_log == [
        ("GET", "/shows?page=0", 200),
        ("GET", "/shows/1", 200),
        ("GET", "/shows/17", 404),
        ("GET", "/updates/shows?since=day", 200),
        ("GET", "/x", 404),
    ]
    assert sim.user_agents == {UA: 5} and sim.last_user_agent == UA
    http.get(f"{sim.url}/shows/1", auth=("someone", "PREMIUMKEY"), timeout=5)
    assert sim.api_keys == {"PREMIUMKEY": 1}
    assert sim.total_requests == 6

    sim.reset_counters()
    assert not sim.requests_by_kind and not sim.request_log and sim.throttled == 0
    assert not sim.user_agents and not sim.api_keys


def test_gzip_when_enabled(tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session):
    sim = tvmaze_sim_factory(rate_limit=None, compress=True)
    resp = get_page(http, sim, 0)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert len(resp.json()) == 240


# -------------------------------------------------------------- mutation API


def test_mutation_api(tvmaze_sim: TvmazeSimulator) -> None:
    sim = tvmaze_sim
    old = sim.get_show(1)
    assert old is not None
    new = sim.update_show(
        1, **{"network.country.code": "GB"}, externals__imdb=None, officialSite=DELETE
    )
    assert new["network"]["country"]["code"] == "GB"
    assert new["network"]["name"] == old["network"]["name"]
    assert new["externals"]["imdb"] is None and "officialSite" not in new
    assert new["updated"] > old["updated"]
    assert sim.update_show(1, updated=123)["updated"] == 123

    with pytest.raises(KeyError):
        sim.update_show(17, name="x")
    with pytest.raises(ValueError):
        sim.add_show({"id": 1, "name": "dup"})

    copy_of_shows = sim.shows
    copy_of_shows[0]["name"] = "mutated by a test"
    assert sim.get_show(copy_of_shows[0]["id"]) != copy_of_shows[0]

    ids = sim.random_updates(25, seed=5)
    assert len(ids) == 25
    assert set(sim.updates_map("day")) >= set(ids)


# ---------------------------------------------------------------- synthetic


def test_synthetic_shows_keep_real_shapes() -> None:
    syn = synthetic_shows(3000, seed=3, now=T0)
    assert len(syn) == 3000
    ids = [syn.id_at(i) for i in range(len(syn))]
    assert ids == sorted(set(ids)) and ids[0] >= 1
    missing = (ids[-1] - len(ids)) / ids[-1]
    assert 0.02 <= missing <= 0.07
    assert len({syn.name_at(i) for i in range(len(syn))}) > 500
    for i in range(0, len(syn), 7):
        show, template = syn[i], syn.template_at(i)
        assert list(show) == list(template)  # same keys, same order, absences kept
        assert null_paths(show) == null_paths(template)
        assert show["id"] == ids[i] and show["updated"] <= T0
        assert show["_links"]["self"]["href"].endswith(f"/shows/{ids[i]}")
    assert synthetic_shows(3000, seed=3, now=T0)[42] == syn[42]
    stamps = [syn.updated_at(i) for i in range(len(syn))]
    assert any(t >= T0 - DAY for t in stamps) and any(t < T0 - 365 * DAY for t in stamps)


def test_synthetic_simulator_serves_clones(
    tvmaze_sim_factory: TvmazeSimFactory, http: requests.Session
) -> None:
    syn = synthetic_shows(1000, seed=4)
    sim = tvmaze_sim_factory(shows=syn, rate_limit=None)
    expected = [syn[i] for i in range(len(syn)) if syn.id_at(i) < PAGE_SIZE]
    assert get_page(http, sim, 0).json() == expected
    tvdb = syn[10]["externals"]["thetvdb"]
    if tvdb is not None:
        found = http.get(f"{sim.url}/lookup/shows?thetvdb={tvdb}", timeout=5)
        assert found.json()["id"] == syn.id_at(10)
    updated = sim.update_show(syn.id_at(0), name="Changed")
    assert http.get(f"{sim.url}/shows/{syn.id_at(0)}", timeout=5).json() == updated


def test_100k_synthetic_simulator_starts_fast(http: requests.Session) -> None:
    started = time.perf_counter()
    with TvmazeSimulator.synthetic(100_000, seed=1, rate_limit=None) as sim:
        assert time.perf_counter() - started < 5
        assert sim.show_count == 100_000
        last = get_page(http, sim, sim.last_page)
        assert last.status_code == 200 and last.json()[-1]["id"] == sim.max_id
        assert get_page(http, sim, sim.last_page + 1).status_code == 404


def test_standalone_cli_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.tvmaze_sim", "--port", "0", "--no-rate-limit"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        assert requests.get(f"{url}/shows/1", timeout=5).json()["id"] == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
