"""A bad TVMaze record is one bad record (issue #14): the mapping and the store, as pure
properties over any JSON value in any field of a real show, and the updates map."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.doubles.tvmaze_sim import load_real_shows
from tests.helpers_store import store_at
from tvmaze_sync.core.models import Show
from tvmaze_sync.storage.columns import row_from_show, show_from_row
from tvmaze_sync.storage.store import Store
from tvmaze_sync.tvmaze import plan
from tvmaze_sync.tvmaze.mapping import (
    INT32_MAX,
    INT64_MAX,
    MAX_TEXT,
    ShowSkipped,
    SkipReason,
    map_show,
    updates_from_tvmaze,
)

REAL = load_real_shows()[:40]
#: Values that broke or could break a naive mapping: int64's edges, bools (ints in Python),
#: floats in integer fields, NaN/inf (json.loads accepts them), negative ids, absurd and
#: un-encodable text (a lone surrogate from a `\ud800` escape), digit strings too long to int.
NASTY = [
    INT64_MAX,
    INT64_MAX + 1,
    -(2**63) - 1,
    2**64,
    10**400,
    True,
    False,
    0,
    -1,
    1.5,
    6.0,
    math.nan,
    math.inf,
    -math.inf,
    "",
    " ",
    "12",
    " 7 ",
    "9" * 5000,
    "x" * (MAX_TEXT + 1),
    "\ud800",
    "a\x00b",
    "2013-06-24",
    [],
    {},
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(NASTY),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def field_paths(show: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a show object, nested objects included."""
    for key, value in show.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from field_paths(value, (*prefix, key))


#: The mapped paths, present in a real show or not (2016 shapes lack some).
MAPPED_PATHS = [
    ("id",),
    ("updated",),
    ("name",),
    ("runtime",),
    ("averageRuntime",),
    ("rating", "average"),
    ("externals", "thetvdb"),
    ("externals", "imdb"),
    ("network", "country", "code"),
    ("webChannel", "name"),
    ("genres",),
    ("premiered",),
]


