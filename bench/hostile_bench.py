"""Peak memory of `tvmaze-sync sync` when TVMaze streams a 500 MB body (issue #14).

The hostile double (tvmaze_sim.hostile) generates the body block by block, chunked with no
Content-Length, so the client's cap, not an announced size, has to stop it. The cycle
retries (the real policy: six tries with backoff, about half a minute) and fails with
exit 1; the figure is the child's own peak RSS, from wait4.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import Figure
from bench.tvmaze_bench import measured_sync
from tests.doubles.tvmaze_sim.hostile import MB, HostileUpstream

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
