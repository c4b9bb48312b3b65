"""The JSON -> Show mapping: every null/missing/wrong-typed combination (hypothesis) and
every awkward shape of the recorded real shows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.doubles.tvmaze_sim import load_real_shows
from tvmaze_sync.core.models import Show
from tvmaze_sync.tvmaze.mapping import ShowSkipped, SkipReason, int_or_none, map_show

# --- mapping ---------------------------------------------------------------------------------

ABSENT = object()  # the key is missing altogether (2016 shapes)


def channel(name: str, code: Any) -> dict[str, Any]:
    """A network/webChannel object; `code` ABSENT/None/str shapes its country."""
    obj: dict[str, Any] = {"id": 1, "name": name}
    if code is not ABSENT:
        obj["country"] = None if code is None else {"name": "X", "code": code, "timezone": "Z"}
    return obj


# Each variant: (value put in the JSON or ABSENT, what the Show field must be).
text_variants = st.sampled_from([(ABSENT, None), (None, None), ("", None), ("English", "English")])
channel_variants = st.sampled_from(
    [
        (ABSENT, None, None),
        (None, None, None),
        ("no_country_key", "Chan", None),
        ("null_country", "Chan", None),
        ("country", "Chan", "GB"),
    ]
)


def build_channel(kind: Any) -> Any:
    if kind is ABSENT or kind is None:
        return kind
    code = {"no_country_key": ABSENT, "null_country": None, "country": "GB"}[kind]
    return channel("Chan", code)


@st.composite
def tvmaze_json(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A show object with every field absent, null or set, and the Show fields it means."""
    data: dict[str, Any] = {"id": draw(st.integers(1, 10**7))}
    expect: dict[str, Any] = {"tvmaze_id": data["id"]}

    def put(key: str, value: Any) -> None:
        if value is not ABSENT:
            data[key] = value

    name = draw(st.sampled_from([ABSENT, None, "Top Gear", "Kröniken 日本"]))
    put("name", name)
    expect["title"] = name if isinstance(name, str) else ""
    for key in ("language", "type", "status"):
        value, mapped = draw(text_variants)
        put(key, value)
        expect[key] = mapped
    for key in ("premiered", "ended"):
        value = draw(st.sampled_from([ABSENT, None, "2013-06-24", "2013"]))
        put(key, value)
        expect[key] = value if value == "2013-06-24" else None
    network_kind, network_name, network_country = draw(channel_variants)
    web_kind, web_name, web_country = draw(channel_variants)
    put("network", build_channel(network_kind))
    put("webChannel", build_channel(web_kind))
    expect["network"], expect["web_channel"] = network_name, web_name
    if network_country:
        expect["country"] = network_country
    else:  # the web channel answers for a network without a country, or no network at all
        expect["country"] = web_country
    if web_kind == "country" and network_kind == "country":
        data["webChannel"]["country"]["code"] = "US"  # the network must win
    runtime = draw(st.sampled_from([ABSENT, None, 30]))
    average = draw(st.sampled_from([ABSENT, None, 45]))
    put("runtime", runtime)
    put("averageRuntime", average)
    expect["runtime"] = 30 if runtime == 30 else (45 if average == 45 else None)
    externals_kind = draw(st.sampled_from([ABSENT, None, "nulls", "set"]))
    if externals_kind == "nulls":
        data["externals"] = {"tvrage": None, "thetvdb": None, "imdb": None}
    elif externals_kind == "set":
        data["externals"] = {"tvrage": 1, "thetvdb": 264492, "imdb": "tt1553656"}
    else:
        put("externals", externals_kind)
    expect["tvdb_id"] = 264492 if externals_kind == "set" else None
    expect["imdb_id"] = "tt1553656" if externals_kind == "set" else None
    genres = draw(st.sampled_from([ABSENT, None, [], ["Drama", "Comedy"]]))
    put("genres", genres)
    expect["genres"] = ("Drama", "Comedy") if isinstance(genres, list) and genres else ()
    rating = draw(st.sampled_from([ABSENT, None, {"average": None}, {"average": 7}]))
    put("rating", rating)
    expect["rating"] = 7.0 if rating == {"average": 7} else None
    updated = draw(st.sampled_from([ABSENT, None, 1704794065]))
    put("updated", updated)
    expect["updated"] = updated if isinstance(updated, int) else None
    return data, expect


