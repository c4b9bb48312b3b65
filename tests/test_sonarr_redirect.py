"""Every request to Sonarr refuses a redirect: the API key goes to sonarr.url's host only.

`sonarr.url` points at a server that answers every request with a 308 to a second,
capturing server that would answer like Sonarr. Each path that talks to Sonarr is driven
through the real CLI (a subprocess): the cycle (`sync`), startup validation (`sync
--dry-run`), the metrics export (`sync --metrics-file`), and under `serve` the probe behind
`/ready`, `/metrics` and `tvmaze-sync healthcheck --ready`. The capturing server must see
no request carrying the key, and the user must be told where the URL redirects.
"""

from __future__ import annotations

import ast
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_cli import run_cli
from tests.helpers_metrics import small_real_shows, write_config
from tests.helpers_ports import free_port
from tests.test_server import start_serve, wait_for

ROOT = Path(__file__).resolve().parent.parent


class _Capture(http.server.BaseHTTPRequestHandler):
    """Where the redirect points: records every key it is sent and answers like Sonarr."""

    keys: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        type(self).keys.append(self.headers.get("X-Api-Key"))
        body = json.dumps({"appName": "Sonarr", "version": "4.0.19.2979"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Redirect(http.server.BaseHTTPRequestHandler):
    """sonarr.url: a proxy that moved, sending everything on with a 308."""

    target: ClassVar[str] = ""

    def _redirect(self) -> None:
        self.send_response(308)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Moved:
    url: str  # sonarr.url: redirects everything
    target: str  # where it points
    keys: list[str | None] = field(default_factory=list)  # what the target was sent


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def moved() -> Iterator[Moved]:
    keys: list[str | None] = []
    capture = _serve(type("Capture", (_Capture,), {"keys": keys}))
    target = f"http://127.0.0.1:{capture.server_address[1]}"
    redirect = _serve(type("Redirect", (_Redirect,), {"target": target}))
    try:
        yield Moved(f"http://127.0.0.1:{redirect.server_address[1]}", target, keys)
    finally:
        for server in (redirect, capture):
            server.shutdown()
            server.server_close()


@pytest.fixture
def tvmaze() -> Iterator[TvmazeSimulator]:
    sim = TvmazeSimulator(small_real_shows()[:20], rate_limit=None).start()
    yield sim
    sim.stop()


def _config(home: Path, tvmaze: TvmazeSimulator, moved: Moved, **server: Any) -> Path:
    path = write_config(home / "config.yaml", home / "data", tvmaze.url, **server)
    text = path.read_text(encoding="utf-8")
    text += (
        f"sonarr:\n  url: {moved.url}\n  api_key: {SONARR_API_KEY}\n"
        "  root_folder: /tv\n  quality_profile: HD-1080p\n  timeout: 10s\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def _no_key_left(moved: Moved, output: str) -> None:
    assert SONARR_API_KEY not in moved.keys, "the API key followed the redirect"
    assert moved.keys == [], f"a request followed the redirect: {moved.keys}"
    assert SONARR_API_KEY not in output


@pytest.mark.parametrize(
    "args",
    [("sync",), ("sync", "--dry-run")],
    ids=["sync", "validation"],
)
def test_sync_and_validation_stop_at_the_redirect(
    tmp_path: Path, tvmaze: TvmazeSimulator, moved: Moved, args: tuple[str, ...]
) -> None:
    config = _config(tmp_path, tvmaze, moved)
    result = run_cli(tmp_path, "-c", str(config), *args)
    assert result.returncode == 2, result.stderr
    assert f"sonarr.url redirects to {moved.target}; set sonarr.url to that" in result.stderr
    _no_key_left(moved, result.stdout + result.stderr)


def test_the_metrics_export_probes_through_the_gateway(
    tmp_path: Path, tvmaze: TvmazeSimulator, moved: Moved
) -> None:
    config = _config(tmp_path, tvmaze, moved)
    prom = tmp_path / "tvmaze.prom"
    result = run_cli(tmp_path, "-c", str(config), "sync", "--metrics-file", str(prom))
    assert result.returncode == 2, result.stderr
    assert "tvmaze_sync_sonarr_healthy 0.0" in prom.read_text(encoding="utf-8")
    _no_key_left(moved, result.stdout + result.stderr)


def test_ready_metrics_and_healthcheck_under_serve(
    tmp_path: Path, tvmaze: TvmazeSimulator, moved: Moved
) -> None:
    port = free_port()
    config = _config(tmp_path, tvmaze, moved, port=port)
    served = start_serve(tmp_path, config, tmp_path / "data", port)
    try:
        wait_for(lambda: "cycle_failed" in served.output(), what="the first cycle to fail")
        ready = requests.get(served.url + "/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["reason"] == (
            f"sonarr.url redirects to {moved.target}; set sonarr.url to that"
        )
        metrics = requests.get(served.url + "/metrics", timeout=10).text
        assert "tvmaze_sync_sonarr_healthy 0.0" in metrics
        check = run_cli(tmp_path, "-c", str(config), "healthcheck", "--ready")
        assert check.returncode == 3, check.stderr
        assert "answered HTTP 503" in check.stderr
    finally:
        code = served.stop()
    assert code == 0, served.output()
    _no_key_left(moved, served.output())


def test_only_the_gateway_builds_an_http_client_for_sonarr() -> None:
    """pyarr and httpx are imported by sonarr/gateway.py alone (the simulators aside), so no
    other module can build a client that follows redirects with the key."""
    offenders = []
    for path in sorted((ROOT / "tvmaze_sync").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        # httpbounds.py lends the gateway's client its bounded transport; it builds no client.
        allowed = ("tvmaze_sync/sonarr/gateway.py", "tvmaze_sync/core/httpbounds.py")
        if relative in allowed or relative.startswith("tests/doubles/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] in ("pyarr", "httpx") for name in names):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
