"""The long-running side of `serve`: the poll loop, one cycle at a time, readiness, shutdown.

The cycle runs in the scheduler thread, or in a short-lived thread for POST /trigger; `_busy`
keeps this process to one cycle or refilter at a time, and the writer lock keeps it to one
with cron runs too (a cron `sync` holding it makes a scheduled cycle log `cycle_skipped`).

Shutdown (SIGTERM/SIGINT): stop scheduling, let a running cycle finish for up to
`server.shutdown_timeout` (the cycle saves state.json itself when it ends), then return so
the HTTP server stops and the process exits 0. A cycle still running after the timeout is
asked to stop at its next wait (its sleeps raise), which unwinds through the cycle's own
state save; one still stuck after that is abandoned, which every cycle survives by design.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from tvmaze_sync import __version__
from tvmaze_sync.core.config import Config
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import (
    CycleError,
    DependencyError,
    LockHeld,
    StorageError,
    TvmazeSyncError,
)
from tvmaze_sync.core.timeutil import Clock, iso, system_clock
from tvmaze_sync.cycle.metrics import SonarrProbe, build_registry, probe_sonarr
from tvmaze_sync.cycle.run import run_cycle
from tvmaze_sync.decisions import filters
from tvmaze_sync.storage.store import Store, prepare_storage_dir

log = logging.getLogger(__name__)

#: How long POST /trigger waits to learn whether its cycle got the writer lock.
TRIGGER_WAIT = 5.0
#: After shutdown_timeout, how long an interrupted cycle gets to unwind and save state.
ABORT_GRACE = 15.0
#: /ready answers from a probe at most this old (counted from its end), so a probe storm
#: never floods Sonarr.
PROBE_MAX_AGE = 2.0
#: Longest a /ready waits for a probe another request started: a slow Sonarr (each probe
#: may take sonarr.timeout) then holds one worker of serve, not every one.
PROBE_WAIT = 2.0


class CycleRunner:
    """What `serve` runs between requests: the schedule, one cycle or refilter at a time
    (scheduled or triggered), the Sonarr probe, and the health and readiness they give."""

    def __init__(self, config: Config, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        self.storage_dir = config.storage_dir
        self.stopping = threading.Event()  # set by SIGTERM/SIGINT: no new cycles
        self._abort = threading.Event()  # set after shutdown_timeout: cycle sleeps raise
        self._busy = threading.Lock()  # one cycle or refilter at a time in this process
        self.running: str | None = None  # "cycle" or "refilter" while _busy is held
        self.next_run: float | None = None
        self._probe_done = threading.Condition()
        self._probing = False  # a probe is in flight (single flight: at most one)
        self._probe: SonarrProbe | None = None
        self._probe_at: float | None = None  # time.monotonic() of the last probe
        self.registry = build_registry(
            self.storage_dir,
            next_run=lambda: self.next_run,
            sonarr_healthy=lambda: None if self._probe is None else self._probe.ok,
            instance_names=config.instance_names,
        )

    # --- cycles ------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        """The cycle's sleep: a rate-limit wait, cut short once shutdown gives up waiting."""
        if self._abort.wait(seconds):
            raise CycleError("serve is shutting down: cycle interrupted at a wait")

    def _run_cycle(self, trigger: str, on_lock: Callable[[], None] | None = None) -> str:
        """One cycle; the caller holds `_busy`. Returns "ok", "failed" or "lock_held"."""
        self.running = "cycle"
        log.info("cycle_starting trigger=%s", trigger)
        try:
            run_cycle(CycleContext(config=self.config, sleep=self._sleep), on_lock=on_lock)
            return "ok"
        except LockHeld:
            log.warning("cycle_skipped trigger=%s reason=lock_held", trigger)
            return "lock_held"
        except TvmazeSyncError as error:
            log.error("cycle_failed trigger=%s error=%r", trigger, str(error))
            return "failed"
        except Exception:  # a bug must not take the server down; the next cycle retries
            log.exception("cycle_crashed trigger=%s", trigger)
            return "failed"
        finally:
            self.running = None

    def trigger(self) -> tuple[HTTPStatus, dict[str, Any]]:
        """POST /trigger: start one cycle in the background.

        Waits (briefly) until the cycle holds the writer lock, so 202 means it really runs and
        a cron `sync` holding the lock is a 409, not a silent no-op.
        """
        if self.stopping.is_set():
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "shutting down"}
        if not self._busy.acquire(blocking=False):
            return HTTPStatus.CONFLICT, {"error": f"a {self.running or 'cycle'} is running"}
        decided = threading.Event()
        outcome: dict[str, str] = {}

        def work() -> None:
            try:
                outcome["result"] = self._run_cycle("http", on_lock=decided.set)
            finally:
                self._busy.release()
                decided.set()
                self.refresh_probe()

        threading.Thread(target=work, name="cycle-trigger", daemon=True).start()
        decided.wait(TRIGGER_WAIT)
        if outcome.get("result") == "lock_held":
            return HTTPStatus.CONFLICT, {"error": "another tvmaze-sync run holds the lock"}
        return HTTPStatus.ACCEPTED, {"status": "started"}

    def refilter(self) -> tuple[HTTPStatus, dict[str, Any]]:
        """POST /refilter: re-decide the cached shows now, under the writer lock."""
        if self.stopping.is_set():
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "shutting down"}
        if not self._busy.acquire(blocking=False):
            return HTTPStatus.CONFLICT, {"error": f"a {self.running or 'cycle'} is running"}
        self.running = "refilter"
        try:
            report = filters.run_refilter(self.config)
        except LockHeld:
            return HTTPStatus.CONFLICT, {"error": "another tvmaze-sync run holds the lock"}
        except StorageError as error:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)}
        except TvmazeSyncError as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(error)}
        finally:
            self.running = None
            self._busy.release()
        return HTTPStatus.OK, report.to_json()

    def schedule(self) -> None:
        """The poll loop: a cycle now, then every poll_interval, until `stopping`."""
        interval = float(self.config.sync.poll_interval)
        due = self.clock()
        while not self.stopping.is_set():
            self.next_run = due
            wait = due - self.clock()
            if wait > 0 and self.stopping.wait(wait):
                return
            # A triggered cycle or a refilter may be running: the scheduled one follows it.
            while not self._busy.acquire(timeout=0.2):
                if self.stopping.is_set():
                    return
            if self.stopping.is_set():
                self._busy.release()
                return
            started = self.clock()
            self.next_run = started + interval
            try:
                self._run_cycle("schedule")
            finally:
                self._busy.release()
            self.refresh_probe()
            due = max(started + interval, self.clock())

    # --- readiness ---------------------------------------------------------------------

    def refresh_probe(self, max_age: float = 0.0, wait: float | None = None) -> SonarrProbe | None:
        """Ask Sonarr again unless the last answer is younger than `max_age` seconds.

        Single flight: while one probe is in flight nobody starts another; a caller waits
        for it at most `wait` seconds (None: until it ends) and gets the latest answer, which
        is None when none has come yet (with Sonarr configured: see `readiness`). Without
        it, N concurrent /ready against a slow Sonarr cost N x sonarr.timeout, one after
        the other, each holding a worker of serve (review r1, F19)."""
        with self._probe_done:
            fresh = self._probe_at is not None and time.monotonic() - self._probe_at < max_age
            if fresh:
                return self._probe
            if self._probing:
                self._probe_done.wait_for(lambda: not self._probing, timeout=wait)
                return self._probe
            self._probing = True
        probe: SonarrProbe | None = None
        try:
            probe = probe_sonarr(self.config.sonarr)
        finally:
            with self._probe_done:
                self._probe = probe
                self._probe_at = time.monotonic()  # from its end: its answer's age
                self._probing = False
                self._probe_done.notify_all()
        return probe

    def readiness(self) -> tuple[HTTPStatus, dict[str, Any]]:
        """GET /ready: the cache opens and, when configured, Sonarr answers."""
        try:
            with Store.opened(self.storage_dir, readonly=True) as store:
                store.check_readable()
        except (StorageError, OSError) as error:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"ready": False, "reason": str(error)}
        except Exception as error:  # sqlite3 errors past open: the cache is not usable
            return HTTPStatus.SERVICE_UNAVAILABLE, {
                "ready": False,
                "reason": f"database: {type(error).__name__}",
            }
        probe = self.refresh_probe(max_age=PROBE_MAX_AGE, wait=PROBE_WAIT)
        if probe is None and self.config.sonarr_enabled:  # the first probe is still out
            reason = "Sonarr has not answered the readiness probe yet"
            return HTTPStatus.SERVICE_UNAVAILABLE, {"ready": False, "reason": reason}
        if probe is not None and not probe.ok:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"ready": False, "reason": probe.reason}
        body: dict[str, Any] = {"ready": True}
        if probe is not None:
            body["sonarr_version"] = probe.version
        return HTTPStatus.OK, body

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "running": self.running,
            "stopping": self.stopping.is_set(),
            "next_run": iso(self.next_run) if self.next_run is not None else None,
        }

    # --- lifecycle ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Fail fast before listening: storage usable, schema current, Sonarr not refusing us.

        The cache is created under the writer lock (so /ready is green before the first cycle
        ends); a cron run holding the lock already has it, so LockHeld is fine here.
        """
        storage = prepare_storage_dir(self.storage_dir)
        try:
            with Store.opened(storage, lock=True, create=True):
                pass
        except LockHeld:
            log.info("serve_storage_busy reason=lock_held")
        probe = self.refresh_probe()
        if probe is not None and probe.refused:
            raise DependencyError(probe.reason or "Sonarr refused the API key")
        if probe is not None and not probe.ok:
            log.warning("sonarr_unavailable reason=%r", probe.reason)

    def shutdown(self) -> bool:
        """Stop scheduling and wait for a running cycle; True when nothing was left running."""
        self.stopping.set()
        timeout = float(self.config.server.shutdown_timeout)
        log.info("shutdown_started running=%s timeout=%.0f", self.running, timeout)
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
            return True
        log.warning("shutdown_timeout running=%s action=interrupt", self.running)
        self._abort.set()
        if self._busy.acquire(timeout=ABORT_GRACE):
            self._busy.release()
            return True
        log.error("shutdown_cycle_abandoned resumes=next_run")
        return False
