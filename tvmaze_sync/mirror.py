"""TVMaze -> cache: a resumable full pass over the show index and a request-optimal incremental.

Which run does what (docs/tvmaze-mirror.md says why):

* full — never synced, or the last updates check is too old for the largest updates window
  (a month): walk /shows?page=0,1,2… until 404. Each page is one transaction and then a
  checkpoint (`last_tvmaze_page`), so a run killed anywhere resumes at the next page.
* resume — a full pass is in progress (`last_tvmaze_page` is set): continue after it.
* incremental — read /updates/shows for the smallest window covering the time since the last
  check, compare with the stored `updated`, fetch only what changed or is new: a page when
  it is expected to serve at least two changed ids, the show alone otherwise, and alone
  again when the (up to 24 h stale) page copy turned out older than announced.

A full pass ends with a catch-up against the updates map, because the page index may lag a
day behind: after it, every run is incremental and the cache holds the newest data seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

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

from tvmaze_sync import tvmaze
from tvmaze_sync.config import Config
from tvmaze_sync.models import SETTLED_IN_SONARR, CycleSummary
from tvmaze_sync.state import State, StateFile
from tvmaze_sync.store import Store, row_from_show
from tvmaze_sync.timeutil import Clock, Sleep, iso, parse_iso
from tvmaze_sync.tvmaze import PAGE_SIZE, TvmazeClient, int_or_none, show_from_tvmaze

if TYPE_CHECKING:
    from tvmaze_sync.sync import Runtime

log = logging.getLogger(__name__)

DAY = 86_400
#: The `since` windows of /updates/shows. TVMaze does not define "month"; 28 days is the
#: shortest it can mean, so a month window is only trusted to cover that much.
WINDOWS: dict[str, int] = {"day": DAY, "week": 7 * DAY, "month": 28 * DAY}
#: The updates map is cached for up to an hour at TVMaze's edge; one more hour of margin
#: absorbs clock skew between us and TVMaze.
UPDATES_LAG = 2 * 3600
#: The show index (pages) is cached for up to 24 hours.
INDEX_LAG = DAY
#: A page is fetched instead of its changed shows when it is expected to serve at least this
#: many of them (each counted by the chance its page copy already holds the change).
MIN_SHARE = 2.0
#: Without a progress bar, one log line per this many pages.
LOG_EVERY_PAGES = 25
#: Rows written per transaction when shows are fetched one by one.
SINGLES_BATCH = 100


class Mode(StrEnum):
    """`CycleSummary.mode` of a cycle's mirror phase."""

    FULL = "full"
    RESUME = "resume"
    INCREMENTAL = "incremental"


@contextmanager
def open_client(config: Config, clock: Clock, sleep: Sleep) -> Iterator[TvmazeClient]:
    """The cycle's TVMaze client; its HTTP cache lives in the storage directory."""
    with tvmaze.connect(config.tvmaze, config.storage_dir, clock=clock, sleep=sleep) as client:
        yield client


# --- deciding what to do (pure) ------------------------------------------------------------


def choose_window(needed: float, floor: str) -> str | None:
    """Smallest updates window (not below `floor`) covering `needed` seconds; None if none."""
    for name, size in WINDOWS.items():
        if size >= WINDOWS[floor] and size >= needed:
            return name
    return None


def choose_mode(state: State, now: float, update_window: str) -> tuple[Mode, str | None]:
    """(mode, since): what this run does, and the updates window of an incremental run."""
    if state.last_tvmaze_page is not None:
        previous = state.last_cycle.get("started_at")
        if isinstance(previous, str) and now - parse_iso(previous) > WINDOWS["month"]:
            # Pages stored that long ago cannot be caught up by any updates window.
            return Mode.FULL, None
        return Mode.RESUME, None
    if not state.initial_sync_complete or not state.last_updates_check:
        return Mode.FULL, None
    needed = now - parse_iso(state.last_updates_check) + UPDATES_LAG
    since = choose_window(needed, update_window)
    return (Mode.INCREMENTAL, since) if since else (Mode.FULL, None)


def page_of(tvmaze_id: int) -> int:
    return tvmaze_id // PAGE_SIZE


def _newer(updated: int | None, stored: int | None) -> bool:
    """Whether a copy stamped `updated` is newer than what is stored (unknown: oldest)."""
    return (updated or 0) > (stored or 0) or (stored is None and updated is None)


@dataclass(frozen=True)
class FetchPlan:
    """Pages worth fetching for an incremental run; every other changed id goes alone."""

    pages: dict[int, dict[int, int]]  # page -> {id: announced updated} expected on it

    @property
    def page_numbers(self) -> list[int]:
        return sorted(self.pages)


