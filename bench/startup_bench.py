"""Start-up time of `tvmaze-sync --help` against `python -c pass`, as a ratio.

Why it matters: cron pays it on every run, and shell completion (Typer's) runs the program
on every TAB. Both commands run with the same interpreter, interleaved, several times in
one run, and the ratio is of the medians, so machine speed and load largely cancel out.

Target: <= 15x. A bare Typer app with two commands already costs about 8x on the reference
machine (importing typer and rich), so 15x leaves tvmaze-sync about as much again for its
own imports; the heavy ones (HTTP clients, SQLite layers, pyarr) are not needed for --help.

Run: .venv/bin/python -m bench.run startup   (or: .venv/bin/python -m bench.startup_bench)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import Figure

RUNS = 9
TARGET_RATIO = 15.0


def _command() -> list[str]:
    """The installed console script, as users run it; `python -m` when there is none."""
    script = Path(sys.executable).with_name("tvmaze-sync")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "tvmaze_sync", "--help"]


def _seconds(argv: list[str]) -> float:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def measure(runs: int = RUNS) -> dict[str, float]:
    """Median wall seconds of each command; one warm-up run of each is discarded."""
    baseline = [sys.executable, "-c", "pass"]
    command = _command()
    _seconds(baseline), _seconds(command)  # warm the page cache: measure start-up, not disk
    base, cli = [], []
    for _ in range(runs):
        base.append(_seconds(baseline))
        cli.append(_seconds(command))
    return {"python_pass": statistics.median(base), "help": statistics.median(cli)}


def startup_time() -> list[Figure]:
    """The figure for `python -m bench.run`."""
    m = measure()
    ratio = m["help"] / m["python_pass"]
    detail = (
        f"median of {RUNS}: `tvmaze-sync --help` {m['help'] * 1000:.0f} ms, "
        f"`python -c pass` {m['python_pass'] * 1000:.0f} ms"
    )
    return [
        Figure(
            "tvmaze-sync --help / python -c pass",
            ratio,
            "x",
            f"<= {TARGET_RATIO:g}",
            ratio <= TARGET_RATIO,
            detail,
        )
    ]


if __name__ == "__main__":
    for figure in startup_time():
        print(f"{figure.name}: {figure.value:.1f}x (target {figure.target}); {figure.detail}")
