"""TVMaze show JSON -> `Show`: the one place that interprets a show object's fields.

Pure and total over any JSON (tested with hypothesis in tests/test_tvmaze_json.py and
tests/test_bad_records.py); the HTTP client (client.py) and the mirror read TVMaze's ids and
times through the helpers here, and every show object through `map_show`.

A bad record is one bad record (issue #14): every value that reaches the store is one SQLite
can hold (integers within int64, finite floats, UTF-8 text of a sane length). A show without
a usable `id` or `updated` is skipped (`ShowSkipped`, with a `SkipReason`); any other field
present but unusable (the wrong kind, out of range, absurdly long) is dropped to unknown and
named in `Mapped.dropped`, so the mirror can warn and count it and store the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tvmaze_sync.core.models import Show

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit: "²" is a digit that int() refuses

#: The largest integer a SQLite INTEGER column holds.
INT64_MAX = 2**63 - 1
#: Sonarr's TvdbId is a C# `int`: a larger TheTVDB id can never be added (nor listed).
INT32_MAX = 2**31 - 1
#: Longest text kept in a column (title, language, network name…); real ones are < 100.
MAX_TEXT = 1_000
#: Most genres kept; TVMaze has about 30 in all.
MAX_GENRES = 100
#: Longest stored show JSON (`raw`), in characters; real objects are 1–5 KB.
MAX_RAW_CHARS = 1_000_000


#: The store's lifetime counter (label: a SkipReason) behind the skipped-records metric.
RECORDS_SKIPPED = "records_skipped"


class SkipReason(StrEnum):
    """Why a TVMaze record (or part of one) was not stored: the `reason` of
    `tvmaze_sync_records_skipped_total`."""

    INVALID_ID = "invalid_id"  # the show's id is missing, not an integer, or out of range
    INVALID_UPDATED = "invalid_updated"  # `updated` present but not a usable timestamp
    OVERSIZED = "oversized"  # the show's JSON is larger than MAX_RAW_CHARS
    INVALID_UPDATES_ENTRY = "invalid_updates_entry"  # an /updates/shows key or value
    INVALID_FIELD = "invalid_field"  # the show was stored, with fields dropped to null


class ShowSkipped(ValueError):
    """This show object cannot be stored; the rest of its page can."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Mapped:
    """A show as the store can hold it, and the JSON fields dropped to unknown on the way."""

    show: Show
    dropped: tuple[str, ...] = ()


class UpdatesMap(dict[int, int]):
    """/updates/shows as id -> updated; `skipped` counts the entries that were unusable."""

    skipped: int = 0


def brief(value: Any, limit: int = 40) -> str:
    """A value as a log line may show it: repr'd, and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _storable_text(value: str) -> bool:
    """Not absurdly long, and UTF-8 (a lone surrogate from a `\\ud800` escape is not)."""
    if len(value) > MAX_TEXT:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def int_or_none(value: Any) -> int | None:
    """An integer JSON value (or ASCII digit string) as int; anything else (bools too) as None.

    A digit string longer than 40 characters is None too: no id or time is that long, and
    int() refuses more than 4,300 digits with a ValueError.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= 40 and _DIGITS.fullmatch(digits := value.strip()):
        return int(digits)  # str.strip drops more than int() does (\x1f, say)
    return None


def bounded_int(value: Any, low: int, high: int = INT64_MAX) -> int | None:
    """`int_or_none`, and None outside low…high too."""
    number = int_or_none(value)
    return number if number is not None and low <= number <= high else None


def show_id_of(data: Mapping[str, Any]) -> int | None:
    """The show's id if the store can key a row by it (1 … int64), else None."""
    return bounded_int(data.get("id"), 1)


def updated_of(data: Mapping[str, Any]) -> int | None:
    """The show's `updated` (unix seconds, 0 … int64), None when absent or unusable."""
    return bounded_int(data.get("updated"), 0)


def updated_unusable(data: Mapping[str, Any]) -> bool:
    """Whether `updated` is present but unusable: such a show is skipped, not stored."""
    return data.get("updated") is not None and updated_of(data) is None


def updates_from_tvmaze(data: Mapping[Any, Any]) -> UpdatesMap:
    """/updates/shows' object (id string -> unix time) as ints; unusable entries are counted
    in `skipped` and left out, so one bad entry never stops the read of the others."""
    updates = UpdatesMap()
    for key, value in data.items():
        show_id, updated = bounded_int(key, 1), bounded_int(value, 0)
        if show_id is None or updated is None:
            updates.skipped += 1
        else:
            updates[show_id] = updated
    return updates


