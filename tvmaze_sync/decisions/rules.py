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
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter
from typing import Any

from tvmaze_sync.core.config import FiltersConfig, ListFilter, StatusFilter
from tvmaze_sync.core.models import Show


class ReasonCode(StrEnum):
    """Every rule outcome a rejection can carry; metrics label by these alone."""

    ID_EXCLUDED = "id_excluded"
    TITLE_KEYWORD = "title_keyword_excluded"
    GENRE_EXCLUDED = "genre_excluded"
    GENRE_NOT_INCLUDED = "genre_not_included"
    GENRE_UNKNOWN = "genre_unknown"
    TYPE_EXCLUDED = "type_excluded"
    TYPE_NOT_INCLUDED = "type_not_included"
    TYPE_UNKNOWN = "type_unknown"
    COUNTRY_EXCLUDED = "country_excluded"
    COUNTRY_NOT_INCLUDED = "country_not_included"
    COUNTRY_UNKNOWN = "country_unknown"
    LANGUAGE_EXCLUDED = "language_excluded"
    LANGUAGE_NOT_INCLUDED = "language_not_included"
    LANGUAGE_UNKNOWN = "language_unknown"
    NETWORK_EXCLUDED = "network_excluded"
    NETWORK_NOT_INCLUDED = "network_not_included"
    NETWORK_UNKNOWN = "network_unknown"
    STATUS_ENDED = "status_ended"
    STATUS_EXCLUDED = "status_excluded"
    STATUS_NOT_INCLUDED = "status_not_included"
    STATUS_UNKNOWN = "status_unknown"
    PREMIERED_TOO_EARLY = "premiered_too_early"
    PREMIERED_TOO_LATE = "premiered_too_late"
    PREMIERED_UNKNOWN = "premiered_unknown"
    RUNTIME_TOO_SHORT = "runtime_too_short"
    RUNTIME_TOO_LONG = "runtime_too_long"
    RUNTIME_UNKNOWN = "runtime_unknown"
    RATING_TOO_LOW = "rating_too_low"
    RATING_UNKNOWN = "rating_unknown"
    WEIGHT_TOO_LOW = "weight_too_low"
    WEIGHT_TOO_HIGH = "weight_too_high"
    WEIGHT_UNKNOWN = "weight_unknown"
    ROUTED_ELSEWHERE = "routed_elsewhere"


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
    return Rule(name, setting, key, judge, bool(include or exclude))


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
    return Rule("status", setting, attrgetter("status"), judge, active)


def _range_rule(
    name: str,
    bounds: tuple[Any, Any],
    allow_unknown: bool,
    codes: tuple[ReasonCode, ReasonCode, ReasonCode],
    key: Callable[[Show], Any],
    high_inclusive: bool,
) -> Rule:
    """A value bounded below (inclusive) and/or above; unknown fails unless allowed."""
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
    return Rule(name, setting, key, judge, low is not None or high is not None)


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
        Rule("ids", id_setting, attrgetter("tvmaze_id"), ids, bool(id_exclude), memoise=False),
        Rule("title", title_setting, attrgetter("title"), title, bool(keywords), memoise=False),
        _list_rule(
            "genres",
            config.genres,
            (C.GENRE_EXCLUDED, C.GENRE_NOT_INCLUDED, C.GENRE_UNKNOWN),
            attrgetter("genres"),
        ),
        _list_rule(
            "types",
            config.types,
            (C.TYPE_EXCLUDED, C.TYPE_NOT_INCLUDED, C.TYPE_UNKNOWN),
            attrgetter("type"),
        ),
        _list_rule(
            "countries",
            config.countries,
            (C.COUNTRY_EXCLUDED, C.COUNTRY_NOT_INCLUDED, C.COUNTRY_UNKNOWN),
            attrgetter("country"),
            fold_country,
        ),
        _list_rule(
            "languages",
            config.languages,
            (C.LANGUAGE_EXCLUDED, C.LANGUAGE_NOT_INCLUDED, C.LANGUAGE_UNKNOWN),
            attrgetter("language"),
        ),
        _list_rule(
            "networks",
            config.networks,
            (C.NETWORK_EXCLUDED, C.NETWORK_NOT_INCLUDED, C.NETWORK_UNKNOWN),
            attrgetter("network", "web_channel"),
        ),
        _status_rule(config.status),
        _range_rule(
            "premiered",
            (config.premiered.after, config.premiered.before),
            config.premiered.allow_unknown,
            (C.PREMIERED_TOO_EARLY, C.PREMIERED_TOO_LATE, C.PREMIERED_UNKNOWN),
            _premiered,
            high_inclusive=False,
        ),
        _range_rule(
            "runtime",
            (config.min_runtime, config.max_runtime),
            config.runtime_allow_unknown,
            (C.RUNTIME_TOO_SHORT, C.RUNTIME_TOO_LONG, C.RUNTIME_UNKNOWN),
            attrgetter("runtime"),
            high_inclusive=True,
        ),
        _range_rule(
            "rating",
            (config.rating.min, None),
            config.rating.allow_unknown,
            (C.RATING_TOO_LOW, C.RATING_TOO_LOW, C.RATING_UNKNOWN),
            attrgetter("rating"),
            high_inclusive=True,
        ),
        _range_rule(
            "weight",
            (config.weight.min, config.weight.max),
            config.weight.allow_unknown,
            (C.WEIGHT_TOO_LOW, C.WEIGHT_TOO_HIGH, C.WEIGHT_UNKNOWN),
            attrgetter("weight"),
            high_inclusive=True,
        ),
    ]
