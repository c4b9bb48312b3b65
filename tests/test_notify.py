"""Notifications through the real CLI to real local receivers: Apprise's json:// to an HTTP
server and mailto:// to an SMTP server on 127.0.0.1. One message per cycle that did
something, nothing for a cycle that did nothing, a failed delivery a warning and a metric."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import invoke_cli, run_cli
from tests.helpers_notify import json_receiver, smtp_receiver
from tests.helpers_ports import refused_port
from tests.helpers_tvmaze import UNLIMITED
from tests.sonarr_helpers import OPEN_FILTERS, real_shows
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.core.models import CycleSummary
from tvmaze_sync.cycle.metrics import build_registry
from tvmaze_sync.cycle.notify import TITLES_SHOWN, build_message

SECRET_PASSWORD = "hunter2-notify-pw"
SECRET_TOKEN = "tok3n-9f8e7d6c5b4a"


def _config(
    tmp_path: Path,
    tvmaze: TvmazeSimulator,
    sonarr_sim: SonarrSimulator,
    urls: list[str],
    *,
    on: list[str] | None = None,
    **sonarr: Any,
) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze.url, "rate_limit": UNLIMITED},
        "storage": {"path": str(tmp_path / "data")},
        "filters": copy.deepcopy(OPEN_FILTERS),
        "logging": {"format": "json"},
        # a real process sleeps for real: no pause between adds (pacing is tested in-process)
        "sonarr": {
            "url": sonarr_sim.url,
            "api_key": SONARR_API_KEY,
            "add_interval": "0s",
            **sonarr,
        },
        "notify": {"urls": urls, **({"on": on} if on is not None else {})},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _secret_url(url: str) -> str:
    """The receiver's json:// URL with a password and a path token, both secrets."""
    return url.replace("json://", f"json://bob:{SECRET_PASSWORD}@") + f"/{SECRET_TOKEN}"


def _sync(tmp_path: Path, config: Path, code: int = 0) -> str:
    """`sync` in-process; a failure's exit code from a real process."""
    run = run_cli if code else invoke_cli
    result = run(tmp_path, "--config", str(config), "sync", "--verbose")
    assert result.returncode == code, result.stderr
    return result.stderr + result.stdout


def _no_secret_anywhere(tmp_path: Path, *outputs: str) -> None:
    stored = [p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file()]
    for blob in [o.encode() for o in outputs] + stored:
        assert SECRET_PASSWORD.encode() not in blob
        assert SECRET_TOKEN.encode() not in blob


def test_one_message_per_cycle_to_json_and_email_and_nothing_when_nothing_happened(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 4))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    with json_receiver() as hook, smtp_receiver() as mail:
        config = _config(tmp_path, tvmaze, sonarr_sim, [_secret_url(hook.url), mail.url])
        out = _sync(tmp_path, config)
        [message] = hook.messages
        assert message["path"] == f"/{SECRET_TOKEN}"
        assert message["headers"]["Authorization"].startswith("Basic ")
        payload = message["json"]
        assert payload["title"] == "tvmaze-sync: added 3 shows"
        assert payload["type"] == "success"
        for show in shows:
            assert (
                f"- {show['name']} https://www.tvmaze.com/shows/{show['id']}"
                in (payload["message"])
            )
        [email] = mail.messages
        assert email["to"] == ["me@example.test"]
        assert email["subject"] == payload["title"]
        assert "Added to Sonarr (3):" in email["body"] and shows[0]["name"] in email["body"]
        assert '"event": "notification_sent"' in out

        out2 = _sync(tmp_path, config)  # nothing new: nothing sent
        assert len(hook.messages) == 1 and len(mail.messages) == 1
    _no_secret_anywhere(tmp_path, out, out2)
    text = generate_latest(build_registry(tmp_path / "data")).decode()
    assert "tvmaze_sync_notifications_sent_total 2.0" in text


def test_an_undeliverable_url_is_a_warning_and_a_metric_never_a_failed_cycle(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None)
    with refused_port() as port, json_receiver(status=500) as refusing, json_receiver() as hook:
        dead = _secret_url(f"json://127.0.0.1:{port}")  # nothing listens there
        urls = [dead, _secret_url(refusing.url), hook.url]
        out = _sync(tmp_path, _config(tmp_path, tvmaze, sonarr_sim, urls))
        assert len(hook.messages) == 1  # the good URL still gets its message
        assert len(refusing.messages) == 1
    warnings = [
        json.loads(line)
        for line in out.splitlines()
        if line.startswith("{") and '"notification_failed"' in line
    ]
    assert [w["target"] for w in warnings] == ["notify.urls[0](json://)", "notify.urls[1](json://)"]
    assert all(w["level"] == "warning" for w in warnings)
    _no_secret_anywhere(tmp_path, out)
    text = generate_latest(build_registry(tmp_path / "data")).decode()
    assert "tvmaze_sync_notifications_failed_total 2.0" in text
    assert "tvmaze_sync_notifications_sent_total 1.0" in text


