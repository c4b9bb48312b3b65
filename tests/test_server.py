"""`tvmaze-sync serve` as a real process, over real HTTP, against the simulators.

One server (with a token) is shared by the endpoint tests of this module; the tests about
the cycle's timing (busy, SIGTERM) start their own, with a slowed-down TVMaze simulator.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY, SONARR_QUALITY_PROFILES, SONARR_TAG
from tests.helpers_cli import clean_env, run_cli
from tests.helpers_metrics import (
    families,
    read_store,
    samples,
    small_real_shows,
    value,
    write_config,
)
from tests.helpers_ports import free_port
from tests.helpers_store import store_at
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.core.timeutil import parse_iso
from tvmaze_sync.cycle.metrics import METRICS
from tvmaze_sync.serve.endpoints import BadRequest, authorize, is_loopback, parse_shows_query
from tvmaze_sync.serve.runner import PROBE_MAX_AGE
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.state import StateFile

TOKEN = "serve-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    home: Path
    config: Path
    storage: Path
    log: Path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}")


def start_serve(
    home: Path,
    config: Path,
    storage: Path,
    port: int,
    preexec_fn: Callable[[], None] | None = None,
) -> Served:
    log = home / "serve.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tvmaze_sync", "-c", str(config), "serve"],
            env=clean_env(home),
            cwd=home,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    served = Served(proc, f"http://127.0.0.1:{port}", home, config, storage, log)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}:\n{served.output()}")
        try:
            return served.get("/health").status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(up, what="serve to answer /health")
    return served


def cycle_done(served: Served) -> bool:
    """The first cycle has finished (its summary is in state.json) and none is running."""
    health = served.get("/health").json()
    state = served.get("/state").json()["state"] or {}
    return health["running"] is None and bool(state.get("last_cycle", {}).get("finished_at"))


# --- the shared server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[TvmazeSimulator, SonarrSimulator]]:
    tvmaze = TvmazeSimulator(small_real_shows(), rate_limit=None).start()
    sonarr = SonarrSimulator(
        SONARR_API_KEY,
        root_folders=["/tv"],
        quality_profiles=[dict(p) for p in SONARR_QUALITY_PROFILES],
        tags=[SONARR_TAG],
    ).start()
    yield tvmaze, sonarr
    tvmaze.stop()
    sonarr.stop()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sims: tuple[TvmazeSimulator, SonarrSimulator]
) -> Iterator[Served]:
    tvmaze, sonarr = sims
    home = tmp_path_factory.mktemp("serve")
    port = free_port()
    config = write_config(
        home / "config.yaml", home / "data", tvmaze.url, sonarr, port=port, token=TOKEN
    )
    server = start_serve(home, config, home / "data", port)
    wait_for(lambda: cycle_done(server), what="the first cycle")
    yield server
    code = server.stop()
    output = server.output()
    assert code == 0, output
    assert TOKEN not in output and SONARR_API_KEY not in output  # the banner shows ***
    assert "server_token=***" in output and "sonarr_api_key=***" in output


def test_health_answers_while_running(served: Served) -> None:
    response = served.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["stopping"] is False
    # The first cycle ran at start; the next is one poll_interval after it began.
    started = parse_iso(served.get("/state").json()["state"]["last_cycle"]["started_at"])
    assert abs(parse_iso(body["next_run"]) - (started + 3600)) <= 5


def test_banner_names_version_storage_and_sonarr_version(
    served: Served, sims: tuple[TvmazeSimulator, SonarrSimulator]
) -> None:
    banner = next(line for line in served.output().splitlines() if "serve_started" in line)
    assert "version=" in banner and f"storage={served.storage}" in banner
    assert f"sonarr_version={sims[1].version}" in banner


def test_ready_follows_sonarr(
    served: Served, sims: tuple[TvmazeSimulator, SonarrSimulator]
) -> None:
    sonarr = sims[1]
    ready = served.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "sonarr_version": sonarr.version}
    sonarr.unauthorized = True
    try:
        time.sleep(PROBE_MAX_AGE + 0.2)  # past the probe cache (its age counts from its end)
        refused = served.get("/ready")
        assert refused.status_code == 503
        assert "api_key" in refused.json()["reason"]
        assert value(families(served.get("/metrics").text)["tvmaze_sync_sonarr_healthy"]) == 0.0
    finally:
        sonarr.unauthorized = False
    time.sleep(PROBE_MAX_AGE + 0.2)
    assert served.get("/ready").status_code == 200
    assert value(families(served.get("/metrics").text)["tvmaze_sync_sonarr_healthy"]) == 1.0


def test_metrics_equal_what_the_store_holds(served: Served) -> None:
    response = served.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    got = families(response.text)
    assert set(got) == {spec.name for spec in METRICS}
    stored = read_store(served.storage)
    assert samples(got["tvmaze_sync_shows"], "status") == {
        k: float(v) for k, v in stored["by_status"].items()
    }
    assert sum(stored["by_status"].values()) == len(small_real_shows())
    assert value(got["tvmaze_sync_healthy"]) == 1.0
    health = served.get("/health").json()
    assert value(got["tvmaze_sync_next_run_timestamp_seconds"]) == pytest.approx(
        parse_iso(health["next_run"]), abs=1
    )
    for secret in (TOKEN, SONARR_API_KEY):
        assert secret not in response.text


def test_metrics_after_a_cycle_run_by_a_separate_sync_process(served: Served) -> None:
    result = run_cli(served.home, "-c", str(served.config), "sync")
    assert result.returncode == 0, result.stderr
    got = families(served.get("/metrics").text)
    state = StateFile(served.storage).load()
    stored = read_store(served.storage)
    assert value(got["tvmaze_sync_last_run_timestamp_seconds"]) == parse_iso(
        state.last_cycle["finished_at"]
    )
    assert value(got["tvmaze_sync_last_run_duration_seconds"]) == pytest.approx(
        state.last_cycle["duration_seconds"]
    )
    requests_total = {
        ":".join((s.labels["service"], s.labels["endpoint"], s.labels["code"])): s.value
        for s in got["tvmaze_sync_http_requests_total"].samples
        if s.name.endswith("_total")
    }
    assert requests_total == {k: float(v) for k, v in stored["requests"].items()}
    lifetime = samples(got["tvmaze_sync_shows_processed_total"], "result")
    assert {k: v for k, v in lifetime.items() if v} == {
        k: float(v) for k, v in stored["processed"].items() if v
    }


def test_state_is_the_state_command(served: Served) -> None:
    result = run_cli(served.home, "-c", str(served.config), "state", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert served.get("/state").json() == json.loads(result.stdout)


def test_shows_pages_through_the_cache(served: Served) -> None:
    store = store_at(served.storage, readonly=True)
    try:
        ids = [r[0] for r in store.db.execute("SELECT tvmaze_id FROM shows ORDER BY tvmaze_id")]
        filtered = [
            r[0]
            for r in store.db.execute(
                "SELECT tvmaze_id FROM shows WHERE processing_status = 'filtered' "
                "ORDER BY tvmaze_id"
            )
        ]
    finally:
        store.close()
    first = served.get("/shows").json()
    assert first["total"] == len(ids) and first["limit"] == 50 and first["offset"] == 0
    assert [s["tvmaze_id"] for s in first["shows"]] == ids[:50]
    page = served.get("/shows", params={"limit": 7, "offset": 20}).json()
    assert [s["tvmaze_id"] for s in page["shows"]] == ids[20:27]
    assert "raw" not in page["shows"][0] and isinstance(page["shows"][0]["genres"], list)
    assert filtered, "the default filters exclude some of the real shows"
    only = served.get("/shows", params={"status": "filtered", "limit": 1000}).json()
    assert only["total"] == len(filtered)
    assert [s["tvmaze_id"] for s in only["shows"]] == filtered
    assert {s["processing_status"] for s in only["shows"]} == {"filtered"}
    beyond = served.get("/shows", params={"offset": len(ids)}).json()
    assert beyond["shows"] == [] and beyond["total"] == len(ids)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "offset=-1",
        "offset=x",
        "status=bogus",
        "status=",
        "status=FILTERED",
        "colour=red",
        "limit=1&limit=2",
        "status=added%27%20OR%201=1--",
    ],
)
def test_shows_refuses_bad_values(served: Served, query: str) -> None:
    response = served.get("/shows?" + query)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert query.split("=", 1)[0] in error


@pytest.mark.parametrize(
    ("query", "said"),
    [
        (
            "status=filterd",
            "status: 'filterd' is not a processing status; did you mean 'filtered'?",
        ),
        (
            "country=Germany",
            "country: 'Germany' is not an ISO 3166-1 alpha-2 country code; "
            "did you mean 'DE' (Germany)?",
        ),
        ("language=Englsh", "language: 'Englsh' is not a TVMaze language; did you mean 'English'?"),
        (
            "reason=language_not_incuded",
            "reason: 'language_not_incuded' is not a filter rule; "
            "did you mean 'language_not_included'?",
        ),
        (
            "reason=genre_excluded:Realty",
            "reason: 'Realty' is not a TVMaze genre; did you mean 'Reality'?",
        ),
        ("country=%20", "country: empty; leave the parameter out for any"),
    ],
)
def test_shows_refuses_a_typo_with_the_nearest_word(served: Served, query: str, said: str) -> None:
    """As `tvmaze-sync shows` does: a value no show can have is a 400 naming the word meant,
    in the JSON error shape, never an empty list."""
    response = served.get("/shows?" + query)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert said in response.json()["error"]


def test_shows_filters_by_country_language_and_reason(served: Served) -> None:
    every = served.get("/shows", params={"limit": 1000}).json()["shows"]
    for name, word in (("country", "us"), ("language", "english")):
        page = served.get("/shows", params={name: word, "limit": 1000}).json()
        wanted = [s["tvmaze_id"] for s in every if (s[name] or "").casefold() == word]
        assert wanted and len(wanted) < len(every), name
        assert [s["tvmaze_id"] for s in page["shows"]] == wanted
        assert page["total"] == len(wanted)
    page = served.get("/shows", params={"reason": "language_not_included", "limit": 1000}).json()
    wanted = [
        s["tvmaze_id"]
        for s in every
        if any(r.startswith("language_not_included") for r in s["filter_reasons"] or [])
    ]
    assert wanted and [s["tvmaze_id"] for s in page["shows"]] == wanted


def test_sonarr_list_is_what_sonarr_custom_lists_read(served: Served) -> None:
    response = served.get("/sonarr/list")
    assert response.status_code == 200
    items = response.json()
    assert items, "some real shows pass the default filters"
    for item in items:
        # Sonarr's CustomSeries: Title (string), TvdbId (int); extra keys are ignored.
        assert set(item) == {"title", "tvdbId", "imdbId"}
        assert isinstance(item["title"], str) and item["title"]
        assert isinstance(item["tvdbId"], int) and item["tvdbId"] > 0
    store = store_at(served.storage, readonly=True)
    try:
        expected = [
            r[0]
            for r in store.db.execute(
                "SELECT tvdb_id FROM shows WHERE tvdb_id IS NOT NULL AND ("
                "processing_status IN ('added', 'exists') "
                "OR (processing_status = 'pending' AND needs_filter = 0)) ORDER BY tvmaze_id"
            )
        ]
    finally:
        store.close()
    assert [item["tvdbId"] for item in items] == expected


def test_post_endpoints_need_the_token(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = served.post("/refilter", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
    assert served.post("/trigger").status_code == 401
    response = served.post("/refilter", headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["evaluated"] > 0 and report["transitions"] == {}  # same filters: no change


def test_trigger_runs_a_cycle(served: Served) -> None:
    before = StateFile(served.storage).load().last_cycle["started_at"]
    time.sleep(1.0)  # state times have second precision
    response = served.post("/trigger", headers=AUTH)
    assert response.status_code == 202, response.text
    wait_for(
        lambda: (
            StateFile(served.storage).load().last_cycle.get("started_at") != before
            and served.get("/health").json()["running"] is None
        ),
        what="the triggered cycle",
    )
    assert StateFile(served.storage).load().last_cycle["ok"] is True


def test_trigger_while_a_cron_run_holds_the_lock_is_409(served: Served) -> None:
    with writer_lock(served.storage):
        response = served.post("/trigger", headers=AUTH)
        assert response.status_code == 409, response.text
        assert "lock" in response.json()["error"]
        assert served.post("/refilter", headers=AUTH).status_code == 409
    assert "cycle_skipped trigger=http reason=lock_held" in served.output()


def test_methods_and_unknown_paths(served: Served) -> None:
    assert served.get("/trigger").status_code == 405
    assert served.post("/metrics", headers=AUTH).status_code == 405
    assert served.get("/nope").status_code == 404
    assert served.get("/health/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("OPTIONS", "/state", 405, "GET, HEAD"),
        ("DELETE", "/state", 405, "GET, HEAD"),
        ("PUT", "/trigger", 405, "POST"),
        ("OPTIONS", "*", 405, "GET, HEAD, POST"),
        ("BREW", "/coffee", 404, None),
    ],
)
def test_other_methods_are_405_with_allow_in_json(
    served: Served, method: str, path: str, status: int, allow: str | None
) -> None:
    """Not the standard library's 501 HTML page: the server's JSON error, and `Allow`."""
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} "), head
    assert "Content-Type: application/json" in head
    assert (f"\r\nAllow: {allow}\r\n" in head + "\r\n") if allow else ("Allow:" not in head)
    assert json.loads(body)["error"] == (f"use {allow}" if allow else f"no endpoint {path}")


def test_head_answers_like_get_without_a_body(served: Served) -> None:
    for path in ("/health", "/state", "/metrics", "/sonarr/list", "/nope"):
        got = served.get(path)
        head = requests.head(served.url + path, timeout=10)
        assert head.status_code == got.status_code and head.content == b"", path
        assert head.headers["Content-Type"] == got.headers["Content-Type"], path
    head = requests.head(served.url + "/trigger", timeout=10)
    assert head.status_code == 405 and head.headers["Allow"] == "POST"
    assert served.post("/health", headers=AUTH).headers["Allow"] == "GET, HEAD"


# --- decisions unit-tested without a socket ----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.10", False),
        ("10.0.0.1", False),
        ("::ffff:192.0.2.10", False),
        ("2001:db8::1", False),
        ("not-an-address", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_authorize_without_a_token_admits_only_loopback() -> None:
    assert authorize(None, "127.0.0.1", None) is None
    refusal = authorize(None, "192.0.2.10", None)
    assert refusal is not None and refusal[0] == HTTPStatus.FORBIDDEN
    # A header does not open the door when no token is configured.
    refusal = authorize("Bearer anything", "192.0.2.10", None)
    assert refusal is not None and refusal[0] == HTTPStatus.FORBIDDEN


def test_authorize_with_a_token_checks_it_for_every_client() -> None:
    assert authorize("Bearer s3cret", "192.0.2.10", "s3cret") is None
    assert authorize("bearer s3cret", "127.0.0.1", "s3cret") is None
    for header in (None, "", "Bearer", "Bearer s3cre", "Bearer s3cretX", "Basic s3cret"):
        refusal = authorize(header, "127.0.0.1", "s3cret")
        assert refusal is not None and refusal[0] == HTTPStatus.UNAUTHORIZED, header
        assert "s3cret" not in refusal[1]


def test_parse_shows_query() -> None:
    query = parse_shows_query("status=pending_tvdb&limit=1000&offset=5")
    assert (query.status, query.limit, query.offset) == (ProcessingStatus.PENDING_TVDB, 1000, 5)
    assert parse_shows_query("").limit == 50
    with pytest.raises(BadRequest, match="limit"):
        parse_shows_query("limit=99999999999999999999")


# --- the cycle's timing: busy, SIGTERM ---------------------------------------------------------


@pytest.mark.slow
def test_a_running_cycle_blocks_nothing_but_another_cycle_and_sigterm_lets_it_finish(
    tmp_path: Path,
) -> None:
    """No token: POSTs from loopback are allowed. TVMaze answers each request after 0.7 s,
    so the first (full) cycle runs for seconds while the endpoints are exercised."""
    tvmaze = TvmazeSimulator(small_real_shows(), rate_limit=None, slow_rate=1.0, slow_seconds=0.7)
    with tvmaze:
        port = free_port()
        config = write_config(tmp_path / "config.yaml", tmp_path / "data", tvmaze.url, port=port)
        served = start_serve(tmp_path, config, tmp_path / "data", port)
        try:
            wait_for(lambda: served.get("/health").json()["running"] == "cycle", what="cycle")
            # While it runs: a scrape and a query answer, a second cycle or a refilter is 409.
            assert served.get("/metrics").status_code == 200
            assert served.get("/shows").status_code == 200
            assert served.get("/ready").status_code == 200
            trigger = served.post("/trigger")
            assert trigger.status_code == 409, trigger.text
            assert served.post("/refilter").status_code == 409
            assert served.get("/health").json()["running"] == "cycle"  # all that, mid-cycle
            code = served.stop(signal.SIGTERM)
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
    output = served.output()
    assert code == 0, output
    assert "shutdown_started running=cycle" in output
    state = StateFile(tmp_path / "data").load()
    assert state.last_cycle["ok"] is True, state.last_cycle  # it was let finish
    assert state.last_cycle["finished_at"]
    store = store_at(tmp_path / "data", readonly=True)
    try:
        assert sum(store.count_by_status().values()) == len(small_real_shows())
    finally:
        store.close()


@pytest.mark.slow
def test_sigterm_past_shutdown_timeout_interrupts_the_cycle_and_saves_state(
    tmp_path: Path, tvmaze_sim_factory: Any
) -> None:
    """A cycle waiting on the rate limit (1 request per 10 s) is interrupted once
    shutdown_timeout passes; it unwinds through its own state save and serve exits 0."""
    tvmaze = tvmaze_sim_factory(shows=small_real_shows(), rate_limit=None)
    port = free_port()
    config = write_config(
        tmp_path / "config.yaml", tmp_path / "data", tvmaze.url, port=port, shutdown_timeout="1s"
    )
    text = config.read_text().replace("rate_limit: 1000", "rate_limit: 1")
    config.write_text(text)
    served = start_serve(tmp_path, config, tmp_path / "data", port)
    try:
        wait_for(lambda: tvmaze.total_requests >= 1, what="the first TVMaze request")
        assert served.get("/health").json()["running"] == "cycle"
        code = served.stop(signal.SIGTERM, timeout=30)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    output = served.output()
    assert code == 0, output
    assert "shutdown_timeout" in output
    last = StateFile(tmp_path / "data").load().last_cycle
    assert last["ok"] is False and "shutting down" in last["error"]
    assert tvmaze.total_requests < 3  # it did not wait out the rate limit


def test_sigint_stops_an_idle_server(tmp_path: Path, tvmaze_sim_factory: Any) -> None:
    tvmaze_sim = tvmaze_sim_factory(shows=small_real_shows(), rate_limit=None)
    port = free_port()
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", tvmaze_sim.url, port=port)
    served = start_serve(tmp_path, config, tmp_path / "data", port)
    try:
        wait_for(lambda: cycle_done(served), timeout=120, what="the first cycle")
        assert served.stop(signal.SIGINT) == 0
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    assert "shutdown_complete cycle_finished=True" in served.output()


# --- startup failures: one line, a distinct exit code ------------------------------------------


def test_a_refused_sonarr_key_stops_serve_at_startup(
    tmp_path: Path, tvmaze_sim: TvmazeSimulator, sonarr_sim: SonarrSimulator
) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        tmp_path / "data",
        tvmaze_sim.url,
        sonarr_sim,
        sonarr_key="wrong-key-123",
        port=free_port(),
    )
    result = run_cli(tmp_path, "-c", str(config), "serve", timeout=60)
    assert result.returncode == 3, result.stderr
    assert "api_key" in result.stderr and "wrong-key-123" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_configuration_error(
    tmp_path: Path, tvmaze_sim: TvmazeSimulator
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path / "config.yaml", tmp_path / "data", tvmaze_sim.url, port=port
        )
        result = run_cli(tmp_path, "-c", str(config), "serve", timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"server.port: cannot listen on 127.0.0.1:{port}" in result.stderr
