"""A loopback simulator of the Sonarr v3 API (see :mod:`.simulator`)."""

from tvmaze_sync.testing.sonarr_sim.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_V3_VERSION,
    DEFAULT_VERSION,
    MONITOR_TYPES_V3,
    MONITOR_TYPES_V4,
    RequestRecord,
    SonarrSimulator,
    catalogue_from_tvmaze,
    load_sample_catalogue,
    main,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_V3_VERSION",
    "DEFAULT_VERSION",
    "MONITOR_TYPES_V3",
    "MONITOR_TYPES_V4",
    "RequestRecord",
    "SonarrSimulator",
    "catalogue_from_tvmaze",
    "load_sample_catalogue",
    "main",
]
