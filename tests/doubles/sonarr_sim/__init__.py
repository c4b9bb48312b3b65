"""A loopback simulator of the Sonarr v3 API, as served by Sonarr 4.0.x (and a 3.0.x mode).

Why it exists: the machines that run the tests have no network and no Sonarr, yet the
client must be exercised over real HTTP against the answers it will meet in the field.
Every status code and body shape here follows Sonarr's own code (release 4.0.19, and
3.0.9 for the v3 mode), not guesses:

* auth like ``ApiKeyAuthenticationHandler``: ``apikey`` query parameter first, then the
  ``X-Api-Key`` header, then ``Authorization: Bearer``; a missing or wrong key is ``401``
  with an empty body (v3 mode: header first, then query, no Bearer);
* validation failures are ``400`` with a JSON *array* of FluentValidation failures, as
  ``SonarrErrorPipeline`` writes them; other errors are ``ErrorModel`` objects
  ``{message, description}``; model-binding errors (bad JSON, wrong types, bad query
  values) are ASP.NET ``ProblemDetails`` (``application/problem+json``);
* a duplicate add is ``400`` with ``errorCode: "SeriesExistsValidator"``; a ``409`` only
  happens when two adds race into the unique index (simulated on demand);
* ``series/lookup?term=tvdb:N`` answers ``[]`` for an unknown id, the library record
  (``id > 0``) for a series already added, a lookup resource without ``id`` otherwise,
  and ``503`` (``SkyHookException``) when the metadata server is failing;
* ``POST /series`` takes its metadata from the simulator's *catalogue* (what SkyHook
  would return), applies only the fields Sonarr's ``Series.ApplyChanges`` copies from the
  request, and then plays the post-add refresh (season monitoring per
  ``addOptions.monitor``, ``addOptions`` cleared, search recorded).

Faults (fail the next N requests, random error rate, dropped connections, latency, a
rotated key, a failing metadata server, a racing add) and a request log are there for
tests. Standard library only, so the server runs anywhere the package does.

Run standalone for demos: ``python -m tests.doubles.sonarr_sim --port 8989``.

The package, one module a concern: :mod:`.constants` (Sonarr's fixed tables),
:mod:`.helpers` (dates, paths, titles, JSON as Sonarr writes them), :mod:`.catalogue`
(SkyHook's metadata), :mod:`.messages` (a request and a reply), :mod:`.state` (what every
part shares), :mod:`.replies` (Sonarr's error bodies), :mod:`.binding` (request bodies
bound like ASP.NET), :mod:`.validation` (Sonarr's validators), :mod:`.library` (the data
model and its resources), :mod:`.faults`, the endpoints (:mod:`.settings`,
:mod:`.series`, :mod:`.exclusions`), :mod:`.routing` (auth, routes, the HTTP handler),
:mod:`.simulator` (the class that puts them together) and :mod:`.standalone` (the demo
server's command line).
"""

from tests.doubles.sonarr_sim.catalogue import catalogue_from_tvmaze, load_sample_catalogue
from tests.doubles.sonarr_sim.constants import (
    DEFAULT_API_KEY,
    DEFAULT_V3_VERSION,
    DEFAULT_VERSION,
    MONITOR_TYPES_V3,
    MONITOR_TYPES_V4,
)
from tests.doubles.sonarr_sim.messages import RequestRecord
from tests.doubles.sonarr_sim.simulator import SonarrSimulator
from tests.doubles.sonarr_sim.standalone import main

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