def changed_ids(announced: Mapping[int, int], stored: Mapping[int, int | None]) -> dict[int, int]:
    """Announced ids that are new or newer than the stored copy."""
    return {
        show_id: updated
        for show_id, updated in announced.items()
        if show_id not in stored or _newer(updated, stored[show_id])
    }


def index_hit_chance(updated: int, now: float) -> float:
    """Chance that the show index already lists a change made at `updated`.

    A page copy is up to INDEX_LAG old, so an older change is certainly on it; a change
    made t seconds ago is on a copy of uniformly random age with chance t / INDEX_LAG.
    """
    return min(1.0, max(0.0, (now - updated) / INDEX_LAG))


def plan_fetches(wanted: Mapping[int, int], now: float, min_share: float = MIN_SHARE) -> FetchPlan:
    """The pages worth a request: those expected to serve at least `min_share` changed ids.

    A page costs one request plus one per changed show its copy turns out to hide, the
    shows alone one each; so a page pays when it serves more than one, and a page of
    changes made minutes ago (not indexed yet, most likely) is skipped.
    """
    by_page: dict[int, dict[int, int]] = {}
    for show_id, updated in wanted.items():
        by_page.setdefault(page_of(show_id), {})[show_id] = updated
    return FetchPlan(
        {
            page: ids
            for page, ids in by_page.items()
            if sum(index_hit_chance(u, now) for u in ids.values()) >= min_share
        }
    )


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


class _Mirror:
    def __init__(
        self,
        client: TvmazeClient,
        store: Store,
        state: State,
        state_file: StateFile,
        runtime: Runtime,
        summary: CycleSummary,
    ) -> None:
        self.client = client
        self.store = store
        self.state = state
        self.state_file = state_file
        self.runtime = runtime
        self.summary = summary
        self.clock = runtime.clock
        self.tally = _Tally()

    def now(self) -> str:
        return iso(self.clock())

    # --- storing -------------------------------------------------------------------------

    def _stored_between(self, low: int, high: int) -> dict[int, int | None]:
        rows = self.store.rows_where(
            "tvmaze_id BETWEEN ? AND ?", [low, high], select="tvmaze_id, tvmaze_updated_at"
        )
        return {row["tvmaze_id"]: row["tvmaze_updated_at"] for row in rows}

    def _upsert(self, objects: Iterable[Mapping[str, Any]]) -> int:
        rows = []
        for obj in objects:
            try:
                show = show_from_tvmaze(obj)
            except ValueError:
                log.warning("show_skipped reason=no_id keys=%s", sorted(obj)[:5])
                continue
            rows.append(row_from_show(show, obj))
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
            show_id = int_or_none(obj.get("id"))
            if show_id is None:
                continue
            listed.add(show_id)
            updated = int_or_none(obj.get("updated"))
            if show_id in wanted and (updated or 0) >= wanted[show_id]:
                del wanted[show_id]
            # Never let a page copy (up to a day stale) overwrite a newer stored one.
            if show_id not in stored or _newer(updated, stored[show_id]):
                fresh.append(obj)
        with self.store.atomic():
            self._upsert(fresh)
        self.tally.pages += 1
        return [i for i in stored if i not in listed and i not in wanted]

    def fetch_alone(self, ids: Iterable[int], wanted: Mapping[int, int]) -> None:
        """/shows/:id for each id: upsert newer copies, drop shows TVMaze no longer has.

        Ids not in `wanted` are suspects (stored, but no longer listed by their page): they
        are asked from the network, since only TVMaze itself can say a show is gone.
        """
        batch: list[dict[str, Any]] = []
        gone: list[int] = []
        for show_id in ids:
            announced = wanted.get(show_id)
            obj = self.client.get_show(show_id, min_updated=announced, fresh=announced is None)
            self.tally.singles += 1
            if obj is None:
                gone.append(show_id)
            else:
                row = self.store.get_row(show_id)
                if row is None or _newer(int_or_none(obj.get("updated")), row["tvmaze_updated_at"]):
                    batch.append(obj)
            if len(batch) + len(gone) >= SINGLES_BATCH:
                self._flush(batch, gone)
                batch, gone = [], []
        self._flush(batch, gone)

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
        settled = [status.value for status in SETTLED_IN_SONARR]
        marks = ",".join("?" * len(settled))
        for show_id in ids:
            cursor = self.store.db.execute(
                f"DELETE FROM shows WHERE tvmaze_id = ? AND processing_status NOT IN ({marks})",
                [show_id, *settled],
            )
            if cursor.rowcount:
                self.tally.deleted += 1
                log.info("show_gone tvmaze_id=%d action=deleted", show_id)
            elif self.store.get_row(show_id) is not None:
                log.info("show_gone tvmaze_id=%d action=kept reason=in_sonarr", show_id)

    # --- full pass -----------------------------------------------------------------------

    def full_pass(self, start_page: int, pass_started: float | None) -> None:
        """Pages from `start_page` until 404, then the catch-up.

        `pass_started` is when page 0 was asked for, if this run did; a resumed pass may have
        started weeks ago, so it catches up over the largest window.
        """
        state = self.state
        # A rescan knows roughly how many pages there are; a first pass does not.
        known_highest = state.highest_tvmaze_id if state.initial_sync_complete else None
        total = page_of(known_highest) + 1 if known_highest else None
        log.info("full_sync_started mode=%s page=%d", self.summary.mode, start_page)
        progress = _Progress(self.runtime.progress, total, start_page)
        suspects: list[int] = []
        page = start_page
        try:
            while (shows := self.client.get_page(page, use_cache=False)) is not None:
                suspects += self.store_page(page, shows, {})
                ids = [i for s in shows if (i := int_or_none(s.get("id"))) is not None]
                state.last_tvmaze_page = page
                state.highest_tvmaze_id = max([state.highest_tvmaze_id or 0, *ids])
                self.state_file.save(state)
                progress.page_done(page, len(shows))
                page += 1
        finally:
            progress.close()
        # Stored ids past the end of the index: deleted, or newer than the index.
        beyond = self.store.rows_where("tvmaze_id >= ?", [page * PAGE_SIZE], select="tvmaze_id")
        suspects += [row["tvmaze_id"] for row in beyond]
        log.info("full_sync_pages_done pages=%d last_page=%d", progress.pages, page - 1)
        since = "month"
        if pass_started is not None:
            needed = self.clock() - pass_started + INDEX_LAG + UPDATES_LAG
            since = choose_window(needed, self.runtime.config.tvmaze.update_window) or "month"
        read_at = self.catch_up(since, suspects)
        state.last_tvmaze_page = None
        state.last_full_sync = self.now()
        state.last_updates_check = iso(read_at)
        state.initial_sync_complete = True
        state.highest_tvmaze_id = self.store.highest_id()
        self.state_file.save(state)

    def catch_up(self, since: str, suspects: list[int]) -> float:
        """After a full pass: fetch alone what the index was too stale to show."""
        read_at = self.clock()
        announced = self.client.get_updates(since)
        wanted = changed_ids(announced, self.store.updated_map())
        ids = sorted(set(wanted) | set(suspects))
        log.info("catch_up since=%s changed=%d suspects=%d", since, len(wanted), len(suspects))
        self.fetch_alone(ids, wanted)
        return read_at

    # --- incremental ---------------------------------------------------------------------

    def incremental(self, since: str) -> None:
        read_at = self.clock()
        announced = self.client.get_updates(since)
        stored = self.store.updated_map()
        wanted = changed_ids(announced, stored)
        plan = plan_fetches(wanted, read_at)
        highest = max(stored, default=0)
        scan_from = page_of(highest)
        log.info(
            "incremental_plan since=%s announced=%d changed=%d pages=%d scan_from=%d",
            since,
            len(announced),
            len(wanted),
            len(plan.pages),
            scan_from,
        )
        suspects: list[int] = []
        for page in plan.page_numbers:
            if page >= scan_from:
                break
            shows = self.client.get_page(page, expect=plan.pages[page])
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
        # than the index, and stored shows a page no longer lists.
        self.fetch_alone(sorted(set(wanted) | set(suspects)), wanted)
        state = self.state
        state.last_updates_check = iso(read_at)
        state.last_incremental_sync = self.now()
        state.highest_tvmaze_id = self.store.highest_id()
        self.state_file.save(state)


