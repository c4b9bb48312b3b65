"""Sonarr through a proxy of the environment: honoured (as requests honours it for TVMaze),
and under the same bounds as a direct request.

httpx drops HTTP_PROXY/HTTPS_PROXY/ALL_PROXY once a client is given its own transport, and
its proxy transports carry no bound; the gateway mounts each proxy on a bounded transport.
The proxy here is the hostile double: it answers every request, proxied ones included, with
its misbehaviour, so a bound that holds proves the request went through the proxy and the
bounds both. `sonarr.example.invalid` resolves nowhere: only the proxy can answer for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.doubles.tvmaze_sim.hostile import MB, HostileUpstream
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_cli import run_cli
from tests.helpers_metrics import small_real_shows, write_config
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.core.httpbounds import MAX_RESPONSE_BODY, ResponseTooLarge
from tvmaze_sync.sonarr.gateway import SonarrGateway, SonarrUnavailable
from tvmaze_sync.tvmaze.client import build_session
from tvmaze_sync.tvmaze.ratelimit import TokenBucket

NOWHERE = "http://sonarr.example.invalid:8989"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_inherited_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _gateway(url: str, timeout: int = 1) -> SonarrGateway:
    config = build_config(
        {"sonarr": {"url": url, "api_key": SONARR_API_KEY, "timeout": timeout}}, {}
    )
    gateway = SonarrGateway(config.sonarr, sleep=lambda _: None)
    gateway.attempts = 1
    return gateway


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("trickle", "timeout: no whole answer within the timeout"),
        ("huge", "error: answer of 500 MB announced, over the 4 MB cap"),
        ("huge_chunked", "error: answer over the 4 MB cap"),
        ("dense", "error: answer of JSON that would decode to over 16 MB (too dense"),
    ],
)
def test_a_proxied_request_keeps_the_deadline_and_the_cap(
    monkeypatch: pytest.MonkeyPatch, mode: str, detail: str
) -> None:
    with HostileUpstream(mode, interval=0.25, dense_size=3 * MB) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        started = time.monotonic()
        with _gateway(NOWHERE) as gateway, pytest.raises(SonarrUnavailable) as failure:
            gateway.get("system/status")
        took = time.monotonic() - started
        asked, sent = list(proxy.requests), proxy.bytes_sent
    assert asked == [f"{NOWHERE}/api/v3/system/status"]
    assert detail in str(failure.value)
    assert took < 20, took
    assert sent < MAX_RESPONSE_BODY + 16 * MB, sent


def test_a_redirect_through_the_proxy_is_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileUpstream("redirect_host") as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        with _gateway(NOWHERE) as gateway, pytest.raises(ConfigError) as failure:
            gateway.get("system/status")
        asked = list(proxy.requests)
    assert asked == [f"{NOWHERE}/api/v3/system/status"], "the redirect was followed"
    assert "redirects elsewhere (http://tvmaze.example.invalid)" in str(failure.value)


def test_no_proxy_reaches_sonarr_directly(
    monkeypatch: pytest.MonkeyPatch, sonarr_sim: SonarrSimulator
) -> None:
    with HostileUpstream("huge") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with _gateway(sonarr_sim.url, timeout=10) as gateway:
            status = gateway.get("system/status")
        asked = list(proxy.requests)
    assert status["appName"] == "Sonarr"
    assert asked == []


@pytest.mark.parametrize(
    "proxy", ["ftp://user:hunter2secret@proxy.example:21", "socks5://user:hunter2secret@h:1080"]
)
def test_a_proxy_httpx_cannot_use_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy)
    with pytest.raises(ConfigError) as failure:
        _gateway(NOWHERE)
    assert "HTTP_PROXY/HTTPS_PROXY/ALL_PROXY cannot carry Sonarr's requests" in str(failure.value)
    assert "hunter2secret" not in str(failure.value)


def test_tvmaze_through_a_proxy_keeps_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TVMaze side already honours the proxy through its bounded adapter: kept so."""
    with HostileUpstream("huge") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        config = build_config({"tvmaze": {"base_url": "http://tvmaze.example.invalid"}}, {})
        session = build_session(
            config.tvmaze,
            None,
            TokenBucket(1000, burst=1000, clock=time.monotonic, sleep=time.sleep),
        )
        with session, pytest.raises(ResponseTooLarge):
            session.get("http://tvmaze.example.invalid/updates/shows", timeout=5)
        asked, sent = list(proxy.requests), proxy.bytes_sent
    assert asked == ["http://tvmaze.example.invalid/updates/shows"]
    assert sent < MAX_RESPONSE_BODY + 16 * MB, sent


@pytest.fixture
def tvmaze() -> Iterator[TvmazeSimulator]:
    sim = TvmazeSimulator(small_real_shows()[:5], rate_limit=None).start()
    yield sim
    sim.stop()


def test_the_cli_goes_through_the_proxy_and_stops_at_its_redirect(
    tmp_path: Path, tvmaze: TvmazeSimulator
) -> None:
    """`sync --dry-run` (startup validation) through a proxy that redirects: exit 2, the
    redirect named, TVMaze (in NO_PROXY) reached directly."""
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", tvmaze.url)
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"sonarr:\n  url: {NOWHERE}\n  api_key: {SONARR_API_KEY}\n"
        "  root_folder: /tv\n  quality_profile: HD-1080p\n  timeout: 10s\n",
        encoding="utf-8",
    )
    with HostileUpstream("redirect_host") as proxy:
        env = {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
        result = run_cli(tmp_path, "-c", str(config), "sync", "--dry-run", env=env)
        asked = list(proxy.requests)
    assert result.returncode == 2, result.stderr
    assert "sonarr.url redirects elsewhere (http://tvmaze.example.invalid)" in result.stderr
    assert asked and all(url.startswith(NOWHERE) for url in asked), asked
    assert SONARR_API_KEY not in result.stdout + result.stderr
