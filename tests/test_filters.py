"""Filters: every rule against an independent oracle, unknown values, reason codes, the filter
hash, and apply/refilter over a real SQLite cache (offline, transactional, never touching
shows whose status is a fact about Sonarr)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import socket
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers_store import store_at
from tvmaze_sync.core.config import (
    FiltersConfig,
    IdFilter,
    IsoDate,
    KeywordFilter,
    ListFilter,
    PremieredFilter,
    RatingFilter,
    StatusFilter,
    WeightFilter,
    build_config,
)
from tvmaze_sync.core.errors import LockHeld, StorageError
from tvmaze_sync.core.models import ProcessingResult, ProcessingStatus, Show
from tvmaze_sync.decisions.filters import (
    OPEN_STATUSES,
    FilterProcessor,
    FilterReport,
    apply,
    filter_hash,
    refilter,
    refilter_if_changed,
    run_refilter,
)
from tvmaze_sync.decisions.rules import ReasonCode, reason_rule
from tvmaze_sync.storage.columns import row_from_show
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import Store

P = ProcessingStatus
CLOSED = [s for s in ProcessingStatus if s not in OPEN_STATUSES]

LANGUAGES = ["English", "Japanese", "Korean", "french"]
COUNTRIES = ["US", "GB", "UK", "CA", "JP", "us"]
GENRES = ["Drama", "Reality", "Comedy", "Anime", "news"]
TYPES = ["Scripted", "Reality", "Animation", "Talk Show"]
NETWORKS = ["CBS", "Netflix", "BBC One", "netflix"]
STATUSES = ["Running", "Ended", "To Be Determined", "In Development", "ended"]
KEYWORDS = ["christmas", "NEWS", "the", "Ü"]
TITLES = ["A Christmas Carol", "The News Hour", "Über Alles", "Dark", "", "x[/]y"]


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


iso_dates = st.dates(min_value=dt.date(1950, 1, 1)).map(lambda d: d.isoformat())
CODE_ORDER = [code.value for code in ReasonCode]  # also the order the rules run in

shows = st.builds(
    Show,
    tvmaze_id=st.integers(1, 40),
    title=st.sampled_from(TITLES) | st.text(max_size=12),
    language=maybe(st.sampled_from(LANGUAGES)),
    country=maybe(st.sampled_from(COUNTRIES)),
    type=maybe(st.sampled_from(TYPES)),
    status=maybe(st.sampled_from(STATUSES)),
    premiered=maybe(iso_dates),
    network=maybe(st.sampled_from(NETWORKS)),
    web_channel=maybe(st.sampled_from(NETWORKS)),
    genres=st.lists(st.sampled_from(GENRES), max_size=3).map(tuple),
    runtime=maybe(st.integers(0, 200)),
    rating=maybe(st.floats(0, 10, allow_nan=False)),
    weight=maybe(st.integers(0, 100)),
)


def list_filters(values: list[str]) -> st.SearchStrategy[ListFilter]:
    some = st.lists(st.sampled_from(values), max_size=3, unique=True)
    return st.builds(ListFilter, some, some, st.booleans())


configs = st.builds(
    FiltersConfig,
    genres=list_filters(GENRES),
    types=list_filters(TYPES),
    countries=list_filters(COUNTRIES),
    languages=list_filters(LANGUAGES),
    networks=list_filters(NETWORKS),
    status=st.builds(
        StatusFilter,
        st.lists(st.sampled_from(STATUSES), max_size=2, unique=True),
        st.lists(st.sampled_from(STATUSES), max_size=2, unique=True),
        st.booleans(),
        st.booleans(),
    ),
    premiered=st.builds(
        PremieredFilter, maybe(iso_dates.map(IsoDate)), maybe(iso_dates.map(IsoDate)), st.booleans()
    ),
    min_runtime=maybe(st.integers(0, 120)),
    max_runtime=maybe(st.integers(0, 200)),
    runtime_allow_unknown=st.booleans(),
    rating=st.builds(RatingFilter, maybe(st.floats(0, 10, allow_nan=False)), st.booleans()),
    weight=st.builds(
        WeightFilter, maybe(st.integers(0, 100)), maybe(st.integers(0, 100)), st.booleans()
    ),
    title=st.builds(KeywordFilter, st.lists(st.sampled_from(KEYWORDS), max_size=2)),
    ids=st.builds(
        IdFilter, st.lists(st.integers(1, 40), max_size=4), st.lists(st.integers(1, 40), max_size=4)
    ),
)


def expected_failures(show: Show, c: FiltersConfig) -> set[str]:
    """The oracle: each rule restated from the documented config, independently of rules.py."""
    if show.tvmaze_id in c.ids.allow:
        return set()
    out: set[str] = set()

    def fold(text: str) -> str:
        return text.strip().casefold()

    def country(text: str) -> str:
        code = text.strip().upper()
        return "GB" if code == "UK" else code

    if show.tvmaze_id in c.ids.exclude:
        out.add("id_excluded")
    if any(k.strip() and fold(k) in show.title.casefold() for k in c.title.exclude):
        out.add("title_keyword_excluded")

    def list_rule(prefix: str, values: list[str | None], f: ListFilter, norm: Any = fold) -> None:
        known = {norm(v) for v in values if v}
        include, exclude = {norm(v) for v in f.include}, {norm(v) for v in f.exclude}
        if not known:
            if include and not f.allow_unknown:
                out.add(f"{prefix}_unknown")
        elif known & exclude:
            out.add(f"{prefix}_excluded")
        elif include and not known & include:
            out.add(f"{prefix}_not_included")

    list_rule("genre", list(show.genres), c.genres)
    list_rule("type", [show.type], c.types)
    list_rule("country", [show.country], c.countries, country)
    list_rule("language", [show.language], c.languages)
    list_rule("network", [show.network, show.web_channel], c.networks)

    s = c.status
    if not show.status:
        if s.include and not s.allow_unknown:
            out.add("status_unknown")
    elif s.exclude_ended and fold(show.status) == "ended":
        out.add("status_ended")
    elif fold(show.status) in {fold(v) for v in s.exclude}:
        out.add("status_excluded")
    elif s.include and fold(show.status) not in {fold(v) for v in s.include}:
        out.add("status_not_included")

    p = c.premiered
    if p.after or p.before:
        if show.premiered is None:
            if not p.allow_unknown:
                out.add("premiered_unknown")
        elif p.after and show.premiered < p.after:
            out.add("premiered_too_early")
        elif p.before and show.premiered >= p.before:
            out.add("premiered_too_late")

    if c.min_runtime is not None or c.max_runtime is not None:
        if show.runtime is None:
            if not c.runtime_allow_unknown:
                out.add("runtime_unknown")
        elif c.min_runtime is not None and show.runtime < c.min_runtime:
            out.add("runtime_too_short")
        elif c.max_runtime is not None and show.runtime > c.max_runtime:
            out.add("runtime_too_long")

    if c.rating.min is not None:
        if show.rating is None:
            if not c.rating.allow_unknown:
                out.add("rating_unknown")
        elif show.rating < c.rating.min:
            out.add("rating_too_low")

    w = c.weight
    if w.min is not None or w.max is not None:
        if show.weight is None:
            if not w.allow_unknown:
                out.add("weight_unknown")
        elif w.min is not None and show.weight < w.min:
            out.add("weight_too_low")
        elif w.max is not None and show.weight > w.max:
            out.add("weight_too_high")
    return out


# --- the rules ---------------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(shows, configs)
def test_a_show_passes_iff_every_rule_passes(show: Show, config: FiltersConfig) -> None:
    processor = FilterProcessor(config)
    result = processor.process(show)
    expected = expected_failures(show, config)
    assert result.passed == (not expected)
    # one reason per failing rule, in rule order
    assert [reason_rule(r) for r in result.reasons] == sorted(expected, key=CODE_ORDER.index)
    assert result.reason == (result.reasons[0] if result.reasons else None)
    assert all(reason_rule(r) in set(ReasonCode) for r in result.reasons)
    # explain agrees with process, rule by rule, in the same order
    if show.tvmaze_id not in config.ids.allow:
        failing = [v.reason for v in processor.explain(show) if not v.passed]
        assert failing == list(result.reasons)


NULLABLE = [f.name for f in dataclasses.fields(Show) if f.name not in ("tvmaze_id", "title")]


@settings(max_examples=300, deadline=None)
@given(shows, st.sets(st.sampled_from(NULLABLE)), st.booleans())
def test_every_null_combination_yields_a_reason_never_an_exception(
    show: Show, unknown: set[str], allow_unknown: bool
) -> None:
    """Every filter active; an unknown value fails with its own code unless allowed."""
    config = FiltersConfig(
        genres=ListFilter(["Drama"], [], allow_unknown),
        types=ListFilter(["Scripted"], [], allow_unknown),
        countries=ListFilter(["US"], [], allow_unknown),
        languages=ListFilter(["English"], [], allow_unknown),
        networks=ListFilter(["CBS"], [], allow_unknown),
        status=StatusFilter(["Running"], [], False, allow_unknown),
        premiered=PremieredFilter(IsoDate("2000-01-01"), None, allow_unknown),
        min_runtime=10,
        runtime_allow_unknown=allow_unknown,
        rating=RatingFilter(1.0, allow_unknown),
    )
    blanks: dict[str, Any] = {name: () if name == "genres" else None for name in unknown}
    nulls = dataclasses.replace(show, **blanks)
    rules = {reason_rule(r) for r in FilterProcessor(config).process(nulls).reasons}
    unknown_codes = {
        "language": "language_unknown",
        "country": "country_unknown",
        "type": "type_unknown",
        "status": "status_unknown",
        "premiered": "premiered_unknown",
        "runtime": "runtime_unknown",
        "rating": "rating_unknown",
    }
    for field, code in unknown_codes.items():
        assert (code in rules) == (getattr(nulls, field) is None and not allow_unknown)
    no_channel = nulls.network is None and nulls.web_channel is None
    assert ("network_unknown" in rules) == (no_channel and not allow_unknown)
    assert ("genre_unknown" in rules) == (not nulls.genres and not allow_unknown)


def test_an_all_unknown_show_under_the_defaults() -> None:
    """Defaults: only countries lets an unknown pass (global web channels have none)."""
    reasons = FilterProcessor(FiltersConfig()).process(Show(7, "Nothing Known")).reasons
    assert reasons == (
        "type_unknown",
        "language_unknown",
        "premiered_unknown",
        "runtime_unknown",
    )


def test_allow_unknown_defaults() -> None:
    config = FiltersConfig()
    assert config.countries.allow_unknown is True
    others: list[Any] = [
        config.genres,
        config.types,
        config.languages,
        config.networks,
        config.status,
        config.premiered,
        config.rating,
    ]
    assert [f.allow_unknown for f in others] == [False] * len(others)
    assert config.runtime_allow_unknown is False


def good_show(**changes: Any) -> Show:
    fields: dict[str, Any] = dict(
        tvmaze_id=5,
        title="Severance",
        language="English",
        country="US",
        type="Scripted",
        status="Running",
        premiered="2022-02-18",
        network=None,
        web_channel="Apple TV+",
        genres=("Drama", "Thriller"),
        runtime=55,
        rating=8.4,
    )
    fields.update(changes)
    return Show(**fields)


@pytest.mark.parametrize(
    ("changes", "config_changes", "reason"),
    [
        ({"genres": ("Drama", "Sports")}, {}, "genre_excluded:Sports"),
        ({"language": "Japanese"}, {}, "language_not_included:Japanese"),
        ({"language": None}, {}, "language_unknown"),
        ({"country": "FR"}, {}, "country_not_included:FR"),
        ({"type": "Reality"}, {}, "type_not_included:Reality"),
        ({"status": "Ended"}, {}, "status_ended"),
        ({"premiered": "2005-03-26"}, {}, "premiered_too_early:2005-03-26"),
        ({"runtime": 15}, {}, "runtime_too_short:15"),
        ({"runtime": None}, {}, "runtime_unknown"),
        ({"rating": 5.5}, {"rating": RatingFilter(7.0, False)}, "rating_too_low:5.5"),
        ({"rating": None}, {"rating": RatingFilter(7.0, False)}, "rating_unknown"),
        (
            {"title": "A Christmas Special"},
            {"title": KeywordFilter(["CHRISTMAS"])},
            "title_keyword_excluded:CHRISTMAS",
        ),
        ({}, {"networks": ListFilter([], ["apple tv+"], False)}, "network_excluded:Apple TV+"),
        ({}, {"networks": ListFilter(["HBO"], [], False)}, "network_not_included:Apple TV+"),
        ({}, {"ids": IdFilter(exclude=[5])}, "id_excluded:5"),
        ({}, {"status": StatusFilter(["Ended"], [], True)}, "status_not_included:Running"),
        ({}, {"status": StatusFilter([], ["running"], True)}, "status_excluded:Running"),
        ({}, {"max_runtime": 50}, "runtime_too_long:55"),
        (  # `before` is exclusive
            {},
            {"premiered": PremieredFilter(None, IsoDate("2022-02-18"))},
            "premiered_too_late:2022-02-18",
        ),
    ],
)
def test_reason_codes_are_stable(
    changes: dict[str, Any], config_changes: dict[str, Any], reason: str
) -> None:
    """The exact strings users grep for and metrics count; changing one is a breaking change."""
    assert FilterProcessor(FiltersConfig()).process(good_show()).passed
    config = dataclasses.replace(FiltersConfig(), **config_changes)
    assert FilterProcessor(config).process(good_show(**changes)).reasons == (reason,)


def test_the_first_failure_is_the_reason_and_all_are_kept() -> None:
    show = good_show(genres=("Sports",), language="Korean", runtime=5)
    result = FilterProcessor(FiltersConfig()).process(show)
    assert result.reason == "genre_excluded:Sports"
    assert result.reasons == (
        "genre_excluded:Sports",
        "language_not_included:Korean",
        "runtime_too_short:5",
    )
    assert [reason_rule(r) for r in result.reasons] == [
        "genre_excluded",
        "language_not_included",
        "runtime_too_short",
    ]


@pytest.mark.parametrize("configured", ["GB", "UK", "gb", " uk "])
@pytest.mark.parametrize("actual", ["GB", "UK", "gb"])
def test_gb_and_uk_are_the_same_country(configured: str, actual: str) -> None:
    include = dataclasses.replace(FiltersConfig(), countries=ListFilter([configured], [], False))
    assert FilterProcessor(include).process(good_show(country=actual)).passed
    exclude = dataclasses.replace(FiltersConfig(), countries=ListFilter([], [configured], False))
    assert FilterProcessor(exclude).process(good_show(country=actual)).reasons == (
        f"country_excluded:{actual}",
    )
    assert not FilterProcessor(include).process(good_show(country="IE")).passed


@settings(max_examples=200, deadline=None)
@given(shows, configs)
def test_ids_allow_wins_over_every_filter(show: Show, config: FiltersConfig) -> None:
    config.ids.allow.append(show.tvmaze_id)
    config.ids.exclude.append(show.tvmaze_id)
    assert FilterProcessor(config).process(show) == ProcessingResult(passed=True)


def test_an_unconfigured_filter_passes_everything() -> None:
    config = FiltersConfig(
        genres=ListFilter([], [], False),
        types=ListFilter([], [], False),
        countries=ListFilter([], [], False),
        languages=ListFilter([], [], False),
        status=StatusFilter([], [], False),
        premiered=PremieredFilter(None, None),
        min_runtime=None,
    )
    processor = FilterProcessor(config)
    assert processor.process(Show(1, "")).passed
    assert all(not v.active and v.passed for v in processor.explain(Show(1, "")))


# --- the filter hash -----------------------------------------------------------------------


def shuffled(config: FiltersConfig, rng: random.Random) -> FiltersConfig:
    """The same filters with every list reordered (and an entry repeated)."""

    def walk(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(
                value, **{f.name: walk(getattr(value, f.name)) for f in dataclasses.fields(value)}
            )
        if isinstance(value, list):
            items = list(value) + value[:1]
            rng.shuffle(items)
            return items
        return value

    result = walk(config)
    assert isinstance(result, FiltersConfig)
    return result


@settings(max_examples=200, deadline=None)
@given(configs, st.randoms(use_true_random=False))
def test_the_hash_is_stable_under_reordering(config: FiltersConfig, rng: random.Random) -> None:
    digest = filter_hash(config)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert filter_hash(shuffled(config, rng)) == digest


def test_the_hash_ignores_key_order_in_yaml() -> None:
    forward = {
        "genres": {"exclude": ["News", "Reality"], "include": []},
        "languages": {"include": ["English", "Japanese"]},
        "min_runtime": 25,
    }
    backward = {
        "min_runtime": 25,
        "languages": {"include": ["Japanese", "English"]},
        "genres": {"include": [], "exclude": ["Reality", "News"]},
    }
    one = build_config({"filters": forward}, env={}).filters
    two = build_config({"filters": backward}, env={}).filters
    assert filter_hash(one) == filter_hash(two)


@pytest.mark.parametrize(
    "change",
    [
        {"min_runtime": 21},
        {"languages": ListFilter(["English", "Korean"], [], False)},
        {"countries": ListFilter(["US", "UK", "CA", "AU", "NZ", "IE", "GB"], [], False)},
        {"premiered": PremieredFilter(IsoDate("2010-01-02"))},
        {"ids": IdFilter(allow=[1])},
        {"title": KeywordFilter(["christmas"])},
    ],
)
def test_the_hash_changes_with_any_decision_changing_value(change: dict[str, Any]) -> None:
    assert filter_hash(dataclasses.replace(FiltersConfig(), **change)) != filter_hash(
        FiltersConfig()
    )


# --- apply and refilter over SQLite ----------------------------------------------------------

COLUMNS_FILTERS_WRITE = {"processing_status", "filter_reason", "filter_reasons", "needs_filter"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = store_at(tmp_path)
    yield opened
    opened.close()


def seed(store: Store, rows: list[tuple[Show, ProcessingStatus, bool]]) -> None:
    """Rows as earlier cycles leave them: some status, stale reasons, data maybe changed."""
    store.upsert_shows([row_from_show(show, {"id": show.tvmaze_id}) for show, _, _ in rows], "t0")
    with store.atomic():
        store.db.conn.executemany(
            "UPDATE shows SET processing_status = ?, needs_filter = ?, filter_reason = ?, "
            "filter_reasons = ?, error_message = ? WHERE tvmaze_id = ?",
            [
                (
                    status.value,
                    int(needs),
                    "stale_rule:x" if status == P.FILTERED else None,
                    json.dumps(["stale_rule:x"]) if status == P.FILTERED else None,
                    "kept" if status == P.FAILED else None,
                    show.tvmaze_id,
                )
                for show, status, needs in rows
            ],
        )


def snapshot(store: Store) -> dict[int, dict[str, Any]]:
    return {row["tvmaze_id"]: row for row in store.rows_where(order_by="tvmaze_id")}


def expected_row(before: dict[str, Any], show: Show, config: FiltersConfig) -> dict[str, Any]:
    failures = expected_failures(show, config)
    status = before["processing_status"]
    if failures:
        status = P.FILTERED.value
    elif status == P.FILTERED:
        status = P.PENDING.value
    return {**before, "processing_status": status, "needs_filter": 0}


row_sets = st.lists(
    st.tuples(shows, st.sampled_from(list(ProcessingStatus)), st.booleans()), max_size=25
).map(
    lambda rows: [
        (dataclasses.replace(show, tvmaze_id=i + 1), status, needs)
        for i, (show, status, needs) in enumerate(rows)
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(row_sets, configs)
def test_refilter_moves_exactly_the_expected_rows(
    rows: list[tuple[Show, ProcessingStatus, bool]], config: FiltersConfig
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = store_at(Path(tmp))
        try:
            seed(store, rows)
            before = snapshot(store)
            counters_before = Counter(store.counters("shows_processed"))
            processor = FilterProcessor(config)

            dry = refilter(store, processor, dry_run=True)
            assert snapshot(store) == before  # a dry run writes nothing

            report = refilter(store, processor)
            after = snapshot(store)
            moved: Counter[str] = Counter()
            for show, status, _ in rows:
                old, new = before[show.tvmaze_id], after[show.tvmaze_id]
                if status not in OPEN_STATUSES:
                    assert new == old  # added/exists/excluded/... are never touched
                    continue
                want = expected_row(old, show, config)
                got = {k: new[k] for k in want if k not in ("filter_reason", "filter_reasons")}
                assert got == {k: want[k] for k in got}
                reasons = json.loads(new["filter_reasons"]) if new["filter_reasons"] else []
                assert {reason_rule(r) for r in reasons} == expected_failures(show, config)
                assert new["filter_reason"] == (reasons[0] if reasons else None)
                if new["processing_status"] != old["processing_status"]:
                    moved[new["processing_status"]] += 1
            assert report.by_result() == moved
            assert dry.transitions == report.transitions
            counters = Counter(store.counters("shows_processed"))
            assert counters - counters_before == moved  # same transaction as the moves

            again = refilter(store, processor)  # idempotent
            assert again.transitions == {} and again.reasons_updated == 0
            assert snapshot(store) == after
        finally:
            store.close()


def test_refilter_makes_no_network_call(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(store, [(good_show(tvmaze_id=i, language="Korean"), P.FILTERED, False) for i in (1, 2)])

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("refilter opened a socket")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    config = dataclasses.replace(FiltersConfig(), languages=ListFilter(["Korean"], [], False))
    report = refilter(store, FilterProcessor(config))
    assert report.transitions == {"filtered->pending": 2}


def test_apply_decides_only_open_rows_whose_data_changed(store: Store) -> None:
    wanted, unwanted = good_show(tvmaze_id=1), good_show(tvmaze_id=2, language="Korean")
    rows: list[tuple[Show, ProcessingStatus, bool]] = [
        (wanted, P.PENDING, True),  # new from the mirror: stays pending, now decided
        (unwanted, P.PENDING, True),  # new, fails
        (dataclasses.replace(wanted, tvmaze_id=3), P.FILTERED, True),  # now passes
        (dataclasses.replace(wanted, tvmaze_id=4), P.PENDING_TVDB, True),  # passes: keeps
        (dataclasses.replace(unwanted, tvmaze_id=5), P.PENDING_TVDB, True),  # fails
        (dataclasses.replace(unwanted, tvmaze_id=6), P.PENDING, False),  # unchanged data
    ] + [(dataclasses.replace(unwanted, tvmaze_id=10 + i), s, True) for i, s in enumerate(CLOSED)]
    seed(store, rows)
    before = snapshot(store)
    report = apply(store, FilterProcessor(FiltersConfig()))
    after = snapshot(store)
    status = {i: row["processing_status"] for i, row in after.items()}
    assert [status[i] for i in range(1, 7)] == [
        "pending",
        "filtered",
        "pending",
        "pending_tvdb",
        "filtered",
        "pending",  # not re-decided: its data did not change since the filters saw it
    ]
    assert after[2]["filter_reason"] == "language_not_included:Korean"
    assert json.loads(after[2]["filter_reasons"]) == ["language_not_included:Korean"]
    assert after[3]["filter_reason"] is None and after[3]["filter_reasons"] is None
    assert all(after[i]["needs_filter"] == 0 for i in range(1, 7))
    for i in range(10, 10 + len(CLOSED)):
        assert after[i] == before[i]
    assert report.transitions == {
        "filtered->pending": 1,
        "pending->filtered": 1,
        "pending_tvdb->filtered": 1,
    }
    assert store.counters("shows_processed") == {"filtered": 2, "pending": 1}
    assert apply(store, FilterProcessor(FiltersConfig())).evaluated == 0


class Exploding(FilterProcessor):
    """Fails on the third show: the refilter must leave no partial change behind."""

    def __init__(self) -> None:
        self.seen = 0

    def process(self, show: Show) -> ProcessingResult:
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("boom")
        return ProcessingResult(passed=False, reasons=("language_unknown",))


def test_the_hash_is_stored_only_after_the_refilter_commits(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    seed(store, [(good_show(tvmaze_id=i), P.PENDING, False) for i in range(1, 6)])
    state_file = StateFile(tmp_path)
    state = State(last_filter_hash="old")
    state_file.save(state)
    before = snapshot(store)
    with pytest.raises(RuntimeError):
        refilter_if_changed(store, state, state_file, FiltersConfig(), Exploding())
    assert snapshot(store) == before
    assert state.last_filter_hash == "old"
    assert state_file.load().last_filter_hash == "old"

    processor = FilterProcessor(FiltersConfig())
    report = refilter_if_changed(store, state, state_file, FiltersConfig(), processor)
    assert isinstance(report, FilterReport) and report.evaluated == 5
    assert state_file.load().last_filter_hash == filter_hash(FiltersConfig())
    # Same filters (even reordered): nothing to do; forced: it runs again.
    reordered = shuffled(FiltersConfig(), random.Random(1))
    assert refilter_if_changed(store, state, state_file, reordered, processor) is None
    forced = refilter_if_changed(store, state, state_file, reordered, processor, force=True)
    assert forced is not None and forced.transitions == {}
    store.close()


def test_run_refilter_takes_the_lock_and_a_dry_run_does_not(tmp_path: Path) -> None:
    config = build_config({"storage": {"path": str(tmp_path)}}, env={})
    with pytest.raises(StorageError, match="run `tvmaze-sync sync` first"):
        run_refilter(config)
    store = store_at(tmp_path)
    seed(store, [(good_show(tvmaze_id=1, language="Korean"), P.PENDING, False)])
    store.close()
    with writer_lock(tmp_path):
        with pytest.raises(LockHeld):
            run_refilter(config)
        assert run_refilter(config, dry_run=True).transitions == {"pending->filtered": 1}
    report = run_refilter(config)
    assert report.to_json()["titles"] == {"pending->filtered": ["Severance"]}
    assert StateFile(tmp_path).load().last_filter_hash == filter_hash(config.filters)
