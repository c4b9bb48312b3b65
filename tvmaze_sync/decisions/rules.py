"""The filter rules: one pure check per config section, each with a stable reason code.

A rejection carries a machine code per rule plus the offending value
(`genre_excluded:Reality`, `language_not_included:Japanese`), so `explain` can show it and
metrics can count by code alone (`reason_rule`), keeping label cardinality bounded.

Unknown values are a decision, not a crash: a rule with an `include` list (or a bound) fails a
show whose value is unknown with `<rule>_unknown`, unless that filter's `allow_unknown` is
true. `countries.allow_unknown` defaults to true because TVMaze leaves the country empty for
global web channels such as Netflix; every other `allow_unknown` defaults to false. A rule
with nothing configured passes every show. Text is matched case-insensitively, and the
country codes GB and UK both mean the United Kingdom.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import Any

from tvmaze_sync.core.config import FiltersConfig, ListFilter, StatusFilter
from tvmaze_sync.core.models import Show


class ReasonCode(StrEnum):
    """Every rule outcome a rejection can carry; metrics label by these alone. Each says what
    it means (docs/filters.md's table is generated from here by docs/gen.py)."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> ReasonCode:
        code = str.__new__(cls, value)
        code._value_ = value
        code.meaning = meaning
        return code

    ID_EXCLUDED = "id_excluded", "the id is in `ids.exclude`"
    TITLE_KEYWORD = (
        "title_keyword_excluded",
        "the title contains a keyword of `title.exclude` (the value is the keyword)",
    )
    GENRE_EXCLUDED = "genre_excluded", "a genre is in `genres.exclude`"
    GENRE_NOT_INCLUDED = "genre_not_included", "`genres.include` is set and no genre is in it"
    GENRE_UNKNOWN = "genre_unknown", "`genres.include` is set and the show has no genres"
    TYPE_EXCLUDED = "type_excluded", "the type is in `types.exclude`"
    TYPE_NOT_INCLUDED = "type_not_included", "`types.include` is set and the type is not in it"
    TYPE_UNKNOWN = "type_unknown", "`types.include` is set and the show has no type"
    COUNTRY_EXCLUDED = "country_excluded", "the country is in `countries.exclude`"
    COUNTRY_NOT_INCLUDED = (
        "country_not_included",
        "`countries.include` is set and the country is not in it",
    )
    COUNTRY_UNKNOWN = (
        "country_unknown",
        "`countries.include` is set, the show has no country, and `countries.allow_unknown` is "
        "false",
    )
    LANGUAGE_EXCLUDED = "language_excluded", "the language is in `languages.exclude`"
    LANGUAGE_NOT_INCLUDED = (
        "language_not_included",
        "`languages.include` is set and the language is not in it",
    )
    LANGUAGE_UNKNOWN = "language_unknown", "`languages.include` is set and the show has no language"
    NETWORK_EXCLUDED = "network_excluded", "the network or web channel is in `networks.exclude`"
    NETWORK_NOT_INCLUDED = (
        "network_not_included",
        "`networks.include` is set and neither the network nor the web channel is in it",
    )
    NETWORK_UNKNOWN = "network_unknown", "`networks.include` is set and the show has neither"
    STATUS_ENDED = "status_ended", "`status.exclude_ended` is true and the status is Ended"
    STATUS_EXCLUDED = "status_excluded", "the status is in `status.exclude`"
    STATUS_NOT_INCLUDED = (
        "status_not_included",
        "`status.include` is set and the status is not in it",
    )
    STATUS_UNKNOWN = "status_unknown", "`status.include` is set and the show has no status"
    PREMIERED_TOO_EARLY = "premiered_too_early", "premiered before `premiered.after`"
    PREMIERED_TOO_LATE = "premiered_too_late", "premiered on or after `premiered.before`"
    PREMIERED_UNKNOWN = (
        "premiered_unknown",
        "a premiere bound is set and the show has no premiere date",
    )
    RUNTIME_TOO_SHORT = "runtime_too_short", "the runtime is below `min_runtime`"
    RUNTIME_TOO_LONG = "runtime_too_long", "the runtime is above `max_runtime`"
    RUNTIME_UNKNOWN = "runtime_unknown", "a runtime bound is set and the show has no runtime"
    RATING_TOO_LOW = "rating_too_low", "the rating is below `rating.min`"
    RATING_UNKNOWN = "rating_unknown", "`rating.min` is set and the show has no rating"
    WEIGHT_TOO_LOW = "weight_too_low", "the weight is below `weight.min`"
    WEIGHT_TOO_HIGH = "weight_too_high", "the weight is above `weight.max`"
    WEIGHT_UNKNOWN = "weight_unknown", "a weight bound is set and the show has no weight"
    ROUTED_ELSEWHERE = (
        "routed_elsewhere",
        "not a filter: its route (the value, if one matched) adds it to other Sonarr instances "
        "only ([routing.md](routing.md))",
    )


def reason_rule(reason: str) -> str:
    """The bounded part of a reason (`genre_excluded:Reality` -> `genre_excluded`)."""
    return reason.split(":", 1)[0]


def _reason(code: ReasonCode, value: object = None) -> str:
    return code.value if value is None else f"{code.value}:{value}"


# --- the rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One filter section: what is configured, which fact of a show it reads, its verdict.

    `judge` sees only `key(show)`, so a processor may memoise verdicts per key: a refilter
    of the whole cache then judges each distinct language, date or genre list once.
    """

    name: str  # the config section, e.g. "genres" or "runtime"
    setting: str  # the configuration in words, for `explain`
    key: Callable[[Show], Hashable]  # the facts the verdict depends on
    judge: Callable[[Any], str | None]  # key -> None when the show passes, else its reason
    active: bool  # False when nothing is configured: the rule passes everything
    memoise: bool = True  # False for keys unique per show (id, title)
    # For docs/filters.md's rule table (docs/gen.py): the keys that configure the rule, and
    # the show's fact it reads, in words.
    keys: str = field(default="", kw_only=True)
    reads: str = field(default="", kw_only=True)

    def check(self, show: Show) -> str | None:
        return self.judge(self.key(show)) if self.active else None

    def shown(self, show: Show) -> str:
        """The show's value in words, for `explain`."""
        value = self.key(show)
        if isinstance(value, tuple):
            value = ", ".join(str(v) for v in value if v)
        return "(unknown)" if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    rule: str
    setting: str
    value: str
    reason: str | None
    active: bool

    @property
    def passed(self) -> bool:
        return self.reason is None


def fold_word(text: str) -> str:
    """A word as every filter compares it (any case, surrounding spaces ignored); routes and
    the vocabulary check compare with it too, so they agree with the filters."""
    return text.strip().casefold()


def fold_country(code: str) -> str:
    """A country code as the filters compare it: any case, and UK is GB (GB is the ISO code,
    but UK is what people write)."""
    code = code.strip().upper()
    return "GB" if code == "UK" else code


def _describe(*parts: tuple[bool, str]) -> str:
    return "; ".join(text for shown, text in parts if shown) or "any"


def _list_rule(
    name: str,
    config: ListFilter,
    codes: tuple[ReasonCode, ReasonCode, ReasonCode],
    key: Callable[[Show], Hashable],
    reads: str,
    normalise: Callable[[str], str] = fold_word,
) -> Rule:
    """include / exclude / allow_unknown over the value(s) of a show.

    A show matches `include` when any of its values is listed, and fails `exclude` when any
    is listed. With no value, only a non-empty `include` can fail it (`<rule>_unknown`).
    """
    excluded, not_included, unknown_code = codes
    include = frozenset(normalise(v) for v in config.include)
    exclude = frozenset(normalise(v) for v in config.exclude)
    unknown = _reason(unknown_code) if include and not config.allow_unknown else None

    def judge(value: Any) -> str | None:
        if isinstance(value, tuple):
            found = tuple(v for v in value if v)
        else:
            found = (value,) if value else ()
        if not found:
            return unknown
        if exclude:
            for item in found:
                if normalise(item) in exclude:
                    return _reason(excluded, item)
        if include and not any(normalise(item) in include for item in found):
            return _reason(not_included, ",".join(found))
        return None

    setting = _describe(
        (bool(include), "include " + ", ".join(config.include)),
        (bool(exclude), "exclude " + ", ".join(config.exclude)),
        (bool(include), "unknown " + ("passes" if config.allow_unknown else "fails")),
    )
    active = bool(include or exclude)
    return Rule(name, setting, key, judge, active, keys=f"`filters.{name}`", reads=reads)


def _status_rule(config: StatusFilter) -> Rule:
    include = frozenset(fold_word(v) for v in config.include)
    exclude = frozenset(fold_word(v) for v in config.exclude)
    unknown = _reason(ReasonCode.STATUS_UNKNOWN) if include and not config.allow_unknown else None

    def judge(status: str | None) -> str | None:
        if not status:
            return unknown
        folded = fold_word(status)
        if config.exclude_ended and folded == "ended":
            return _reason(ReasonCode.STATUS_ENDED)
        if folded in exclude:
            return _reason(ReasonCode.STATUS_EXCLUDED, status)
        if include and folded not in include:
            return _reason(ReasonCode.STATUS_NOT_INCLUDED, status)
        return None

    setting = _describe(
        (config.exclude_ended, "exclude Ended"),
        (bool(include), "include " + ", ".join(config.include)),
        (bool(exclude), "exclude " + ", ".join(config.exclude)),
        (bool(include), "unknown " + ("passes" if config.allow_unknown else "fails")),
    )
    active = bool(config.exclude_ended or include or exclude)
    reads = "`Running`, `Ended`, `To Be Determined`, `In Development`"
    return Rule(
        "status", setting, attrgetter("status"), judge, active, keys="`filters.status`", reads=reads
    )


def _range_rule(
    name: str,
    bounds: tuple[Any, Any],
    allow_unknown: bool,
    codes: tuple[ReasonCode, ReasonCode, ReasonCode],
    key: Callable[[Show], Any],
    high_inclusive: bool,
    about: tuple[str, str],
) -> Rule:
    """A value bounded below (inclusive) and/or above; unknown fails unless allowed. `about`:
    the keys that configure it and the fact it reads, in words (Rule.keys, Rule.reads)."""
    low, high = bounds
    too_low, too_high, unknown_code = codes
    unknown = None if allow_unknown else _reason(unknown_code)

    def judge(value: Any) -> str | None:
        if value is None:
            return unknown
        if low is not None and value < low:
            return _reason(too_low, value)
        if high is not None and (value > high if high_inclusive else value >= high):
            return _reason(too_high, value)
        return None

    setting = _describe(
        (low is not None, f"at least {low}"),
        (high is not None, f"{'at most' if high_inclusive else 'before'} {high}"),
        (
            low is not None or high is not None,
            "unknown " + ("passes" if allow_unknown else "fails"),
        ),
    )
    active = low is not None or high is not None
    return Rule(name, setting, key, judge, active, keys=about[0], reads=about[1])


def _premiered(show: Show) -> str | None:
    return show.premiered[:10] if show.premiered else None


def build_rules(config: FiltersConfig) -> list[Rule]:
    """The rules in evaluation order; the first failing one is a show's `filter_reason`.

    `ids.allow` is not a rule: the processor lets those shows through before any rule runs.
    """
    id_exclude = frozenset(config.ids.exclude)
    keywords = tuple((fold_word(k), k) for k in config.title.exclude if k.strip())

    def ids(tvmaze_id: int) -> str | None:
        return _reason(ReasonCode.ID_EXCLUDED, tvmaze_id) if tvmaze_id in id_exclude else None

    def title(text: str) -> str | None:
        folded = text.casefold()
        for needle, keyword in keywords:
            if needle in folded:
                return _reason(ReasonCode.TITLE_KEYWORD, keyword)
        return None

    id_setting = _describe(
        (bool(config.ids.allow), f"allow {', '.join(map(str, config.ids.allow))} (wins over all)"),
        (bool(id_exclude), f"exclude {', '.join(map(str, config.ids.exclude))}"),
    )
    title_setting = _describe(
        (bool(keywords), "exclude keywords " + ", ".join(config.title.exclude))
    )
    C = ReasonCode
    return [
        Rule(
            "ids",
            id_setting,
            attrgetter("tvmaze_id"),
            ids,
            bool(id_exclude),
            memoise=False,
            keys="`filters.ids.exclude`",
            reads="the TVMaze id",
        ),
        Rule(
            "title",
            title_setting,
            attrgetter("title"),
            title,
            bool(keywords),
            memoise=False,
            keys="`filters.title.exclude`",
            reads="the title (keywords, any case)",
        ),
        _list_rule(
            "genres",
            config.genres,
            (C.GENRE_EXCLUDED, C.GENRE_NOT_INCLUDED, C.GENRE_UNKNOWN),
            attrgetter("genres"),
            "the genre list",
        ),
        _list_rule(
            "types",
            config.types,
            (C.TYPE_EXCLUDED, C.TYPE_NOT_INCLUDED, C.TYPE_UNKNOWN),
            attrgetter("type"),
            "`Scripted`, `Reality`, `Animation`, `Documentary` …",
        ),
        _list_rule(
            "countries",
            config.countries,
            (C.COUNTRY_EXCLUDED, C.COUNTRY_NOT_INCLUDED, C.COUNTRY_UNKNOWN),
            attrgetter("country"),
            "the network's country, else the web channel's",
            fold_country,
        ),
        _list_rule(
            "languages",
            config.languages,
            (C.LANGUAGE_EXCLUDED, C.LANGUAGE_NOT_INCLUDED, C.LANGUAGE_UNKNOWN),
            attrgetter("language"),
            "the language",
        ),
        _list_rule(
            "networks",
            config.networks,
            (C.NETWORK_EXCLUDED, C.NETWORK_NOT_INCLUDED, C.NETWORK_UNKNOWN),
            attrgetter("network", "web_channel"),
            "the network **or** the web channel name",
        ),
        _status_rule(config.status),
        _range_rule(
            "premiered",
            (config.premiered.after, config.premiered.before),
            config.premiered.allow_unknown,
            (C.PREMIERED_TOO_EARLY, C.PREMIERED_TOO_LATE, C.PREMIERED_UNKNOWN),
            _premiered,
            high_inclusive=False,
            about=("`filters.premiered`", "the premiere date"),
        ),
        _range_rule(
            "runtime",
            (config.min_runtime, config.max_runtime),
            config.runtime_allow_unknown,
            (C.RUNTIME_TOO_SHORT, C.RUNTIME_TOO_LONG, C.RUNTIME_UNKNOWN),
            attrgetter("runtime"),
            high_inclusive=True,
            about=("`filters.min_runtime`, `max_runtime`", "minutes per episode"),
        ),
        _range_rule(
            "rating",
            (config.rating.min, None),
            config.rating.allow_unknown,
            (C.RATING_TOO_LOW, C.RATING_TOO_LOW, C.RATING_UNKNOWN),
            attrgetter("rating"),
            high_inclusive=True,
            about=("`filters.rating.min`", "TVMaze's average rating (0–10)"),
        ),
        _range_rule(
            "weight",
            (config.weight.min, config.weight.max),
            config.weight.allow_unknown,
            (C.WEIGHT_TOO_LOW, C.WEIGHT_TOO_HIGH, C.WEIGHT_UNKNOWN),
            attrgetter("weight"),
            high_inclusive=True,
            about=("`filters.weight.min`, `max`", "TVMaze's popularity, `weight` (0–100)"),
        ),
    ]