def test_a_failed_cycle_sends_its_exit_code_and_cause(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    tvmaze = tvmaze_sim_factory(shows=real_shows(range(1, 3)), rate_limit=None)
    with json_receiver() as hook:
        config = _config(tmp_path, tvmaze, sonarr_sim, [hook.url], quality_profile="HD-1080")
        _sync(tmp_path, config, code=2)
        [message] = hook.messages
    payload = message["json"]
    assert payload["title"] == "tvmaze-sync: sync failed (exit 2)"
    assert payload["type"] == "failure"
    assert "quality profile 'HD-1080' not found in Sonarr" in payload["message"]


def test_review_news_and_on_chooses_what_is_sent(
    tmp_path: Path, sonarr_sim: SonarrSimulator, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    shows = real_shows(range(1, 5))
    tvmaze = tvmaze_sim_factory(shows=shows, rate_limit=None)
    with json_receiver() as hook:
        config = _config(tmp_path, tvmaze, sonarr_sim, [hook.url], require_approval=True)
        _sync(tmp_path, config)
        [message] = hook.messages
        assert message["json"]["title"] == "tvmaze-sync: 4 new for review"
        assert "New for review (4; 4 waiting in all):" in message["json"]["message"]
        _sync(tmp_path, config)  # the queue merely still waits: not news
        assert len(hook.messages) == 1
        invoke_cli(tmp_path, "--config", str(config), "review", "approve", str(shows[0]["id"]))
        # Only failures are news now: the add of the approved show sends nothing.
        config = _config(
            tmp_path, tvmaze, sonarr_sim, [hook.url], on=["failure"], require_approval=True
        )
        _sync(tmp_path, config)
        assert len(hook.messages) == 1


def test_notify_test_command(tmp_path: Path) -> None:
    with json_receiver() as hook:
        result = run_cli(tmp_path, "notify", "test", env={"NOTIFY_URLS": _secret_url(hook.url)})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "notify.urls[0] (json://): delivered"
        assert hook.messages[0]["json"]["title"] == "tvmaze-sync: test notification"
    with refused_port() as port:
        dead = _secret_url(f"json://127.0.0.1:{port}")
        result = run_cli(tmp_path, "notify", "test", env={"NOTIFY_URLS": dead})
    assert result.returncode == 3
    assert "1 of 1 notification URLs failed" in result.stderr
    _no_secret_anywhere_text(result.stdout + result.stderr)
    result = run_cli(tmp_path, "notify", "test")
    assert result.returncode == 2 and "notify.urls is empty" in result.stderr


def _no_secret_anywhere_text(text: str) -> None:
    assert SECRET_PASSWORD not in text and SECRET_TOKEN not in text


def test_config_check_masks_notify_urls_and_a_typo_gets_a_suggestion(tmp_path: Path) -> None:
    url = _secret_url("json://127.0.0.1:9")
    result = run_cli(tmp_path, "config", "check", "--format", "json", env={"NOTIFY_URLS": url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["notify"]["urls"] == ["json://***"]
    _no_secret_anywhere_text(result.stdout + result.stderr)
    typo = url.replace("json://", "jsno://")
    result = run_cli(tmp_path, "config", "check", env={"NOTIFY_URLS": typo})
    assert result.returncode == 2
    assert "notify.urls[0]: unknown notification service 'jsno://'; did you mean 'json://'?" in (
        result.stderr
    )
    _no_secret_anywhere_text(result.stdout + result.stderr)
    with pytest.raises(ConfigError, match="not a URL"):
        build_config({"notify": {"urls": ["just-text"]}}, env={})


def test_the_message_caps_titles_and_follows_notify_on() -> None:
    summary = CycleSummary(started_at="2026-01-01T00:00:00Z", ok=True)
    summary.added_titles = [f"Show {i}" for i in range(25)]
    summary.added_ids = list(range(1, 26))
    summary.removals_held = 2
    message = build_message(summary, ["added", "review", "failure"])
    assert message is not None and message.events == ("added",)
    lines = message.body.splitlines()
    assert lines[0] == "Added to Sonarr (25):"
    assert lines[1] == "- Show 0 https://www.tvmaze.com/shows/1"
    assert lines[TITLES_SHOWN + 1] == f"and {25 - TITLES_SHOWN} more"
    message = build_message(summary, ["removals"])
    assert message is not None and message.kind == "warning"
    assert message.title == "tvmaze-sync: 2 removals held"
    assert build_message(CycleSummary(started_at="x", ok=True), ["added", "review"]) is None
