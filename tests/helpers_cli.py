"""Run the real `tvmaze-sync` in a subprocess, isolated from the developer's environment.

Exit codes are a contract with cron and systemd, so the tests that check them run the CLI as a
real process: `python -m tvmaze_sync` with HOME and every XDG directory inside tmp_path, the
working directory there too, and no inherited option variable (SONARR_URL, DRY_RUN …).
`invoke_cli` runs the same `main()` in-process under the same conditions, for tests of what a
command does rather than of the process (a process costs an interpreter and the core's imports).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tvmaze_sync.core.config import iter_options

_SECTIONS = {option.path[0].upper() for option in iter_options()}


def _is_option_var(name: str) -> bool:
    upper = name.upper()
    return upper == "TVMAZE_SYNC_CONFIG" or any(
        upper == section or upper.startswith(section + "_") for section in _SECTIONS
    )


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ minus every option variable, with HOME and XDG dirs under `home`."""
    env = {name: value for name, value in os.environ.items() if not _is_option_var(name)}
    env.pop("PYTHONWARNINGS", None)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_DATA_HOME=str(home / "xdg-data"),
        XDG_CACHE_HOME=str(home / "xdg-cache"),
        XDG_STATE_HOME=str(home / "xdg-state"),
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.update(extra or {})
    return env


def run_cli(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`python -m tvmaze_sync ARGS` in a clean environment rooted at `home`."""
    return subprocess.run(
        [sys.executable, "-m", "tvmaze_sync", *args],
        env=clean_env(home, env),
        cwd=cwd or home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke_cli(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`run_cli`'s twin without the process: the same `main()` in this interpreter, with the
    same argv, environment, working directory and umask, its stdout and stderr captured as
    the process's would be (UTF-8 bytes, decoded the way `subprocess.run(text=True)` does).

    For tests of what a command does, where the process itself is not the point: starting
    an interpreter and importing the core costs a few hundred milliseconds a command. Exit
    codes, signals, kills and the bytes a real process writes stay with `run_cli`."""
    from tvmaze_sync.cli import main as cli_main
    from tvmaze_sync.cli import render
    from tvmaze_sync.cli.terminal import Terminal

    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    with _process_state(home, env, cwd, args, stdout, stderr):
        # Made here, under the command's environment (COLUMNS, NO_COLOR), as at its import.
        cli_main.stderr = Terminal(stderr=True, soft_wrap=True)
        render.stdout = Terminal()
        try:
            cli_main.main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # what the interpreter would print before exiting 1
            traceback.print_exc(file=stderr)
            code = 1
        stdout.flush()
        stderr.flush()
    return subprocess.CompletedProcess(
        [sys.executable, "-m", "tvmaze_sync", *args],
        code,
        out.getvalue().decode(),
        err.getvalue().decode(),
    )


@contextmanager
def _process_state(
    home: Path,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    args: tuple[str, ...],
    stdout: TextIO,
    stderr: TextIO,
) -> Iterator[None]:
    """What a new process would start from, for the length of one in-process command; this
    interpreter's own state (environment, cwd, umask, argv, streams, logging, consoles) after."""
    from tvmaze_sync.cli import main as cli_main
    from tvmaze_sync.cli import render
    from tvmaze_sync.core.logs import redact

    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    saved_streams = sys.stdout, sys.stderr
    saved_consoles = cli_main.stderr, render.stdout
    saved_secrets = redact._secrets
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    loggers = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    umask = os.umask(0o022)
    os.umask(umask)
    wanted = clean_env(home, env)
    os.environ.clear()
    os.environ.update(wanted)
    os.chdir(cwd or home)
    sys.argv = ["tvmaze-sync", *args]
    sys.stdout, sys.stderr = stdout, stderr
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        os.umask(umask)
        cli_main.stderr, render.stdout = saved_consoles
        redact._secrets = saved_secrets
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in loggers.items():
            logging.getLogger(name).setLevel(level)


def data_dir(home: Path) -> Path:
    """The default storage path under `clean_env(home)`."""
    return home / "xdg-data" / "tvmaze-sync"
