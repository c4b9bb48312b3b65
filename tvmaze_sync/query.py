"""Reading the cache for people: list shows by any fact, and explain one show's decision.

Shared by the `shows` and `explain` commands and the server's GET /shows. Every value a
user gives is a bound parameter; the only SQL text chosen from input is a sort column, and
that is looked up in a fixed whitelist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from tvmaze_sync.errors import UsageError
from tvmaze_sync.filters import OPEN_STATUSES, ShowProcessor
from tvmaze_sync.models import ProcessingStatus
from tvmaze_sync.rules import RuleVerdict
from tvmaze_sync.store import Store, show_from_row

#: `--sort` name -> SQL expression (the whitelist; append `:desc` to reverse).
SORT_KEYS: dict[str, str] = {
    "id": "tvmaze_id",
    "title": "title COLLATE NOCASE",
    "premiered": "premiered",
    "rating": "rating",
    "runtime": "runtime",
    "status": "processing_status",
    "reason": "filter_reason",
    "language": "language COLLATE NOCASE",
    "country": "country",
    "network": "coalesce(network, web_channel) COLLATE NOCASE",
    "updated": "tvmaze_updated_at",
}
SORT_CHOICES = (*SORT_KEYS, *(f"{key}:desc" for key in SORT_KEYS))


@dataclass(frozen=True)
class ShowQuery:
    """One listing request; None means "any"."""

    status: str | None = None
    reason: str | None = None  # a rule code (`language_not_included`) or a full reason
    search: str | None = None  # part of the title, any case
    country: str | None = None  # GB and UK are the same country
    language: str | None = None
    network: str | None = None  # network or web channel name, any case
    premiered_after: str | None = None  # YYYY-MM-DD, inclusive
    limit: int | None = 50
    sort: str = "id"


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _columns(store: Store) -> list[str]:
    """Every column but the full JSON, which no listing needs."""
    return [row[1] for row in store.db.execute("PRAGMA table_info(shows)") if row[1] != "raw"]


def _order_by(sort: str) -> str:
    key, _, direction = sort.partition(":")
    if key not in SORT_KEYS or direction not in ("", "asc", "desc"):
        raise UsageError(
            f"--sort {sort!r} is not one of: {', '.join(SORT_KEYS)} (add :desc to reverse)"
        )
    return f"{SORT_KEYS[key]} {direction.upper() or 'ASC'} NULLS LAST, tvmaze_id"


def query_shows(store: Store, query: ShowQuery) -> list[dict[str, Any]]:
    """The cached shows matching every given condition, sorted and limited."""
    where: list[str] = []
    params: list[Any] = []
    if query.status is not None:
        try:
            params.append(ProcessingStatus(query.status).value)
        except ValueError:
            allowed = ", ".join(s.value for s in ProcessingStatus)
            raise UsageError(f"--status {query.status!r} is not one of: {allowed}") from None
        where.append("processing_status = ?")
    if query.reason:
        where.append(
            "filter_reasons IS NOT NULL AND json_valid(filter_reasons) AND EXISTS ("
            "SELECT 1 FROM json_each(shows.filter_reasons) AS r "
            "WHERE lower(r.value) = lower(?) OR lower(r.value) LIKE lower(?) ESCAPE '\\')"
        )
        escaped = query.reason.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [query.reason, escaped + ":%"]
    if query.search:
        where.append("instr(py_casefold(title), ?) > 0")
        params.append(query.search.casefold())
    if query.country:
        code = query.country.strip().upper()
        codes = ["GB", "UK"] if code in ("GB", "UK") else [code]
        where.append(f"upper(country) IN ({','.join('?' * len(codes))})")
        params += codes
    if query.language:
        where.append("py_casefold(language) = ?")
        params.append(query.language.casefold())
    if query.network:
        where.append("(py_casefold(network) = ? OR py_casefold(web_channel) = ?)")
        params += [query.network.casefold()] * 2
    if query.premiered_after:
        try:
            after = dt.date.fromisoformat(query.premiered_after.strip()).isoformat()
        except ValueError:
            raise UsageError(
                f"--premiered-after {query.premiered_after!r} is not a date as YYYY-MM-DD"
            ) from None
        where.append("premiered >= ?")
        params.append(after)
    if query.limit is not None and query.limit < 1:
        raise UsageError(f"--limit {query.limit} is not valid; expected at least 1")
    sql = f"SELECT {', '.join(_columns(store))} FROM shows"
    if where:
        sql += " WHERE " + " AND ".join(f"({clause})" for clause in where)
    sql += f" ORDER BY {_order_by(query.sort)}"
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    # Python's casefold: SQLite's lower() folds ASCII only, and titles are not all ASCII.
    store.db.conn.create_function("py_casefold", 1, _casefold, deterministic=True)
    cursor = store.db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def find_show(store: Store, key: str) -> dict[str, Any]:
    """The one cached show a TVMaze id or title names; UsageError when none or several do.

    Digits are an id first (then a title: "1899" and "24" are shows). A title matches
    exactly (any case) first, then as a part of a title.
    """
    key = key.strip()
    if key.isdigit():
        row = store.get_row(int(key))
        if row is not None:
            return row
    for search in (False, True):
        rows = query_shows(store, ShowQuery(search=key, limit=None, sort="id"))
        if not search:
            rows = [r for r in rows if r["title"].casefold() == key.casefold()]
        if len(rows) == 1:
            return store.get_row(rows[0]["tvmaze_id"]) or rows[0]
        if len(rows) > 1:
            listed = ", ".join(f"{r['tvmaze_id']} ({r['title']})" for r in rows[:10])
            more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
            raise UsageError(f"{len(rows)} shows match {key!r}: {listed}{more}; give the id")
    if key.isdigit():
        raise UsageError(f"no cached show has TVMaze id {key} or such a title")
    raise UsageError(f"no cached show matches {key!r}")


# --- explain -------------------------------------------------------------------------------

P = ProcessingStatus

#: What a status that is not a filter decision means, for `explain`.
_STATUS_NOTES: dict[str, str] = {
    P.ADDED: "in Sonarr: tvmaze-sync added it",
    P.EXISTS: "in Sonarr: it was already there",
    P.EXCLUDED: "on Sonarr's import list exclusions: never added, whatever the filters say",
    P.REMOVED_BY_USER: "tvmaze-sync added it and it was deleted in Sonarr: never re-added",
    P.FAILED: "Sonarr rejected it for good",
    P.SKIPPED: "skipped by hand",
    P.PENDING_TVDB: "passes the filters but TVMaze has no TVDB id for it yet: retried later",
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


def explain(processor: ShowProcessor, row: dict[str, Any]) -> Explanation:
    """Every rule's verdict on a cached show, and what its stored status means."""
    show = show_from_row(row)
    result = processor.process(show)
    verdicts = processor.explain(show)
    status = str(row["processing_status"])
    stored = json.loads(row["filter_reasons"]) if row.get("filter_reasons") else []
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
        elif status == P.PENDING:
            notes.append("passes the filters: queued for Sonarr on the next sync")
    elif not result.passed:
        notes.append("the filters would reject it now, but they never undo a Sonarr outcome")
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
    )
