"""The readiness probe is single-flight (review r1, F19): concurrent /ready against a slow
Sonarr (the hostile double trickling its headers, over a real socket and the real gateway)
start one probe, not one each, and wait for it a bounded time, so they cannot take every
worker of `serve` for N x sonarr.timeout."""

from __future__ import annotations

import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim.hostile import HostileUpstream
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.sonarr_helpers import open_store
from tvmaze_sync.core.config import build_config
from tvmaze_sync.serve.runner import PROBE_WAIT, CycleRunner

TIMEOUT = 3.0


def _runner(tmp_path: Path, url: str) -> CycleRunner:
    config = build_config(
        {
            "storage": {"path": str(tmp_path / "data")},
            "sonarr": {"url": url, "api_key": SONARR_API_KEY, "timeout": f"{TIMEOUT:.0f}s"},
        },
        env={},
    )
    open_store(config).close()
    return CycleRunner(config)


def _concurrently(runner: CycleRunner, n: int) -> list[tuple[HTTPStatus, dict[str, Any], float]]:
    answers: list[tuple[HTTPStatus, dict[str, Any], float]] = []
    started = time.monotonic()

    def ask() -> None:
        status, body = runner.readiness()
        answers.append((status, body, time.monotonic() - started))

    threads = [threading.Thread(target=ask) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_ten_concurrent_ready_against_a_slow_sonarr_start_one_probe(tmp_path: Path) -> None:
    with HostileUpstream("trickle_headers", interval=0.5) as sonarr:
        runner = _runner(tmp_path, sonarr.url)
        answers = _concurrently(runner, 10)
        probes = len(sonarr.requests)
    assert len(answers) == 10
    assert {status for status, _, _ in answers} == {HTTPStatus.SERVICE_UNAVAILABLE}
    assert probes == 1, probes
    took = sorted(t for _, _, t in answers)
    # Nine waited at most PROBE_WAIT for the one probe; it ended within sonarr.timeout.
    assert took[8] < PROBE_WAIT + 1.5, took
    assert took[9] < TIMEOUT + 3, took
    reasons = {body["reason"] for _, body, _ in answers}
    assert "Sonarr has not answered the readiness probe yet" in reasons
    assert any("timeout" in reason for reason in reasons), reasons


def test_a_recent_answer_is_served_without_asking_sonarr_again(
    tmp_path: Path, sonarr_sim: SonarrSimulator
) -> None:
    runner = _runner(tmp_path, sonarr_sim.url)
    answers = _concurrently(runner, 8)
    assert [status for status, _, _ in answers] == [HTTPStatus.OK] * 8
    assert all(body["sonarr_version"] for _, body, _ in answers)
    assert len(sonarr_sim.requests_to("/api/v3/system/status")) == 1
    status, _ = runner.readiness()  # within PROBE_MAX_AGE (unless this machine stalls)
    assert status == HTTPStatus.OK
    assert len(sonarr_sim.requests_to("/api/v3/system/status")) <= 2
