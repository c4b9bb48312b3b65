"""Reading the cache for people: list shows by any fact, count them, find one by id or title.

The one query path of the `shows` and `explain` commands and the server's GET /shows. Every
value a user gives is a bound parameter; the only SQL text chosen from input is a sort
column, and that is looked up in a fixed whitelist.

Cheap to import (no SQLite layer at run time): the CLI names SORT_KEYS in `--help`, which
must not pay for the core.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tvmaze_sync.core.errors import UsageError
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.storage.columns import FIELD_COLUMNS, SHOW_TYPES, listed

if TYPE_CHECKING:
    import sqlite3

    from tvmaze_sync.storage.store import Store

#: `--sort` names that are not a Show field's own: `status` and `reason` sort by this tool's
#: decision (as `--status` and `--reason` filter), `id` is short for the TVMaze id, and
#: `network` sorts a web channel's shows among the networks'.
_SORT_NAMED: dict[str, str] = {
    "id": "tvmaze_id",
    "status": "processing_status",
    "reason": "filter_reason",
    "network": "coalesce(network, web_channel) COLLATE NOCASE",
}


def _sort_keys() -> dict[str, str]:
    """`--sort` name -> SQL expression: every single-valued Show field by its name (text
    without regard to case; an ISO date sorts the same either way), then the names above. A
    field whose name those take is sorted as `tvmaze_<name>` (`tvmaze_status`: Running,
    Ended)."""
    derived: dict[str, str] = {}
    for name, column in FIELD_COLUMNS.items():
        kind = SHOW_TYPES[name]
        if typing.get_origin(kind) is tuple:
            continue  # a JSON list has no order worth sorting by
        if name == "network":
            continue  # `network` above sorts by network or web channel
        text = kind is str or str in typing.get_args(kind)
        key = f"tvmaze_{name}" if name in _SORT_NAMED else name
        derived[key] = f"{column} COLLATE NOCASE" if text else column
    return {**_SORT_NAMED, **derived}


#: `--sort` name -> SQL expression (the whitelist; append `:desc` to reverse).
SORT_KEYS: dict[str, str] = _sort_keys()

#: Columns a listing leaves out: the full TVMaze JSON (large; its facts are the show columns,
#: and a new fact becomes one) and `needs_filter`, a flag the next filter phase clears, whose
#: meaning `processing_status` and `filter_reasons` already carry for a reader.
HIDDEN_COLUMNS = frozenset({"raw", "needs_filter"})
#: Columns stored as JSON lists; a listing gives them as lists.
JSON_COLUMNS = ("genres", "filter_reasons")


@dataclass(frozen=True)
class ShowQuery:
    """One listing request; None means "any"."""

    status: ProcessingStatus | None = None
    reason: str | None = None  # a rule code (`language_not_included`) or a full reason
    search: str | None = None  # part of the title, any case
    country: str | None = None  # GB and UK are the same country
    language: str | None = None
    network: str | None = None  # network or web channel name, any case
    premiered_after: str | None = None  # YYYY-MM-DD, inclusive
    limit: int | None = 50
    offset: int = 0
    sort: str = "id"


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def listed_columns(store: Store) -> list[str]:
    """The declared columns (storage/columns.py) this cache has, in table order: a cache the
    next `sync` has yet to migrate lacks the newer ones."""
    table = [row[1] for row in store.db.execute("PRAGMA table_info(shows)")]
    return listed(table, HIDDEN_COLUMNS)


def _order_by(sort: str) -> str:
    key, _, direction = sort.partition(":")
    direction = direction.lower()  # a choice in any case, as the configuration's
    if key not in SORT_KEYS or direction not in ("", "asc", "desc"):
        hint = difflib.get_close_matches(key, SORT_KEYS, n=1, cutoff=0.6)
        guess = f"; did you mean {hint[0]!r}?" if hint and key not in SORT_KEYS else ""
        raise UsageError(
            f"--sort {sort!r} is not one of: {', '.join(SORT_KEYS)} (add :desc to reverse)" + guess
        )
    return f"{SORT_KEYS[key]} {direction.upper() or 'ASC'} NULLS LAST, tvmaze_id"


def _where(query: ShowQuery) -> tuple[str, list[Any]]:
    """` WHERE …` (or "") and its parameters: every condition `query` sets, ANDed."""
    where: list[str] = []
    params: list[Any] = []
    if query.status is not None:
        where.append("processing_status = ?")
        params.append(query.status.value)
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
    if not where:
        return "", params
    return " WHERE " + " AND ".join(f"({clause})" for clause in where), params


def _execute(store: Store, sql: str, params: list[Any]) -> sqlite3.Cursor:
    # Python's casefold: SQLite's lower() folds ASCII only, and titles are not all ASCII.
    store.db.conn.create_function("py_casefold", 1, _casefold, deterministic=True)
    return store.db.execute(sql, params)


def _decode_lists(row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS:
        text = row.get(column)
        if isinstance(text, str):
            # Not JSON (or nested beyond reason): a listing shows what is stored.
            with contextlib.suppress(ValueError, RecursionError):
                row[column] = json.loads(text)
    return row


def query_shows(store: Store, query: ShowQuery) -> list[dict[str, Any]]:
    """The cached shows matching every given condition, sorted, then offset and limited."""
    where, params = _where(query)
    order = _order_by(query.sort)
    if query.limit is not None and query.limit < 1:
        raise UsageError(f"--limit {query.limit} is not valid; expected at least 1")
    if query.offset < 0:
        raise UsageError(f"offset {query.offset} is not valid; expected at least 0")
    params += [-1 if query.limit is None else query.limit, query.offset]  # -1: no limit
    columns = ", ".join(listed_columns(store))
    sql = f"SELECT {columns} FROM shows{where} ORDER BY {order} LIMIT ? OFFSET ?"
    cursor = _execute(store, sql, params)
    names = [d[0] for d in cursor.description]
    return [_decode_lists(dict(zip(names, row, strict=True))) for row in cursor]


def count_shows(store: Store, query: ShowQuery) -> int:
    """How many cached shows match `query`'s conditions, whatever its sort, limit and offset."""
    where, params = _where(query)
    return int(_execute(store, f"SELECT COUNT(*) FROM shows{where}", params).fetchone()[0])


def find_show(store: Store, key: str) -> dict[str, Any]:
    """The one cached show a TVMaze id or title names; UsageError when none or several do.

    Digits are an id first (then a title: "1899" and "24" are shows). A title matches
    exactly (any case) first, then as a part of a title.
    """
    key = key.strip()
    # SQLite ids are int64: a longer number names no show (and would overflow the query).
    if key.isascii() and key.isdigit() and len(key) <= 19 and int(key) < 2**63:
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
    if key.isascii() and key.isdigit():
        raise UsageError(f"no cached show has TVMaze id {key} or such a title")
    raise UsageError(f"no cached show matches {key!r}")
