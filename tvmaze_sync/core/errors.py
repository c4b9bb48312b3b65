"""Exception types, each carrying the process exit code it maps to.

Modules deep in the core raise these; `cli.main` turns them into one line on stderr and the
code below, so cron, systemd and Kubernetes can tell the failures apart.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Every exit code, with the meaning `--help` and the docs print (generated from here)."""

    OK = 0
    CYCLE_FAILED = 1
    USAGE = 2
    DEPENDENCY = 3
    REMOVALS_HELD = 4  # the cycle ran; series vanished en masse wait for `removals`
    LOCKED = 75  # EX_TEMPFAIL: cron may simply try again later
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C

    @property
    def meaning(self) -> str:
        """One phrase: `--help` lists these."""
        return _ABOUT[self].meaning

    @property
    def detail(self) -> str:
        """The meaning with what the docs' tables add to it."""
        about = _ABOUT[self]
        return f"{about.meaning}: {about.detail}" if about.detail else about.meaning

    @property
    def retry(self) -> str:
        """Whether running again helps (the troubleshooting table's last column)."""
        return _ABOUT[self].retry


class _About(NamedTuple):
    meaning: str
    detail: str
    retry: str


# The one place the codes are explained: `--help`, docs/troubleshooting.md and the README's
# table are generated from it (docs/gen.py; tests/test_docs.py fails on drift).
_ABOUT = {
    ExitCode.OK: _About("ok", "", "—"),
    ExitCode.CYCLE_FAILED: _About(
        "the cycle failed",
        "TVMaze kept failing, or storage failed mid-run; finished work is kept",
        "yes: the next run resumes",
    ),
    ExitCode.USAGE: _About(
        "usage or configuration error",
        "the message names the key or argument and the bad value",
        "no: fix the configuration or the command",
    ),
    ExitCode.DEPENDENCY: _About(
        "Sonarr/TVMaze unavailable or refusing us",
        "Sonarr down, a bad API key",
        "yes, once the service is back",
    ),
    ExitCode.REMOVALS_HELD: _About(
        "series vanished from Sonarr, held for `tvmaze-sync removals`",
        "the cycle ran; they vanished all at once, so none is concluded deleted until you decide",
        "no: decide with `tvmaze-sync removals accept` or `readd`",
    ),
    ExitCode.LOCKED: _About(
        "another run holds the lock", "", "yes: it is still busy, nothing was changed"
    ),
    ExitCode.INTERRUPTED: _About(
        "interrupted (Ctrl-C)",
        "`state` records `interrupted`; finished work is kept",
        "yes: the next run resumes",
    ),
}


class TvmazeSyncError(Exception):
    """Base of every expected failure; `str(error)` is the one line a user sees."""

    exit_code: ExitCode = ExitCode.CYCLE_FAILED


class CycleError(TvmazeSyncError):
    """The cycle could not finish (retries exhausted, storage failure mid-run)."""

    exit_code = ExitCode.CYCLE_FAILED


class ConfigError(TvmazeSyncError):
    """Bad configuration or usage. Carries every problem found, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str] | str) -> None:
        given = [problems] if isinstance(problems, str) else list(problems)
        # One line per problem whatever a key, value or path held (a newline, an escape code).
        self.problems = ["".join(c if c.isprintable() else repr(c)[1:-1] for c in p) for p in given]
        if len(self.problems) == 1:
            message = f"configuration error: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"configuration has {len(self.problems)} errors:\n{lines}"
        super().__init__(message)


class StorageError(TvmazeSyncError):
    """The storage path or database cannot be used (not writable, corrupt, disk full)."""

    exit_code = ExitCode.USAGE


class UsageError(TvmazeSyncError):
    """A command asks for something that cannot be (an unknown show, an ambiguous title)."""

    exit_code = ExitCode.USAGE


class DependencyError(TvmazeSyncError):
    """An external service is unreachable or refuses us (Sonarr down, bad API key)."""

    exit_code = ExitCode.DEPENDENCY


class RemovalsHeld(TvmazeSyncError):
    """Too many series this tool added vanished from Sonarr at once: none is concluded
    deleted until the user says which way (`tvmaze-sync removals accept|readd`)."""

    exit_code = ExitCode.REMOVALS_HELD


class LockHeld(TvmazeSyncError):
    """Another tvmaze-sync run holds the single-writer lock."""

    exit_code = ExitCode.LOCKED


class OutputError(TvmazeSyncError):
    """The command's output could not be written (`> /dev/full`, a full disk, an I/O error):
    the user chose where it goes, as with a path in the configuration."""

    exit_code = ExitCode.USAGE

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write the output: {error.strerror or error}")
