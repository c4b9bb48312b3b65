"""Logging: JSON and text event lines, and no configured secret in any line, ever."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.doubles.tvmaze_sim import load_real_shows
from tests.fixtures_sonarr import SonarrFactory
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import run_cli
from tests.helpers_tvmaze import UNLIMITED
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.core.logs import configure_logging, redact

SECRETS = {
    "SONARR_API_KEY": "0123456789abcdef0123456789abcdef",
    "TVMAZE_API_KEY": 'tvm"aze\\key/+&=',  # JSON, repr and URLs all escape these
    "SERVER_TOKEN": "tøken-with-ünïcode",
}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Route logging to a buffer; restore the root logger and the redactor afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatter = {name: logging.getLogger(name).level for name in ("urllib3", "requests_cache")}
    chatter |= {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    buffer = io.StringIO()
    yield buffer
    for name, old in chatter.items():
        logging.getLogger(name).setLevel(old)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    redact.set_secrets([])


def configured_secrets() -> list[str]:
    env = {**SECRETS, "SONARR_URL": "http://sonarr:8989"}
    return build_config({}, env).secrets()


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_json_lines_carry_ts_level_event_and_fields(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=stream)
    log = logging.getLogger("tvmaze_sync.test")
    log.info("page_stored page=%d shows=%d", 12, 250)
    log.warning("state_corrupt path=%s error=%s", "/data/state.json", "Expecting value: line 1")
    log.info("cycle_started")
    log.info("weird level=x event=y ts=z")
    log.debug("hidden at INFO")
    records = [json.loads(line) for line in lines(stream)]
    assert len(records) == 4
    first = records[0]
    assert first["event"] == "page_stored" and first["level"] == "info"
    assert first["page"] == 12 and first["shows"] == 250  # typed, not text
    assert first["logger"] == "tvmaze_sync.test"
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert "message" not in first  # the fields say it all
    # A value with spaces is cut by the key=value parser: the whole text is kept too.
    assert records[1]["message"].endswith("error=Expecting value: line 1")
    assert records[2]["event"] == "cycle_started"
    # Fields never overwrite the reserved keys.
    assert (records[3]["event"], records[3]["level"]) == ("weird", "info")
    assert (records[3]["event_"], records[3]["level_"], records[3]["ts_"]) == ("y", "x", "z")


def test_text_lines(stream: io.StringIO) -> None:
    configure_logging("debug", "text", stream=stream)
    logging.getLogger("tvmaze_sync.test").debug("page_stored page=%d", 3)
    (line,) = lines(stream)
    stamp, level, message = line.split(maxsplit=2)
    assert len(stamp) == len("2025-01-01T00:00:00") and level == "DEBUG"
    assert message == "page_stored page=3"


def test_configure_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream=stream)
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("tvmaze_sync.test").info("once")
    assert len(lines(stream)) == 1
    assert json.loads(lines(stream)[0])["event"] == "once"


def test_http_library_chatter_only_at_debug(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream=stream)
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
    configure_logging("ERROR", "text", stream=stream)
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.ERROR
    configure_logging("DEBUG", "text", stream=stream)
    for name in ("urllib3", "requests_cache", "httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.DEBUG


def _log_secrets_every_way(secrets: list[str]) -> None:
    log = logging.getLogger("tvmaze_sync.test")
    for secret in secrets:
        log.info("request url=%s key=%s", f"http://h/x?apikey={quote(secret, safe='')}", secret)
        log.warning("quoted data=%r", {"api_key": secret})
        try:
            api_key = secret
            raise RuntimeError(f"Sonarr refused key {api_key!r}")
        except RuntimeError:
            log.exception("sonarr_failed")
        try:
            raise ValueError(secret)
        except ValueError:
            log.error("plain_error", exc_info=True)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_reaches_a_log_line(stream: io.StringIO, fmt: str) -> None:
    secrets = configured_secrets()
    assert len(secrets) == 3
    configure_logging("DEBUG", fmt, secrets, stream=stream)
    _log_secrets_every_way(secrets)
    output = stream.getvalue()
    assert "Traceback" in output and "***" in output
    for secret in secrets:
        forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")}
        for form in forms:
            assert form not in output, (secret, form)
    if fmt == "json":
        for line in lines(stream):
            json.loads(line)  # redaction keeps every line valid JSON


def test_short_values_are_not_redacted_everywhere(stream: io.StringIO) -> None:
    """A one-letter 'secret' would blank every such letter; only real secrets are matched."""
    configure_logging("INFO", "text", ["a"], stream=stream)
    logging.getLogger("t").info("page_stored page=a")
    assert "page=a" in stream.getvalue()


@pytest.mark.parametrize("sonarr_accepts_the_key", [True, False], ids=["cycle", "refused"])
def test_cli_log_lines_never_show_secrets(
    tmp_path: Path,
    tvmaze_sim_factory: TvmazeSimFactory,
    sonarr_sim_factory: SonarrFactory,
    sonarr_accepts_the_key: bool,
) -> None:
    """The real entry point at DEBUG (HTTP client logs and tracebacks on), over real sockets:
    a whole cycle that adds shows, and a run whose Sonarr key is refused (exit 3)."""
    tvmaze = tvmaze_sim_factory(shows=load_real_shows()[:250], rate_limit=None)
    key = SECRETS["SONARR_API_KEY"] if sonarr_accepts_the_key else "another-key-entirely"
    sonarr = sonarr_sim_factory(api_key=key)
    env = {
        **SECRETS,
        "SONARR_URL": sonarr.url,
        "SONARR_ADD_INTERVAL": "0s",  # a real process sleeps for real
        "TVMAZE_BASE_URL": tvmaze.url,
        "TVMAZE_RATE_LIMIT": str(UNLIMITED),  # the simulator does not throttle
        "STORAGE_PATH": str(tmp_path / "data"),
    }
    result = run_cli(tmp_path, "--log-level", "DEBUG", "--log-format", "json", "sync", env=env)
    if sonarr_accepts_the_key:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == ExitCode.DEPENDENCY, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    output = result.stdout + result.stderr
    assert output.count("\n") > 5  # it did log
    for secret in SECRETS.values():
        for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe="")):
            assert form not in output, form


FORGED = "Evil'\" tvdb_id=999 sonarr_id=42 ok=False level=critical x='"


def _json_line(*args: object) -> dict[str, object]:
    """One `sonarr_series_added` record formatted by the JSON formatter, parsed back."""
    from tvmaze_sync.core.logs import JsonFormatter

    record = logging.LogRecord(
        "tvmaze_sync.test",
        logging.INFO,
        __file__,
        0,
        "sonarr_series_added tvmaze_id=%d tvdb_id=%d sonarr_id=%d title=%r ok=%s",
        args,
        None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert isinstance(entry, dict)
    return entry


def test_a_title_cannot_forge_fields_in_json_logs() -> None:
    """A TVMaze title (user-editable on tvmaze.com) holding both quote kinds and key=value
    text stays one field; the ids logged before it are the ones in the line."""
    entry = _json_line(1, 264492, 7, FORGED, True)
    assert entry["title"] == FORGED
    assert (entry["tvmaze_id"], entry["tvdb_id"], entry["sonarr_id"]) == (1, 264492, 7)
    assert entry["ok"] is True and entry["level"] == "info"
    assert "x" not in entry and "level_" not in entry and "message" not in entry


def test_a_repeated_field_never_replaces_the_first(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("tvmaze_sync.test").info("event tvdb_id=%d note=%s", 5, "x tvdb_id=999")
    entry = json.loads(lines(stream)[-1])
    assert entry["tvdb_id"] == 5


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=60), ok=st.booleans())
def test_any_title_logged_with_r_leaves_the_other_fields_alone(title: str, ok: bool) -> None:
    entry = _json_line(3, 81189, 12, title, ok)
    assert entry["title"] == title
    assert (entry["tvmaze_id"], entry["tvdb_id"], entry["sonarr_id"]) == (3, 81189, 12)
    assert entry["ok"] is ok
    assert entry["event"] == "sonarr_series_added" and entry["level"] == "info"


def test_text_lines_escape_control_characters(stream: io.StringIO) -> None:
    """A request line or a title holding ESC or a line break is one printable log line."""
    configure_logging("DEBUG", "text", stream=stream)
    log = logging.getLogger("tvmaze_sync.test")
    log.debug("http_request method=%s path=%s status=%d", "GET", "/\x1b[31mred\nfake 1", 404)
    text = stream.getvalue()
    assert text.count("\n") == 1 and "\x1b" not in text
    assert "path=/\\x1b[31mred\\nfake 1 status=404" in text
