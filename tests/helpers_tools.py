"""The real linters and checkers the suite runs (promtool, hadolint, kubernetes-validate …).

Most come with the `test` extra (PyPI wheels that ship the binary); promtool comes from
Debian's `prometheus` package, which .ci/run installs. A tool that is truly absent skips its
test on a developer's machine, with a reason that names no absolute path, and fails it under
CI (`CI` set), where .ci/run must have installed it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where pip put the test extra's console scripts (the venv may not be on PATH).
BIN = Path(sys.executable).parent


def tool(name: str, *, hint: str = "pip install -e '.[test]'") -> str:
    """The path of the command `name`, this venv's first; skip (or fail under CI) without it."""
    for candidate in (BIN / name, shutil.which(name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    reason = f"{name} is not installed ({hint}; bash .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def run(
    *argv: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a tool from the checkout's root; stdout and stderr captured as text."""
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )
