"""Peak memory of `tvmaze-sync sync` against hostile bodies (issues #14, #13/#14 leftovers).

- A 500 MB body: the hostile double (tvmaze_sim.hostile) generates it block by block,
  chunked with no Content-Length, so the client's cap, not an announced size, has to stop
  it. The cycle retries (the real policy: six tries with backoff, about half a minute) and
  fails with exit 1.
- A dense body: 32 MB less a byte (under the size cap) of `[{},{},…]`, valid JSON that
  decodes to twenty times its size, from TVMaze and, in a second run, as Sonarr's library.
The figure is the child's own peak RSS, from wait4.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import Figure
from bench.tvmaze_bench import measured_sync
from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.doubles.tvmaze_sim.hostile import MB, HostileUpstream, _dense

HUGE_TARGET_MB = 150.0  # the full sync's own target: a hostile body must not raise it


def huge_body_peak_rss() -> list[Figure]:
    """Peak RSS of a `sync` whose every TVMaze answer is an endless 500 MB body."""
    with (
        HostileUpstream("huge_chunked", huge_size=500 * MB) as upstream,
        tempfile.TemporaryDirectory(prefix="tvmaze-bench-") as tmp,
    ):
        code, elapsed, peak_mb, stderr = measured_sync(Path(tmp), upstream.url)
        message = stderr.splitlines()[-1:]
        tries, sent = len(upstream.requests), upstream.bytes_sent
    refused = code == 1 and "over the 32 MB cap" in "".join(message)
    ok = peak_mb < HUGE_TARGET_MB and refused
    detail = (
        f"exit {code} after {tries} tries in {elapsed:.0f} s, {sent / MB:.0f} MB sent "
        f"of {tries * 500} MB offered"
    )
    if not refused:
        detail += f": {''.join(message)[-300:]}"
    target = f"< {HUGE_TARGET_MB:.0f}"
    return [Figure("peak RSS, sync against a 500 MB body", peak_mb, "MB", target, ok, detail)]


#: Just under the 32 MB cap: the size cap alone lets it through.
DENSE_SIZE = 32 * MB - 1
SONARR_KEY = "0123456789abcdef0123456789abcdef"
#: Seconds before a run is killed: a client that decodes the dense pages goes on to the next
#: one (the double answers every page alike) for ever.
DENSE_LIMIT = 120.0


def dense_body_peak_rss() -> list[Figure]:
    """Peak RSS of a `sync` whose TVMaze pages, then whose Sonarr library, are 32 MB of
    `[{},{},…]`: refused before decoding, never turned into eleven million dicts."""
    figures = []
    with (
        HostileUpstream("dense", dense_size=DENSE_SIZE) as upstream,
        tempfile.TemporaryDirectory(prefix="tvmaze-bench-") as tmp,
    ):
        code, elapsed, peak_mb, stderr = measured_sync(Path(tmp), upstream.url, limit=DENSE_LIMIT)
        tries = len(upstream.requests)
    figures.append(_dense_figure("TVMaze", code, 1, elapsed, peak_mb, stderr, tries))
    with (
        TvmazeSimulator([], rate_limit=None) as tvmaze,
        SonarrSimulator(SONARR_KEY, root_folders=["/tv"], quality_profiles=["Any"]) as sonarr,
        tempfile.TemporaryDirectory(prefix="tvmaze-bench-") as tmp,
    ):
        body = b"".join(_dense(DENSE_SIZE))
        sonarr.fail_next(
            10, 200, "/api/v3/series", method="GET", body=body, content_type="application/json"
        )
        extra = {
            "SONARR_URL": sonarr.url,
            "SONARR_API_KEY": SONARR_KEY,
            "SONARR_ROOT_FOLDER": "/tv",
            "SONARR_QUALITY_PROFILE": "Any",
        }
        code, elapsed, peak_mb, stderr = measured_sync(Path(tmp), tvmaze.url, extra, DENSE_LIMIT)
        tries = len(sonarr.requests_to("/api/v3/series", "GET"))
    figures.append(_dense_figure("Sonarr's library", code, 3, elapsed, peak_mb, stderr, tries))
    return figures


def _dense_figure(
    what: str, code: int, exit_due: int, elapsed: float, peak_mb: float, stderr: str, tries: int
) -> Figure:
    message = "".join(stderr.splitlines()[-1:])
    ok = peak_mb < HUGE_TARGET_MB and code == exit_due
    detail = f"exit {code} after {tries} tries in {elapsed:.0f} s: {message[-160:]}"
    name = f"peak RSS, sync against 32 MB of [{{}},…] ({what})"
    return Figure(name, peak_mb, "MB", f"< {HUGE_TARGET_MB:.0f}", ok, detail)
