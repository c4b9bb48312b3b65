"""A loopback HTTP simulator of the public TVMaze API (see :mod:`.simulator`)."""

from tvmaze_sync.testing.tvmaze_sim.simulator import (
    DATA_FILE,
    DAY,
    DELETE,
    PAGE_SIZE,
    SERVER_ERROR_STATUSES,
    SINCE_WINDOWS,
    VALID_EMBEDS,
    RequestRecord,
    Show,
    SyntheticShows,
    TvmazeSimulator,
    load_real_shows,
    main,
    synthetic_shows,
)

__all__ = [
    "DATA_FILE",
    "DAY",
    "DELETE",
    "PAGE_SIZE",
    "SERVER_ERROR_STATUSES",
    "SINCE_WINDOWS",
    "VALID_EMBEDS",
    "RequestRecord",
    "Show",
    "SyntheticShows",
    "TvmazeSimulator",
    "load_real_shows",
    "main",
    "synthetic_shows",
]