def sync_mirror(
    client: TvmazeClient,
    store: Store,
    state: State,
    state_file: StateFile,
    runtime: Runtime,
    summary: CycleSummary,
) -> None:
    """Bring the cache up to date with TVMaze; every step is checkpointed (see module doc)."""
    client.count_into(summary.requests)
    started = runtime.clock()
    mode, since = choose_mode(state, started, runtime.config.tvmaze.update_window)
    if mode == Mode.INCREMENTAL and store.highest_id() is None:
        log.warning("cache_empty reason=state_says_synced action=full_sync")
        mode = Mode.FULL
    summary.mode = mode.value
    mirror = _Mirror(client, store, state, state_file, runtime, summary)
    if mode == Mode.INCREMENTAL:
        assert since is not None
        mirror.incremental(since)
    elif mode == Mode.RESUME:
        mirror.full_pass((state.last_tvmaze_page or 0) + 1, None)
    else:
        state.last_tvmaze_page = None
        mirror.full_pass(0, started)
    tally = mirror.tally
    log.info(
        "mirror_done mode=%s pages=%d singles=%d upserted=%d deleted=%d requests=%d",
        mode,
        tally.pages,
        tally.singles,
        tally.upserted,
        tally.deleted,
        sum(v for k, v in summary.requests.items() if k.startswith("tvmaze:")),
    )
