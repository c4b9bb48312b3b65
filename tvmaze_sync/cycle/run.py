"""One cycle: TVMaze -> cache -> filters -> Sonarr. The only module that knows the whole cycle.

Every phase is idempotent and checkpoints its own progress (pages in state.json, statuses in
SQLite), so a cycle killed at any line is resumed by simply running the next one. A dry run
refreshes the mirror (a cache) and writes no decision: no status, filter hash, ledger row or
removal hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack

from tvmaze_sync.core.config import DEFAULT_INSTANCE
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import CycleError, ExitCode, LockHeld, StorageError, TvmazeSyncError
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.cycle import instances, notify
from tvmaze_sync.decisions import filters, routing
from tvmaze_sync.sonarr import phase, queues
from tvmaze_sync.storage import sqlitefile
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import Store, file_system_trouble, prepare_storage_dir
from tvmaze_sync.tvmaze import client, mirror

log = logging.getLogger(__name__)


def run_cycle(context: CycleContext, on_lock: Callable[[], None] | None = None) -> CycleSummary:
    """Run one whole cycle under the writer lock and return what it did.

    Raises TvmazeSyncError subclasses for expected failures; the summary is saved to state
    either way, and state.json.bak is refreshed only when the cycle succeeded. Then the
    cycle's one notification goes out (notify.py), failure or not; a run that found the lock
    held did no cycle and sends nothing.
    """
    summary = CycleSummary(started_at=iso(context.clock()), dry_run=context.effective_dry_run)
    try:
        _run_locked(context, summary, on_lock)
    except LockHeld:
        raise
    except TvmazeSyncError as error:
        summary.error = summary.error or str(error)
        summary.exit_code = summary.exit_code or int(error.exit_code)
        notify.after_cycle(context.config, summary)
        raise
    except Exception as error:  # a bug: still news, with the exit code cli.main gives it
        summary.error = summary.error or f"unexpected error {type(error).__name__}: {error}"
        summary.exit_code = summary.exit_code or int(ExitCode.CYCLE_FAILED)
        notify.after_cycle(context.config, summary)
        raise
    notify.after_cycle(context.config, summary)
    return summary


def _run_locked(
    context: CycleContext, summary: CycleSummary, on_lock: Callable[[], None] | None
) -> None:
    config = context.config
    started = context.clock()
    storage = prepare_storage_dir(config.storage_dir)
    with Store.opened(storage, lock=True, create=True) as store:
        if on_lock:
            on_lock()
        state_file = StateFile(storage)
        state = state_file.load()
        try:
            _run_phases(context, store, state_file, state, summary)
            summary.ok = True
        except TvmazeSyncError as error:
            summary.error = str(error)
            summary.exit_code = int(error.exit_code)
            raise
        except KeyboardInterrupt:  # Ctrl-C: `state` says so; pages and statuses done are kept
            summary.error = "interrupted"
            raise
        except sqlitefile.Error as error:  # the disk filled up or went read-only mid-run
            cause = file_system_trouble(storage) or str(error)
            summary.error = f"storage failed mid-run: {cause} (in {storage})"
            summary.exit_code = int(CycleError.exit_code)
            kept = "finished work is kept, the next run resumes"
            raise CycleError(f"{summary.error}; {kept}") from error
        except Exception as error:  # a bug: `state` still says the cycle failed, and how
            summary.error = f"unexpected error: {type(error).__name__}: {error}"
            summary.exit_code = int(CycleError.exit_code)
            raise
        finally:
            finished = context.clock()
            summary.finished_at = iso(finished)
            summary.duration_seconds = round(finished - started, 3)
            try:
                with store.atomic():
                    for key, count in summary.requests.items():
                        store.bump_counter("api_requests", key, count)
            except sqlitefile.Error as error:  # must not hide why the cycle failed
                log.warning("request_counts_lost error=%s", error)
            state.last_cycle = summary.to_state()
            try:
                state_file.save(state)
                if summary.ok:
                    state_file.backup(state)
            except StorageError:
                if summary.ok:
                    raise
                # The cycle's own error says more; the cursors saved per page still hold.
                log.warning("state_save_failed after=%s", summary.error)
            log.info(
                "cycle_finished ok=%s mode=%s duration=%.1f dry_run=%s",
                summary.ok,
                summary.mode,
                summary.duration_seconds,
                summary.dry_run,
            )


def _run_phases(
    context: CycleContext, store: Store, state_file: StateFile, state: State, summary: CycleSummary
) -> None:
    config = context.config
    with ExitStack() as closing:
        # 1. Sonarr first: a bad URL, key or profile fails before anything is written.
        gateway = None
        gateways = {}
        if config.instances:  # each validated; one unreachable does not stop the others
            gateways = instances.connect_all(context, closing, summary)
            gateway = gateways[DEFAULT_INSTANCE]
        elif config.sonarr_enabled:  # read-only in a dry run: it still reports what Sonarr has
            gateway = closing.enter_context(
                phase.connect(
                    config.sonarr,
                    clock=context.clock,
                    sleep=context.sleep,
                    requests=summary.requests,
                    read_only=context.effective_dry_run,
                    routes=config.routes,
                )
            )
        # 2. A changed filter config re-decides cached shows, offline (a dry run decides
        # in memory at step 4 and writes no status and no filter hash).
        processor = filters.build_processor(config.filters, config.routes)
        routed = routing.hash_key(config.routes, DEFAULT_INSTANCE)
        if context.writes_decisions:
            filters.refilter_if_changed(
                store, state, state_file, config.filters, processor, routed=routed
            )
        # 3. TVMaze -> cache (checkpointed per page in state.json).
        tvmaze = closing.enter_context(
            client.connect(
                config.tvmaze, config.storage_dir, clock=context.clock, sleep=context.sleep
            )
        )
        mirror.sync_mirror(tvmaze, store, state, state_file, context, summary)
        # 3b. The TVDB retry queue: due shows are retried or abandoned (the mirror has just
        # brought any new TheTVDB id, so this asks TVMaze nothing).
        phase.retry_pending_tvdb(store, context, summary)
        # 3c. Failed adds whose retry is due go back to pending, for step 4 to decide.
        queues.release_failed(store, context.clock(), context.effective_dry_run)
        # 4. Decide every show whose data changed (the newly filtered count in the summary).
        decided = None
        if context.writes_decisions:
            report = filters.apply(store, processor)
        else:
            report, decided = filters.preview(store, processor, state, config.filters, routed)
        if filtered := report.by_result()[ProcessingStatus.FILTERED]:
            summary.results[ProcessingStatus.FILTERED.value] = filtered
        # 5. Sonarr: library import, exclusions, the ownership ledger, adds.
        if not config.instances:
            phase.process(store, gateway, context, summary, decided)
            return
        # 5b. Per instance (cycle/instances.py): a failure is recorded and the others run.
        instances.run_default(
            lambda: phase.process(store, gateway, context, summary, decided),
            gateway,
            summary,
        )
        instances.run_others(context, store, gateways, summary)
