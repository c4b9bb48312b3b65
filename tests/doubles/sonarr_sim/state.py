"""What every part of the simulator reads: declared once here, set by ``SonarrSimulator``.

The simulator is one class built from a mixin per concern (replies, binding, validation,
library, faults, endpoints, routing); this base gives them, and mypy, the shared state.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.doubles.sonarr_sim.messages import RequestRecord, _Ctx, _Reply

#: The route table: path segments (``{id}`` for an integer) -> handler by HTTP method.
_Routes = list[tuple[tuple[str, ...], dict[str, Callable[[_Ctx], _Reply]]]]


class State:
    """The simulator's attributes (see ``SonarrSimulator.__init__`` for their meaning)."""

    _lock: threading.RLock
    api_key: str
    version: str
    host: str
    port: int
    url_base: str
    start_time: datetime
    unauthorized: bool
    error_rate: float
    error_status: int
    latency: float
    metadata_error: int | None
    broken_lookups: dict[int, str]
    paged_exclusions: bool
    searches: list[int]
    _rng: random.Random
    _log: list[RequestRecord]
    _catalogue: dict[int, dict[str, Any]]
    _root_folders: dict[int, dict[str, Any]]
    _quality_profiles: dict[int, dict[str, Any]]
    _language_profiles: dict[int, dict[str, Any]]
    _tags: dict[int, dict[str, Any]]
    _series: dict[int, dict[str, Any]]
    _next_series_id: int
    _exclusions: dict[int, dict[str, Any]]
    _next_exclusion_id: int
    _routes: _Routes

    @property
    def is_v3(self) -> bool:
        """True when the simulated server is Sonarr 3.x."""
        return self.version.startswith("3.")
