"""Filters: decide from cached facts alone whether a show is wanted, and re-decide the cache.

Every decision is a pure function of a `Show` and the `filters` config (the rules live in
rules.py), so a changed config re-decides the whole cache from SQLite without one API call.
The filters only ever move a show between the open statuses (pending, filtered,
pending_tvdb); a status that records a fact about Sonarr or the user is never touched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tvmaze_sync.core.config import Config, FiltersConfig
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.models import ProcessingResult, ProcessingStatus, Show
from tvmaze_sync.decisions.rules import ReasonCode, RuleVerdict, build_rules, reason_rule
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import DB_NAME, Store, prepare_storage_dir

__all__ = [
    "OPEN_STATUSES",
    "FilterProcessor",
    "FilterReport",
    "ReasonCode",
    "RuleVerdict",
    "apply",
    "filter_hash",
    "reason_rule",
    "refilter",
    "refilter_if_changed",
    "run_refilter",
]

log = logging.getLogger(__name__)

#: Part of the filter hash: bump it when a rule's meaning changes, so every installation
#: re-decides its cache once after upgrading.
RULES_VERSION = 1

P = ProcessingStatus
#: Statuses the filters may decide; every other status is a fact about Sonarr or the user.
#: A show waiting for review that the filters now reject leaves the queue (filtered).
OPEN_STATUSES = (P.PENDING, P.FILTERED, P.PENDING_TVDB, P.REVIEW)
#: Passing shows in these keep their status; a passing show in any other open status
#: becomes pending.
_KEPT_WHEN_PASSING = (P.PENDING.value, P.PENDING_TVDB.value, P.REVIEW.value)


# --- the processor ---------------------------------------------------------------------------


_PASSED = ProcessingResult(passed=True)


class FilterProcessor:
    """Decides one show: every filter of the config, in rules.py order; `ids.allow` wins
    over all of them."""

    def __init__(self, config: FiltersConfig) -> None:
        self.config = config
        self.rules = build_rules(config)
        self.allow = frozenset(config.ids.allow)
        # Only configured rules run (an unconfigured one passes everything), and verdicts are
        # memoised per key: the whole cache has few distinct languages, dates or genre lists.
        self._plan: tuple[tuple[Any, Any, dict[Any, str | None] | None], ...] = tuple(
            (rule.key, rule.judge, {} if rule.memoise else None)
            for rule in self.rules
            if rule.active
        )

    def process(self, show: Show) -> ProcessingResult:
        if show.tvmaze_id in self.allow:
            return _PASSED
        reasons = []
        for key, judge, memo in self._plan:
            value = key(show)
            if memo is None:
                reason = judge(value)
            else:
                try:
                    reason = memo[value]
                except KeyError:
                    reason = memo[value] = judge(value)
            if reason is not None:
                reasons.append(reason)
        return ProcessingResult(passed=False, reasons=tuple(reasons)) if reasons else _PASSED

    def explain(self, show: Show) -> list[RuleVerdict]:
        return [
            RuleVerdict(rule.name, rule.setting, rule.shown(show), rule.check(show), rule.active)
            for rule in self.rules
        ]


# --- the filter hash -----------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """Order-free, case-free form: every list is matched as a set, every text case-folded."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = {json.dumps(_canonical(v), sort_keys=True): _canonical(v) for v in value}
        return [items[key] for key in sorted(items)]
    if isinstance(value, str):
        return value.strip().casefold()
    return value


def filter_hash(config: FiltersConfig) -> str:
    """sha256 of the canonical filter config: equal whatever the order of keys and lists.

    Only differences that can change a decision change the hash (the rules match text
    case-insensitively and lists as sets), plus RULES_VERSION for changes in the code.
    """
    payload = {"rules_version": RULES_VERSION, "filters": _canonical(dataclasses.asdict(config))}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- deciding the cache --------------------------------------------------------------------

