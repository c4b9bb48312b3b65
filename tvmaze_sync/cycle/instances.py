"""The Sonarr phase once per instance (`instances`), each instance on its own cache.

Only with `instances` configured; without, run.py runs the one phase as it always did.
Every instance is validated first (a bad setting or route target anywhere is exit 2 before
anything is written). Then, after the mirror and the filters, `default` runs its phase on
the main cache and every other instance on its own (storage/instances.py): the shows
routed to it are copied there and decided by the filters with the routes, and the same
phase adds them. An instance that is down or fails does not stop the others: each one's
outcome goes in the summary (`instances`), and the cycle then fails (exit 3) naming the
failed instances, after the others got their adds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import (
    CycleError,
    DependencyError,
    ExitCode,
    StorageError,
    TvmazeSyncError,
)
from tvmaze_sync.core.models import TITLES_KEPT, CycleSummary
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.decisions import filters, routing
from tvmaze_sync.sonarr import phase, queues, validation
from tvmaze_sync.sonarr.gateway import SonarrGateway
from tvmaze_sync.storage import instances, sqlitefile
from tvmaze_sync.storage.store import Store

log = logging.getLogger(__name__)


class InstancesFailed(DependencyError):
    """Some Sonarr instances failed this cycle; the others ran. Exit 3 when each failed
    Sonarr was down or refused us; 2 when an instance's cache cannot be used (a damaged or
    unreadable shows.db, a linked folder: it needs a hand, as the main cache's would), 1
    when its cache failed mid-run (`_exit_code`)."""

    def __init__(self, exit_code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def connect_all(
    context: CycleContext, closing: ExitStack, summary: CycleSummary
) -> dict[str, SonarrGateway | None]:
    """Every instance validated, by name; None for one that could not be reached (its
    failure is in `summary.instances`). Every instance is checked before any is finished
    (a tag created): a ConfigError names the problems of all of them, and nothing is
    written."""
    config = context.config
    checked: dict[str, validation.Checked] = {}
    gateways: dict[str, SonarrGateway | None] = {}
    for name in config.instance_names:
        gateways[name] = None
        try:
            checked[name] = phase.check(
                config.instance(name),
                context.clock,
                sleep=context.sleep,
                requests=summary.requests,
                read_only=context.effective_dry_run,
                routes=config.routes,
                name=name,
            )
        except DependencyError as error:
            _failed(summary, name, error)
            continue
        closing.callback(checked[name].lists.gateway.close)
    validation.refuse(checked.values())
    for name, one in checked.items():
        try:
            validation.finish(one)
        except DependencyError as error:
            _failed(summary, name, error)
            continue
        gateways[name] = one.lists.gateway
    return gateways


def _failed(summary: CycleSummary, name: str, error: TvmazeSyncError) -> None:
    log.warning("sonarr_instance_failed instance=%s error=%r", name, str(error))
    outcome = {"ok": False, "error": str(error), "exit_code": int(error.exit_code)}
    summary.instances.setdefault(name, {}).update(outcome)


def _exit_code(failed: list[dict[str, Any]]) -> ExitCode:
    """The run's code when instances failed: a cache that needs a hand (exit 2, storage)
    outranks a cache that failed mid-run (1), which outranks a Sonarr that is down (3,
    which the next run may simply get past)."""
    codes = {o.get("exit_code", ExitCode.DEPENDENCY) for o in failed}
    for code in (ExitCode.USAGE, ExitCode.CYCLE_FAILED):
        if code in codes:
            return code
    return ExitCode.DEPENDENCY


def run_default(
    run: Callable[[], None], gateway: SonarrGateway | None, summary: CycleSummary
) -> None:
    """`default`'s phase (run.py's), its failure recorded instead of raised."""
    if gateway is None:
        return  # failed to connect: recorded by connect_all
    try:
        run()
    except DependencyError as error:
        _failed(summary, DEFAULT_INSTANCE, error)
        return
    summary.instances[DEFAULT_INSTANCE] = {  # the summary's counts so far are default's
        "ok": True,
        "error": None,
        "results": dict(summary.results),
        "adds_waiting": summary.adds_waiting,
        "removals_held": summary.removals_held,
    }


def run_others(
    context: CycleContext,
    main: Store,
    gateways: dict[str, SonarrGateway | None],
    summary: CycleSummary,
) -> None:
    """Every other instance's phase on its own cache; then fail naming any instance that
    failed (DependencyError, exit 3)."""
    config = context.config
    for name in config.instances:
        gateway = gateways.get(name)
        if gateway is None:
            continue
        try:
            if context.effective_dry_run:  # its cache is not written: a scratch copy is
                summary.instances[name] = _preview_one(context, name, main, gateway, summary)
                continue
            summary.instances[name] = _run_one(context, name, main, gateway, summary)
        except (DependencyError, StorageError) as error:
            _failed(summary, name, error)
        except sqlitefile.Error as error:  # its cache failed mid-run (the disk, a damaged page)
            _failed(summary, name, CycleError(f"its cache failed mid-run: {error}"))
    failed = {n: o["error"] for n, o in summary.instances.items() if not o.get("ok")}
    if failed:
        ran = [n for n, o in summary.instances.items() if o.get("ok")]
        outcomes = [o for o in summary.instances.values() if not o.get("ok")]
        raise InstancesFailed(
            _exit_code(outcomes),
            "Sonarr instance"
            + ("s " if len(failed) > 1 else " ")
            + "; ".join(f"{name!r} failed: {error}" for name, error in failed.items())
            + (f"; the others ran ({', '.join(ran)})" if ran else "")
            + (  # exit 3 (or 2) outranks 4: a decision waiting must still be said
                f"; {summary.removals_held} series missing from Sonarr are held for your "
                "decision (`tvmaze-sync removals`, with --instance NAME for another instance)"
                if summary.removals_held
                else ""
            ),
        )


def _preview_one(
    context: CycleContext,
    name: str,
    main: Store,
    gateway: SonarrGateway,
    summary: CycleSummary,
) -> dict[str, Any]:
    """Dry run: what `_run_one` would add, decided on a scratch copy of the instance's
    cache against its Sonarr read (never written). Returns its outcome for the summary."""
    mine, sub = _instance_cycle(context, name, summary)
    try:
        with instances.scratch(context.config.storage_dir, name) as store:
            processor = _decide_here(context, name, main, store)
            queues.release_failed(store, context.clock(), False)  # on the copy only
            filters.apply(store, processor)
            phase.process(store, gateway, mine, sub)
    finally:  # what it did before failing counts too
        _fold(summary, sub, name)
    return {
        "ok": True,
        "error": None,
        "dry_run": True,
        "would_add_titles": sub.would_add_titles[:TITLES_KEPT],
        "would_add_count": len(sub.would_add_titles),
        "results": sub.results,
        "adds_waiting": sub.adds_waiting,
        "removals_held": sub.removals_held,
    }


def _instance_cycle(
    context: CycleContext, name: str, summary: CycleSummary
) -> tuple[CycleContext, CycleSummary]:
    """The cycle's context with instance `name`'s settings as `sonarr`, and a summary of
    its own (`_fold` adds it to the cycle's) sharing the cycle's count of requests."""
    config = context.config
    mine = dataclasses.replace(
        context, config=dataclasses.replace(config, sonarr=config.instance(name))
    )
    sub = CycleSummary(started_at=summary.started_at, dry_run=context.effective_dry_run)
    sub.requests = summary.requests  # one count of requests per cycle
    return mine, sub


def _decide_here(
    context: CycleContext, name: str, main: Store, store: Store
) -> filters.FilterProcessor:
    """Copy the shows routed to `name` into its cache `store` and decide them with the
    filters and the routes (what `_run_one` and `_preview_one` share). Returns the
    processor, for the shows the later steps release."""
    config = context.config
    processor = filters.build_processor(config.filters, config.routes, name)

    def routed_here(show: Any) -> bool:
        return name in routing.instances_for(config.routes, show)

    instances.copy_routed(main, store, routed_here, iso(context.clock()))
    filters.refilter(store, processor)  # routes or filters may have changed: re-decide
    return processor


def _run_one(
    context: CycleContext,
    name: str,
    main: Store,
    gateway: SonarrGateway,
    summary: CycleSummary,
) -> dict[str, Any]:
    """One instance: copy the shows routed to it, decide them, run the phase. Returns its
    outcome for the summary."""
    mine, sub = _instance_cycle(context, name, summary)
    try:
        with instances.opened(context.config.storage_dir, name, create=True) as store:
            processor = _decide_here(context, name, main, store)
            phase.retry_pending_tvdb(store, mine, sub)
            queues.release_failed(store, context.clock(), False)
            filters.apply(store, processor)
            phase.process(store, gateway, mine, sub)
    finally:  # a series added before the instance failed is in its Sonarr: it counts
        _fold(summary, sub, name)
    return {
        "ok": True,
        "error": None,
        "results": sub.results,
        "added_titles": sub.added_titles[:TITLES_KEPT],
        "added_count": len(sub.added_titles),
        "adds_waiting": sub.adds_waiting,
        "removals_held": sub.removals_held,
        "review_waiting": sub.review_waiting,
    }


def _fold(summary: CycleSummary, sub: CycleSummary, name: str) -> None:
    """Add instance `name`'s outcome to the cycle's: its counts to the totals (the summary
    line, the notification, `adds_waiting` and exit 4 cover every instance), its titles
    marked with its name. Its own counts go in its outcome too, kept when it then fails
    (`_failed` adds to it), so the totals and the instances' counts agree."""
    summary.instances.setdefault(name, {})["results"] = sub.results
    for result, count in sub.results.items():
        summary.results[result] = summary.results.get(result, 0) + count
    summary.adds_waiting += sub.adds_waiting
    summary.removals_held += sub.removals_held
    summary.review_waiting += sub.review_waiting
    summary.added_ids += sub.added_ids
    summary.review_ids += sub.review_ids
    for titles, more in (
        (summary.added_titles, sub.added_titles),
        (summary.would_add_titles, sub.would_add_titles),
        (summary.review_titles, sub.review_titles),
    ):
        titles += [f"{title} [{name}]" for title in more]
