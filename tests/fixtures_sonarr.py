"""Pytest fixtures serving the Sonarr simulator on loopback.

``sonarr_sim`` is the common case: a Sonarr 4.0.19 with root folder ``/tv``, quality
profiles ``Any`` (id 1) and ``HD-1080p`` (id 4), the tag ``auto-sync`` (id 1), and the
packaged TVMaze sample as its metadata catalogue, so every TVDB id the TVMaze simulator
serves can be looked up and added. ``sonarr_sim_factory`` builds others (v3 mode, an
existing library, exclusions...); every simulator it made is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tvmaze_sync.testing.sonarr_sim import DEFAULT_V3_VERSION, SonarrSimulator

SONARR_API_KEY = "sonarr-test-key"
SONARR_ROOT_FOLDER = "/tv"
SONARR_TAG = "auto-sync"
SONARR_QUALITY_PROFILES: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Any"},
    {"id": 4, "name": "HD-1080p"},
)
SONARR_V3_VERSION = DEFAULT_V3_VERSION

SonarrFactory = Callable[..., SonarrSimulator]


@pytest.fixture
def sonarr_sim_factory() -> Iterator[SonarrFactory]:
    """Build and start simulators; keyword arguments go to :class:`SonarrSimulator`.

    Defaults match ``sonarr_sim``; pass ``version=SONARR_V3_VERSION`` for a v3 server.
    """
    started: list[SonarrSimulator] = []

    def make(**kwargs: Any) -> SonarrSimulator:
        kwargs.setdefault("api_key", SONARR_API_KEY)
        kwargs.setdefault("root_folders", [SONARR_ROOT_FOLDER])
        kwargs.setdefault("quality_profiles", [dict(p) for p in SONARR_QUALITY_PROFILES])
        kwargs.setdefault("tags", [SONARR_TAG])
        sim = SonarrSimulator(**kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sonarr_sim(sonarr_sim_factory: SonarrFactory) -> SonarrSimulator:
    """A started Sonarr 4.0.19 simulator with the project's standard setup."""
    return sonarr_sim_factory()
