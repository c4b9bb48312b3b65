"""A loopback HTTP simulator of the public TVMaze API.

The machines that build and test tvmaze-sync have no internet, and the real API
would in any case be too polite to exercise the failure paths that matter: 429s,
5xx bursts, truncated bodies, stalls and a show index that lags behind the
per-show endpoint.  This simulator serves the *real* show objects recorded from
TVMaze (see ``data/extract_tvmaze.py``) or synthetic clones of them, and lets a
test provoke each of those behaviours deterministically.

Endpoints (everything else answers 404 like the real API):

* ``GET /shows?page=N`` - the show index, ids ``250*N .. 250*N+249``, served from
  a lagging **index snapshot** (see below); 404 past the last page.
* ``GET /shows/:id`` - the current show object (``embed`` accepted, see
  :data:`VALID_EMBEDS`).
* ``GET /updates/shows[?since=day|week|month]`` - ``{"<id>": <updated>}``.
* ``GET /lookup/shows?thetvdb=|imdb=|tvrage=`` - 301 to ``/shows/:id``.
* ``GET /search/shows?q=`` and ``GET /singlesearch/shows?q=`` - naive name match.

Index lag.  TVMaze caches the show index for up to 24 hours, so a page can hold an
older copy of a show than ``/shows/:id`` and ``/updates/shows``.  The simulator
models this with an explicit snapshot: the page endpoint serves the data set
exactly as it was at the last :meth:`TvmazeSimulator.refresh_index` (taken once
at construction).  Updates, additions and deletions after that are visible at
``/shows/:id`` and ``/updates/shows`` immediately but not on pages (a deleted
show stays listed, a new show is missing, and the last page does not grow)
until the next refresh.  If ``index_max_age`` is set, a page request refreshes
the snapshot first once it is that many sim-clock seconds old, which mimics the
real cache expiring; by default it never expires on its own, so tests decide.

Only the standard library is used, so the simulator runs wherever the tests do.

The package: :mod:`.shows` (the recorded shows and synthetic clones), :mod:`.dataset`
(the data as the API shows it: index snapshot, sim clock, edits), :mod:`.wire` (bodies,
errors and the HTTP handler), :mod:`.simulator` (faults, rate limit, counters, endpoints)
and :mod:`.standalone` (the demo server's command line).
"""

from tests.doubles.tvmaze_sim.dataset import DELETE, PAGE_SIZE, SINCE_WINDOWS
from tests.doubles.tvmaze_sim.shows import (
    DATA_FILE,
    DAY,
    Show,
    SyntheticShows,
    load_real_shows,
    synthetic_shows,
)
from tests.doubles.tvmaze_sim.simulator import (
    SERVER_ERROR_STATUSES,
    VALID_EMBEDS,
    TvmazeSimulator,
)
from tests.doubles.tvmaze_sim.standalone import main
from tests.doubles.tvmaze_sim.wire import RequestRecord

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
