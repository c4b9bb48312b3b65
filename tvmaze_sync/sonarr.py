"""Sonarr (placeholder until the Sonarr issue lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tvmaze_sync.config import SonarrConfig
from tvmaze_sync.models import CycleSummary
from tvmaze_sync.store import Store
from tvmaze_sync.timeutil import Clock

if TYPE_CHECKING:
    from tvmaze_sync.sync import Runtime


def connect(config: SonarrConfig, clock: Clock) -> Any:
    return None


def process(
    store: Store, gateway: Any, tvmaze: Any, runtime: Runtime, summary: CycleSummary
) -> None:
    return None
