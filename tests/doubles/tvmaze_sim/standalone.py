"""The demo server's command line: ``python -m tests.doubles.tvmaze_sim``."""

from __future__ import annotations

import argparse
import sys
import time

from tests.doubles.tvmaze_sim.shows import SyntheticShows, synthetic_shows
from tests.doubles.tvmaze_sim.simulator import TvmazeSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.tvmaze_sim",
        description="Serve a simulated TVMaze API on a loopback port until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--synthetic", type=int, metavar="N", help="serve N synthetic shows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--rate-limit", type=int, default=20, help="calls per window")
    parser.add_argument("--rate-window", type=float, default=10.0, help="seconds")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--truncate-rate", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--index-max-age", type=float, default=None, help="seconds")
    parser.add_argument("--gzip", action="store_true", help="gzip bodies when accepted")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    shows: SyntheticShows | None = None
    if args.synthetic is not None:
        shows = synthetic_shows(args.synthetic, args.seed)
    sim = TvmazeSimulator(
        shows,
        host=args.host,
        port=args.port,
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        rate_window=args.rate_window,
        error_rate=args.error_rate,
        truncate_rate=args.truncate_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        seed=args.seed,
        index_max_age=args.index_max_age,
        compress=args.gzip,
    )
    with sim:
        elapsed = time.perf_counter() - started
        try:  # the banner inside: a Ctrl-C right after it (a test reading it) is still caught
            print(
                f"TVMaze simulator on {sim.url} ({sim.show_count} shows, "
                f"last page {sim.last_page}, ready in {elapsed:.2f}s)",
                flush=True,
            )
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopping; served {sim.total_requests} requests", file=sys.stderr)
    return 0