class _Fields:
    """Reads a show's optional fields, noting each one present but unusable."""

    def __init__(self) -> None:
        self.dropped: list[str] = []

    def drop(self, name: str) -> None:
        if name not in self.dropped:
            self.dropped.append(name)

    def obj(self, value: Any, name: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        if value is not None:
            self.drop(name)
        return {}

    def text(self, value: Any, name: str) -> str | None:
        """Blank text is unknown, as null is (real data has both); the rest must be storable."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and _storable_text(value):
            return value
        self.drop(name)
        return None

    def integer(self, value: Any, name: str, high: int = INT64_MAX) -> int | None:
        """A positive integer up to `high`; 0 and negatives are as unusable as a string."""
        if value is None:
            return None
        number = bounded_int(value, 1, high)
        if number is None:
            self.drop(name)
        return number

    def date(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and _DATE.fullmatch(value):
            return value
        self.drop(name)
        return None

    def weight(self, value: Any, name: str) -> int | None:
        """TVMaze's `weight` (popularity, 0-100); anything else is dropped as unknown."""
        if value is None:
            return None
        number = bounded_int(value, 0, 100)
        if number is None:
            self.drop(name)
        return number

    def rating(self, value: Any, name: str) -> float | None:
        """TVMaze's average rating: a finite number from 0 to 10."""
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10:
            number = float(value)
            if math.isfinite(number):
                return number
        self.drop(name)
        return None

    def genres(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or len(value) > MAX_GENRES:
            self.drop("genres")
            return ()
        kept = tuple(g for g in value if isinstance(g, str) and g.strip() and _storable_text(g))
        if any(not isinstance(g, str) or (g.strip() and not _storable_text(g)) for g in value):
            self.drop("genres")
        return kept

    def country(self, channel: Mapping[str, Any], name: str) -> str | None:
        country = self.obj(channel.get("country"), f"{name}.country")
        return self.text(country.get("code"), f"{name}.country.code")


def map_show(data: Mapping[str, Any]) -> Mapped:
    """Map one TVMaze show object to a `Show` (each field names the key it is read from).

    Total over real data: every key may be absent (2016 objects lack several) or null, and
    unknown is what both mean. The country comes from the network, else from the web
    channel (Netflix-like global channels have none). `runtime` falls back to
    `averageRuntime`, which TVMaze fills when episode lengths vary. A field present but
    unusable is unknown too, and named in `dropped`. Raises ShowSkipped (a ValueError)
    only when the id or `updated` is unusable: a row cannot be keyed, or kept current,
    without them.
    """
    tvmaze_id = show_id_of(data)
    if tvmaze_id is None:
        raise ShowSkipped(SkipReason.INVALID_ID, f"id={brief(data.get('id'))}")
    if updated_unusable(data):
        raise ShowSkipped(
            SkipReason.INVALID_UPDATED, f"tvmaze_id={tvmaze_id} updated={brief(data['updated'])}"
        )
    fields = _Fields()
    network = fields.obj(data.get("network"), "network")
    web_channel = fields.obj(data.get("webChannel"), "webChannel")
    externals = fields.obj(data.get("externals"), "externals")
    name = data.get("name")
    if name is not None and not (isinstance(name, str) and _storable_text(name)):
        fields.drop("name")
    show = Show(
        tvmaze_id=tvmaze_id,
        title=name if isinstance(name, str) and _storable_text(name) else "",
        tvdb_id=fields.integer(externals.get("thetvdb"), "externals.thetvdb", INT32_MAX),
        imdb_id=fields.text(externals.get("imdb"), "externals.imdb"),
        language=fields.text(data.get("language"), "language"),
        country=fields.country(network, "network") or fields.country(web_channel, "webChannel"),
        type=fields.text(data.get("type"), "type"),
        status=fields.text(data.get("status"), "status"),
        premiered=fields.date(data.get("premiered"), "premiered"),
        ended=fields.date(data.get("ended"), "ended"),
        network=fields.text(network.get("name"), "network.name"),
        web_channel=fields.text(web_channel.get("name"), "webChannel.name"),
        genres=fields.genres(data.get("genres")),
        runtime=fields.integer(data.get("runtime"), "runtime")
        or fields.integer(data.get("averageRuntime"), "averageRuntime"),
        rating=fields.rating(fields.obj(data.get("rating"), "rating").get("average"), "rating"),
        updated=updated_of(data),
        weight=fields.weight(data.get("weight"), "weight"),
    )
    return Mapped(show, tuple(fields.dropped))
