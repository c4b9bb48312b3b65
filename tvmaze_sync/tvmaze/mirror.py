"""TVMaze -> cache: a resumable full pass over the show index and a request-optimal incremental.

Which run does what (plan.py decides, docs/tvmaze-mirror.md says why):

* full — never synced: walk /shows?page=0,1,2… until 404. Each page is one transaction and
  then a checkpoint (`last_tvmaze_page`), so a run killed anywhere resumes at the next page.
* resume — a full pass is in progress (`last_tvmaze_page` is set): continue after it.
* incremental — read /updates/shows for the smallest window covering the time since the last
  check, compare with the stored `updated`, fetch only what changed or is new: a page when
  it is expected to serve at least two changed ids, the show alone otherwise, and alone
  again when the (up to 24 h stale) page copy turned out older than announced.

A full pass ends with a catch-up against the updates map, because the page index may lag a
day behind: after it, every run is incremental and the cache holds the newest data seen.

Once a week (and whenever no window covers the gap) the read is of the whole map, which
names every show TVMaze has: stored shows it lacks are asked for alone, and dropped on 404.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tvmaze_sync.core.context import CycleContext
from tvmaze_sync.core.models import CycleSummary
from tvmaze_sync.core.timeutil import iso
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import Store
from tvmaze_sync.tvmaze import plan
from tvmaze_sync.tvmaze.client import TvmazeClient
from tvmaze_sync.tvmaze.mapping import (
    MAX_RAW_CHARS,
    RECORDS_SKIPPED,
    ShowSkipped,
    SkipReason,
    brief,
    map_show,
    show_id_of,
    updated_of,
    updated_unusable,
)
from tvmaze_sync.tvmaze.plan import PAGE_SIZE, Mode, page_of

log = logging.getLogger(__name__)

#: Without a progress bar, one log line per this many pages.
LOG_EVERY_PAGES = 25
#: Rows written per transaction when shows are fetched one by one.
SINGLES_BATCH = 100


# --- progress --------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} pages/s" if speed else "… pages/s")


class _Progress:
    """A rich bar on stderr (pages, shows, rate, ETA) or a log line every N pages."""

    def __init__(self, enabled: bool, total: int | None, start_page: int) -> None:
        self.pages = 0
        self.shows = 0
        self._bar: Progress | None = None
        if enabled:
            self._bar = Progress(
                TextColumn("TVMaze pages"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[shows]} shows"),
                _RateColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task("pages", total=total, completed=start_page, shows=0)
            self._bar.start()

    def page_done(self, page: int, shows: int) -> None:
        self.pages += 1
        self.shows += shows
        if self._bar is not None:
            self._bar.update(self._task, completed=page + 1, shows=self.shows)
        elif self.pages % LOG_EVERY_PAGES == 0:
            log.info("full_sync_progress page=%d pages=%d shows=%d", page, self.pages, self.shows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# --- the sync --------------------------------------------------------------------------------


@dataclass
class _Tally:
    pages: int = 0
    singles: int = 0
    upserted: int = 0
    deleted: int = 0
    skipped: int = 0  # shows and updates-map entries not stored (SkipReason)


@dataclass
class _Reading:
    """One read of the updates map, compared with the cache."""

    at: float  # when it was asked for: the next read must cover the time since
    since: str | None  # None: the whole map (a census)
    stored: dict[int, int | None]  # the cache's id -> updated when it was read
    wanted: dict[int, int]  # new or newer than stored: id -> announced updated
    census: list[int]  # a census's candidates: stored (not in Sonarr) but not in the map

    @property
    def batch(self) -> list[int]:
        """The candidates this run asks about (a week's deletions fit many times over)."""
        return self.census[: plan.CENSUS_BATCH]


@dataclass
class _Mirror:
    """One cycle's mirror phase: what it works on, and what it did."""

    client: TvmazeClient
    store: Store
    state: State
    state_file: StateFile
    context: CycleContext
    summary: CycleSummary
    tally: _Tally = field(default_factory=_Tally)

    def now(self) -> str:
        return iso(self.context.clock())

    def run(self) -> None:
        """Bring the cache up to date with TVMaze; every step is checkpointed (module doc)."""
        state, started = self.state, self.context.clock()
        self.check_cache_matches_state()
        self.repair()
        mode, since = plan.choose_mode(state, started, self.context.config.tvmaze.update_window)
        self.summary.mode = mode.value
        if mode == Mode.INCREMENTAL:
            self.incremental(since)
        elif mode == Mode.RESUME:
            self.full_pass((state.last_tvmaze_page or 0) + 1, None)
        else:
            state.last_tvmaze_page = None
            self.full_pass(0, started)
        tally = self.tally
        log.info(
            "mirror_done mode=%s pages=%d singles=%d upserted=%d deleted=%d skipped=%d requests=%d",
            mode,
            tally.pages,
            tally.singles,
            tally.upserted,
            tally.deleted,
            tally.skipped,
            sum(v for k, v in self.summary.requests.items() if k.startswith("tvmaze:")),
        )

    def repair(self) -> None:
        """Rebuild every row whose stored JSON lists cannot be read (storage is untrusted: a
        disk error, a hand edit), so one bad row never stops the cycles after it: its facts
        from its stored TVMaze JSON (`raw`), at once and offline; when that is unusable too,
        its `updated` is forgotten so the next copy TVMaze gives replaces it (until then
        the filters pass it by). Unreadable filter reasons are dropped and decided again."""
        for tvmaze_id, raw, reasons in self.store.damaged_rows():
            if reasons:
                self.store.forget_filter_reasons(tvmaze_id)
            try:
                obj = json.loads(raw) if isinstance(raw, str) else None
            except (ValueError, RecursionError):
                obj = None
            ours = isinstance(obj, dict) and show_id_of(obj) == tvmaze_id
            row = self._row(obj) if ours and isinstance(obj, dict) else None
            if row is not None:
                self.store.upsert_shows([row], self.now())
                log.warning("show_row_repaired tvmaze_id=%d source=raw", tvmaze_id)
            else:
                self.store.forget_updated(tvmaze_id)
                log.warning("show_row_damaged tvmaze_id=%d action=refetch", tvmaze_id)

    # --- storing -------------------------------------------------------------------------

    def _stored_between(self, low: int, high: int) -> dict[int, int | None]:
        return self.store.updated_between(low, high)

    def _count_skip(self, reason: SkipReason, count: int = 1) -> None:
        """Count records not stored (or stored with fields dropped) in the lifetime counter,
        inside the caller's transaction when there is one."""
        self.store.bump_counter(RECORDS_SKIPPED, reason.value, count)
        if reason != SkipReason.INVALID_FIELD:
            self.tally.skipped += count

    def _row(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """The row for a show object, or None (warned and counted) when it is skipped.

        A bad record is one bad record: the page it came on is stored and checkpointed all
        the same, so it never stalls the pass or fails the next run.
        """
        try:
            mapped = map_show(obj)
            row = row_from_show(mapped.show, obj)
            if len(row["raw"]) > MAX_RAW_CHARS:
                raise ShowSkipped(
                    SkipReason.OVERSIZED,
                    f"tvmaze_id={mapped.show.tvmaze_id} chars={len(row['raw'])}",
                )
        except ShowSkipped as skip:
            log.warning("show_skipped reason=%s %s", skip.reason, skip.detail)
            self._count_skip(skip.reason)
            return None
        if mapped.dropped:
            log.warning(
                "show_fields_dropped tvmaze_id=%d fields=%s",
                mapped.show.tvmaze_id,
                ",".join(mapped.dropped),
            )
            self._count_skip(SkipReason.INVALID_FIELD)
        return row

    def _upsert(self, objects: Iterable[Mapping[str, Any]]) -> int:
        rows = [row for obj in objects if (row := self._row(obj)) is not None]
        count = self.store.upsert_shows(rows, self.now())
        self.tally.upserted += count
        self.summary.shows_fetched += count
        return count

    def store_page(
        self, page: int, shows: list[dict[str, Any]], wanted: dict[int, int]
    ) -> list[int]:
        """Upsert a page's newer copies in one transaction; satisfied ids leave `wanted`.

        Returns stored ids of the page's range the page does not list: deleted on TVMaze, or
        too new for a lagging index; the caller asks /shows/:id which.
        """
        low = page * PAGE_SIZE
        stored = self._stored_between(low, low + PAGE_SIZE - 1)
        fresh = []
        listed = set()
        for obj in shows:
            show_id = show_id_of(obj)
            if show_id is None:
                fresh.append(obj)  # _upsert warns and counts it, and stores the rest
                continue
            listed.add(show_id)
            updated = updated_of(obj)
            if show_id in wanted and (updated or 0) >= wanted[show_id]:
                del wanted[show_id]
            # Never let a page copy (up to a day stale) overwrite a newer stored one.
            if show_id not in stored or plan.newer(updated, stored[show_id]):
                fresh.append(obj)
            elif updated_unusable(obj):
                fresh.append(obj)  # skipped, but warned and counted, by _upsert
        with self.store.atomic():
            self._upsert(fresh)
        self.tally.pages += 1
        return [i for i in stored if i not in listed and i not in wanted]

    def fetch_alone(self, ids: Iterable[int], wanted: Mapping[int, int]) -> set[int]:
        """/shows/:id for each id: upsert newer copies, drop shows TVMaze no longer has.

        Ids not in `wanted` are suspects (stored, but no longer listed by their page or the
        whole updates map): they are asked from the network, since only TVMaze itself can
        say a show is gone. Returns the ids TVMaze answered 404 for.
        """
        batch: list[dict[str, Any]] = []
        gone: list[int] = []
        missing: set[int] = set()
        for show_id in ids:
            announced = wanted.get(show_id)
            obj = self.client.get_show(show_id, min_updated=announced, fresh=announced is None)
            self.tally.singles += 1
            if obj is None:
                gone.append(show_id)
                missing.add(show_id)
            elif show_id_of(obj) != show_id:
                # Stored under the id it names, it could overwrite another show.
                log.warning(
                    "show_skipped reason=%s asked=%d answered_id=%s",
                    SkipReason.INVALID_ID,
                    show_id,
                    brief(obj.get("id")),
                )
                self._count_skip(SkipReason.INVALID_ID)
            else:
                row = self.store.get_row(show_id)
                updated = updated_of(obj)
                if row is None or plan.newer(updated, row["tvmaze_updated_at"]):
                    batch.append(obj)
                elif updated_unusable(obj):
                    batch.append(obj)  # skipped, but warned and counted, by _upsert
            if len(batch) + len(gone) >= SINGLES_BATCH:
                self._flush(batch, gone)
                batch, gone = [], []
        self._flush(batch, gone)
        return missing

    def _flush(self, batch: list[dict[str, Any]], gone: list[int]) -> None:
        with self.store.atomic():
            self._upsert(batch)
            self._forget(gone)

    def _forget(self, ids: list[int]) -> None:
        """Shows TVMaze answers 404 for: drop their rows, unless Sonarr holds a fact on them.

        A row whose status records something about the user's Sonarr library (added, exists,
        removed by the user) is history this tool must not lose; every other row only
        mirrored TVMaze, which no longer has the show.
        """
        for show_id in ids:
            if self.store.forget_show(show_id):
                self.tally.deleted += 1
                log.info("show_gone tvmaze_id=%d action=deleted", show_id)
            elif self.store.get_row(show_id) is not None:
                log.info("show_gone tvmaze_id=%d action=kept reason=in_sonarr", show_id)

    # --- the updates map -----------------------------------------------------------------

    def read_updates(self, since: str | None) -> _Reading:
        """Read the updates map (`since` None: the whole map) and compare it with the cache."""
        at = self.context.clock()
        announced = self.client.get_updates(since)
        if announced.skipped:
            log.warning(
                "updates_entries_skipped reason=%s count=%d",
                SkipReason.INVALID_UPDATES_ENTRY,
                announced.skipped,
            )
            self._count_skip(SkipReason.INVALID_UPDATES_ENTRY, announced.skipped)
        stored = self.store.updated_map()
        census: list[int] = []
        if since is None:
            # Rows this tool may never delete are not worth a request each.
            settled = self.store.settled_ids()
            census = plan.census_candidates(announced, (i for i in stored if i not in settled))
        wanted = plan.changed_ids(announced, stored)
        return _Reading(at, since, stored, wanted, census)

    def settle(self, reading: _Reading, missing: set[int]) -> None:
        """Record a read of the updates map once everything it named was fetched (unsaved).

        A census is done when every candidate was asked; with more left, the next run reads
        the whole map again and asks the next batch, unless this batch found none gone: a
        map that lacks that many live shows is not believed, and the census waits a week.
        """
        state = self.state
        state.last_updates_check = iso(reading.at)
        if reading.since is None:
            left = len(reading.census) - len(reading.batch)
            if left and missing.isdisjoint(reading.batch):
                log.warning("census_distrusted asked=%d gone=0 left=%d", len(reading.batch), left)
                left = 0
            if not left:
                state.last_census = iso(reading.at)
            log.info(
                "census candidates=%d asked=%d left=%d",
                len(reading.census),
                len(reading.batch),
                left,
            )
        state.highest_tvmaze_id = self.store.highest_id()

    # --- full pass -----------------------------------------------------------------------

    def check_cache_matches_state(self) -> None:
        """Make state.json agree with the database before planning the cycle.

        An empty cache while state.json says the first full mirror completed is a deleted or
        replaced shows.db (the documented recovery): the flag is reset and saved at once, so
        the rebuild is a first full mirror and the Custom List stays 503 until it completes.
        A populated cache from before the database recorded its own completion gets the
        record, so an upgrade does not take the list away.
        """
        state = self.state
        if not state.initial_sync_complete:
            return
        if self.store.highest_id() is None:
            log.warning("cache_empty reason=state_says_synced action=full_sync")
            state.initial_sync_complete = False
            state.last_tvmaze_page = None
            self.state_file.save(state)
        elif not self.store.full_mirror_recorded():
            log.info("full_mirror_recorded reason=cache_predates_the_record")
            self.store.record_full_mirror()

    def full_pass(self, start_page: int, pass_started: float | None) -> None:
        """Pages from `start_page` until 404, then the catch-up.

        `pass_started` is when page 0 was asked for, if this run did; a resumed pass may have
        started weeks ago, so it catches up from the whole updates map.
        """
        state = self.state
        # A rescan knows roughly how many pages there are; a first pass does not.
        known_highest = state.highest_tvmaze_id if state.initial_sync_complete else None
        total = page_of(known_highest) + 1 if known_highest else None
        log.info("full_sync_started mode=%s page=%d", self.summary.mode, start_page)
        progress = _Progress(self.context.progress, total, start_page)
        suspects: list[int] = []
        page = start_page
        try:
            while (shows := self.client.get_page(page, use_cache=False)) is not None:
                suspects += self.store_page(page, shows, {})
                ids = [i for s in shows if (i := show_id_of(s)) is not None]
                state.last_tvmaze_page = page
                state.highest_tvmaze_id = max([state.highest_tvmaze_id or 0, *ids])
                self.state_file.save(state)
                progress.page_done(page, len(shows))
                page += 1
        finally:
            progress.close()
        # Stored ids past the end of the index: deleted, or newer than the index.
        suspects += self.store.ids_from(page * PAGE_SIZE)
        log.info("full_sync_pages_done pages=%d last_page=%d", progress.pages, page - 1)
        self.catch_up(suspects, pass_started)
        state.last_tvmaze_page = None
        state.last_full_sync = self.now()
        state.initial_sync_complete = True
        self.store.record_full_mirror()  # before state.json: either order a kill leaves is safe
        self.state_file.save(state)

    def catch_up(self, suspects: list[int], pass_started: float | None) -> None:
        """After a full pass: fetch alone what the index was too stale to show.

        The whole map serves when a census is due, and when no window is known to cover the
        pass (one resumed may have started weeks ago).
        """
        now = self.context.clock()
        since = None
        if pass_started is not None and not plan.census_due(self.state, now):
            needed = now - pass_started + plan.INDEX_LAG + plan.UPDATES_LAG
            since = plan.choose_window(needed, self.context.config.tvmaze.update_window)
        reading = self.read_updates(since)
        wanted = reading.wanted
        log.info(
            "catch_up since=%s changed=%d suspects=%d census=%d",
            since or "all",
            len(wanted),
            len(suspects),
            len(reading.census),
        )
        missing = self.fetch_alone(sorted({*wanted, *suspects, *reading.batch}), wanted)
        self.settle(reading, missing)

    # --- incremental ---------------------------------------------------------------------

    def incremental(self, since: str | None) -> None:
        reading = self.read_updates(since)
        wanted = reading.wanted
        fetches = plan.plan_fetches(wanted, reading.at)
        scan_from = page_of(max(reading.stored, default=0))
        log.info(
            "incremental_plan since=%s changed=%d pages=%d scan_from=%d census=%d",
            since or "all",
            len(wanted),
            len(fetches.pages),
            scan_from,
            len(reading.census),
        )
        suspects: list[int] = []
        for page in fetches.page_numbers:
            if page >= scan_from:
                break
            shows = self.client.get_page(page, expect=fetches.pages[page])
            if shows is not None:
                suspects += self.store_page(page, shows, wanted)
        # New shows beyond the highest known id; this also covers planned pages up there.
        page = scan_from
        while True:
            expect = {i: u for i, u in wanted.items() if page_of(i) == page}
            shows = self.client.get_page(page, expect=expect)
            if shows is None:
                break
            suspects += self.store_page(page, shows, wanted)
            page += 1
        # What the pages could not give: changed shows a stale page copy hid, shows newer
        # than the index, and stored shows a page or the whole map no longer lists.
        missing = self.fetch_alone(sorted({*wanted, *suspects, *reading.batch}), wanted)
        self.settle(reading, missing)
        self.state.last_incremental_sync = self.now()
        self.state_file.save(self.state)


def sync_mirror(
    client: TvmazeClient,
    store: Store,
    state: State,
    state_file: StateFile,
    context: CycleContext,
    summary: CycleSummary,
) -> None:
    """Bring the cache up to date with TVMaze; every step is checkpointed (see module doc)."""
    client.count_into(summary.requests)
    _Mirror(client, store, state, state_file, context, summary).run()
