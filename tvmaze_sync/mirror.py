"""TVMaze -> cache (placeholder until the TVMaze issue lands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tvmaze_sync.config import Config
from tvmaze_sync.models import CycleSummary
from tvmaze_sync.state import State, StateFile
from tvmaze_sync.store import Store
from tvmaze_sync.timeutil import Clock, Sleep

if TYPE_CHECKING:
    from tvmaze_sync.sync import Runtime


@contextmanager
def open_client(config: Config, clock: Clock, sleep: Sleep) -> Iterator[Any]:
    yield None


def sync_mirror(
    client: Any,
    store: Store,
    state: State,
    state_file: StateFile,
    runtime: Runtime,
    summary: CycleSummary,
) -> None:
    summary.mode = "none"
