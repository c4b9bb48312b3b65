"""TVMaze as an attacker: every hostile answer ends a real `sync` process with exit 1, one
line naming the URL (never its credentials) and the cause, and the mirror untouched.

Issue #14: redirect loops, redirects to ftp:// or another host, malformed Locations, HTML or
garbage bodies, JSON nested 100,000 deep, a body trickled one byte a second, a 500 MB body
and Content-Length lies, all from `tests.doubles.tvmaze_sim.hostile` over a real
socket. The processes run `tests/quick_retry_cli.py` (the CLI with millisecond backoff), so
each failure is still retried once before it ends the cycle.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.doubles.tvmaze_sim.hostile import MB, MODES, HostileUpstream
from tests.helpers_cli import clean_env
from tests.helpers_faults import (
    UNLIMITED,
    assert_one_line_error,
    db_snapshot,
    snapshot_diff,
)
from tests.helpers_tvmaze import compact_real_shows
from tvmaze_sync.core.config import build_config
from tvmaze_sync.core.errors import ConfigError, ExitCode
from tvmaze_sync.core.httpbounds import MAX_RESPONSE_BODY
from tvmaze_sync.tvmaze.client import CACHE_NAME, MAX_JSON_DEPTH, _too_deep, split_credentials

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "alice", "s3cret-pw"
TIMEOUT = 2  # tvmaze.timeout (s): the trickles end after it, twice (one retry)

#: mode -> what the one error line must say about the cause.
CAUSES = {
    "redirect_loop": "redirect loop",
    "redirect_ftp": "malformed or non-HTTP URL 'ftp://127.0.0.1/shows'",
    "redirect_host": "another scheme or host, 'http://tvmaze.example.invalid/",
    "bad_location": "malformed or non-HTTP URL 'http://[::1/updates?[31m'",
    "html": "HTML instead of JSON (text/html)",
    "garbage": "body is not JSON",
    "nested": "JSON nested too deep",
    "deep": "JSON nested deeper than 32 levels",
    "trickle": f"timeout (no whole response within {TIMEOUT}s)",
    "trickle_headers": f"timeout (no whole response within {TIMEOUT}s)",
    "huge": "body of 500 MB announced, over the 32 MB cap",
    "huge_chunked": "body over the 32 MB cap",
    "length_over": "body of 600 MB announced, over the 32 MB cap",
    "dense": "body of JSON that would decode to over 32 MB (too dense to be real)",
    "length_short": "body cut short",
    "length_under": "body is not JSON",
}


def run(home: Path, config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`sync` through the quick-retry CLI; the result and the process's peak RSS in KiB."""
    out, err = home / "out.txt", home / "err.txt"
    env = clean_env(home, {"PYTHONPATH": str(ROOT)})
    argv = [sys.executable, "-m", "tests.quick_retry_cli", "--config", str(config), "sync", *args]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(argv, env=env, cwd=home, stdout=stdout, stderr=stderr)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        proc.returncode = proc.returncode if proc.returncode is not None else -1
    code = os.waitstatus_to_exitcode(status)
    result = subprocess.CompletedProcess(
        argv, code, out.read_text(errors="replace"), err.read_text(errors="replace")
    )
    return result, usage.ru_maxrss


