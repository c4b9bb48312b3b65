"""Run every registered benchmark and print one line per figure, its target beside it.

    .venv/bin/python -m bench.run [NAME-FILTER]

Exit status 1 when a figure misses its target or a benchmark fails. To add figures, append a
callable returning an iterable of `bench.Figure` to BENCHMARKS.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterable

from bench import Figure, hostile_bench, refilter_bench, startup_bench, tvmaze_bench

BENCHMARKS: list[Callable[[], Iterable[Figure]]] = [
    tvmaze_bench.incremental_requests,
    tvmaze_bench.full_sync_time,
    tvmaze_bench.full_sync_peak_rss,
    hostile_bench.huge_body_peak_rss,
    hostile_bench.dense_body_peak_rss,
    refilter_bench.refilter_speed,
    startup_bench.startup_time,
]


def format_figure(figure: Figure) -> str:
    value = f"{figure.value:.3f}" if abs(figure.value) < 10 else f"{figure.value:.1f}"
    verdict = "ok" if figure.ok else "MISSED"
    line = f"{figure.name:<44} {value:>9} {figure.unit:<3} target {figure.target:<10} {verdict}"
    return f"{line}  ({figure.detail})" if figure.detail else line


def main(argv: list[str] | None = None) -> int:
    wanted = (argv if argv is not None else sys.argv[1:]) or [""]
    failed = False
    for benchmark in BENCHMARKS:
        name = f"{benchmark.__module__}.{benchmark.__qualname__}"
        if not any(w in name for w in wanted):
            continue
        started = time.perf_counter()
        try:
            figures = list(benchmark())
        except Exception:
            failed = True
            print(f"{name}: FAILED", flush=True)
            traceback.print_exc()
            continue
        for figure in figures:
            failed = failed or not figure.ok
            print(format_figure(figure), flush=True)
        print(f"  [{name} took {time.perf_counter() - started:.0f} s]", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
