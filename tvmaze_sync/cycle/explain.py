"""`explain`: why a cached show is (not) wanted, with everything each side knows about it.

The filters' verdicts come from decisions/explain.py; this adds what the Sonarr side knows
(removal date, exclusion, ownership, which queue and till when, a route changed since the
add) and, with `instances`, the show's status in each other instance's cache. It lives in
the cycle layer because it reads both sides, as a cycle does; the CLI only renders it.
"""

from __future__ import annotations

from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config
from tvmaze_sync.decisions import filters, routing
from tvmaze_sync.decisions.explain import Explanation, explain_show
from tvmaze_sync.sonarr import ledger, phase, queues
from tvmaze_sync.storage import instances, query
from tvmaze_sync.storage.columns import show_from_row
from tvmaze_sync.storage.store import Store


def explain(config: Config, key: str) -> Explanation:
    """The show a TVMaze id or title names (UsageError when none or several do), judged by
    the current filters, with every note on its stored status in each instance."""
    processor = filters.build_processor(config.filters, config.routes)
    with Store.opened(config.storage_dir, readonly=True) as store:
        row = query.find_show(store, key)
        sonarr_note = ledger.explain(store, row)  # removal date, exclusion, ownership
        explanation = explain_show(processor, row, config)
        _, where = routing.targets(config, show_from_row(row))
        targets = {target["instance"]: target for target in where}
        moved = phase.route_changed_note(
            store, row, explanation.route, targets.get(DEFAULT_INSTANCE)
        )
    # With instances, the main cache's notes are default's: say so.
    mine = f"instance {DEFAULT_INSTANCE}: " if config.instances else ""
    for note in (sonarr_note, queues.note(row, config.sync), moved):  # which queue, till when
        if note:
            explanation.notes.append(mine + note)
    if config.instances:  # the stored status above is default's
        explanation.notes.append(f"instance default: {row['processing_status']}")
        explanation.notes += _other_instances(config, row["tvmaze_id"], explanation.route, targets)
    return explanation


def _other_instances(
    config: Config, tvmaze_id: int, route: str | None, targets: dict[str, dict[str, Any]]
) -> list[str]:
    """The show's status in each other instance's cache, and whether the route it was added
    there with, or that route's settings, have changed since."""
    notes = []
    for name in config.instances:
        if name not in instances.existing(config.storage_dir):
            notes.append(f"instance {name}: no cycle has run for it yet")
            continue
        with instances.opened(config.storage_dir, name, readonly=True) as store:
            row = store.get_row(tvmaze_id)
            if row is None:
                notes.append(f"instance {name}: never routed there")
                continue
            status = row["processing_status"]
            why = f" ({row['filter_reason']})" if status == "filtered" else ""
            notes.append(f"instance {name}: {status}{why}")
            moved = phase.route_changed_note(store, row, route, targets.get(name))
            if moved:
                notes.append(f"instance {name}: {moved}")
    return notes