@settings(max_examples=400, deadline=None)
@given(case=tvmaze_json())
def test_mapping_of_every_null_and_missing_combination(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    data, expect = case
    before = copy.deepcopy(data)
    assert map_show(data).show == Show(**expect)
    assert data == before  # pure: the raw JSON kept in the cache is untouched


class _Reading(dict[str, Any]):
    """A show object that notes each key the mapping reads."""

    def __init__(self, data: dict[str, Any], read: set[str]) -> None:
        super().__init__(data)
        self.read = read

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def keys_the_mapping_reads() -> list[str]:
    """The show object's keys map_show reads (the id aside), found by running it: a field
    the mapping learns to read is fed junk below with no change to this test."""
    read: set[str] = set()
    for data in (load_real_shows()[0], {"id": 1}):  # with every key, and with none (fallbacks)
        map_show(_Reading(data, read))
    return sorted(read - {"id"})


JUNK_KEYS = keys_the_mapping_reads()


def test_the_junk_covers_every_key_the_mapping_reads() -> None:
    before = {"name", "network", "webChannel", "externals", "genres", "runtime", "rating"}
    assert before | {"averageRuntime", "premiered", "language", "updated", "weight"} <= set(
        JUNK_KEYS
    )


@settings(max_examples=200, deadline=None)
@given(
    junk=st.dictionaries(
        st.sampled_from(JUNK_KEYS),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=6,
        ),
    )
)
def test_mapping_never_fails_on_wrong_types(junk: dict[str, Any]) -> None:
    try:
        show = map_show({"id": 5, **junk}).show
    except ShowSkipped as skip:  # the one field besides the id that skips a show
        assert skip.reason == SkipReason.INVALID_UPDATED
        assert junk.get("updated") is not None
        return
    assert show.tvmaze_id == 5
    assert isinstance(show.title, str)
    assert all(isinstance(g, str) for g in show.genres)
    assert show.runtime is None or (isinstance(show.runtime, int) and show.runtime > 0)
    assert show.weight is None or (isinstance(show.weight, int) and 0 <= show.weight <= 100)


def real(shape: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first recorded real show with this shape (fails if the data set lacks it)."""
    return next(s for s in load_real_shows() if shape(s))


REAL_CASES: list[tuple[str, Callable[[dict[str, Any]], bool], Callable[[Show], bool]]] = [
    (
        "network null, web channel set",
        lambda s: s["network"] is None and bool(s["webChannel"]),
        lambda show: show.network is None and show.web_channel is not None,
    ),
    (
        "web channel with null country",
        lambda s: s["network"] is None and bool(s["webChannel"]) and not s["webChannel"]["country"],
        lambda show: show.country is None and show.web_channel is not None,
    ),
    (
        "premiered null",
        lambda s: s["premiered"] is None,
        lambda show: show.premiered is None,
    ),
    (
        "runtime null, averageRuntime set",
        lambda s: s["runtime"] is None and bool(s.get("averageRuntime")),
        lambda show: show.runtime is not None and show.runtime > 0,
    ),
    (
        "thetvdb null",
        lambda s: s["externals"]["thetvdb"] is None,
        lambda show: show.tvdb_id is None,
    ),
    ("genres empty", lambda s: s["genres"] == [], lambda show: show.genres == ()),
    ("language null", lambda s: s["language"] is None, lambda show: show.language is None),
    (
        "2016 shape without officialSite/averageRuntime/ended",
        lambda s: "officialSite" not in s and "averageRuntime" not in s,
        lambda show: show.title != "",
    ),
]


@pytest.mark.parametrize(
    ("shape", "check"), [c[1:] for c in REAL_CASES], ids=[c[0] for c in REAL_CASES]
)
def test_real_shapes_map_as_the_spec_says(
    shape: Callable[[dict[str, Any]], bool], check: Callable[[Show], bool]
) -> None:
    data = real(shape)
    show = map_show(data).show
    assert check(show)
    assert show.tvmaze_id == data["id"] and show.title == data["name"]
    assert show.updated == data["updated"]


def test_network_without_country_takes_the_web_channels() -> None:
    data = {"id": 1, "network": channel("BBC", None), "webChannel": channel("iPlayer", "GB")}
    assert map_show(data).show.country == "GB"
    data["network"] = channel("BBC", "GB")
    data["webChannel"] = channel("Netflix", "US")
    assert map_show(data).show.country == "GB"


def test_every_real_show_maps() -> None:
    shows = load_real_shows()
    mapped = [map_show(s).show for s in shows]
    assert [m.tvmaze_id for m in mapped] == [s["id"] for s in shows]
    assert all(m.title == s["name"] for m, s in zip(mapped, shows, strict=True))
    # The data set really has the awkward shapes, and they come out unknown, not wrong.
    assert sum(m.country is None for m in mapped) > 50
    assert sum(m.tvdb_id is None for m in mapped) > 10
    runtime_from_average = [
        m for m, s in zip(mapped, shows, strict=True) if s["runtime"] is None and m.runtime
    ]
    assert runtime_from_average


def test_id_is_required() -> None:
    with pytest.raises(ValueError):
        map_show({"name": "no id"})


@example(value="²")  # str.isdigit says yes, int() says no
@example(value="٣")
@example(value=" 42 ")
@example(value="1" * 5000)  # int() refuses more than 4,300 digits with a ValueError
@given(
    value=st.integers()
    | st.integers(min_value=0).map(str)
    | st.booleans()
    | st.floats()
    | st.text(max_size=4)
    | st.none()
)
def test_int_or_none_accepts_integers_and_digit_strings_only(value: Any) -> None:
    got = int_or_none(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        assert got is None
    elif isinstance(value, int):
        assert got == value
    else:
        digits = value.strip()
        ascii_digits = bool(digits) and all("0" <= c <= "9" for c in digits)
        assert got == (int(digits) if ascii_digits and len(value) <= 40 else None)
