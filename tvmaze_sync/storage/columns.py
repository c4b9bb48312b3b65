"""The columns of `shows`, derived from the one declaration of a show's facts (`Show`).

A TVMaze fact is declared once, as a field of `core.models.Show`; its column is the field's
name (or its `metadata["column"]`), a tuple field is stored as a JSON list, and every list
the store uses at run time (the metadata an upsert rewrites, what the filters read, what a
listing shows) comes from here. The processing columns, which are this tool's own
bookkeeping, are declared once below. The migrations alone spell columns out: they are
history, and an old migration's effect is never rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.models import Show

#: Show field name -> its column, in the dataclass's order (the order `Show(*values)` takes).
FIELD_COLUMNS: dict[str, str] = {
    f.name: f.metadata.get("column", f.name) for f in dataclasses.fields(Show)
}
#: The show columns, in the dataclass's order.
SHOW_COLUMNS: tuple[str, ...] = tuple(FIELD_COLUMNS.values())
#: Show field name -> its type.
SHOW_TYPES: dict[str, Any] = typing.get_type_hints(Show)
#: Positions (in SHOW_COLUMNS) of the tuple fields, stored as JSON lists.
JSON_POSITIONS: tuple[int, ...] = tuple(
    i for i, name in enumerate(FIELD_COLUMNS) if typing.get_origin(SHOW_TYPES[name]) is tuple
)
#: The show's full TVMaze JSON: stored beside its facts so a new filter needs no refetch.
RAW = "raw"
#: Columns that come from TVMaze (rewritten on every fetch). Processing columns are not here:
#: an upsert of fresh metadata never resets a show's status.
METADATA_COLUMNS: tuple[str, ...] = (*SHOW_COLUMNS[1:], RAW)

#: This tool's bookkeeping on each show, column -> SQLite type: every column of `shows`
#: is a show column, `raw`, or one of these.
PROCESSING_COLUMNS: dict[str, type] = {
    "processing_status": str,  # a ProcessingStatus
    "filter_reason": str,  # the first failing rule
    "filter_reasons": str,  # JSON list of every failing rule
    "needs_filter": int,  # 1: TVMaze data changed since the filters last looked
    "status_reason": str,  # why a Sonarr-side status (sonarr.ledger.Reason)
    "sonarr_series_id": int,
    "added_to_sonarr_at": str,
    "approved_at": str,  # review approve (sonarr.require_approval)
    "retry_after": str,
    "retry_count": int,
    "pending_tvdb_since": str,  # abandon_after counts from here
    "error_message": str,
    "last_checked": str,
    "created_at": str,
    "updated_at": str,
}

#: Every column of `shows` once migrated.
ALL_COLUMNS: frozenset[str] = frozenset({*SHOW_COLUMNS, RAW, *PROCESSING_COLUMNS})

#: The columns a list filter compares with TVMaze's words (`Store.distinct_values`).
FacetColumn = Literal["genres", "type", "status", "language", "country"]
FACET_COLUMNS: tuple[FacetColumn, ...] = typing.get_args(FacetColumn)


#: The columns holding a JSON list of text: the show's lists, and the filters' reasons.
LIST_COLUMNS: tuple[str, ...] = (*(SHOW_COLUMNS[i] for i in JSON_POSITIONS), "filter_reasons")


class DamagedRow(StorageError):
    """A cached row whose JSON list is not a list of text: storage is untrusted (a disk
    error, a hand edit). Never a reason to stop every later cycle: the filters pass such a
    row by, and the next sync rebuilds it (tvmaze/mirror.py `repair`)."""


def decode_list(text: Any, tvmaze_id: Any, column: str) -> tuple[str, ...]:
    """A stored JSON list of text as a tuple; DamagedRow when it is anything else."""
    if not text:
        return ()
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DamagedRow(
            f"the cached record of TVMaze show {tvmaze_id} is damaged ({column} is not a "
            "list of text); the next `tvmaze-sync sync` rebuilds it"
        )
    return tuple(value)


def show_from_row(row: Mapping[str, Any]) -> Show:
    """Rebuild the domain object from a cached row (no network: refilter works offline).
    Raises DamagedRow for a row whose stored lists cannot be read."""
    values: list[Any] = [row.get(column) for column in SHOW_COLUMNS]
    for i in JSON_POSITIONS:
        values[i] = decode_list(values[i], values[0], SHOW_COLUMNS[i])
    return Show(*values)


def row_from_show(show: Show, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata columns of a show; `raw` is its full TVMaze JSON."""
    row = {column: getattr(show, name) for name, column in FIELD_COLUMNS.items()}
    for i in JSON_POSITIONS:
        column = SHOW_COLUMNS[i]
        row[column] = json.dumps(list(row[column]), ensure_ascii=False)
    row[RAW] = json_text(raw) if raw else None
    return row


def json_text(value: Any) -> str:
    """Compact JSON, raw UTF-8 where it can be: a lone surrogate (JSON's `\\ud800`) cannot
    be stored as UTF-8 text, so such a value is written with ASCII escapes instead."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(value, separators=(",", ":"))
    return text


def listed(columns: Iterable[str], hidden: frozenset[str]) -> list[str]:
    """`columns` (a table's, in its order) that are declared here and not `hidden`."""
    return [c for c in columns if c in ALL_COLUMNS and c not in hidden]