# The Show fields in dataclass order, then the processing columns the decision compares with.
_SHOW_COLUMNS = (
    "tvmaze_id, title, tvdb_id, imdb_id, language, country, type, status, premiered, ended, "
    "network, web_channel, genres, runtime, rating, tvmaze_updated_at, weight"
)
# `+processing_status` keeps SQLite off the status index: open rows are most of the cache,
# and one pass in rowid order beats a random lookup per row (and keeps the updates in order).
OPEN_ROWS_SQL = (
    f"SELECT {_SHOW_COLUMNS}, processing_status, filter_reasons, needs_filter FROM shows "
    f"WHERE +processing_status IN ({','.join('?' * len(OPEN_STATUSES))})"
)
# An approval (`review approve`) is for a show the filters passed: a show they reject loses it,
# so should they pass it again later it waits for review anew.
_UPDATE = (
    "UPDATE shows SET processing_status = ?, filter_reason = ?, filter_reasons = ?, "
    "needs_filter = 0, approved_at = CASE WHEN ? = 'filtered' THEN NULL ELSE approved_at END "
    "WHERE tvmaze_id = ?"
)


@dataclass
class FilterReport:
    """What a re-evaluation changed (or, on a dry run, would change)."""

    evaluated: int = 0
    reasons_updated: int = 0  # rows whose status stayed but whose reasons changed
    changes: dict[str, list[str]] = field(default_factory=dict)  # "old->new" -> titles

    @property
    def transitions(self) -> dict[str, int]:
        return {key: len(titles) for key, titles in sorted(self.changes.items())}

    def by_result(self) -> Counter[str]:
        """Status changes counted by the status reached (the `shows_processed` label)."""
        counts: Counter[str] = Counter()
        for key, titles in self.changes.items():
            counts[key.split("->", 1)[1]] += len(titles)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluated": self.evaluated,
            "reasons_updated": self.reasons_updated,
            "transitions": self.transitions,
            "titles": {key: list(titles) for key, titles in sorted(self.changes.items())},
        }


Update = tuple[str, str | None, str | None, str, int]


def _decide(
    store: Store, processor: FilterProcessor, only_needing: bool
) -> tuple[FilterReport, list[Update]]:
    """Decide every open row (or only those whose data changed); nothing is written here.

    The hot loop of refilter, run over the whole cache (bench/refilter_bench.py): rows are
    read as tuples, Shows built positionally, and the JSON of genre lists and reason lists
    is converted once per distinct value.
    """
    sql = OPEN_ROWS_SQL + (" AND needs_filter = 1" if only_needing else "")
    report = FilterReport()
    changes = report.changes
    updates: list[Update] = []
    process = processor.process
    genre_lists: dict[str | None, tuple[str, ...]] = {None: (), "": (), "[]": ()}
    reason_lists: dict[tuple[str, ...], str] = {}
    pending, filtered = P.PENDING.value, P.FILTERED.value
    evaluated = reasons_updated = 0
    for row in store.db.execute(sql, [s.value for s in OPEN_STATUSES]):
        genres_json = row[12]
        try:
            genres = genre_lists[genres_json]
        except KeyError:
            genres = genre_lists[genres_json] = tuple(json.loads(genres_json))
        show = Show(*row[:12], genres, *row[13:17])  # type: ignore[call-arg, misc]
        old, old_reasons = row[17], row[18]
        result = process(show)
        evaluated += 1
        if result.passed:
            new = old if old in _KEPT_WHEN_PASSING else pending
            reasons = None
        else:
            new = filtered
            try:
                reasons = reason_lists[result.reasons]
            except KeyError:
                reasons = reason_lists[result.reasons] = json.dumps(
                    list(result.reasons), ensure_ascii=False
                )
        if new != old:
            changes.setdefault(f"{old}->{new}", []).append(show.title)
        elif reasons != old_reasons:
            reasons_updated += 1
        elif not row[19]:  # needs_filter
            continue
        updates.append((new, result.reason, reasons, new, show.tvmaze_id))
    report.evaluated, report.reasons_updated = evaluated, reasons_updated
    return report, updates


