"""The Sonarr gateway's bounds over a real socket and the real pyarr/httpx stack: a whole
answer within sonarr.timeout however it trickles, and no answer over the cap read whole.

The hostile double is the TVMaze one (tvmaze_sim.hostile): it answers every path alike.
"""

from __future__ import annotations

import time

import pytest

from tests.doubles.tvmaze_sim.hostile import MB, HostileUpstream
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.httpbounds import MAX_BODY
from tvmaze_sync.sonarr.gateway import SonarrGateway, SonarrUnavailable

KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("trickle", "timeout: no whole answer within the timeout"),
        ("trickle_headers", "timeout: no whole answer within the timeout"),
        ("huge", "error: answer of 500 MB announced, over the 32 MB cap"),
        ("huge_chunked", "error: answer over the 32 MB cap"),
        ("length_over", "error: answer of 600 MB announced, over the 32 MB cap"),
    ],
)
def test_a_slow_or_huge_answer_is_an_unavailable_sonarr(mode: str, detail: str) -> None:
    with HostileUpstream(mode, interval=0.25) as upstream:
        config = build_config({"sonarr": {"url": upstream.url, "api_key": KEY, "timeout": 1}}, {})
        gateway = SonarrGateway(config.sonarr, sleep=lambda _: None)
        gateway.attempts = 1
        started = time.monotonic()
        with gateway, pytest.raises(SonarrUnavailable) as failure:
            gateway.get("system/status")
        took = time.monotonic() - started
        sent = upstream.bytes_sent
    assert detail in str(failure.value)
    assert KEY not in str(failure.value)
    # The trickles would last 1,000 s (4,096 bytes at 4 a second); the bound ends them.
    assert took < 20, took
    assert sent < MAX_BODY + 16 * MB, sent
