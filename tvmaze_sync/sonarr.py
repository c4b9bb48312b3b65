"""The Sonarr phase of a cycle: library import, exclusions, the ownership ledger, adds, and the
TVDB retry queue. HTTP and validation live in sonarr_api.py; this module decides statuses.

Being a good citizen of the user's Sonarr (the Sonarr and "good citizen" issues):

- The library (`GET /api/v3/series`) and every Import List Exclusion are read once per cycle,
  completely, before any add. A show already in Sonarr becomes `exists`, an excluded one
  `excluded`; neither is looked up or added. A failed or partial read raises (exit 3) and
  nothing is concluded from it.
- `sonarr_ledger` records every series this tool added (tvdb id, Sonarr id, title, time). It is
  the only record of ownership: refilter, filter changes and rescans rewrite `shows`, never the
  ledger. A ledger series missing from a complete library read was deleted by the user: its
  show becomes `removed_by_user` and is never added again (`sonarr.on_user_removal`).
- Crash safety of an add: before the POST, the ledger gets an *intent* row (no `added_at`),
  committed on its own. After a 201 the show's `added` status and the confirmed ledger row are
  written in one transaction. If the process dies between the 201 and that commit, the next
  cycle finds the series in the library *and* an intent row for it, so it is recorded as
  `added` (ours), not `exists`, and nothing is posted twice. An intent row whose series is not
  in the next complete library read was never created and is dropped (the show is simply
  tried again). The one window left: a user who deletes the series in Sonarr before the next
  cycle after such a crash gets it back once, because that case cannot be told from a POST
  that never arrived.
- Dry run (`dry_run`, `--dry-run`, or no Sonarr configured) writes nothing to Sonarr and
  changes no status at all: the summary reports what a real cycle would do, and
  `would_add_titles` what it would add. Sonarr, when configured, is still validated and read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlite_utils.db import Table

from tvmaze_sync import tvmaze
from tvmaze_sync.config import SonarrConfig
from tvmaze_sync.errors import TvmazeSyncError
from tvmaze_sync.models import CycleSummary, ProcessingStatus
from tvmaze_sync.sonarr_api import (
    Exclusion,
    LibrarySeries,
    SonarrConflict,
    SonarrGateway,
    SonarrRejected,
    SonarrUnavailable,
)
from tvmaze_sync.store import Store, row_from_show
from tvmaze_sync.timeutil import Clock, Sleep, iso, parse_iso

if TYPE_CHECKING:
    from tvmaze_sync.sync import Runtime

log = logging.getLogger(__name__)

P = ProcessingStatus

#: Shows in a row whose add got no answer (after each one's own retries) before the cycle
#: stops talking to Sonarr: a dead Sonarr costs a few timeouts, not one per pending show.
MAX_CONSECUTIVE_UNAVAILABLE = 3


class Reason(StrEnum):
    """`shows.status_reason`: why a show sits in a Sonarr-side status."""

    NO_TVDB_ID = "no_tvdb_id"  # pending_tvdb: TVMaze has no TheTVDB id for it
    TVDB_NOT_IN_SONARR = "tvdb_not_in_sonarr"  # pending_tvdb: Sonarr's lookup found nothing
    ABANDONED_NO_TVDB = "abandoned_no_tvdb"  # failed: still no usable id after abandon_after
    REJECTED_BY_SONARR = "rejected_by_sonarr"  # failed: a 400; Sonarr's words in error_message
    SONARR_EXCLUSION = "sonarr_exclusion"  # excluded: on Sonarr's Import List Exclusions
    DELETED_IN_SONARR = "deleted_in_sonarr"  # removed_by_user: we added it, the user deleted it


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
        gateway.validate()
    except BaseException:
        gateway.close()
        raise
    return gateway


# --- the TVDB retry queue ----------------------------------------------------------------


def retry_pending_tvdb(
    store: Store, tvmaze_client: Any, runtime: Runtime, summary: CycleSummary
) -> None:
    """Re-fetch from TVMaze each `pending_tvdb` show whose `retry_after` has passed.

    Runs before the filters: a show that now has a TVDB id goes back to `pending` with fresh
    metadata (so the filters decide it again) and is added later in the same cycle. One still
    without an id `abandon_after` past its first sighting (`created_at`) becomes `failed`
    (`abandoned_no_tvdb`); the others wait another `retry_delay`.
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
            select="tvmaze_id, title, tvdb_id, created_at, retry_count, "
            "tvmaze_updated_at AS updated",
        )
    )
    for row in due:
        tvmaze_id = row["tvmaze_id"]
        try:
            # Newer than what we hold, or TVMaze's HTTP cache could answer with our own copy.
            data = tvmaze_client.get_show(tvmaze_id, min_updated=(row["updated"] or 0) + 1)
        except TvmazeSyncError as error:
            # The mirror just worked with this client; leave the rest due for next cycle.
            log.warning("tvdb_retry_stopped tvmaze_id=%d error=%r", tvmaze_id, str(error))
            return
        tvdb_id = row["tvdb_id"] if data is None else None
        with store.atomic():
            if data is not None:
                show = tvmaze.show_from_tvmaze(data)
                store.upsert_shows([row_from_show(show, data)], stamp)
                tvdb_id = show.tvdb_id
            retries = (row["retry_count"] or 0) + 1
            first_seen = parse_iso(row["created_at"]) if row["created_at"] else now
            if tvdb_id:
                _update(store, tvmaze_id, stamp, P.PENDING, None, retry_after=None)
                store.db.execute(
                    "UPDATE shows SET retry_count = ? WHERE tvmaze_id = ?", [retries, tvmaze_id]
                )
                log.info("tvdb_retry_found tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)
            elif now - first_seen >= sync.abandon_after:
                _settle(
                    store,
                    summary,
                    tvmaze_id,
                    stamp,
                    P.FAILED,
                    Reason.ABANDONED_NO_TVDB,
                    retry_after=None,
                    retry_count=retries,
                    error_message=f"no usable TheTVDB id since {iso(first_seen)}",
                )
                log.info(
                    "tvdb_retry_abandoned tvmaze_id=%d first_seen=%s", tvmaze_id, iso(first_seen)
                )
            else:
                store.db.execute(
                    "UPDATE shows SET retry_after = ?, retry_count = ? WHERE tvmaze_id = ?",
                    [iso(now + sync.retry_delay), retries, tvmaze_id],
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
        cycle.reconcile()
        cycle.post_exclusions()
        cycle.add_pending()
    finally:
        if gateway is not None:
            gateway.close()


def _candidates(store: Store) -> list[dict[str, Any]]:
    """Shows the filters passed (and have seen since their data last changed), unsent."""
    return list(
        store.rows_where(
            "processing_status = ? AND needs_filter = 0",
            [P.PENDING.value],
            order_by="tvmaze_id",
            select="tvmaze_id, title, tvdb_id, premiered",
        )
    )


def _decide(
    tvdb_id: int | None,
    library: Mapping[int, LibrarySeries],
    blocked: set[int],
    exclusions: Mapping[int, Exclusion],
) -> ProcessingStatus | None:
    """What a decided, unsent show becomes without any request; None means: try the add."""
    if not tvdb_id:
        return P.PENDING_TVDB
    if tvdb_id in library:
        return P.EXISTS
    if tvdb_id in blocked:
        return P.REMOVED_BY_USER
    if tvdb_id in exclusions:
        return P.EXCLUDED
    return None


def _ledger_table(store: Store) -> Table:
    return store.db.table("sonarr_ledger")


def _ledger(store: Store) -> list[dict[str, Any]]:
    return list(_ledger_table(store).rows_where(order_by="tvdb_id"))


def _preview(
    store: Store, gateway: SonarrGateway | None, config: SonarrConfig, summary: CycleSummary
) -> None:
    """Dry run: count what a real cycle would do, change nothing, post nothing."""
    library: dict[int, LibrarySeries] = {}
    exclusions: dict[int, Exclusion] = {}
    blocked: set[int] = set()
    if gateway is not None:
        library = gateway.library()
        exclusions = gateway.exclusions()
        for entry in _ledger(store):
            gone = entry["tvdb_id"] not in library
            if entry["added_at"] and not entry["removed_at"] and gone:
                _count(summary, P.REMOVED_BY_USER)
            confirmed = entry["removed_at"] or entry["added_at"]
            if confirmed and gone and config.on_user_removal != "allow_readd":
                blocked.add(entry["tvdb_id"])
    for row in _candidates(store):
        decision = _decide(row["tvdb_id"], library, blocked, exclusions)
        if decision is None:
            summary.would_add_titles.append(row["title"])
        else:
            _count(summary, decision)
    log.info(
        "sonarr_dry_run would_add=%d sonarr=%s %s",
        len(summary.would_add_titles),
        "read" if gateway is not None else "not_configured",
        " ".join(f"{k}={v}" for k, v in sorted(summary.results.items())) or "none=0",
    )


def _count(summary: CycleSummary, status: ProcessingStatus) -> None:
    summary.results[status.value] = summary.results.get(status.value, 0) + 1


def _update(
    store: Store,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: Reason | None,
    **columns: Any,
) -> None:
    assignments = {"processing_status": status.value, "status_reason": reason, **columns}
    sql = ", ".join(f"{name} = :{name}" for name in assignments)
    store.db.execute(
        f"UPDATE shows SET {sql}, updated_at = :stamp WHERE tvmaze_id = :tvmaze_id",
        {**assignments, "stamp": stamp, "tvmaze_id": tvmaze_id},
    )


def _settle(
    store: Store,
    summary: CycleSummary,
    tvmaze_id: int,
    stamp: str,
    status: ProcessingStatus,
    reason: Reason | None = None,
    **columns: Any,
) -> None:
    """Set a show's result and count it, in one transaction (the caller's, if open)."""
    with store.atomic():
        _update(store, tvmaze_id, stamp, status, reason, **columns)
        store.bump_counter("shows_processed", status.value)
    _count(summary, status)


class _Cycle:
    """One real (not dry) Sonarr phase: the reads it made and the ledger decisions."""

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

    # --- the ledger against the library -------------------------------------------------

    def reconcile(self) -> None:
        """Apply everything the two reads say, in one transaction, before any add."""
        stamp = self.now()
        store = self.store
        readd = self.config.on_user_removal == "allow_readd"
        with store.atomic():
            for entry in _ledger(store):
                tvdb_id = entry["tvdb_id"]
                series = self.library.get(tvdb_id)
                if entry["added_at"] is None:  # an intent row: did the POST create it?
                    if series is not None:
                        self._confirm(entry, series, stamp)
                    else:
                        _ledger_table(store).delete(tvdb_id)
                    continue
                if series is not None:
                    if entry["removed_at"] is not None:  # the user added it back by hand
                        for row in self._shows_of(entry):
                            if row["processing_status"] == P.REMOVED_BY_USER:
                                self._exists(row, series, stamp)
                    continue
                if entry["removed_at"] is None:
                    _ledger_table(store).update(tvdb_id, {"removed_at": stamp})
                    self._removed(entry, stamp, readd)
                elif readd:
                    self._release(entry, stamp, P.REMOVED_BY_USER)
                if not readd:
                    self.blocked.add(tvdb_id)
            for row in list(
                store.rows_where(
                    "processing_status IN (?, ?) AND tvdb_id IS NOT NULL",
                    [P.EXCLUDED.value, P.FAILED.value],
                    select="tvmaze_id, title, tvdb_id, processing_status",
                )
            ):
                tvdb_id = row["tvdb_id"]
                if tvdb_id in self.library:
                    self._exists(row, self.library[tvdb_id], stamp)
                elif row["processing_status"] == P.EXCLUDED and tvdb_id not in self.exclusions:
                    # The user lifted the exclusion: the show is a candidate again.
                    _update(store, row["tvmaze_id"], stamp, P.PENDING, None)
                    log.info(
                        "sonarr_exclusion_lifted tvmaze_id=%d tvdb_id=%d", row["tvmaze_id"], tvdb_id
                    )
            # The mirror brought a TVDB id to a show that had none: no need to wait for the
            # retry queue (a show Sonarr's lookup did not know still waits for its retry).
            store.db.execute(
                "UPDATE shows SET processing_status = ?, status_reason = NULL, "
                "retry_after = NULL, updated_at = ? WHERE processing_status = ? "
                "AND status_reason = ? AND tvdb_id IS NOT NULL AND needs_filter = 0",
                [P.PENDING.value, stamp, P.PENDING_TVDB.value, Reason.NO_TVDB_ID.value],
            )
            for row in _candidates(store):
                decision = _decide(row["tvdb_id"], self.library, self.blocked, self.exclusions)
                if decision is P.EXISTS:
                    self._exists(row, self.library[row["tvdb_id"]], stamp)
                elif decision is P.REMOVED_BY_USER:
                    _settle(
                        store,
                        self.summary,
                        row["tvmaze_id"],
                        stamp,
                        decision,
                        Reason.DELETED_IN_SONARR,
                    )
                elif decision is P.EXCLUDED:
                    _settle(
                        store,
                        self.summary,
                        row["tvmaze_id"],
                        stamp,
                        decision,
                        Reason.SONARR_EXCLUSION,
                    )

    def _confirm(self, entry: Mapping[str, Any], series: LibrarySeries, stamp: str) -> None:
        """An add whose 201 was never recorded (the process died): it is ours, record it."""
        added_at = iso(parse_iso(series.added)) if series.added else stamp
        _ledger_table(self.store).update(
            entry["tvdb_id"], {"sonarr_series_id": series.series_id, "added_at": added_at}
        )
        row = self.store.get_row(entry["tvmaze_id"]) if entry["tvmaze_id"] else None
        if row is not None and row["processing_status"] != P.ADDED:
            _settle(
                self.store,
                self.summary,
                row["tvmaze_id"],
                stamp,
                P.ADDED,
                sonarr_series_id=series.series_id,
                added_to_sonarr_at=added_at,
                retry_after=None,
                error_message=None,
            )
            self.summary.added_titles.append(row["title"])
        log.info(
            "sonarr_add_recovered tvdb_id=%d sonarr_id=%d tvmaze_id=%s",
            entry["tvdb_id"],
            series.series_id,
            entry["tvmaze_id"],
        )

    def _removed(self, entry: Mapping[str, Any], stamp: str, readd: bool) -> None:
        log.info(
            "sonarr_series_removed_by_user tvdb_id=%d sonarr_id=%s action=%s title=%r",
            entry["tvdb_id"],
            entry["sonarr_series_id"],
            self.config.on_user_removal,
            entry["title"],
        )
        if readd:
            self._release(entry, stamp, P.ADDED)
            return
        for row in self._shows_of(entry):
            if row["processing_status"] != P.REMOVED_BY_USER:
                _settle(
                    self.store,
                    self.summary,
                    row["tvmaze_id"],
                    stamp,
                    P.REMOVED_BY_USER,
                    Reason.DELETED_IN_SONARR,
                )

    def _release(self, entry: Mapping[str, Any], stamp: str, status: ProcessingStatus) -> None:
        """allow_readd: the show is a candidate again (filters permitting)."""
        for row in self._shows_of(entry):
            if row["processing_status"] == status:
                _update(self.store, row["tvmaze_id"], stamp, P.PENDING, None)

    def _shows_of(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        return list(
            self.store.rows_where(
                "tvmaze_id = ? OR tvdb_id = ?",
                [entry["tvmaze_id"], entry["tvdb_id"]],
                select="tvmaze_id, title, processing_status",
            )
        )

    def _exists(self, row: Mapping[str, Any], series: LibrarySeries, stamp: str) -> None:
        _settle(
            self.store,
            self.summary,
            row["tvmaze_id"],
            stamp,
            P.EXISTS,
            sonarr_series_id=series.series_id,
            retry_after=None,
            error_message=None,
        )

    # --- exclude_in_sonarr ----------------------------------------------------------------

    def post_exclusions(self) -> None:
        """Post one exclusion per series the user deleted, once ever (ledger-tracked)."""
        if self.config.on_user_removal != "exclude_in_sonarr":
            return
        for entry in list(
            _ledger_table(self.store).rows_where(
                "removed_at IS NOT NULL AND exclusion_posted_at IS NULL"
            )
        ):
            tvdb_id = entry["tvdb_id"]
            if tvdb_id not in self.exclusions:
                try:
                    self.gateway.add_exclusion(tvdb_id, entry["title"] or str(tvdb_id))
                except (SonarrUnavailable, SonarrRejected) as error:
                    log.warning(
                        "sonarr_exclusion_post_failed tvdb_id=%d error=%r", tvdb_id, str(error)
                    )
                    continue
                log.info("sonarr_exclusion_posted tvdb_id=%d title=%r", tvdb_id, entry["title"])
            with self.store.atomic():
                _ledger_table(self.store).update(tvdb_id, {"exclusion_posted_at": self.now()})

    # --- adds -----------------------------------------------------------------------------

    def add_pending(self) -> None:
        """Look up and add every candidate left after `reconcile`, one at a time."""
        unavailable = 0
        for row in _candidates(self.store):
            stamp = self.now()
            decision = _decide(row["tvdb_id"], self.library, self.blocked, self.exclusions)
            if decision is P.PENDING_TVDB:
                self._wait_for_tvdb(row, stamp, Reason.NO_TVDB_ID)
                continue
            if decision is P.EXISTS:  # a duplicate of a show added a moment ago
                self._exists(row, self.library[row["tvdb_id"]], stamp)
                continue
            if decision is not None:  # reconcile settled these; only a race gets here
                continue
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
                _count(self.summary, P.PENDING)
                if unavailable >= MAX_CONSECUTIVE_UNAVAILABLE:
                    raise SonarrUnavailable(
                        f"{error}; stopped after {unavailable} shows in a row could not be "
                        "added; they stay pending for the next cycle"
                    ) from None

    def _wait_for_tvdb(self, row: Mapping[str, Any], stamp: str, reason: Reason) -> None:
        retry_at = iso(self.runtime.clock() + self.runtime.config.sync.retry_delay)
        _settle(
            self.store,
            self.summary,
            row["tvmaze_id"],
            stamp,
            P.PENDING_TVDB,
            reason,
            retry_after=retry_at,
        )

    def _add(self, row: Mapping[str, Any], stamp: str) -> None:
        tvmaze_id, tvdb_id, title = row["tvmaze_id"], row["tvdb_id"], row["title"]
        found = self.gateway.lookup(tvdb_id)
        if found is None:
            self._wait_for_tvdb(row, stamp, Reason.TVDB_NOT_IN_SONARR)
            log.info("sonarr_lookup_empty tvmaze_id=%d tvdb_id=%d", tvmaze_id, tvdb_id)
            return
        if found.get("id"):  # in the library since our read (someone else added it)
            series = LibrarySeries(int(found["id"]), tvdb_id, str(found.get("title") or title))
            self.library[tvdb_id] = series
            self._exists(row, series, stamp)
            return
        body = self.gateway.add_body(found)
        ledger = _ledger_table(self.store)
        with self.store.atomic():  # the intent, committed before the POST (module docstring)
            ledger.upsert(
                {
                    "tvdb_id": tvdb_id,
                    "tvmaze_id": tvmaze_id,
                    "title": title,
                    "sonarr_series_id": None,
                    "added_at": None,
                    "removed_at": None,
                    "exclusion_posted_at": None,
                },
                pk="tvdb_id",
            )
        try:
            created = self.gateway.add(body)
        except (SonarrRejected, SonarrConflict) as answer:
            ours = self.gateway.unanswered > 0  # an earlier attempt may have created it
            if isinstance(answer, SonarrConflict) or answer.series_exists:
                self._add_found_existing(row, stamp, ours)
                return
            with self.store.atomic():
                ledger.delete(tvdb_id)
            if answer.about_settings:
                raise SonarrUnavailable(
                    f"Sonarr at {self.gateway.url} rejected the settings while adding "
                    f"{title!r}: {answer.message}; check sonarr.* against Sonarr"
                ) from None
            with self.store.atomic():
                _settle(
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
            raise  # the intent row stays: the next library read tells whether it was created
        except TvmazeSyncError:
            if self.gateway.unanswered == 0:
                with self.store.atomic():
                    ledger.delete(tvdb_id)
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
            _ledger_table(self.store).delete(tvdb_id)
            _settle(
                self.store,
                self.summary,
                row["tvmaze_id"],
                stamp,
                P.EXISTS,
                sonarr_series_id=series.series_id if series else None,
                retry_after=None,
                error_message=None,
            )
        if series is not None:
            self.library[tvdb_id] = series
        log.info("sonarr_series_exists tvmaze_id=%d tvdb_id=%d", row["tvmaze_id"], tvdb_id)

    def _record_add(self, row: Mapping[str, Any], series_id: int, stamp: str) -> None:
        tvdb_id = row["tvdb_id"]
        with self.store.atomic():
            _ledger_table(self.store).update(
                tvdb_id, {"sonarr_series_id": series_id, "added_at": stamp}
            )
            _settle(
                self.store,
                self.summary,
                row["tvmaze_id"],
                stamp,
                P.ADDED,
                sonarr_series_id=series_id,
                added_to_sonarr_at=stamp,
                retry_after=None,
                error_message=None,
            )
        self.library[tvdb_id] = LibrarySeries(series_id, tvdb_id, row["title"], stamp)
        self.summary.added_titles.append(row["title"])


def explain(store: Store, row: Mapping[str, Any]) -> str | None:
    """One line on why Sonarr holds or refuses this show, for `explain`; None if nothing."""
    status = row.get("processing_status")
    entry = _ledger_entry(store, row.get("tvdb_id"))
    if status == P.REMOVED_BY_USER and entry:
        return (
            f"added to Sonarr by tvmaze-sync on {entry['added_at']}, deleted there by the user "
            f"(noticed {entry['removed_at']}); not added again (sonarr.on_user_removal)"
        )
    if status == P.EXCLUDED:
        return f"on Sonarr's Import List Exclusions (tvdb {row.get('tvdb_id')}); never added"
    if status == P.ADDED and entry:
        return (
            f"added to Sonarr by tvmaze-sync on {entry['added_at']} "
            f"(series {entry['sonarr_series_id']})"
        )
    if status == P.EXISTS:
        return f"already in Sonarr (series {row.get('sonarr_series_id')}), not added by tvmaze-sync"
    if status == P.PENDING_TVDB:
        return (
            f"waiting for a TheTVDB id Sonarr knows ({row.get('status_reason')}); "
            f"retried after {row.get('retry_after')}"
        )
    if status == P.FAILED:
        return f"{row.get('status_reason')}: {row.get('error_message')}"
    return None


def _ledger_entry(store: Store, tvdb_id: int | None) -> dict[str, Any] | None:
    if not tvdb_id:
        return None
    rows = list(_ledger_table(store).rows_where("tvdb_id = ?", [tvdb_id]))
    return rows[0] if rows else None
