"""Filters (placeholder until the filters issue lands): every show passes."""

from __future__ import annotations

from tvmaze_sync.config import FiltersConfig
from tvmaze_sync.models import ProcessingResult, Show
from tvmaze_sync.state import State, StateFile
from tvmaze_sync.store import Store


class ShowProcessor:
    def process(self, show: Show) -> ProcessingResult:
        return ProcessingResult(passed=True)


def build_processor(config: FiltersConfig) -> ShowProcessor:
    return ShowProcessor()


def refilter_if_changed(
    store: Store,
    state: State,
    state_file: StateFile,
    config: FiltersConfig,
    processor: ShowProcessor,
) -> None:
    return None


def apply(store: Store, processor: ShowProcessor) -> None:
    return None