def put(show: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = show
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


@st.composite
def damaged_shows(draw: st.DrawFn) -> dict[str, Any]:
    """A real show with one to three fields (any of its paths) set to any JSON value."""
    show = copy.deepcopy(draw(st.sampled_from(REAL)))
    paths = sorted(set(field_paths(show)) | set(MAPPED_PATHS))
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        put(show, path, draw(JSON))
    return show


def storable(show: Show) -> bool:
    """What SQLite and Sonarr can hold: int64 ints, finite ratings, short UTF-8 text."""
    ints_ok = 1 <= show.tvmaze_id <= INT64_MAX
    ints_ok &= show.updated is None or 0 <= show.updated <= INT64_MAX
    ints_ok &= show.runtime is None or 1 <= show.runtime <= INT64_MAX
    ints_ok &= show.tvdb_id is None or 1 <= show.tvdb_id <= INT32_MAX
    texts = [show.title, show.imdb_id, show.language, show.country, show.type, show.status]
    texts += [show.premiered, show.ended, show.network, show.web_channel, *show.genres]
    for text in texts:
        if text is not None and (len(text) > MAX_TEXT or not isinstance(text, str)):
            return False
        if text is not None:
            text.encode("utf-8")  # raises on a lone surrogate
    rating_ok = show.rating is None or (
        type(show.rating) is float and math.isfinite(show.rating) and 0 <= show.rating <= 10
    )
    return bool(ints_ok) and rating_ok and all(type(i) is int for i in (show.tvmaze_id,))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = store_at(tmp_path_factory.mktemp("bad-records"))
    yield opened
    opened.close()


@settings(max_examples=500, deadline=None)
@given(data=damaged_shows())
@example(data={"id": 2**63})
@example(data={"id": 1, "updated": 2**63})
@example(data={"id": 1, "runtime": 2**63, "externals": {"thetvdb": 2**31}})
@example(data={"id": 1, "rating": {"average": 10**400}})
@example(data={"id": 1, "name": "\ud800", "genres": ["\udfff"], "summary": "\ud800"})
def test_any_value_in_any_field_maps_to_a_storable_show_or_a_typed_skip(
    store: Store, data: dict[str, Any]
) -> None:
    before = copy.deepcopy(data)
    try:
        mapped = map_show(data)
    except ShowSkipped as skip:
        assert skip.reason in (SkipReason.INVALID_ID, SkipReason.INVALID_UPDATED)
        return
    assert repr(data) == repr(before)  # pure (repr: NaN != NaN)
    show = mapped.show
    assert storable(show)
    store.upsert_shows([row_from_show(show, data)], "2025-01-01T00:00:00Z")
    row = store.get_row(show.tvmaze_id)
    assert row is not None
    assert show_from_row(row) == show  # what was stored is what was mapped


def test_real_shows_drop_nothing() -> None:
    """Only bad values are warned about: the recorded real data has none."""
    assert [s["id"] for s in load_real_shows() if map_show(s).dropped] == []


@pytest.mark.parametrize(
    ("value", "stored"),
    [(INT64_MAX, INT64_MAX), (INT64_MAX + 1, None), (True, None), (6.0, None), (-3, None)],
)
def test_id_bounds(value: Any, stored: int | None) -> None:
    if stored is None:
        with pytest.raises(ShowSkipped) as skip:
            map_show({"id": value})
        assert skip.value.reason == SkipReason.INVALID_ID
    else:
        assert map_show({"id": value}).show.tvmaze_id == stored


@pytest.mark.parametrize("value", [INT64_MAX + 1, -1, True, 1.7e9, math.nan, "yesterday", [1]])
def test_an_unusable_updated_skips_the_show(value: Any) -> None:
    with pytest.raises(ShowSkipped) as skip:
        map_show({"id": 1, "updated": value})
    assert skip.value.reason == SkipReason.INVALID_UPDATED


def test_null_or_absent_updated_is_unknown_not_bad() -> None:
    assert map_show({"id": 1, "updated": None}).show.updated is None
    assert map_show({"id": 1}).dropped == ()


def test_optional_fields_of_the_wrong_kind_are_dropped_and_named() -> None:
    mapped = map_show(
        {
            "id": 1,
            "name": "x" * (MAX_TEXT + 1),
            "runtime": 2**64,
            "averageRuntime": True,
            "rating": {"average": math.inf},
            "externals": {"thetvdb": INT32_MAX + 1, "imdb": 7},
            "genres": ["Drama", 3, "\ud800"],
            "language": ["English"],
            "network": "BBC",
            "webChannel": {"name": "Netflix", "country": {"code": False}},
            "premiered": 20130624,
        }
    )
    assert mapped.show == Show(tvmaze_id=1, title="", web_channel="Netflix", genres=("Drama",))
    assert set(mapped.dropped) == {
        "name",
        "runtime",
        "averageRuntime",
        "rating",
        "externals.thetvdb",
        "externals.imdb",
        "genres",
        "language",
        "network",
        "webChannel.country.code",
        "premiered",
    }


def test_a_rating_of_ten_and_a_runtime_at_int64_are_kept() -> None:
    show = map_show({"id": 1, "rating": {"average": 10}, "runtime": INT64_MAX}).show
    assert (show.rating, show.runtime) == (10.0, INT64_MAX)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(
        st.text(max_size=6) | st.integers().map(str) | st.sampled_from(["1", "9" * 5000]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
        max_size=8,
    )
)
def test_updates_map_keeps_usable_entries_and_counts_the_rest(data: dict[str, Any]) -> None:
    updates = updates_from_tvmaze(data)
    assert len(updates) + updates.skipped == len(data)
    for show_id, updated in updates.items():
        assert 1 <= show_id <= INT64_MAX and 0 <= updated <= INT64_MAX
    # The plan takes whatever survived without raising.
    wanted = plan.changed_ids(updates, {})
    plan.plan_fetches(wanted, 2_000_000_000.0)


def test_updates_map_skips_non_numeric_keys_and_values_beyond_int64() -> None:
    updates = updates_from_tvmaze(
        {"1": 5, "x": 5, "2": 2**63, str(2**63): 5, "3": True, "-4": 5, "5": "6"}
    )
    assert dict(updates) == {1: 5, 5: 6}
    assert updates.skipped == 5
