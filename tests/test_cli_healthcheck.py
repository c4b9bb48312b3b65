"""`tvmaze-sync healthcheck`: a bounded probe. Whatever listens on server.port (a hung
process, a stranger, a trickling peer), the real process exits within its --timeout, reads
at most a small body and follows no redirect. Real processes and sockets throughout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.doubles.tvmaze_sim.hostile import HostileUpstream
from tests.helpers_cli import run_cli
from tvmaze_sync.core.errors import ExitCode


def _healthcheck(tmp_path: Path, port: int) -> tuple[int, str, float]:
    env = {"SERVER_PORT": str(port), "SERVER_HOST": "127.0.0.1", "http_proxy": "http://127.0.0.1:9"}
    started = time.monotonic()
    result = run_cli(tmp_path, "healthcheck", "--timeout", "2", env=env, timeout=60)
    return result.returncode, result.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("trickle", "no answer within 2 s"),  # the body one byte per 0.5 s
        ("trickle_headers", "no answer within 2 s"),  # the head one byte per 0.5 s
        ("huge_chunked", "answered over 65536 bytes"),  # an endless 200 body
        ("redirect_host", "answered HTTP 302, a redirect (never followed)"),
        ("html", "HTTP"),  # anything but 2xx; html is a 200: see below
    ],
)
def test_the_probe_is_bounded_whatever_answers(tmp_path: Path, mode: str, fragment: str) -> None:
    upstream = HostileUpstream(mode, interval=0.5).start()
    try:
        code, err, seconds = _healthcheck(tmp_path, upstream.port)
    finally:
        upstream.stop()
    if mode == "html":  # a small 200 is healthy: the probe asks for the status, not a body
        assert code == ExitCode.OK, err
        return
    assert code == ExitCode.DEPENDENCY, err
    assert fragment in err, err
    assert seconds < 15, seconds  # 2 s, plus the interpreter's start on a loaded machine
    assert upstream.bytes_sent < 64 * 1024 * 1024  # never read whole (socket buffers aside)
    if mode == "redirect_host":
        assert len(upstream.requests) == 1  # and nothing else asked for


def test_nothing_listening_is_unhealthy(tmp_path: Path) -> None:
    upstream = HostileUpstream("html").start()
    port = upstream.port
    upstream.stop()
    code, err, _ = _healthcheck(tmp_path, port)
    assert code == ExitCode.DEPENDENCY and "is not answering" in err
