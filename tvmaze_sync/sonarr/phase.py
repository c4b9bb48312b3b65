"""The Sonarr phase of a cycle: library import, exclusions, adds, and the TVDB retry queue.

HTTP lives in gateway.py, startup validation in validation.py, statuses and the
ownership ledger in ledger.py; this module runs the phase:

- The library (`GET /api/v3/series`) and every Import List Exclusion are read once per cycle,
  completely, before any add. A show already in Sonarr becomes `exists`, an excluded one
  `excluded`, one the user deleted after we added it `removed_by_user`; none is looked up or
  added. A failed or partial read raises (exit 3) and nothing is concluded from it. When
  more than `max_removals` of our series are missing at once, none is concluded: the removal
  guard holds them for `tvmaze-sync removals` (ledger.py).
- Each remaining decided show is looked up by `tvdb:<id>` and added; every outcome of the POST
  gets its status (see `_Cycle._add`). An intent row in the ledger makes the add crash-safe.
- The adds of one cycle are capped (`sonarr.max_adds_per_cycle`) and taken most popular
  first; the rest wait for later cycles (`adds_waiting` in the summary). With
  `search_on_add`, each add starts an indexer search, so adds are `sonarr.add_interval` apart.
- Dry run (`dry_run`, `--dry-run`, or no Sonarr configured) writes nothing to Sonarr and
  changes no status, ledger row or hold: the summary reports what a real cycle would do
  (with the filters' verdicts from `filters.preview`, never written), and
  `would_add_titles` what it would add. Sonarr, when configured, is still validated and
  read; without it, the series we added are taken to be still there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Route, SonarrConfig
from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.errors import TvmazeSyncError
from tvmaze_sync.core.models import CycleSummary, ProcessingStatus, StatusReason
from tvmaze_sync.core.timeutil import Clock, Sleep, iso, parse_iso
from tvmaze_sync.decisions import filters, routing
from tvmaze_sync.sonarr import ledger, review, validation
from tvmaze_sync.sonarr.gateway import (
    ATTEMPTS,
    BACKOFF,
    BODY_SHOWN,
    Exclusion,
    LibrarySeries,
    SonarrConflict,
    SonarrGateway,
    SonarrRejected,
    SonarrUnavailable,
    SonarrUnreadable,
    shorten,
    sonarr_int,
)
from tvmaze_sync.storage.columns import DamagedRow
from tvmaze_sync.storage.store import Store

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
    routes: Sequence[Route] = (),
    name: str = DEFAULT_INSTANCE,
) -> SonarrGateway:
    """A validated Sonarr, before anything is written anywhere.

    Raises DependencyError (exit 3) when Sonarr is unreachable or refuses the key, ConfigError
    (exit 2) naming the bad setting and the valid choices. `read_only` (dry run) validates
    without creating missing tags. Requests are counted into `requests` (the cycle summary's).
    Every route adding to this instance (`name`) has its settings validated too.
    """
    checked = check(
        config, clock, sleep=sleep, requests=requests, read_only=read_only, routes=routes, name=name
    )
    try:
        validation.refuse([checked])
        validation.finish(checked)
    except BaseException:
        checked.lists.gateway.close()
        raise
    return checked.lists.gateway


def check(
    config: SonarrConfig,
    clock: Clock,
    *,
    sleep: Sleep = time.sleep,
    requests: dict[str, int] | None = None,
    read_only: bool = False,
    routes: Sequence[Route] = (),
    name: str = DEFAULT_INSTANCE,
) -> validation.Checked:
    """A gateway to one Sonarr with its settings checked and nothing written
    (validation.check; `validation.finish` makes it ready to add). Several instances are
    all checked before any is finished, so every problem of every instance is reported at
    once and no tag is created by a run that ends in exit 2. Raises DependencyError (exit 3)
    when Sonarr is unreachable or refuses the key (the gateway is then closed)."""
    gateway = SonarrGateway(
        config, clock=clock, sleep=sleep, requests=requests, read_only=read_only, name=name
    )
    try:
        return validation.check(gateway, routes)
    except BaseException:
        gateway.close()
        raise


# --- the TVDB retry queue ----------------------------------------------------------------


def retry_pending_tvdb(store: Store, context: CycleContext, summary: CycleSummary) -> None:
    """Give up on, or reschedule, each `pending_tvdb` show whose `retry_after` has passed.

    No request is made here. TVMaze is not asked again: a new TheTVDB id bumps the show's
    `updated`, so the mirror, which ran just before in this cycle, has already stored it (a
    `no_tvdb_id` show that got one is released by the ledger at once, retry or not). Whatever
    it waits for (no id, or an id Sonarr's lookup did not know), a show still waiting
    `abandon_after` after it started (`pending_tvdb_since`; not its first sighting, so filters
    widened a year later give a newly passing show its whole wait) becomes `failed`. Of the
    others, one without an id waits another `retry_delay`; one with an id stays due, and this
    cycle's adds ask Sonarr's lookup again (`ledger.candidates`) without it leaving
    `pending_tvdb`, so its wait keeps its start.
    """
    if context.effective_dry_run:
        return
    sync = context.config.sync
    now = context.clock()
    stamp = iso(now)
    due = store.tvdb_waits_due(stamp)
    for row in due:
        tvmaze_id, tvdb_id = row["tvmaze_id"], row["tvdb_id"]
        since = row["pending_tvdb_since"]
        waiting_since = parse_iso(since) if since else now
        with store.atomic():
            if now - waiting_since >= sync.abandon_after:
                _abandon(store, summary, row, stamp, iso(waiting_since))
            elif not tvdb_id:
                store.update_show(
                    tvmaze_id,
                    retry_after=iso(now + sync.retry_delay),
                    retry_count=(row["retry_count"] or 0) + 1,
                    pending_tvdb_since=iso(waiting_since),
                )
            else:
                store.update_show(tvmaze_id, pending_tvdb_since=iso(waiting_since))
                log.info("tvdb_retry_due tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)


def _abandon(
    store: Store, summary: CycleSummary, row: Mapping[str, Any], stamp: str, since: str
) -> None:
    """`abandon_after` is over: failed, with what it waited for."""
    tvdb_id = row["tvdb_id"]
    if tvdb_id:
        reason = StatusReason.ABANDONED_TVDB_NOT_IN_SONARR
        message = f"Sonarr's lookup has not known TheTVDB id {tvdb_id} since {since}"
    else:
        reason, message = StatusReason.ABANDONED_NO_TVDB, f"no usable TheTVDB id since {since}"
    ledger.settle(
        store,
        summary,
        row["tvmaze_id"],
        stamp,
        P.FAILED,
        reason,
        retry_after=None,
        error_message=message,
    )
    log.info(
        "tvdb_retry_abandoned tvmaze_id=%d tvdb_id=%s reason=%s waiting_since=%s",
        row["tvmaze_id"],
        tvdb_id,
        reason.value,
        since,
    )


# --- the Sonarr phase --------------------------------------------------------------------


def process(
    store: Store,
    gateway: SonarrGateway | None,
    context: CycleContext,
    summary: CycleSummary,
    decided: Mapping[int, str] | None = None,
) -> None:
    """Bring Sonarr and the cache together for every decided show; see the module docstring.

    Raises DependencyError when Sonarr refuses us, cannot be read completely, or stops
    answering; every show settled before that keeps its status, the others stay pending.
    `decided` (dry run only): the statuses the filters would write, by tvmaze id.
    """
    try:
        if context.effective_dry_run:
            _preview(store, gateway, context.config.sonarr, summary, decided)
            return
        assert gateway is not None, "cycle/run.py connects Sonarr unless this is a dry run"
        cycle = _Cycle(store, gateway, context, summary)
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
    store: Store,
    gateway: SonarrGateway | None,
    config: SonarrConfig,
    summary: CycleSummary,
    decided: Mapping[int, str] | None,
) -> None:
    """Dry run: count what a real cycle would do, change nothing, post nothing."""
    library: dict[int, LibrarySeries] | None = None  # no Sonarr: nothing to read
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
        config.max_removals,
        decided,
        require_approval=config.require_approval,
    )
    budget = config.max_adds_per_cycle
    if budget and len(summary.would_add_titles) > budget:  # most popular first: keep those
        summary.adds_waiting = len(summary.would_add_titles) - budget
        del summary.would_add_titles[budget:]
    log.info(
        "sonarr_dry_run would_add=%d sonarr=%s %s",
        len(summary.would_add_titles),
        "read" if gateway is not None else "not_configured",
        " ".join(f"{k}={v}" for k, v in sorted(summary.results.items())) or "none=0",
    )


class _Cycle:
    """One real (not dry) Sonarr phase: the two reads, then the ledger, then the adds."""

    def __init__(
        self, store: Store, gateway: SonarrGateway, context: CycleContext, summary: CycleSummary
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.context = context
        self.config = context.config.sonarr
        self.summary = summary
        # Both reads complete before anything is decided; they raise otherwise.
        self.library = gateway.library()
        self.exclusions = gateway.exclusions()
        self.blocked: set[int] = set()
        self.adds = 0  # series this cycle added (the budget counts them)
        self.last_add: float | None = None  # clock time of the last add (add_interval)
        self.unanswered_posts = 0  # POSTs of the current show that got no definite answer
        log.info("sonarr_read series=%d exclusions=%d", len(self.library), len(self.exclusions))

    def now(self) -> str:
        return iso(self.context.clock())

    def reconcile(self) -> None:
        self.blocked = ledger.reconcile(
            self.store,
            self.summary,
            self.now(),
            self.library,
            self.exclusions,
            self.config.on_user_removal,
            self.config.max_removals,
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
        config = self.context.config
        processor = filters.build_processor(config.filters, config.routes, self.gateway.name)
        if filtered := filters.apply(self.store, processor).by_result()[P.FILTERED]:
            self.summary.results[P.FILTERED.value] = (
                self.summary.results.get(P.FILTERED.value, 0) + filtered
            )

    def post_exclusions(self) -> None:
        """exclude_in_sonarr: one exclusion per series the user deleted, once ever."""
        if self.config.on_user_removal != "exclude_in_sonarr":
            return
        for item in self.store.ledger_rows(removed_at=True, exclusion_posted_at=False):
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
        """Look up and add the candidates left after `reconcile`, most popular first, one
        at a time, until `max_adds_per_cycle` series are added; the rest wait."""
        unavailable = 0
        attempted = answered = 0  # shows asked of Sonarr, and answered usably, this cycle
        deferred: list[tuple[Mapping[str, Any], str]] = []  # answered, but unusably
        budget = self.config.max_adds_per_cycle
        for row in ledger.candidates(self.store, self.now()):
            stamp = self.now()
            decision = ledger.decide(row["tvdb_id"], self.library, self.blocked, self.exclusions)
            if decision is P.PENDING_TVDB:
                self._wait_for_tvdb(row, stamp, StatusReason.NO_TVDB_ID)
                continue
            if decision is P.EXISTS:  # a duplicate of a show added a moment ago
                series_id = self.library[row["tvdb_id"]].series_id
                ledger.settle_exists(self.store, self.summary, row["tvmaze_id"], stamp, series_id)
                continue
            if decision is not None:  # reconcile settled these; only a race gets here
                continue
            if budget and self.adds >= budget:
                self.summary.adds_waiting += 1
                continue
            # Once a show went unanswered, the next ones get one try each: a dead Sonarr
            # costs one show's retries, not every show's.
            self.gateway.attempts = 1 if unavailable else ATTEMPTS
            self.gateway.gave_up_status = None
            attempted += 1
            try:
                self._add(row, stamp)
                unavailable, answered = 0, answered + 1
            except SonarrUnavailable as error:
                unavailable += 1
                if (
                    self.gateway.gave_up_status is not None
                    and row["processing_status"] == P.PENDING
                ):
                    deferred.append((row, str(error)))
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
        # Only where the fault is the show's: Sonarr answered others usably this cycle, or
        # this show was all it was asked about. A Sonarr (or its metadata server) failing
        # every show stops the cycle above and costs none of them a retry.
        if answered or attempted == 1:
            self._count_unanswered(deferred)
        if self.summary.adds_waiting:
            log.info(
                "sonarr_add_budget_spent added=%d waiting=%d max_adds_per_cycle=%d",
                self.adds,
                self.summary.adds_waiting,
                budget,
            )

    def _count_unanswered(self, deferred: list[tuple[Mapping[str, Any], str]]) -> None:
        """Every queue ends: a pending show Sonarr answers with an error or garbage, cycle
        after cycle, while it answers others, is `failed` (unanswered_by_sonarr, for good)
        once those cycles pass `sync.max_retries`; until then it stays pending, counting.
        A retry of a failed add keeps its count (one bound for both)."""
        max_retries = self.context.config.sync.max_retries
        for row, message in deferred:
            counting = row.get("status_reason") in (
                StatusReason.RETRYING_FAILED,
                StatusReason.UNANSWERED_BY_SONARR,
            )
            cycles = (row.get("retry_count") or 0) + 1 if counting else 1
            tvmaze_id, stamp = row["tvmaze_id"], self.now()
            if cycles <= max_retries:
                ledger.update(
                    self.store,
                    tvmaze_id,
                    stamp,
                    P.PENDING,
                    StatusReason.UNANSWERED_BY_SONARR,
                    retry_count=cycles,
                    error_message=shorten(message, 2 * BODY_SHOWN),
                )
                log.info("sonarr_add_unanswered tvmaze_id=%d cycles=%d", tvmaze_id, cycles)
                continue
            ledger.uncount(self.summary, P.PENDING)  # counted pending when deferred
            ledger.settle(
                self.store,
                self.summary,
                tvmaze_id,
                stamp,
                P.FAILED,
                StatusReason.UNANSWERED_BY_SONARR,
                retry_count=cycles - 1,
                retry_after=None,
                error_message=shorten(message, 2 * BODY_SHOWN),
            )
            log.warning(
                "sonarr_add_given_up tvmaze_id=%d tvdb_id=%d cycles=%d error=%r",
                tvmaze_id,
                row["tvdb_id"],
                cycles,
                message,
            )

    def _wait_for_tvdb(self, row: Mapping[str, Any], stamp: str, reason: StatusReason) -> None:
        """pending_tvdb until `retry_delay` from now; a show already waiting keeps its count
        of retries (and, in `ledger.update`, the start of its wait)."""
        retry_at = iso(self.context.clock() + self.context.config.sync.retry_delay)
        again = row.get("processing_status") == P.PENDING_TVDB
        ledger.settle(
            self.store,
            self.summary,
            row["tvmaze_id"],
            stamp,
            P.PENDING_TVDB,
            reason,
            retry_after=retry_at,
            retry_count=(row.get("retry_count") or 0) if again else 0,
        )

    def _fail(self, row: Mapping[str, Any], stamp: str, reason: StatusReason, message: str) -> None:
        """failed with Sonarr's words; retried after `retry_delay` until `sync.max_retries`
        automatic retries are spent (`retry_count` counts them; a `retry` by hand resets it)."""
        sync = self.context.config.sync
        retried = row.get("status_reason") in (
            StatusReason.RETRYING_FAILED,
            StatusReason.UNANSWERED_BY_SONARR,
        )
        retries = (row.get("retry_count") or 0) if retried else 0
        retry_at = (
            iso(self.context.clock() + sync.retry_delay) if retries < sync.max_retries else None
        )
        ledger.settle(
            self.store,
            self.summary,
            row["tvmaze_id"],
            stamp,
            P.FAILED,
            reason,
            error_message=message,
            retry_count=retries,
            retry_after=retry_at,
        )
        log.warning(
            "sonarr_add_rejected tvmaze_id=%d tvdb_id=%d reason=%s retries=%d retry_after=%s "
            "error=%r",
            row["tvmaze_id"],
            row["tvdb_id"],
            reason.value,
            retries,
            retry_at,
            message,
        )

    def _route(self, tvmaze_id: int) -> str | None:
        """The route the show follows here, by name (None: the instance's own settings)."""
        show = self.store.get_show(tvmaze_id)
        route = routing.route_for(self.context.config.routes, show) if show else None
        if route is None or route.name not in self.gateway.routed:
            return None
        log.info("sonarr_add_routed tvmaze_id=%d route=%r", tvmaze_id, route.name)
        return route.name

    def _pace(self, route: str | None = None) -> None:
        """With `search_on_add` every add starts a search on the user's indexers: keep the
        adds `add_interval` apart (the lookups in between count towards it)."""
        settings = self.gateway.routed.get(route or "", (self.config, None))[0]
        if not settings.search_on_add or self.last_add is None:
            return
        wait = self.last_add + float(self.config.add_interval) - self.context.clock()
        if wait > 0:
            log.debug("sonarr_add_paced wait=%.1f", wait)
            self.context.sleep(wait)

    def _add(self, row: Mapping[str, Any], stamp: str) -> None:
        """Lookup, intent, POST; then the status each answer means:

        201 -> added; 400 SeriesExistsValidator -> exists (ours if an earlier attempt of this
        POST went unanswered); 409 -> the same, but only when the library then has the TVDB
        id, else `failed` (`conflict_in_sonarr`) after the retries (`_post`); other 400 ->
        failed with Sonarr's message, or the cycle stops when Sonarr objects to our settings;
        lookup empty -> pending_tvdb; 401/403 and exhausted retries raise (the show stays
        queued).
        """
        tvmaze_id, tvdb_id, title = row["tvmaze_id"], row["tvdb_id"], row["title"]
        try:
            route = self._route(tvmaze_id)
        except DamagedRow as damaged:  # queued until the next sync rebuilds its row
            log.warning("sonarr_add_postponed tvmaze_id=%d error=%r", tvmaze_id, str(damaged))
            return
        if row.get("processing_status") == P.PENDING_TVDB:  # a due retry of the lookup
            self.store.bump_retry_count(tvmaze_id)
            row = {**row, "retry_count": (row.get("retry_count") or 0) + 1}
        try:
            found = self.gateway.lookup(tvdb_id)
            existing = self.gateway.lookup_series_id(found) if found is not None else None
        except SonarrUnreadable as error:  # this show's answer only: the queue moves on
            self._fail(row, stamp, StatusReason.UNREADABLE_ANSWER, str(error))
            return
        if found is None:
            self._wait_for_tvdb(row, stamp, StatusReason.TVDB_NOT_IN_SONARR)
            log.info("sonarr_lookup_empty tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)
            return
        if existing is not None:  # in the library since our read (someone else added it)
            series = LibrarySeries(existing, tvdb_id, str(found.get("title") or title))
            self.library[tvdb_id] = series
            ledger.settle_exists(self.store, self.summary, tvmaze_id, stamp, series.series_id)
            return
        body = self.gateway.add_body(found, route)
        self._pace(route)
        settings = self.gateway.routed.get(route or "", (self.config, None))[0]
        target = json.dumps(routing.lasting(settings), sort_keys=True)
        ledger.record_intent(self.store, row, route, target)
        self.unanswered_posts = 0
        try:
            created = self._post(body, tvdb_id)
        except SonarrRejected as answer:
            ours = self.unanswered_posts > 0
            if answer.series_exists:
                self._add_found_existing(row, stamp, ours, self.gateway.series_by_tvdb(tvdb_id))
                return
            ledger.drop(self.store, tvdb_id)
            if answer.about_settings:
                raise SonarrUnavailable(
                    f"Sonarr at {self.gateway.url} rejected the settings while adding "
                    f"{title!r}: {answer.message}; check sonarr.* against Sonarr"
                ) from None
            self._fail(row, stamp, StatusReason.REJECTED_BY_SONARR, answer.message)
            return
        except SonarrConflict as answer:  # every attempt: and the library has no such series
            ledger.drop(self.store, tvdb_id)
            self._fail(row, stamp, StatusReason.CONFLICT_IN_SONARR, f"HTTP 409: {answer.message}")
            return
        except SonarrUnavailable:
            raise  # the intent stays: the next library read tells whether the add happened
        except TvmazeSyncError:
            if self.unanswered_posts == 0:  # refused outright: nothing was created
                ledger.drop(self.store, tvdb_id)
            raise
        if isinstance(created, LibrarySeries):  # a 409, and the library has it
            self._add_found_existing(row, stamp, self.unanswered_posts > 0, created)
            return
        series_id = sonarr_int(created["id"], minimum=1)
        self._record_add(row, series_id, stamp)
        log.info(
            "sonarr_series_added tvmaze_id=%d tvdb_id=%d sonarr_id=%d title=%r",
            tvmaze_id,
            tvdb_id,
            series_id,
            title,
        )

    def _post(self, body: Mapping[str, Any], tvdb_id: int) -> dict[str, Any] | LibrarySeries:
        """POST the add. A 409 is not proof that the series is there (Sonarr answers it for
        any unique constraint, a TitleSlug clash included, and so may a proxy): it counts
        only when the library then has the TVDB id (returned). Otherwise the POST is tried
        again like a 5xx, and SonarrConflict raised once ATTEMPTS are spent."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.gateway.add(body)
            except SonarrConflict as conflict:
                self.unanswered_posts += self.gateway.unanswered
                series = self.gateway.library_entry(tvdb_id)
                if series is not None:
                    return series
                if attempt >= ATTEMPTS:
                    raise
                wait = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
                log.warning(
                    "sonarr_conflict_unconfirmed tvdb_id=%d attempt=%d wait=%.1f detail=%r",
                    tvdb_id,
                    attempt,
                    wait,
                    conflict.message,
                )
                self.context.sleep(wait)
            except BaseException:
                self.unanswered_posts += self.gateway.unanswered
                raise

    def _add_found_existing(
        self, row: Mapping[str, Any], stamp: str, ours: bool, series: LibrarySeries | None
    ) -> None:
        tvdb_id = row["tvdb_id"]
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
        self.adds += 1
        self.last_add = self.context.clock()
        self.library[row["tvdb_id"]] = LibrarySeries(series_id, row["tvdb_id"], row["title"], stamp)


#: The route recorded for a series added before routing, or with none: `added_route`.
NO_ROUTE = ""


def added_route(store: Store, row: Mapping[str, Any]) -> str | None:
    """The route the series this tool added for `row` followed ("" for none), or None when
    this tool has not added it (no ledger row, or a cache older than routing)."""
    if row.get("processing_status") not in (P.ADDED, P.REMOVED_BY_USER):
        return None
    item = store.ledger_entry(row.get("tvdb_id"))
    if item is None:
        return None
    return item.get("route") or NO_ROUTE


def route_changed_note(
    store: Store,
    row: Mapping[str, Any],
    current: str | None,
    target: Mapping[str, Any] | None = None,
) -> str | None:
    """`explain`: the show was added following another route than it would follow now, or
    the same route (or none) whose lasting settings have changed since (`target`: the
    settings an add would get now, routing.targets). It is not moved: Sonarr owns the
    series once added (move it there if you wish)."""
    added = added_route(store, row)
    if added is None or row.get("processing_status") != P.ADDED:
        return None
    if added != (current or ""):
        then = f"route {added!r}" if added else "no route"
        now = f"route {current!r}" if current else "no route"
        change = f"added following {then}; it now follows {now}"
    else:
        item = store.ledger_entry(row.get("tvdb_id")) or {}
        changed = routing.changed_settings(item.get("target"), routing.lasting(dict(target or {})))
        if target is None or changed is None:
            return None
        change = f"added with {changed[0]}; its target now has {changed[1]}"
    return (
        f"{change}: not moved, Sonarr owns the series "
        "(change its folder or profile in Sonarr if you wish)"
    )
