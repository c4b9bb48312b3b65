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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config, FiltersConfig, Route
from tvmaze_sync.core.models import ProcessingResult, ProcessingStatus, Show
from tvmaze_sync.decisions import routing
from tvmaze_sync.decisions.rules import ReasonCode, RuleVerdict, build_rules
from tvmaze_sync.storage.shows import Decision
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import Store

__all__ = [
    "OPEN_STATUSES",
    "FilterProcessor",
    "FilterReport",
    "RoutedProcessor",
    "apply",
    "build_processor",
    "filter_hash",
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


class RoutedProcessor(FilterProcessor):
    """The filters, then the routes: a show whose route adds it to other instances only is
    not wanted on this one (`routed_elsewhere:<route>`; no route: it goes to `default`)."""

    def __init__(self, config: FiltersConfig, routes: Sequence[Route], instance: str) -> None:
        super().__init__(config)
        self.routes = routes
        self.instance = instance

    def _verdict(self, show: Show) -> tuple[str, str | None]:
        route = routing.route_for(self.routes, show)
        names = list(route.instances) if route is not None else [DEFAULT_INSTANCE]
        shown = route.name if route is not None else "(none: default)"
        if self.instance in names:
            return shown, None
        code = ReasonCode.ROUTED_ELSEWHERE.value
        return shown, f"{code}:{route.name}" if route is not None else code

    def process(self, show: Show) -> ProcessingResult:
        result = super().process(show)
        _, reason = self._verdict(show)
        if reason is None:
            return result
        return ProcessingResult(passed=False, reasons=(*result.reasons, reason))

    def explain(self, show: Show) -> list[RuleVerdict]:
        shown, reason = self._verdict(show)
        setting = f"adds to instance {self.instance}"
        return [*super().explain(show), RuleVerdict("route", setting, shown, reason, True)]


def build_processor(
    config: FiltersConfig, routes: Sequence[Route] = (), instance: str = DEFAULT_INSTANCE
) -> FilterProcessor:
    """The filters, and the routes when they may send a show away from `instance`."""
    if routes and routing.sends_elsewhere(routes, instance):
        return RoutedProcessor(config, routes, instance)
    return FilterProcessor(config)


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


def filter_hash(config: FiltersConfig, routed: Any = None) -> str:
    """sha256 of the canonical filter config: equal whatever the order of keys and lists.

    Only differences that can change a decision change the hash (the rules match text
    case-insensitively and lists as sets), plus RULES_VERSION for changes in the code.
    `routed` (routing.hash_key) when routes decide what is wanted too; None leaves the hash
    of a configuration without instances as it was.
    """
    payload = {"rules_version": RULES_VERSION, "filters": _canonical(dataclasses.asdict(config))}
    if routed is not None:
        payload["routes"] = routed
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- deciding the cache --------------------------------------------------------------------


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


def _decide(
    store: Store, processor: FilterProcessor, only_needing: bool
) -> tuple[FilterReport, list[Decision]]:
    """Decide every open row (or only those whose data changed); nothing is written here.

    The hot loop of refilter, run over the whole cache (bench/refilter_bench.py): the store
    builds the Shows, and each distinct reason list is converted to JSON once.
    """
    report = FilterReport()
    changes = report.changes
    updates: list[Decision] = []
    process = processor.process
    reason_lists: dict[tuple[str, ...], str] = {}
    pending, filtered = P.PENDING.value, P.FILTERED.value
    evaluated = reasons_updated = 0
    for show, old, old_reasons, needs_filter in store.decision_rows(OPEN_STATUSES, only_needing):
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
        elif not needs_filter:
            continue
        updates.append((new, result.reason, reasons, new, show.tvmaze_id))
    report.evaluated, report.reasons_updated = evaluated, reasons_updated
    return report, updates


def _evaluate(store: Store, processor: FilterProcessor, only_needing: bool) -> FilterReport:
    """Decide and write in one transaction, counting the status changes in the same one."""
    with store.atomic():
        report, updates = _decide(store, processor, only_needing)
        store.record_decisions(updates)
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
    store: Store,
    processor: FilterProcessor,
    state: State,
    config: FiltersConfig,
    routed: Any = None,
) -> tuple[FilterReport, dict[int, str]]:
    """Dry run: what `refilter_if_changed` and `apply` would decide, written nowhere.

    Returns the report and the status each changed or undecided show would get.
    """
    changed = filter_hash(config, routed) != state.last_filter_hash
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
    routed: Any = None,
) -> FilterReport | None:
    """Refilter when the filter hash differs from the stored one (or when forced).

    The new hash is saved only after the re-evaluation committed: a kill in between means the
    next run simply refilters again, with the same outcome.
    """
    digest = filter_hash(config, routed)
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
    processor = build_processor(config.filters, config.routes)
    if dry_run:
        with Store.opened(storage, readonly=True) as store:
            return refilter(store, processor, dry_run=True)
    with Store.opened(storage, lock=True) as store:
        state_file = StateFile(storage)
        state = state_file.load()
        report = refilter_if_changed(
            store,
            state,
            state_file,
            config.filters,
            processor,
            force=True,
            routed=routing.hash_key(config.routes, DEFAULT_INSTANCE),
        )
    assert report is not None  # forced
    return report
