"""Refilter of 100 000 cached shows with a changed filter, against merely reading the table.

Targets (issue 4): the refilter takes <= 2 s and <= 4x the time of reading every row of the
same table (`SELECT *`, the rows as stored, full TVMaze JSON included). For a stricter view it
also prints the time to read just the rows and columns the refilter reads.

The cache is built offline through `Store.upsert_shows` from the recorded real TVMaze shows
(mapped by `tvmaze.mapping.map_show`) renumbered to 100 000 ids, so rows carry real nulls,
genres and JSON; it is decided under the default filters, then a tenth of the rows get a
Sonarr outcome the refilter must leave alone. The changed filter moves about a quarter of
the open rows between pending and filtered. Every figure is the best of three runs.

Run: .venv/bin/python -m bench.refilter_bench [--shows N] (all figures: python -m bench.run)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import Figure
from tests.doubles.tvmaze_sim import load_real_shows
from tests.helpers_store import store_at
from tvmaze_sync.core.config import FiltersConfig, IsoDate, ListFilter
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.decisions.filters import (
    OPEN_STATUSES,
    FilterProcessor,
    apply,
    refilter,
)
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.shows import decision_sql
from tvmaze_sync.storage.store import Store
from tvmaze_sync.tvmaze.mapping import map_show

SHOWS = 100_000
TARGET_SECONDS = 2.0
TARGET_RATIO = 4.0


def _rows(count: int) -> Iterator[dict[str, Any]]:
    templates = load_real_shows()
    for tvmaze_id in range(1, count + 1):
        data = {**templates[tvmaze_id % len(templates)], "id": tvmaze_id}
        yield row_from_show(map_show(data).show, data)


def build_cache(directory: Path, count: int, config: FiltersConfig) -> Store:
    """The cache as a few syncs leave it: decided under `config`, a tenth settled in Sonarr."""
    store = store_at(directory)
    batch: list[dict[str, Any]] = []
    for row in _rows(count):
        batch.append(row)
        if len(batch) == 5000:
            store.upsert_shows(batch, now="2025-01-01T00:00:00Z")
            batch = []
    store.upsert_shows(batch, now="2025-01-01T00:00:00Z")
    apply(store, FilterProcessor(config))
    P = ProcessingStatus
    outcomes = [P.ADDED, P.EXISTS, P.EXCLUDED, P.REMOVED_BY_USER, P.FAILED, P.SKIPPED]
    with store.atomic():
        store.db.conn.executemany(
            "UPDATE shows SET processing_status = ? WHERE tvmaze_id % 10 = 0 AND tvmaze_id % ? = ?",
            [(status.value, len(outcomes), i) for i, status in enumerate(outcomes)],
        )
    return store


def before_config() -> FiltersConfig:
    return FiltersConfig()  # the documented defaults


def after_config() -> FiltersConfig:
    """A realistic edit: more languages, an older cut-off, shorter shows, a keyword."""
    config = FiltersConfig()
    config.languages = ListFilter(["English", "Japanese", "Korean"], [], False)
    config.genres = ListFilter([], ["Reality", "Talk Show", "Game Show", "News"], False)
    config.premiered.after = IsoDate("2000-01-01")
    config.min_runtime = 25
    config.status.exclude_ended = False
    config.title.exclude = ["christmas"]
    config.ids.allow = [10, 20, 30]
    return config


def _best(runs: int, action: Callable[[], Any], reset: Callable[[], Any] | None = None) -> float:
    best = float("inf")
    for _ in range(runs):
        if reset:
            reset()
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def figures(shows: int = SHOWS, runs: int = 3) -> dict[str, float]:
    """Measure everything in one run; every figure is the best of `runs`."""
    with tempfile.TemporaryDirectory(prefix="tvmaze-sync-bench-") as tmp:
        started = time.perf_counter()
        store = build_cache(Path(tmp), shows, before_config())
        build = time.perf_counter() - started
        before, after = FilterProcessor(before_config()), FilterProcessor(after_config())

        def read_all() -> None:
            for _ in store.db.execute("SELECT * FROM shows"):
                pass

        def read_open() -> None:
            sql = decision_sql(len(OPEN_STATUSES), only_needing=False)
            for _ in store.db.execute(sql, [s.value for s in OPEN_STATUSES]):
                pass

        changed = refilter(store, after, dry_run=True)
        read = _best(runs, read_all)
        read_open_rows = _best(runs, read_open)
        seconds = _best(runs, lambda: refilter(store, after), lambda: refilter(store, before))
        unchanged = _best(runs, lambda: refilter(store, after))
        store.close()
    return {
        "shows": shows,
        "build_seconds": build,
        "rows_evaluated": changed.evaluated,
        "rows_changing_status": sum(changed.transitions.values()),
        "read_all_rows_seconds": read,
        "refilter_seconds": seconds,
        "refilter_vs_read_ratio": seconds / read,
        "read_refilter_columns_seconds": read_open_rows,
        "refilter_vs_column_read_ratio": seconds / read_open_rows,
        "refilter_nothing_changes_seconds": unchanged,
    }


def refilter_speed() -> list[Figure]:
    """The issue's two targets, for `python -m bench.run`."""
    f = figures()
    detail = (
        f"{f['rows_evaluated']} open rows, {f['rows_changing_status']} change status; "
        f"reading all rows {f['read_all_rows_seconds']:.3f} s, only the refilter's columns "
        f"{f['read_refilter_columns_seconds']:.3f} s "
        f"({f['refilter_vs_column_read_ratio']:.1f}x); unchanged filter "
        f"{f['refilter_nothing_changes_seconds']:.3f} s"
    )
    seconds, ratio = f["refilter_seconds"], f["refilter_vs_read_ratio"]
    return [
        Figure(
            f"refilter {SHOWS // 1000}k shows, changed filter",
            seconds,
            "s",
            f"<= {TARGET_SECONDS:g}",
            seconds <= TARGET_SECONDS,
            detail,
        ),
        Figure(
            "refilter / read every row",
            ratio,
            "x",
            f"<= {TARGET_RATIO:g}",
            ratio <= TARGET_RATIO,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shows", type=int, default=SHOWS)
    args = parser.parse_args(argv)
    result = figures(args.shows)
    for name, value in result.items():
        print(f"{name:34} {value:.3f}" if isinstance(value, float) else f"{name:34} {value}")
    ok = result["refilter_seconds"] <= TARGET_SECONDS
    ok = ok and result["refilter_vs_read_ratio"] <= TARGET_RATIO
    print(
        f"target refilter <= {TARGET_SECONDS:g} s and <= {TARGET_RATIO:g}x read: "
        + ("met" if ok else "MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
