"""The Sonarr phase of a cycle: library import, exclusions, adds, and the TVDB retry queue.

HTTP lives in sonarr_api.py, startup validation in sonarr_settings.py, statuses and the
ownership ledger in ledger.py; this module runs the phase:

- The library (`GET /api/v3/series`) and every Import List Exclusion are read once per cycle,
  completely, before any add. A show already in Sonarr becomes `exists`, an excluded one
  `excluded`, one the user deleted after we added it `removed_by_user`; none is looked up or
  added. A failed or partial read raises (exit 3) and nothing is concluded from it.
- Each remaining decided show is looked up by `tvdb:<id>` and added; every outcome of the POST
  gets its status (see `_Cycle._add`). An intent row in the ledger makes the add crash-safe.
- Dry run (`dry_run`, `--dry-run`, or no Sonarr configured) writes nothing to Sonarr and
  changes no status at all: the summary reports what a real cycle would do, and
  `would_add_titles` what it would add. Sonarr, when configured, is still validated and read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tvmaze_sync import filters, ledger, review, sonarr_settings
from tvmaze_sync.config import SonarrConfig
from tvmaze_sync.errors import TvmazeSyncError
from tvmaze_sync.ledger import Reason
from tvmaze_sync.models import CycleSummary, ProcessingStatus
from tvmaze_sync.sonarr_api import (
    ATTEMPTS,
    Exclusion,
    LibrarySeries,
    SonarrConflict,
    SonarrGateway,
    SonarrRejected,
    SonarrUnavailable,
)
from tvmaze_sync.store import Store
from tvmaze_sync.timeutil import Clock, Sleep, iso, parse_iso

if TYPE_CHECKING:
    from tvmaze_sync.sync import Runtime

log = logging.getLogger(__name__)

P = ProcessingStatus

#: Shows in a row whose add got no answer before the cycle stops talking to Sonarr: a dead
#: Sonarr costs a few timeouts, not one per pending show.
MAX_CONSECUTIVE_UNAVAILABLE = 3


def connect(
    config: SonarrConfig,
    clock: Clock,
    *,
    sleep: Sleep = time.sleep,
    requests: dict[str, int] | None = None,
    read_only: bool = False,
) -> SonarrGateway:
    """A validated Sonarr, before anything is written anywhere.

    Raises DependencyError (exit 3) when Sonarr is unreachable or refuses the key, ConfigError
    (exit 2) naming the bad setting and the valid choices. `read_only` (dry run) validates
    without creating missing tags. Requests are counted into `requests` (the cycle summary's).
    """
    gateway = SonarrGateway(
        config, clock=clock, sleep=sleep, requests=requests, read_only=read_only
    )
    try:
        sonarr_settings.validate(gateway)
    except BaseException:
        gateway.close()
        raise
    return gateway


# --- the TVDB retry queue ----------------------------------------------------------------


def retry_pending_tvdb(
    store: Store, tvmaze_client: Any, runtime: Runtime, summary: CycleSummary
) -> None:
    """Give each `pending_tvdb` show whose `retry_after` has passed another chance.

    No request is made here. TVMaze is not asked again: a new TheTVDB id bumps the show's
    `updated`, so the mirror, which ran just before in this cycle, has already stored it (a
    `no_tvdb_id` show that got one is released by the ledger at once, retry or not). A show
    Sonarr's lookup did not know (`tvdb_not_in_sonarr`) goes back to `pending`, so this
    cycle's adds ask Sonarr's lookup again. One still without an id `abandon_after` after it
    started waiting (`pending_tvdb_since`; not its first sighting, so filters widened a year
    later give a newly passing show its whole wait) becomes `failed` (`abandoned_no_tvdb`);
    the others wait another `retry_delay`. `tvmaze_client` only says the mirror ran.
    """
    if runtime.effective_dry_run or tvmaze_client is None:
        return
    sync = runtime.config.sync
    now = runtime.clock()
    stamp = iso(now)
    due = list(
        store.rows_where(
            "processing_status = ? AND (retry_after IS NULL OR retry_after <= ?)",
            [P.PENDING_TVDB.value, stamp],
            order_by="tvmaze_id",
            select="tvmaze_id, tvdb_id, pending_tvdb_since, retry_count",
        )
    )
    for row in due:
        tvmaze_id, tvdb_id = row["tvmaze_id"], row["tvdb_id"]
        retries = (row["retry_count"] or 0) + 1
        since = row["pending_tvdb_since"]
        waiting_since = parse_iso(since) if since else now
        with store.atomic():
            if tvdb_id:
                ledger.update(store, tvmaze_id, stamp, P.PENDING, retry_after=None)
                store.db.execute(
                    "UPDATE shows SET retry_count = ? WHERE tvmaze_id = ?", [retries, tvmaze_id]
                )
                log.info("tvdb_retry_due tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)
            elif now - waiting_since >= sync.abandon_after:
                ledger.settle(
                    store,
                    summary,
                    tvmaze_id,
                    stamp,
                    P.FAILED,
                    Reason.ABANDONED_NO_TVDB,
                    retry_after=None,
                    retry_count=retries,
                    error_message=f"no usable TheTVDB id since {iso(waiting_since)}",
                )
                log.info(
                    "tvdb_retry_abandoned tvmaze_id=%d waiting_since=%s",
                    tvmaze_id,
                    iso(waiting_since),
                )
            else:
                store.db.execute(
                    "UPDATE shows SET retry_after = ?, retry_count = ?, pending_tvdb_since = ? "
                    "WHERE tvmaze_id = ?",
                    [iso(now + sync.retry_delay), retries, iso(waiting_since), tvmaze_id],
                )


# --- the Sonarr phase --------------------------------------------------------------------


def process(
    store: Store,
    gateway: SonarrGateway | None,
    tvmaze_client: Any,
    runtime: Runtime,
    summary: CycleSummary,
) -> None:
    """Bring Sonarr and the cache together for every decided show; see the module docstring.

    Raises DependencyError when Sonarr refuses us, cannot be read completely, or stops
    answering; every show settled before that keeps its status, the others stay pending.
    """
    try:
        if runtime.effective_dry_run:
            _preview(store, gateway, runtime.config.sonarr, summary)
            return
        assert gateway is not None, "sync.py connects Sonarr unless this is a dry run"
        cycle = _Cycle(store, gateway, runtime, summary)
        cycle.release_review()
        cycle.reconcile()
        cycle.decide_released()
        cycle.post_exclusions()
        cycle.queue_for_review()
        cycle.add_pending()
    finally:
        if gateway is not None:
            gateway.close()


def _preview(
    store: Store, gateway: SonarrGateway | None, config: SonarrConfig, summary: CycleSummary
) -> None:
    """Dry run: count what a real cycle would do, change nothing, post nothing."""
    library: dict[int, LibrarySeries] = {}
    exclusions: dict[int, Exclusion] = {}
    if gateway is not None:
        library = gateway.library()
        exclusions = gateway.exclusions()
    ledger.preview(
        store,
        summary,
        library,
        exclusions,
        config.on_user_removal,
        require_approval=config.require_approval,
    )
    log.info(
        "sonarr_dry_run would_add=%d sonarr=%s %s",
        len(summary.would_add_titles),
        "read" if gateway is not None else "not_configured",
        " ".join(f"{k}={v}" for k, v in sorted(summary.results.items())) or "none=0",
    )


class _Cycle:
    """One real (not dry) Sonarr phase: the two reads, then the ledger, then the adds."""

    def __init__(
        self, store: Store, gateway: SonarrGateway, runtime: Runtime, summary: CycleSummary
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.runtime = runtime
        self.config = runtime.config.sonarr
        self.summary = summary
        # Both reads complete before anything is decided; they raise otherwise.
        self.library = gateway.library()
        self.exclusions = gateway.exclusions()
        self.blocked: set[int] = set()
        log.info("sonarr_read series=%d exclusions=%d", len(self.library), len(self.exclusions))

    def now(self) -> str:
        return iso(self.runtime.clock())

    def reconcile(self) -> None:
        self.blocked = ledger.reconcile(
            self.store,
            self.summary,
            self.now(),
            self.library,
            self.exclusions,
            self.config.on_user_removal,
        )

    def release_review(self) -> None:
        """require_approval was turned off: the queue goes back through today's filters
        (`decide_released`) to the adds."""
        if not self.config.require_approval:
            review.release(self.store, self.now())

    def queue_for_review(self) -> None:
        """require_approval: unapproved wanted shows wait for review instead of the adds."""
        if self.config.require_approval:
            review.queue(
                self.store, self.summary, self.now(), self.library, self.blocked, self.exclusions
            )

    def decide_released(self) -> None:
        """Shows `reconcile` let back to pending (a lifted exclusion, allow_readd) were last
        judged by the filters before they left; today's filters decide them before any add."""
        processor = filters.build_processor(self.runtime.config.filters)
        if filtered := filters.apply(self.store, processor).by_result()[P.FILTERED]:
            self.summary.results[P.FILTERED.value] = (
                self.summary.results.get(P.FILTERED.value, 0) + filtered
            )

    def post_exclusions(self) -> None:
        """exclude_in_sonarr: one exclusion per series the user deleted, once ever."""
        if self.config.on_user_removal != "exclude_in_sonarr":
            return
        for item in ledger.entries(
            self.store, "removed_at IS NOT NULL AND exclusion_posted_at IS NULL"
        ):
            tvdb_id = item["tvdb_id"]
            if tvdb_id not in self.exclusions:  # else the user's deletion already made one
                try:
                    self.gateway.add_exclusion(tvdb_id, item["title"] or str(tvdb_id))
                except (SonarrUnavailable, SonarrRejected) as error:
                    log.warning(
                        "sonarr_exclusion_post_failed tvdb_id=%d error=%r", tvdb_id, str(error)
                    )
                    continue  # tried again next cycle
                log.info("sonarr_exclusion_posted tvdb_id=%d title=%r", tvdb_id, item["title"])
            ledger.mark_exclusion_posted(self.store, tvdb_id, self.now())

    def add_pending(self) -> None:
        """Look up and add every candidate left after `reconcile`, one at a time."""
        unavailable = 0
        for row in ledger.candidates(self.store):
            stamp = self.now()
            decision = ledger.decide(row["tvdb_id"], self.library, self.blocked, self.exclusions)
            if decision is P.PENDING_TVDB:
                self._wait_for_tvdb(row, stamp, Reason.NO_TVDB_ID)
                continue
            if decision is P.EXISTS:  # a duplicate of a show added a moment ago
                series_id = self.library[row["tvdb_id"]].series_id
                ledger.settle_exists(self.store, self.summary, row["tvmaze_id"], stamp, series_id)
                continue
            if decision is not None:  # reconcile settled these; only a race gets here
                continue
            # Once a show went unanswered, the next ones get one try each: a dead Sonarr
            # costs one show's retries, not every show's.
            self.gateway.attempts = 1 if unavailable else ATTEMPTS
            try:
                self._add(row, stamp)
                unavailable = 0
            except SonarrUnavailable as error:
                unavailable += 1
                log.warning(
                    "sonarr_add_deferred tvmaze_id=%d tvdb_id=%d error=%r",
                    row["tvmaze_id"],
                    row["tvdb_id"],
                    str(error),
                )
                ledger.count(self.summary, P.PENDING)
                if unavailable >= MAX_CONSECUTIVE_UNAVAILABLE:
                    raise SonarrUnavailable(
                        f"{error}; stopped after {unavailable} shows in a row could not be "
                        "added; they stay pending for the next cycle"
                    ) from None

    def _wait_for_tvdb(self, row: Mapping[str, Any], stamp: str, reason: Reason) -> None:
        retry_at = iso(self.runtime.clock() + self.runtime.config.sync.retry_delay)
        ledger.settle(
            self.store,
            self.summary,
            row["tvmaze_id"],
            stamp,
            P.PENDING_TVDB,
            reason,
            retry_after=retry_at,
        )

    def _add(self, row: Mapping[str, Any], stamp: str) -> None:
        """Lookup, intent, POST; then the status each answer means:

        201 -> added; 400 SeriesExistsValidator or 409 -> exists (ours if an earlier attempt
        of this POST went unanswered); other 400 -> failed with Sonarr's message, or the cycle
        stops when Sonarr objects to our settings; lookup empty -> pending_tvdb; 401/403 and
        exhausted retries raise (the show stays pending).
        """
        tvmaze_id, tvdb_id, title = row["tvmaze_id"], row["tvdb_id"], row["title"]
        found = self.gateway.lookup(tvdb_id)
        if found is None:
            self._wait_for_tvdb(row, stamp, Reason.TVDB_NOT_IN_SONARR)
            log.info("sonarr_lookup_empty tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)
            return
        if found.get("id"):  # in the library since our read (someone else added it)
            series = LibrarySeries(int(found["id"]), tvdb_id, str(found.get("title") or title))
            self.library[tvdb_id] = series
            ledger.settle_exists(self.store, self.summary, tvmaze_id, stamp, series.series_id)
            return
        body = self.gateway.add_body(found)
        ledger.record_intent(self.store, row)
        try:
            created = self.gateway.add(body)
        except (SonarrRejected, SonarrConflict) as answer:
            ours = self.gateway.unanswered > 0
            if isinstance(answer, SonarrConflict) or answer.series_exists:
                self._add_found_existing(row, stamp, ours)
                return
            ledger.drop(self.store, tvdb_id)
            if answer.about_settings:
                raise SonarrUnavailable(
                    f"Sonarr at {self.gateway.url} rejected the settings while adding "
                    f"{title!r}: {answer.message}; check sonarr.* against Sonarr"
                ) from None
            ledger.settle(
                self.store,
                self.summary,
                tvmaze_id,
                stamp,
                P.FAILED,
                Reason.REJECTED_BY_SONARR,
                error_message=answer.message,
            )
            log.warning(
                "sonarr_add_rejected tvmaze_id=%d tvdb_id=%d error=%r",
                tvmaze_id,
                tvdb_id,
                answer.message,
            )
            return
        except SonarrUnavailable:
            raise  # the intent stays: the next library read tells whether the add happened
        except TvmazeSyncError:
            if self.gateway.unanswered == 0:  # refused outright: nothing was created
                ledger.drop(self.store, tvdb_id)
            raise
        series_id = int(created["id"])
        self._record_add(row, series_id, stamp)
        log.info(
            "sonarr_series_added tvmaze_id=%d tvdb_id=%d sonarr_id=%d title=%r",
            tvmaze_id,
            tvdb_id,
            series_id,
            title,
        )

    def _add_found_existing(self, row: Mapping[str, Any], stamp: str, ours: bool) -> None:
        tvdb_id = row["tvdb_id"]
        series = self.gateway.series_by_tvdb(tvdb_id)
        if ours and series is not None:
            self._record_add(row, series.series_id, stamp)
            log.info(
                "sonarr_series_added tvmaze_id=%d tvdb_id=%d after_retry=true",
                row["tvmaze_id"],
                tvdb_id,
            )
            return
        with self.store.atomic():
            ledger.drop(self.store, tvdb_id)
            ledger.settle_exists(
                self.store,
                self.summary,
                row["tvmaze_id"],
                stamp,
                series.series_id if series else None,
            )
        if series is not None:
            self.library[tvdb_id] = series
        log.info("sonarr_series_exists tvmaze_id=%d tvdb_id=%d", row["tvmaze_id"], tvdb_id)

    def _record_add(self, row: Mapping[str, Any], series_id: int, stamp: str) -> None:
        ledger.settle_added(self.store, self.summary, row, series_id, stamp)
        self.library[row["tvdb_id"]] = LibrarySeries(series_id, row["tvdb_id"], row["title"], stamp)


def explain(store: Store, row: Mapping[str, Any]) -> str | None:
    """One line on why Sonarr holds or refuses this show (for `explain`), or None."""
    return ledger.explain(store, row)
