"""Metrics: every value comes from the store and state file, whichever process reports it.

The collector is checked against a hand-seeded store, then the cron exports (`sync
--metrics-file`, `sync --pushgateway`) run as real processes against the simulators and
their output is parsed back with prometheus_client's own parser.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from tests.doubles.httpserver import LoopbackServer
from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_cli import run_cli
from tests.helpers_metrics import (
    families,
    read_store,
    samples,
    small_real_shows,
    value,
    write_config,
)
from tests.helpers_store import store_at
from tests.helpers_tools import run, tool
from tvmaze_sync.core.models import ProcessingStatus, Show, StatusReason
from tvmaze_sync.cycle.metrics import METRICS, build_registry, read_snapshot, split_request_key
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.state import State, StateFile

P = ProcessingStatus


# --- the collector over a seeded store --------------------------------------------------------

SEEDED: list[tuple[int, ProcessingStatus, str | None]] = [
    (1, P.FILTERED, "genre_excluded:Reality"),
    (2, P.FILTERED, "genre_excluded:News"),
    (3, P.FILTERED, "language_not_included:Japanese"),
    (4, P.FILTERED, "status_ended"),
    (5, P.ADDED, None),
    (6, P.EXISTS, None),
    (7, P.PENDING_TVDB, None),
    (8, P.PENDING_TVDB, None),
    (9, P.PENDING, None),
    (10, P.FAILED, None),
]


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    storage = tmp_path / "data"
    storage.mkdir()
    store = store_at(storage)
    try:
        rows = [row_from_show(Show(tvmaze_id=i, title=f"Show {i}")) for i, _, _ in SEEDED]
        store.upsert_shows(rows, now="2025-01-01T00:00:00Z")
        with store.atomic():
            for tvmaze_id, status, reason in SEEDED:
                store.db.execute(
                    "UPDATE shows SET processing_status = ?, filter_reason = ? WHERE tvmaze_id = ?",
                    [status.value, reason, tvmaze_id],
                )
            for tvmaze_id, why in (
                (7, StatusReason.NO_TVDB_ID),
                (8, StatusReason.TVDB_NOT_IN_SONARR),
            ):
                store.db.execute(
                    "UPDATE shows SET status_reason = ? WHERE tvmaze_id = ?", [why, tvmaze_id]
                )
            store.bump_counter("shows_processed", P.ADDED.value, 7)
            store.bump_counter("shows_processed", P.FILTERED.value, 40)
            store.bump_counter("api_requests", "tvmaze:page:200", 12)
            store.bump_counter("api_requests", "sonarr:series_add:201", 7)
            store.bump_counter("api_requests", "odd", 1)
    finally:
        store.close()
    state = State(
        initial_sync_complete=True,
        highest_tvmaze_id=10,
        last_cycle={
            "started_at": "2025-01-15T10:00:00Z",
            "finished_at": "2025-01-15T10:02:05Z",
            "duration_seconds": 125.5,
            "ok": True,
            "results": {"added": 2, "filtered": 3},
        },
    )
    StateFile(storage).save(state)
    return storage


def test_collector_reports_what_the_store_and_state_hold(seeded: Path) -> None:
    registry = build_registry(seeded, next_run=lambda: 1_800_000_000.0, sonarr_healthy=lambda: True)
    got = families(generate_latest(registry).decode())

    assert (
        value(got["tvmaze_sync_last_run_timestamp_seconds"]) == 1736935325.0
    )  # 2025-01-15T10:02:05Z
    assert value(got["tvmaze_sync_last_run_duration_seconds"]) == 125.5
    assert value(got["tvmaze_sync_next_run_timestamp_seconds"]) == 1_800_000_000.0
    assert value(got["tvmaze_sync_initial_complete"]) == 1.0
    assert value(got["tvmaze_sync_healthy"]) == 1.0
    assert value(got["tvmaze_sync_shows_highest_id"]) == 10.0
    assert value(got["tvmaze_sync_sonarr_healthy"]) == 1.0

    totals = samples(got["tvmaze_sync_shows"], "status")
    assert totals == {
        status.value: float(sum(1 for _, s, _ in SEEDED if s is status)) for status in P
    }
    # Rule only: the value after ':' would make one series per genre, language...
    assert samples(got["tvmaze_sync_shows_filtered"], "reason") == {
        "genre_excluded": 2.0,
        "language_not_included": 1.0,
        "status_ended": 1.0,
    }
    assert samples(got["tvmaze_sync_shows_pending_retry"], "reason") == {
        "no_tvdb_id": 1.0,
        "tvdb_not_in_sonarr": 1.0,
    }
    lifetime = samples(got["tvmaze_sync_shows_processed_total"], "result")
    assert lifetime["added"] == 7.0 and lifetime["filtered"] == 40.0 and lifetime["failed"] == 0.0
    last = samples(got["tvmaze_sync_last_run_shows"], "result")
    assert last["added"] == 2.0 and last["filtered"] == 3.0 and last["exists"] == 0.0
    requests = {
        (s.labels["service"], s.labels["endpoint"], s.labels["code"]): s.value
        for s in got["tvmaze_sync_http_requests_total"].samples
        if s.name.endswith("_total")
    }
    assert requests == {
        ("tvmaze", "page", "200"): 12.0,
        ("sonarr", "series_add", "201"): 7.0,
        ("odd", "unknown", "unknown"): 1.0,
    }


def test_every_listed_metric_is_exported_with_its_type_and_labels(seeded: Path) -> None:
    registry = build_registry(seeded, next_run=lambda: 1.0, sonarr_healthy=lambda: False)
    got = families(generate_latest(registry).decode())
    assert set(got) == {spec.name for spec in METRICS}
    for spec in METRICS:
        family = got[spec.name]
        assert family.type == spec.kind, spec.name
        assert family.samples, spec.name
        for sample in family.samples:
            assert set(sample.labels) == set(spec.labels), spec.name
    assert value(got["tvmaze_sync_sonarr_healthy"]) == 0.0


def test_a_missing_storage_reads_as_empty_not_as_an_error(tmp_path: Path) -> None:
    registry = build_registry(tmp_path / "never-created")
    got = families(generate_latest(registry).decode())
    assert value(got["tvmaze_sync_healthy"]) is None  # no cycle yet: unknown, not "failed"
    assert value(got["tvmaze_sync_next_run_timestamp_seconds"]) is None  # cron: no schedule known
    assert value(got["tvmaze_sync_sonarr_healthy"]) is None  # not configured
    assert set(samples(got["tvmaze_sync_shows"], "status").values()) == {0.0}


def test_healthy_override_reports_a_failure_the_state_never_saw(seeded: Path) -> None:
    registry = build_registry(seeded, healthy_override=False)
    assert value(families(generate_latest(registry).decode())["tvmaze_sync_healthy"]) == 0.0


def test_snapshot_tolerates_a_corrupt_database(tmp_path: Path) -> None:
    (tmp_path / "shows.db").write_bytes(b"this is not sqlite" * 100)
    snap = read_snapshot(tmp_path)
    assert snap.by_status == {}


def test_split_request_key() -> None:
    assert split_request_key("sonarr:series:lookup:200") == ["sonarr", "series", "lookup:200"]
    assert split_request_key("tvmaze:page") == ["tvmaze", "page", "unknown"]


def test_exposition_passes_promtool(seeded: Path) -> None:
    """`promtool check metrics` (Prometheus's own linter) finds nothing in what we serve."""
    promtool = tool("promtool", hint="apt-get install prometheus")
    registry = build_registry(seeded, next_run=lambda: 1_800_000_000.0, sonarr_healthy=lambda: True)
    exposition = generate_latest(registry).decode()
    assert set(families(exposition)) == {spec.name for spec in METRICS}  # every family linted
    result = run(promtool, "check", "metrics", input=exposition)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_metric_names_follow_the_prometheus_naming_guide() -> None:
    """One prefix, base units, `_total` on counters only, no two families sharing a name."""
    for spec in METRICS:
        assert spec.name.startswith("tvmaze_sync_"), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert "timestamp" not in spec.name or spec.name.endswith("_timestamp_seconds")
        assert not re.search(r"_(milliseconds|minutes|hours|days|megabytes)(_|$)", spec.name)
    bases = [spec.name.removesuffix("_total") for spec in METRICS]
    assert len(set(bases)) == len(bases)


# --- cron exports, real processes against the simulators --------------------------------------


@pytest.fixture
def cron(tmp_path: Path, tvmaze_sim_factory: Any, sonarr_sim: SonarrSimulator) -> dict[str, Any]:
    tvmaze: TvmazeSimulator = tvmaze_sim_factory(shows=small_real_shows(), rate_limit=None)
    storage = tmp_path / "data"
    config = write_config(tmp_path / "config.yaml", storage, tvmaze.url, sonarr_sim)
    return {"config": config, "storage": storage, "tvmaze": tvmaze, "sonarr": sonarr_sim}


def test_sync_metrics_file_holds_what_the_store_says(tmp_path: Path, cron: dict[str, Any]) -> None:
    prom = tmp_path / "prom" / "tvmaze.prom"
    prom.parent.mkdir()
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--metrics-file", str(prom))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in prom.parent.iterdir()) == ["tvmaze.prom"]  # no temp left
    got = families(prom.read_text())
    assert set(got) == {spec.name for spec in METRICS}

    stored = read_store(cron["storage"])
    state = StateFile(cron["storage"]).load()
    totals = samples(got["tvmaze_sync_shows"], "status")
    assert totals == {k: float(v) for k, v in stored["by_status"].items()}
    assert sum(totals.values()) == len(small_real_shows())
    assert value(got["tvmaze_sync_shows_highest_id"]) == float(stored["highest_id"])
    lifetime = samples(got["tvmaze_sync_shows_processed_total"], "result")
    assert {k: v for k, v in lifetime.items() if v} == {
        k: float(v) for k, v in stored["processed"].items() if v
    }
    requests = {
        ":".join((s.labels["service"], s.labels["endpoint"], s.labels["code"])): s.value
        for s in got["tvmaze_sync_http_requests_total"].samples
        if s.name.endswith("_total")
    }
    assert requests == {k: float(v) for k, v in stored["requests"].items()}
    assert requests.get("tvmaze:page:200", 0) >= 3  # three index pages were fetched
    rules: dict[str, float] = {}
    for reason in stored["reasons"]:
        rule = (reason or "unknown").split(":", 1)[0]
        rules[rule] = rules.get(rule, 0.0) + 1
    assert samples(got["tvmaze_sync_shows_filtered"], "reason") == rules
    assert all(":" not in r for r in rules)
    waiting = samples(got["tvmaze_sync_shows_pending_retry"], "reason")
    assert {k: v for k, v in waiting.items() if v} == {
        k: float(v) for k, v in stored["waiting"].items()
    }
    last = state.last_cycle
    assert value(got["tvmaze_sync_healthy"]) == 1.0 and last["ok"] is True
    assert value(got["tvmaze_sync_last_run_duration_seconds"]) == last["duration_seconds"]
    cycle = samples(got["tvmaze_sync_last_run_shows"], "result")
    assert {k: v for k, v in cycle.items() if v} == {
        k: float(v) for k, v in last["results"].items() if v
    }
    assert value(got["tvmaze_sync_initial_complete"]) == float(state.initial_sync_complete)
    assert value(got["tvmaze_sync_sonarr_healthy"]) == 1.0
    assert value(got["tvmaze_sync_next_run_timestamp_seconds"]) is None  # cron knows no schedule

    # A second process reading the same storage reports exactly the same numbers.
    again = tmp_path / "prom" / "again.prom"
    registry = build_registry(cron["storage"], sonarr_healthy=lambda: True)
    again.write_bytes(generate_latest(registry))
    assert again.read_text() == prom.read_text()


def test_a_failed_cycle_still_exports_healthy_0(tmp_path: Path, cron: dict[str, Any]) -> None:
    prom = tmp_path / "failed.prom"
    cron["sonarr"].unauthorized = True  # as if the key had been rotated: the cycle must stop
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--metrics-file", str(prom))
    assert result.returncode == 3, result.stderr
    got = families(prom.read_text())
    assert value(got["tvmaze_sync_healthy"]) == 0.0
    assert StateFile(cron["storage"]).load().last_cycle["ok"] is False
    assert value(got["tvmaze_sync_sonarr_healthy"]) == 0.0


def test_a_cycle_failing_before_it_starts_exports_healthy_0(tmp_path: Path) -> None:
    storage = tmp_path / "not-a-dir"
    storage.write_text("a file where the storage directory should be")
    config = write_config(tmp_path / "config.yaml", storage, "http://127.0.0.1:9")
    prom = tmp_path / "early.prom"
    result = run_cli(tmp_path, "-c", str(config), "sync", "--metrics-file", str(prom))
    assert result.returncode == 2, result.stderr
    assert value(families(prom.read_text())["tvmaze_sync_healthy"]) == 0.0


def test_bad_export_targets_are_refused_before_the_cycle(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", "http://127.0.0.1:9")
    missing = tmp_path / "nope" / "x.prom"
    result = run_cli(tmp_path, "-c", str(config), "sync", "--metrics-file", str(missing))
    assert result.returncode == 2
    assert "--metrics-file" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(tmp_path, "-c", str(config), "sync", "--pushgateway", "ftp://gw")
    assert result.returncode == 2
    assert "--pushgateway" in result.stderr
    assert not (tmp_path / "data" / "state.json").exists()  # no cycle ran


def _socket_at(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize("kind", ["fifo", "socket", "link to a fifo"])
def test_a_metrics_file_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path: Path, kind: str
) -> None:
    """`--metrics-file /dev/null` used to replace the device with a 0600 file (FINDINGS F5)."""
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", "http://127.0.0.1:9")
    target = tmp_path / "special"
    held = None
    if kind == "socket":
        held = _socket_at(target)
    else:
        os.mkfifo(target)
    named = target
    if kind == "link to a fifo":
        named = tmp_path / "tvmaze.prom"
        named.symlink_to(target)
    before = os.lstat(named)
    try:
        result = run_cli(tmp_path, "-c", str(config), "sync", "--metrics-file", str(named))
    finally:
        if held is not None:
            held.close()
    assert result.returncode == 2, result.stderr
    assert f"--metrics-file: {named} exists and is not a regular file" in result.stderr
    after = os.lstat(named)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(named.name)) == [
        named.name
    ]  # no temporary file left beside it
    assert not (tmp_path / "data" / "state.json").exists()  # no cycle ran


def test_the_metrics_file_is_readable_by_node_exporter(
    tmp_path: Path, cron: dict[str, Any]
) -> None:
    """0644 whatever the umask (cli.main sets 077): node_exporter runs as another user."""
    prom = tmp_path / "tvmaze.prom"
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--metrics-file", str(prom))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert stat.S_IMODE((cron["storage"] / "state.json").stat().st_mode) == 0o600  # still private
    assert "tvmaze_sync_healthy 1.0" in prom.read_text()


def test_lock_held_exports_nothing(tmp_path: Path, cron: dict[str, Any]) -> None:
    prom = tmp_path / "locked.prom"
    cron["storage"].mkdir()
    with writer_lock(cron["storage"]):
        result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--metrics-file", str(prom))
    assert result.returncode == 75
    assert not prom.exists()  # the run holding the lock exports its own cycle


class _Gateway(BaseHTTPRequestHandler):
    """A Pushgateway stand-in: records each push (method, path, body); with `auth` set
    ("user:password"), answers 401 to a push without that basic auth, as the real one
    behind `--web.config.file` does."""

    def do_PUT(self) -> None:
        auth = self.server.auth  # type: ignore[attr-defined]
        expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
        if expected and self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="pushgateway"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        self.server.pushes.append((self.command, self.path, self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[LoopbackServer]:
    with LoopbackServer(_Gateway, pushes=[], auth=None) as server:
        yield server


def with_credentials(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def test_pushgateway_basic_auth_from_the_url(
    tmp_path: Path, cron: dict[str, Any], gateway: LoopbackServer
) -> None:
    """`http://user:password@host` is basic auth on `http://host` (urllib alone would look
    `user:password@host` up in DNS), and the password is never printed."""
    gateway.httpd.auth = "pushuser:p@ss word"  # type: ignore[union-attr]
    url = with_credentials(gateway.url, "pushuser:p%40ss%20word")
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--verbose", "--pushgateway", url)
    assert result.returncode == 0, result.stderr
    assert [p for _, p, _ in gateway.httpd.pushes] == ["/metrics/job/tvmaze_sync"]  # type: ignore[union-attr]
    assert "metrics_pushed" in result.stderr and "p%40ss" not in result.stderr


def test_pushgateway_password_from_a_file(
    tmp_path: Path, cron: dict[str, Any], gateway: LoopbackServer
) -> None:
    """The password as a mounted secret (METRICS_PUSHGATEWAY_PASSWORD_FILE), the user in
    the URL: nothing secret on the command line a CronJob shows."""
    gateway.httpd.auth = "pushuser:from-a-file-secret"  # type: ignore[union-attr]
    secret = tmp_path / "pushgateway-password"
    secret.write_text("from-a-file-secret\n")
    env = {"METRICS_PUSHGATEWAY_PASSWORD_FILE": str(secret)}
    url = with_credentials(gateway.url, "pushuser")
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--pushgateway", url, env=env)
    assert result.returncode == 0, result.stderr
    assert len(gateway.httpd.pushes) == 1  # type: ignore[union-attr]


def test_a_refused_push_says_why_on_stderr_and_keeps_the_cycles_exit_code(
    tmp_path: Path, cron: dict[str, Any], gateway: LoopbackServer
) -> None:
    gateway.httpd.auth = "pushuser:right-password"  # type: ignore[union-attr]
    url = with_credentials(gateway.url, "pushuser:wrong-password")
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--pushgateway", url)
    assert result.returncode == 0, result.stderr  # the cycle's work is done: its code stands
    (line,) = [line for line in result.stderr.splitlines() if "metrics_push_failed" in line]
    assert "HTTP 401" in line and "metrics.pushgateway_password" in line
    assert "wrong-password" not in result.stderr and not gateway.httpd.pushes  # type: ignore[union-attr]


def test_pushgateway_receives_the_same_metrics(
    tmp_path: Path, cron: dict[str, Any], gateway: LoopbackServer
) -> None:
    prom = tmp_path / "both.prom"
    result = run_cli(
        tmp_path,
        "-c",
        str(cron["config"]),
        "sync",
        "--metrics-file",
        str(prom),
        "--pushgateway",
        gateway.url,
    )
    assert result.returncode == 0, result.stderr
    assert gateway.httpd is not None
    pushes = gateway.httpd.pushes  # type: ignore[attr-defined]
    assert [(m, p) for m, p, _ in pushes] == [("PUT", "/metrics/job/tvmaze_sync")]
    pushed = families(pushes[0][2].decode())
    assert set(pushed) == {spec.name for spec in METRICS}
    assert samples(pushed["tvmaze_sync_shows"], "status") == samples(
        families(prom.read_text())["tvmaze_sync_shows"], "status"
    )


def test_a_failed_push_is_a_warning_not_an_exit_code(tmp_path: Path, cron: dict[str, Any]) -> None:
    unreachable = "http://pushuser:pushpassword@127.0.0.1:9"
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--pushgateway", unreachable)
    assert result.returncode == 0, result.stderr
    assert "metrics_push_failed" in result.stderr
    assert "pushpassword" not in result.stderr


def test_no_secret_reaches_the_metrics(tmp_path: Path, cron: dict[str, Any]) -> None:
    prom = tmp_path / "secret.prom"
    config = yaml.safe_load(cron["config"].read_text())
    config["tvmaze"]["api_key"] = "tvmaze-premium-secret"
    config["server"] = {"token": "server-token-secret"}
    cron["config"].write_text(yaml.safe_dump(config))
    result = run_cli(tmp_path, "-c", str(cron["config"]), "sync", "--metrics-file", str(prom))
    assert result.returncode == 0, result.stderr
    text = prom.read_text() + json.dumps(StateFile(cron["storage"]).load().to_json())
    for secret in ("tvmaze-premium-secret", "server-token-secret", SONARR_API_KEY):
        assert secret not in text
        assert secret not in result.stderr


def test_metrics_reads_never_wait_for_a_writer(seeded: Path) -> None:
    """A scrape while another connection holds a write transaction still answers."""
    writer = store_at(seeded)
    done = threading.Event()
    try:
        writer.db.execute("BEGIN IMMEDIATE")
        writer.db.execute("UPDATE shows SET title = 'x' WHERE tvmaze_id = 1")

        def scrape() -> None:
            generate_latest(build_registry(seeded))
            done.set()

        thread = threading.Thread(target=scrape, daemon=True)
        thread.start()
        assert done.wait(10)
    finally:
        writer.db.execute("ROLLBACK")
        writer.close()
