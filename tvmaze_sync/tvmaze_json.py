"""TVMaze show JSON -> `Show`: the one place that interprets a show object's fields.

Pure and total over real data (tested with hypothesis in tests/test_tvmaze_json.py); the HTTP
client (tvmaze.py), the mirror and the Sonarr stage all map through `show_from_tvmaze`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tvmaze_sync.models import Show

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit: "²" is a digit that int() refuses


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def int_or_none(value: Any) -> int | None:
    """An integer JSON value (or ASCII digit string) as int; anything else (bools too) as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value)
    return None


def _positive(value: Any) -> int | None:
    number = int_or_none(value)
    return number if number is not None and number > 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def weight(value: Any) -> int | None:
    """TVMaze's `weight` (popularity, 0-100); anything else counts as unknown."""
    number = int_or_none(value)
    return number if number is not None and 0 <= number <= 100 else None


def _date(value: Any) -> str | None:
    return value if isinstance(value, str) and _DATE.fullmatch(value) else None


def _country(channel: Mapping[str, Any]) -> str | None:
    return _text(_obj(channel.get("country")).get("code"))


def show_from_tvmaze(data: Mapping[str, Any]) -> Show:
    """Map one TVMaze show object to a `Show`, per the spec's Response Mapping table.

    Total over real data: every key may be absent (2016 objects lack several) or null, and a
    wrong-typed value counts as unknown rather than failing the page. The country comes from
    the network, else from the web channel (Netflix-like global channels have none). `runtime`
    falls back to `averageRuntime`, which TVMaze fills when episode lengths vary. Raises
    ValueError only when there is no integer id, the one thing a row cannot do without.
    """
    tvmaze_id = int_or_none(data.get("id"))
    if tvmaze_id is None:
        raise ValueError("TVMaze show object without an integer id")
    network = _obj(data.get("network"))
    web_channel = _obj(data.get("webChannel"))
    externals = _obj(data.get("externals"))
    genres = data.get("genres")
    return Show(
        tvmaze_id=tvmaze_id,
        title=data["name"] if isinstance(data.get("name"), str) else "",
        tvdb_id=_positive(externals.get("thetvdb")),
        imdb_id=_text(externals.get("imdb")),
        language=_text(data.get("language")),
        country=_country(network) or _country(web_channel),
        type=_text(data.get("type")),
        status=_text(data.get("status")),
        premiered=_date(data.get("premiered")),
        ended=_date(data.get("ended")),
        network=_text(network.get("name")),
        web_channel=_text(web_channel.get("name")),
        genres=tuple(g for g in genres if _text(g)) if isinstance(genres, list) else (),
        runtime=_positive(data.get("runtime")) or _positive(data.get("averageRuntime")),
        rating=_number(_obj(data.get("rating")).get("average")),
        updated=int_or_none(data.get("updated")),
        weight=weight(data.get("weight")),
    )
