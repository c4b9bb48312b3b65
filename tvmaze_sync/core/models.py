"""Domain objects shared by every stage of the cycle.

Raw JSON stays inside tvmaze/mapping.py, sonarr/gateway.py and storage/store.py; everything
in between speaks these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ProcessingStatus(StrEnum):
    """Where a show stands. Stored in `shows.processing_status`."""

    PENDING = "pending"  # passes the filters, not yet sent to Sonarr
    FILTERED = "filtered"  # excluded by filters (reason in filter_reason)
    PENDING_TVDB = "pending_tvdb"  # passes, but no TVDB id yet: retried later
    ADDED = "added"  # this tool added it to Sonarr
    EXISTS = "exists"  # it was already in Sonarr
    FAILED = "failed"  # Sonarr rejected it for good, or abandoned
    SKIPPED = "skipped"  # manually excluded
    REVIEW = "review"  # passes, waits for the user's approval (sonarr.require_approval)
    EXCLUDED = "excluded"  # on Sonarr's import list exclusions
    REMOVED_BY_USER = "removed_by_user"  # we added it, the user deleted it: never re-add


#: Statuses that record a fact about Sonarr; refilter and filter changes never touch them.
SETTLED_IN_SONARR = frozenset(
    {ProcessingStatus.ADDED, ProcessingStatus.EXISTS, ProcessingStatus.REMOVED_BY_USER}
)


class StatusReason(StrEnum):
    """`shows.status_reason`: why a show sits in a Sonarr-side status."""

    NO_TVDB_ID = "no_tvdb_id"  # pending_tvdb: TVMaze has no TheTVDB id for it
    TVDB_NOT_IN_SONARR = "tvdb_not_in_sonarr"  # pending_tvdb: Sonarr's lookup found nothing
    ABANDONED_NO_TVDB = "abandoned_no_tvdb"  # failed: still no usable id after abandon_after
    # failed: Sonarr's lookup still did not know the id after abandon_after
    ABANDONED_TVDB_NOT_IN_SONARR = "abandoned_tvdb_not_in_sonarr"
    REJECTED_BY_SONARR = "rejected_by_sonarr"  # failed: a 400; Sonarr's words in error_message
    # failed: 409s on every attempt and the library does not have the id (a TitleSlug clash,
    # a proxy); Sonarr's words in error_message
    CONFLICT_IN_SONARR = "conflict_in_sonarr"
    # failed: Sonarr's answer for this show alone was unreadable (a lookup result whose id is
    # not an integer ...); its words, shortened, in error_message
    UNREADABLE_ANSWER = "unreadable_answer"
    # pending: a failed add put back in the queue by its automatic retry (retry_count says
    # which); it keeps counting if it fails again
    RETRYING_FAILED = "retrying_failed"
    # pending: Sonarr answered this show's lookup or add with an error or garbage in a cycle
    # in which it answered others (retry_count counts those cycles); failed, for good, once
    # they pass sync.max_retries: `tvmaze-sync retry` or `skip` decide then
    UNANSWERED_BY_SONARR = "unanswered_by_sonarr"
    SONARR_EXCLUSION = "sonarr_exclusion"  # excluded: on Sonarr's Import List Exclusions
    DELETED_IN_SONARR = "deleted_in_sonarr"  # removed_by_user: we added it, the user deleted it
    DENIED_IN_REVIEW = "denied_in_review"  # skipped: `tvmaze-sync review deny`
    SKIPPED_BY_USER = "skipped_by_user"  # skipped: `tvmaze-sync skip`


@dataclass(frozen=True, slots=True)
class Show:
    """The filterable facts of one TVMaze show, as mapped from its JSON.

    Every field but the id and title may be unknown (None); real TVMaze data has nulls and
    missing keys everywhere, and filters decide what unknown means.

    The one declaration of the cached show's facts: each field is a column of `shows` under
    its own name (or `metadata["column"]`), and the store derives every column list and the
    row <-> Show conversion from it (storage/columns.py). A new fact is a field here, its
    mapping, a migration and its rule.
    """

    tvmaze_id: int
    title: str
    tvdb_id: int | None = None
    imdb_id: str | None = None
    language: str | None = None
    country: str | None = None
    type: str | None = None
    status: str | None = None
    premiered: str | None = None  # ISO date, YYYY-MM-DD
    ended: str | None = None
    network: str | None = None
    web_channel: str | None = None
    genres: tuple[str, ...] = ()
    runtime: int | None = None
    rating: float | None = None
    # TVMaze's `updated`, unix seconds; stored apart from the row's own `updated_at`
    updated: int | None = field(default=None, metadata={"column": "tvmaze_updated_at"})
    weight: int | None = None  # TVMaze's popularity, 0-100


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """A filter decision: passed, or the first failing rule plus every failure."""

    passed: bool
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str | None:
        return self.reasons[0] if self.reasons else None


#: Titles a summary keeps in state.json and log lines; a first run can match thousands, and
#: state.json is rewritten after every page of a full pass.
TITLES_KEPT = 50


@dataclass(slots=True)
class CycleSummary:
    """What one `sync` cycle did; rendered at the end and kept in state.json."""

    started_at: str
    finished_at: str | None = None
    duration_seconds: float | None = None
    ok: bool = False
    dry_run: bool = False
    mode: str = ""  # "full", "incremental", "resume"
    shows_fetched: int = 0
    # "service:endpoint:status" -> count, e.g. "tvmaze:page:200", "sonarr:series_add:201"
    requests: dict[str, int] = field(default_factory=dict)
    # result (a ProcessingStatus value) -> shows that reached it this cycle
    results: dict[str, int] = field(default_factory=dict)
    added_titles: list[str] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)  # TVMaze ids of added_titles, in order
    would_add_titles: list[str] = field(default_factory=list)
    # shows ready to add that sonarr.max_adds_per_cycle left for later cycles
    adds_waiting: int = 0
    # Shows that newly wait for review (sonarr.require_approval), and the queue's size after.
    review_titles: list[str] = field(default_factory=list)
    review_ids: list[int] = field(default_factory=list)
    review_waiting: int = 0
    # Removals newly held by the removal guard this cycle (set by ledger.reconcile's guard).
    removals_held: int = 0
    # Excluded shows whose exclusion vanished from a read too surprising to believe (more
    # than sonarr.max_removals at once, or an empty list): kept excluded (sonarr/ledger.py).
    exclusions_distrusted: int = 0
    error: str | None = None
    exit_code: int | None = None  # a failed cycle: the exit code the process ends with
    # With `instances`: each instance's outcome by name ({"ok", "error"}, its own results,
    # adds and holds); the fields above are then the totals over every instance.
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_state(self) -> dict[str, object]:
        """What state.json keeps: every count, and at most TITLES_KEPT titles of each list."""
        data = asdict(self)
        for key in ("added_titles", "would_add_titles", "review_titles"):
            titles = data[key]
            data[key.replace("_titles", "_count")] = len(titles)
            data[key] = titles[:TITLES_KEPT]
        for key in ("added_ids", "review_ids"):
            data[key] = data[key][:TITLES_KEPT]
        return data
