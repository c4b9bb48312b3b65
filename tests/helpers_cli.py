"""Run the real `tvmaze-sync` in a subprocess, isolated from the developer's environment.

Exit codes are a contract with cron and systemd, so the tests that check them run the CLI as a
real process: `python -m tvmaze_sync` with HOME and every XDG directory inside tmp_path, the
working directory there too, and no inherited option variable (SONARR_URL, DRY_RUN …).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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


def data_dir(home: Path) -> Path:
    """The default storage path under `clean_env(home)`."""
    return home / "xdg-data" / "tvmaze-sync"