def write_config(path: Path, storage: Path, url: str, **tvmaze: Any) -> Path:
    settings = {"base_url": url, "rate_limit": UNLIMITED, "timeout": "5s", **tvmaze}
    data = {"storage": {"path": str(storage)}, "tvmaze": settings}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def credentialed(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@")


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage path after one successful full sync of the real shows (by a real process)."""
    home = tmp_path_factory.mktemp("mirrored")
    storage = home / "data"
    with TvmazeSimulator(compact_real_shows(), rate_limit=None) as sim:
        config = write_config(home / "config.yaml", storage, sim.url)
        result, _ = run(home, config)
    assert result.returncode == 0, result.stderr
    return storage


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_hostile_answer_fails_the_cycle_naming_url_and_cause(
    mode: str, mirrored: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "data"
    shutil.copytree(mirrored, storage)
    before = db_snapshot(storage)
    with HostileUpstream(mode, interval=1.0) as upstream:
        config = write_config(
            tmp_path / "config.yaml",
            storage,
            credentialed(upstream.url),
            timeout=f"{TIMEOUT}s",
        )
        result, _ = run(tmp_path, config)
        asked, sent = list(upstream.requests), upstream.bytes_sent
        where = f"({upstream.url}/updates/shows?since="
    assert result.returncode == ExitCode.CYCLE_FAILED, result.stderr
    line = assert_one_line_error(result.stderr, "TVMaze updates since=", where, CAUSES[mode])
    assert "still failing after 2 attempts" in line
    assert len(asked) == 2, asked  # retried once, as any failed request
    for output in (result.stderr, result.stdout):
        assert PASSWORD not in output and f"{USER}:" not in output
    assert snapshot_diff(db_snapshot(storage), before) == []
    if mode.startswith("huge"):
        # Refused without reading it all: at most the cap (plus socket buffers) per try.
        assert sent < 2 * (MAX_RESPONSE_BODY + 16 * MB) < 500 * MB, sent
    if mode == "dense":  # refused as soon as its objects would pass the budget
        assert sent < 2 * 8 * MB, sent


def _files(storage: Path) -> list[Path]:
    return sorted(p for p in storage.rglob("*") if p.is_file())


def test_no_credential_at_rest_and_storage_is_private(tmp_path: Path) -> None:
    """base_url's user:password, then a premium api_key: both travel (the simulator saw
    them), neither is in any file of storage.path, and every file there is 0600."""
    storage = tmp_path / "data"
    api_key = "bob:k3y-premium"
    with TvmazeSimulator(compact_real_shows(), rate_limit=None) as sim:
        for tvmaze in ({"base_url": credentialed(sim.url)}, {"api_key": api_key}):
            config = write_config(tmp_path / "config.yaml", storage, sim.url, **tvmaze)
            for _ in range(2):  # a full sync, then an incremental one (which caches)
                result, _ = run(tmp_path, config)
                assert result.returncode == 0, result.stderr
                sim.random_updates(30, seed=len(sim.request_log))
                sim.refresh_index()
        assert sim.api_keys[PASSWORD] > 0 and sim.api_keys["k3y-premium"] > 0
    with sqlite3.connect(storage / CACHE_NAME) as cache:
        assert cache.execute("SELECT COUNT(*) FROM responses").fetchone()[0] > 0
    secrets: list[bytes] = [PASSWORD.encode(), b"k3y-premium"]
    secrets += [base64.b64encode(s.encode()) for s in (f"{USER}:{PASSWORD}", api_key)]
    files = _files(storage)
    assert storage / CACHE_NAME in files and storage / "shows.db" in files
    for file in files:
        data = file.read_bytes()
        assert not [s for s in secrets if s in data], file
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700


def test_an_old_world_readable_cache_is_made_private(tmp_path: Path, mirrored: Path) -> None:
    storage = tmp_path / "data"
    shutil.copytree(mirrored, storage)
    cache = storage / CACHE_NAME
    cache.chmod(0o644)
    with TvmazeSimulator(compact_real_shows(), rate_limit=None) as sim:
        result, _ = run(tmp_path, write_config(tmp_path / "config.yaml", storage, sim.url))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_a_symlinked_cache_is_refused(tmp_path: Path, mirrored: Path) -> None:
    storage = tmp_path / "data"
    shutil.copytree(mirrored, storage)
    elsewhere = tmp_path / "elsewhere.sqlite"
    (storage / CACHE_NAME).rename(elsewhere)
    (storage / CACHE_NAME).symlink_to(elsewhere)
    with TvmazeSimulator(compact_real_shows(), rate_limit=None) as sim:
        result, _ = run(tmp_path, write_config(tmp_path / "config.yaml", storage, sim.url))
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert_one_line_error(result.stderr, "is a symbolic link")  # nofollow.py refuses it first


# --- the pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "clean", "auth"),
    [
        ("https://api.tvmaze.com", "https://api.tvmaze.com", None),
        ("http://alice:s3cret@host:8080/v1", "http://host:8080/v1", ("alice", "s3cret")),
        ("http://al%40ice:p%3Aw%2F@host", "http://host", ("al@ice", "p:w/")),
        ("http://alice@host", "http://host", ("alice", "")),
        ("http://:key@host/", "http://host/", ("", "key")),
    ],
)
def test_split_credentials(url: str, clean: str, auth: tuple[str, str] | None) -> None:
    assert split_credentials(url) == (clean, auth)


def _nest(depth: int, kinds: list[bool]) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {"k": value, "x": 2} if kinds[level % len(kinds)] else [0, value]
    return value


@given(depth=st.integers(0, 80), kinds=st.lists(st.booleans(), min_size=1, max_size=5))
def test_too_deep_is_exactly_deeper_than_the_limit(depth: int, kinds: list[bool]) -> None:
    assert _too_deep(_nest(depth, kinds)) == (depth > MAX_JSON_DEPTH)


def test_a_cache_from_a_build_that_stored_passwords_is_dropped(
    tmp_path: Path, mirrored: Path
) -> None:
    storage = tmp_path / "data"
    shutil.copytree(mirrored, storage)
    cache = storage / CACHE_NAME
    with sqlite3.connect(cache) as conn:  # what an older build left: user_version 0
        conn.execute("CREATE TABLE old (url TEXT)")
        conn.execute("INSERT INTO old VALUES (?)", (f"http://{USER}:{PASSWORD}@host/shows",))
        conn.execute("PRAGMA user_version = 0")
    conn.close()
    with TvmazeSimulator(compact_real_shows(), rate_limit=None) as sim:
        result, _ = run(tmp_path, write_config(tmp_path / "config.yaml", storage, sim.url))
    assert result.returncode == 0, result.stderr
    for file in _files(storage):
        assert PASSWORD.encode() not in file.read_bytes(), file
    with sqlite3.connect(cache) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    conn.close()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:99999", "http://host:port", "http://a b", "http://:80", "http://h\x1b"],
)
def test_a_base_url_requests_would_refuse_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"tvmaze.base_url: .* expected an http:// or https://"):
        build_config({"tvmaze": {"base_url": url}}, env={})