def _evaluate(store: Store, processor: FilterProcessor, only_needing: bool) -> FilterReport:
    """Decide and write in one transaction, counting the status changes in the same one."""
    with store.atomic():
        report, updates = _decide(store, processor, only_needing)
        store.db.conn.executemany(_UPDATE, updates)
        for result, count in sorted(report.by_result().items()):
            store.bump_counter("shows_processed", result, count)
    return report


def _changes(report: FilterReport) -> str:
    return " ".join(f"{k}={v}" for k, v in report.transitions.items()) or "changed=0"


def apply(store: Store, processor: FilterProcessor) -> FilterReport:
    """Decide every open show whose TVMaze data changed since the filters last saw it.

    Passing shows become (or stay) pending, failing ones filtered with their reasons; a
    pending_tvdb show that still passes stays pending_tvdb (the TVDB retry queue owns it),
    and one waiting for review stays in the queue.
    """
    report = _evaluate(store, processor, only_needing=True)
    log.info("filters_applied evaluated=%d %s", report.evaluated, _changes(report))
    return report


def refilter(store: Store, processor: FilterProcessor, dry_run: bool = False) -> FilterReport:
    """Re-decide every filtered or unsent show from SQLite alone (zero API calls).

    Newly passing shows become pending (queued for Sonarr), newly failing ones filtered;
    added, exists, excluded, removed_by_user, failed and skipped rows are never touched.
    `dry_run` reports the same changes and writes nothing.
    """
    if dry_run:
        report, _ = _decide(store, processor, only_needing=False)
    else:
        report = _evaluate(store, processor, only_needing=False)
    log.info(
        "refilter_done dry_run=%s evaluated=%d reasons_updated=%d %s",
        dry_run,
        report.evaluated,
        report.reasons_updated,
        _changes(report),
    )
    return report


def preview(
    store: Store, processor: FilterProcessor, state: State, config: FiltersConfig
) -> tuple[FilterReport, dict[int, str]]:
    """Dry run: what `refilter_if_changed` and `apply` would decide, written nowhere.

    Returns the report and the status each changed or undecided show would get.
    """
    changed = filter_hash(config) != state.last_filter_hash
    report, updates = _decide(store, processor, only_needing=not changed)
    log.info("filters_previewed evaluated=%d %s", report.evaluated, _changes(report))
    return report, {tvmaze_id: status for status, _, _, _, tvmaze_id in updates}


def refilter_if_changed(
    store: Store,
    state: State,
    state_file: StateFile,
    config: FiltersConfig,
    processor: FilterProcessor,
    force: bool = False,
) -> FilterReport | None:
    """Refilter when the filter hash differs from the stored one (or when forced).

    The new hash is saved only after the re-evaluation committed: a kill in between means the
    next run simply refilters again, with the same outcome.
    """
    digest = filter_hash(config)
    if not force and digest == state.last_filter_hash:
        return None
    log.info("filters_changed old=%s new=%s forced=%s", state.last_filter_hash, digest, force)
    report = refilter(store, processor)
    state.last_filter_hash = digest
    state_file.save(state)
    return report


def run_refilter(config: Config, dry_run: bool = False) -> FilterReport:
    """`tvmaze-sync refilter`: force a re-evaluation under the writer lock.

    A dry run only reads (a read-only connection, no lock), so it never waits on a sync.
    """
    storage = config.storage_dir
    if not (storage / DB_NAME).exists():
        raise StorageError(f"no cache at {storage / DB_NAME} yet: run `tvmaze-sync sync` first")
    processor = FilterProcessor(config.filters)
    if dry_run:
        with Store.open(storage, readonly=True).reading() as store:
            return refilter(store, processor, dry_run=True)
    prepare_storage_dir(storage)
    with writer_lock(storage):
        store = Store.open(storage)
        try:
            state_file = StateFile(storage)
            state = state_file.load()
            report = refilter_if_changed(
                store, state, state_file, config.filters, processor, force=True
            )
        finally:
            store.close()
    assert report is not None  # forced
    return report
