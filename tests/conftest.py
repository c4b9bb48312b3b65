"""Fixtures shared by every test file, and one rule for the whole suite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.fixtures_tvmaze", "tests.fixtures_sonarr"]

#: An absolute path in a skip reason: `/tmp/pytest-of-root/...`, `/work/...`, `/usr/bin/x`.
ABSOLUTE_PATH = re.compile(r"(?:^|[\s'\"(=:])/(?:[^\s/'\"]+/)+")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skip reason is read on another machine (CI's log, a bug report): it names paths
    relative to the checkout, never this machine's absolute ones. Such a skip fails."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if ABSOLUTE_PATH.search(reason):
            report.outcome = "failed"
            report.longrepr = f"skip reason holds an absolute path: {reason}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: the rest keep their order). Under `-n 2` a test of
    half a minute started last keeps one worker busy alone at the end of the run; started
    first, the short ones fill in around it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
