"""The `tvmaze-sync` shell: exit codes, one-line errors, machine output on stdout alone."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import load_real_shows
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.fixtures_tvmaze import TvmazeSimFactory
from tests.helpers_cli import clean_env, data_dir, invoke_cli, run_cli
from tests.helpers_ports import refused_port
from tests.helpers_store import store_at
from tests.helpers_tvmaze import UNLIMITED
from tvmaze_sync import __version__
from tvmaze_sync.cli.main import main
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.storage import state
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import prepare_storage_dir


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A default storage path with three shows and a state file, as a cycle leaves them."""
    storage = prepare_storage_dir(data_dir(tmp_path))
    store = store_at(storage)
    rows = [
        row_from_show(Show(tvmaze_id=i, title=f"Show {i}", genres=("Drama",)), {"id": i})
        for i in (1, 2, 3)
    ]
    store.upsert_shows(rows, "2025-01-01T00:00:00Z")
    with store.atomic():
        store.db.execute(
            "UPDATE shows SET processing_status = ? WHERE tvmaze_id = 2",
            [ProcessingStatus.ADDED.value],
        )
    store.close()
    StateFile(storage).save(State(last_tvmaze_page=4, highest_tvmaze_id=3))
    return storage


def test_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tvmaze-sync {__version__}"


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert all(f"{int(code)} {code.meaning}" in text for code in ExitCode), text


def test_help_loads_none_of_the_core(tmp_path: Path) -> None:
    """Cron pays start-up on every run and shell completion on every TAB: `--help` must not
    load the SQLite, YAML, HTTP or metrics layers (bench/startup_bench.py times it)."""
    result = run_cli(tmp_path, "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "tvmaze_sync.cli.main" in loaded  # the probe sees our imports
    heavy = {"sqlite3", "sqlite_utils", "yaml", "requests", "pyarr", "httpx", "prometheus_client"}
    core = {"config", "store", "state", "sync", "filters", "sonarr", "metrics", "render"}
    assert loaded & (heavy | {f"tvmaze_sync.{name}" for name in core}) == set()


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "sync", env={"DRY_RUN": "maybe"})
    assert result.returncode == ExitCode.USAGE
    line = _one_error_line(result.stderr)
    assert "DRY_RUN (dry_run): 'maybe' is not valid; expected true or false" in line
    assert result.stdout == ""
    assert not data_dir(tmp_path).exists()  # nothing touched before the config is valid


def test_debug_may_add_the_traceback(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--log-level", "DEBUG", "sync", env={"DRY_RUN": "maybe"})
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.strip().splitlines()[-1].startswith("error: configuration error")


@pytest.fixture
def call_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """`main()` in this process (fast), with the same isolation as `run_cli`.

    Process exit codes are proven by the subprocess tests; these check how `main` maps
    every other kind of failure.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.chdir(tmp_path)

    def call(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in clean_env(tmp_path, env).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["tvmaze-sync", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        out, err = capsys.readouterr()
        code = exit_.value.code
        return (code if isinstance(code, int) else 1), out, err

    yield call
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    "args",
    [(), ("config",), ("sync", "--bogus"), ("state", "--format", "xml"), ("no-such-command",)],
)
def test_usage_errors_exit_2_without_a_traceback(
    call_main: Callable[..., tuple[int, str, str]], args: tuple[str, ...]
) -> None:
    code, _, err = call_main(*args)
    assert code == ExitCode.USAGE, err
    assert "Traceback" not in err
    assert "unexpected error" not in err


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("--config", "missing.yaml", "state"), {}, "--config: missing.yaml does not exist"),
        (("state",), {"TVMAZE_SYNC_CONFIG": "/nope.yaml"}, "TVMAZE_SYNC_CONFIG: /nope.yaml"),
        (("state",), {"FILTERS_PREMIERED_AFTER": "[/]"}, "'[/]' is not valid"),
        (("state",), {"FILTERS_PREMIERED_AFTER": "[bold]x"}, "'[bold]x' is not valid"),
        (("shows",), {}, "no cache at"),
    ],
)
def test_errors_are_one_literal_line(
    call_main: Callable[..., tuple[int, str, str]],
    args: tuple[str, ...],
    env: dict[str, str],
    fragment: str,
) -> None:
    code, out, err = call_main(*args, env=env)
    assert code == ExitCode.USAGE, err
    assert fragment in _one_error_line(err)
    assert out == ""


def test_an_unexpected_error_is_one_line_too(
    call_main: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(config: object) -> dict[str, object]:
        raise KeyError("a bug")

    monkeypatch.setattr(state, "read_state", broken)  # `state` imports it when it runs
    code, _, err = call_main("state")
    assert code == ExitCode.CYCLE_FAILED
    lines = err.strip().splitlines()
    assert lines == [
        "unexpected error: KeyError: 'a bug' (run with --log-level DEBUG for the traceback)"
    ]


def test_an_unexpected_error_in_a_cycle_is_recorded_in_state(
    tmp_path: Path,
    call_main: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tvmaze_sim_factory: TvmazeSimFactory,
) -> None:
    """`state` says how the last cycle failed, even when the failure is a bug of ours."""
    from tvmaze_sync.decisions import filters

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    sim = tvmaze_sim_factory(shows=load_real_shows()[:20], rate_limit=None)
    monkeypatch.setattr(filters, "apply", broken)
    code, _, _ = call_main("sync", env={"TVMAZE_BASE_URL": sim.url})
    assert code == ExitCode.CYCLE_FAILED
    last = StateFile(data_dir(tmp_path)).load().last_cycle
    assert last["ok"] is False and last["error"] == "unexpected error: KeyError: 'a bug'"


def test_invalid_yaml_exits_2_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("sonarr:\n  url: [\n", encoding="utf-8")
    result = run_cli(tmp_path, "config", "check")
    assert result.returncode == ExitCode.USAGE
    assert "config.yaml: line 3 is not valid YAML" in _one_error_line(result.stderr)


def test_state_json_is_one_document_on_stdout(tmp_path: Path, cache: Path) -> None:
    result = run_cli(tmp_path, "--log-level", "DEBUG", "state", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # fails on anything besides one JSON document
    assert set(document) == {"storage_path", "state", "shows", "removals_held"}
    assert document["removals_held"] == 0
    assert document["storage_path"] == str(cache)
    assert document["state"]["last_tvmaze_page"] == 4
    assert document["shows"]["total"] == 3
    assert document["shows"]["by_status"]["added"] == 1
    assert document["shows"]["by_status"]["pending"] == 2
    assert set(document["shows"]["by_status"]) == {s.value for s in ProcessingStatus}


def test_state_before_any_sync(
    tmp_path: Path, call_main: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = call_main("state", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["state"] is None and document["shows"]["total"] == 0
    assert not data_dir(tmp_path).exists()  # reading never creates the storage


def test_state_table(cache: Path, call_main: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = call_main("state")
    assert code == 0, err
    assert "added" in out and "pending" in out


def test_shows_json_is_one_array_with_stable_keys(tmp_path: Path, cache: Path) -> None:
    result = run_cli(tmp_path, "--log-format", "json", "shows", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["tvmaze_id"] for row in rows] == [1, 2, 3]
    assert len({tuple(row) for row in rows}) == 1  # every row has the same keys
    assert rows[0]["title"] == "Show 1"


def test_shows_filters(cache: Path, call_main: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = call_main("shows", "--status", "added", "--format", "json")
    assert code == 0
    assert [row["tvmaze_id"] for row in json.loads(out)] == [2]
    code, out, _ = call_main("shows", "-n", "1", "--format", "json")
    assert len(json.loads(out)) == 1
    code, out, _ = call_main("shows", "--status", "filtered", "--format", "json")
    assert json.loads(out) == []


def test_sync_on_defaults_exits_0(tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory) -> None:
    """A whole cycle on the built-in defaults, TVMaze played by the simulator."""
    sim = tvmaze_sim_factory(shows=load_real_shows()[:300], rate_limit=None)
    result = run_cli(tmp_path, "sync", env={"TVMAZE_BASE_URL": sim.url}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    storage = data_dir(tmp_path)
    assert (storage / "shows.db").is_file()
    state = StateFile(storage).load()
    assert state.last_cycle["ok"] is True
    assert state.last_cycle["dry_run"] is True  # no sonarr.url: a dry run
    assert (storage / "state.json.bak").is_file()  # a successful cycle refreshes the backup


def test_sync_preview_is_a_dry_run_against_a_configured_sonarr(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim: SonarrSimulator
) -> None:
    """`--preview` (Recyclarr's word) reads Sonarr but writes nothing to it."""
    sim = tvmaze_sim_factory(shows=load_real_shows()[:60], rate_limit=None)
    env = {
        "TVMAZE_BASE_URL": sim.url,
        "TVMAZE_RATE_LIMIT": str(UNLIMITED),  # the simulator does not throttle
        "SONARR_URL": sonarr_sim.url,
        "SONARR_API_KEY": SONARR_API_KEY,
    }
    result = run_cli(tmp_path, "sync", "--preview", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    state = StateFile(data_dir(tmp_path)).load()
    assert state.last_cycle["dry_run"] is True
    assert state.last_cycle["would_add_titles"]
    assert sonarr_sim.posts_to("/api/v3/series") == []
    assert sonarr_sim.requests_to("/api/v3/series")  # the library was read


def test_a_password_in_a_url_is_never_shown(
    tmp_path: Path, call_main: Callable[..., tuple[int, str, str]]
) -> None:
    env = {
        "SONARR_URL": "http://bob:pw123@sonarr.example:8989",
        "SONARR_API_KEY": SONARR_API_KEY,
        "TVMAZE_BASE_URL": "https://me:tvpass@api.example",
    }
    code, out, err = call_main("config", "check", "--format", "json", env=env)
    assert code == 0, err
    resolved = json.loads(out)["config"]
    assert resolved["sonarr"]["url"] == "http://bob:***@sonarr.example:8989"
    assert resolved["tvmaze"]["base_url"] == "https://me:***@api.example"
    assert "pw123" not in out + err and "tvpass" not in out + err


def test_a_password_in_sonarr_url_stays_out_of_logs_errors_and_state(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory, sonarr_sim: SonarrSimulator
) -> None:
    sim = tvmaze_sim_factory(shows=load_real_shows()[:20], rate_limit=None)
    with_password = sonarr_sim.url.replace("http://", "http://bob:pw123@")
    env = {
        "TVMAZE_BASE_URL": sim.url,
        "TVMAZE_RATE_LIMIT": str(UNLIMITED),  # the simulator does not throttle
        "SONARR_URL": with_password,
        "SONARR_API_KEY": SONARR_API_KEY,
    }
    result = run_cli(tmp_path, "sync", "--preview", "--verbose", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "sonarr_validated url=" in result.stderr
    assert "pw123" not in result.stdout + result.stderr

    with refused_port() as port:
        env["SONARR_URL"] = f"http://bob:pw123@127.0.0.1:{port}"  # nobody listens
        result = run_cli(tmp_path, "sync", env=env, timeout=120)
    assert result.returncode == ExitCode.DEPENDENCY, result.stderr
    assert "is unavailable" in result.stderr
    assert "pw123" not in result.stdout + result.stderr
    storage = data_dir(tmp_path)
    for name in ("state.json", "state.json.bak"):
        assert "pw123" not in (storage / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("shows", "--limit", "99999999999999999999"), "--limit"),
        (("explain", "99999999999999999999999"), "no cached show has TVMaze id"),
        (("explain", "9223372036854775808"), "no cached show has TVMaze id"),
        (("explain", "²"), "no cached show matches"),
    ],
)
def test_huge_numbers_are_usage_errors(
    cache: Path,
    call_main: Callable[..., tuple[int, str, str]],
    args: tuple[str, ...],
    fragment: str,
) -> None:
    code, _, err = call_main(*args)
    assert code == ExitCode.USAGE, err
    assert fragment in err
    assert "unexpected error" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", [("state",), ("shows",), ("explain", "1")])
def test_read_commands_on_a_foreign_database_exit_2(
    tmp_path: Path, call_main: Callable[..., tuple[int, str, str]], args: tuple[str, ...]
) -> None:
    import sqlite3

    from tvmaze_sync.storage.store import DB_NAME, READABLE_SCHEMA_VERSION

    storage = prepare_storage_dir(data_dir(tmp_path))
    conn = sqlite3.connect(storage / DB_NAME)
    conn.executescript(f"create table shows(x); pragma user_version={READABLE_SCHEMA_VERSION};")
    conn.close()
    code, _, err = call_main(*args)
    assert code == ExitCode.USAGE, err
    assert f"cannot read {storage / DB_NAME}" in _one_error_line(err)


def test_state_on_a_storage_path_that_is_a_file_exits_2(
    tmp_path: Path, call_main: Callable[..., tuple[int, str, str]]
) -> None:
    storage = tmp_path / "file"
    storage.write_text("x", encoding="utf-8")
    code, out, err = call_main("state", env={"STORAGE_PATH": str(storage)})
    assert code == ExitCode.USAGE, err
    assert "is not a directory" in _one_error_line(err)
    assert out == ""


def test_sync_with_an_http_cache_that_cannot_be_made_exits_2(
    tmp_path: Path, tvmaze_sim_factory: TvmazeSimFactory
) -> None:
    from tvmaze_sync.tvmaze.client import CACHE_NAME

    sim = tvmaze_sim_factory(shows=load_real_shows()[:20], rate_limit=None)
    (prepare_storage_dir(data_dir(tmp_path)) / CACHE_NAME).mkdir()
    result = run_cli(tmp_path, "sync", env={"TVMAZE_BASE_URL": sim.url}, timeout=120)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"cannot use the HTTP cache {data_dir(tmp_path) / CACHE_NAME}" in result.stderr
    assert "mid-run" not in result.stderr and "Traceback" not in result.stderr


def test_an_api_key_without_a_url_warns_of_a_dry_run(
    call_main: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, err = call_main("config", "check", env={"SONARR_API_KEY": SONARR_API_KEY})
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: "), err
    assert "sonarr.url is not" in lines[0] and "dry run" in lines[0]
    assert SONARR_API_KEY not in out + err
    code, _, err = call_main("config", "check")
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("config", "check"),
        ("--config", "bad.yaml", "config", "check"),
        ("--log-level", "DEBUG", "state", "--format", "json"),
        ("shows", "--status", "nope"),
        ("explain", "1"),
    ],
)
def test_invoke_cli_answers_as_the_real_process_does(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Tests that run commands in-process (helpers_cli.invoke_cli) see what a process shows:
    the same exit code, stdout and stderr; and the test's own process is left as it was."""
    (tmp_path / "config.yaml").write_text("logging:\n  format: json\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("sonarr:\n  url: [\n", encoding="utf-8")
    before = (dict(os.environ), os.getcwd(), os.umask(0o022), sys.stdout, logging.root.handlers[:])
    os.umask(before[2])
    inside = invoke_cli(tmp_path, *args)
    after = (dict(os.environ), os.getcwd(), os.umask(0o022), sys.stdout, logging.root.handlers[:])
    os.umask(after[2])
    assert after == before
    real = run_cli(tmp_path, *args)
    assert (inside.returncode, inside.stdout, inside.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )
