"""The Sonarr gateway's bounds over a real socket and the real pyarr/httpx stack: a whole
answer within sonarr.timeout however it trickles, and no answer over the cap read whole.

The hostile double is the TVMaze one (tvmaze_sim.hostile): it answers every path alike.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.doubles.tvmaze_sim.hostile import MB, HostileUpstream
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.httpbounds import MAX_RESPONSE_BODY, SONARR_LIBRARY_LIMITS, SONARR_LIMITS
from tvmaze_sync.sonarr.gateway import SonarrGateway, SonarrUnavailable, answer_limits

KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("trickle", "timeout: no whole answer within the timeout"),
        ("trickle_headers", "timeout: no whole answer within the timeout"),
        ("huge", "error: answer of 500 MB announced, over the 4 MB cap"),
        ("huge_chunked", "error: answer over the 4 MB cap"),
        ("length_over", "error: answer of 600 MB announced, over the 4 MB cap"),
        ("dense", "error: answer of JSON that would decode to over 16 MB (too dense to be real)"),
    ],
)
def test_a_slow_or_huge_answer_is_an_unavailable_sonarr(mode: str, detail: str) -> None:
    with HostileUpstream(mode, interval=0.25, dense_size=3 * MB) as upstream:
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
    assert sent < SONARR_LIMITS.body + 16 * MB, sent


@pytest.mark.parametrize(
    ("mode", "size", "detail"),
    [
        ("dense", 30 * MB, "answer of JSON that would decode to over 128 MB (too dense"),
        ("huge", 500 * MB, "answer of 500 MB announced, over the 32 MB cap"),
    ],
)
def test_the_library_read_has_the_large_cap_and_still_refuses_a_dense_answer(
    mode: str, size: int, detail: str
) -> None:
    """The library, Sonarr's one large answer, may be up to 32 MB; 30 MB of `[{},{},…]`
    (under the size cap, eleven hundred MB once decoded) is refused while it streams in."""
    with HostileUpstream(mode, huge_size=size, dense_size=size) as upstream:
        config = build_config({"sonarr": {"url": upstream.url, "api_key": KEY, "timeout": 5}}, {})
        with (
            SonarrGateway(config.sonarr, sleep=lambda _: None) as gateway,
            pytest.raises(SonarrUnavailable) as failure,
        ):
            gateway.attempts = 1
            gateway.library()
        sent = upstream.bytes_sent
    assert detail in str(failure.value)
    assert sent < 8 * MB if mode == "dense" else sent < MAX_RESPONSE_BODY + 16 * MB, sent


@pytest.mark.parametrize(
    ("method", "url", "large"),
    [
        ("GET", "http://s:8989/api/v3/series", True),
        ("GET", "http://s:8989/sonarr/api/v3/series", True),
        ("GET", "http://s:8989/api/v3/series?tvdbId=5", False),
        ("GET", "http://s:8989/api/v3/series/lookup?term=tvdb:5", False),
        ("POST", "http://s:8989/api/v3/series", False),
        ("GET", "http://s:8989/api/v3/system/status", False),
        ("GET", "http://s:8989/api/v3/importlistexclusion/paged?page=1", False),
        ("GET", "http://s:8989/api/v3/importlistexclusion", True),
        ("GET", "http://s:8989/api/v3/rootfolder", True),
        ("GET", "http://s:8989/api/v3/qualityprofile", False),
        ("GET", "http://s:8989/api/v3/series/12", False),
    ],
)
def test_only_the_library_read_gets_the_large_limits(method: str, url: str, large: bool) -> None:
    limits = answer_limits(httpx.Request(method, url))
    assert limits == (SONARR_LIBRARY_LIMITS if large else SONARR_LIMITS)
