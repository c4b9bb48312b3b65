"""Why a cached show is (not) wanted: every rule's verdict, and what its stored status means.

The filters' half of the `explain` command (cycle/explain.py adds what the Sonarr side and
the other instances know). It lives apart from storage/query.py because it needs the filters
(and through them the SQLite layer), while query.py stays cheap to import: the CLI names its
sort keys in `--help`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tvmaze_sync.core.config import Config
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.decisions import routing
from tvmaze_sync.decisions.filters import OPEN_STATUSES, FilterProcessor
from tvmaze_sync.decisions.rules import RuleVerdict
from tvmaze_sync.storage.columns import DamagedRow, decode_list, show_from_row

P = ProcessingStatus

#: What a status that is not a filter decision means, for `explain`.
_STATUS_NOTES: dict[str, str] = {
    P.ADDED: "in Sonarr: tvmaze-sync added it",
    P.EXISTS: "in Sonarr: it was already there",
    P.EXCLUDED: "on Sonarr's import list exclusions: never added, whatever the filters say",
    P.REMOVED_BY_USER: "tvmaze-sync added it and it was deleted in Sonarr: never re-added",
    P.FAILED: "not added: Sonarr refused it, or no TVDB id Sonarr knows came within abandon_after",
    P.SKIPPED: "skipped by hand: never added, whatever the filters say",
    P.REVIEW: "passes the filters and waits for your approval (sonarr.require_approval): "
    "`tvmaze-sync review approve ID` adds it on the next sync, `review deny ID` skips it",
    P.PENDING_TVDB: "passes the filters but has no TVDB id Sonarr can add yet: retried later",
}


@dataclass
class Explanation:
    tvmaze_id: int
    title: str
    stored_status: str
    stored_reasons: list[str]
    passed: bool  # what the current filters decide
    allowed: bool  # on ids.allow: passes whatever the rules say
    reasons: list[str]
    verdicts: list[RuleVerdict]
    notes: list[str]
    route: str | None = None  # the route the show follows (routes[].name), None: none
    targets: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["verdicts"] = [{**dataclasses.asdict(v), "passed": v.passed} for v in self.verdicts]
        return data


def _status_notes(row: dict[str, Any]) -> list[str]:
    status = row["processing_status"]
    notes = []
    if status in _STATUS_NOTES:
        note = _STATUS_NOTES[status]
        if status == P.PENDING_TVDB and row.get("retry_after"):
            note += f" (next try after {row['retry_after']}, tries {row.get('retry_count') or 0})"
        if row.get("sonarr_series_id"):
            note += f" (Sonarr series id {row['sonarr_series_id']})"
        if row.get("status_reason"):
            note += f" [{row['status_reason']}]"
        notes.append(note)
    if row.get("error_message"):
        notes.append(f"last error: {row['error_message']}")
    return notes


def explain_show(
    processor: FilterProcessor, row: dict[str, Any], config: Config | None = None
) -> Explanation:
    """Every rule's verdict on a cached show, and what its stored status means; with
    `config`, the route it follows and where it goes with which settings."""
    show = show_from_row(row)
    result = processor.process(show)
    verdicts = processor.explain(show)
    status = str(row["processing_status"])
    try:
        stored = list(
            decode_list(row.get("filter_reasons"), row.get("tvmaze_id"), "filter_reasons")
        )
    except DamagedRow:
        stored = ["(unreadable: the next sync decides it again)"]
    notes = _status_notes(row)
    if status in OPEN_STATUSES:
        if not result.passed:
            decided = P.FILTERED.value
        else:
            decided = P.PENDING.value if status == P.FILTERED else status
        if decided != status or (not result.passed and stored != list(result.reasons)):
            notes.append(
                f"stored as {status} under older filters or data; the next sync or "
                f"`tvmaze-sync refilter` makes it {decided}"
            )
        elif status == P.PENDING and row.get("approved_at"):
            notes.append(f"approved on {row['approved_at']}: added on the next sync")
        elif status == P.PENDING:
            notes.append("passes the filters: queued for Sonarr on the next sync")
    elif not result.passed:
        notes.append("the filters would reject it now, but they never undo a Sonarr outcome")
    route, where = routing.targets(config, show) if config and config.routes else (None, [])
    return Explanation(
        tvmaze_id=show.tvmaze_id,
        title=show.title,
        stored_status=status,
        stored_reasons=stored,
        passed=result.passed,
        allowed=result.passed and any(not v.passed for v in verdicts),
        reasons=list(result.reasons),
        verdicts=verdicts,
        notes=notes,
        route=route.name if route is not None else None,
        targets=where,
    )
