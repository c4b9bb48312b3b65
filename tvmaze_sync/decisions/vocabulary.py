"""TVMaze's words for the list filters, and the check that a configured value is one of them.

A filter value TVMaze never uses matches no show, silently: `genres.exclude: [Realty]`
excludes nothing, `countries.include: [USA]` keeps nothing. So every value of
`filters.genres`, `types`, `status`, `languages` and `countries` must be a word TVMaze uses
(below), or a value the local mirror holds (TVMaze may add a genre after this release);
anything else is a configuration error naming the option and the nearest known value.
Values are compared as the filters compare them (rules.py: any case, surrounding spaces
ignored, UK is GB). Networks are not checked: there are thousands and new ones every week.

Where the words come from:

- genres, types, statuses: every value in the real TVMaze responses of the reference data
  (`shared/tvmaze`: 1,199 show objects from 2016 to 2024 — 29 genres, 11 types, 4
  statuses), which are also the lists of TVMaze's own show search form. TVMaze's genres
  and types are separate lists: "Reality", "Talk Show", "Game Show" and "News" are types,
  not genres, so a genre filter naming one matches nothing (a warning, not an error: the
  value means something, only in the wrong place).
- languages: the 34 languages of the reference data, plus the other languages TVMaze
  spells by their English name (it writes "Chinese", not "Mandarin"). One missing here is
  accepted as soon as the mirror holds a show in it.
- countries: TVMaze's codes are ISO 3166-1 alpha-2 (`network.country.code`; the reference
  data has 35 of them); the list is the `iso3166` package's, whose alpha-3 codes and names
  also give the suggestions ("USA" -> "US", "Norway" -> "NO").
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import iso3166

from tvmaze_sync.core.config import Config, FiltersConfig, Route
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.decisions.rules import ReasonCode, fold_country, fold_word
from tvmaze_sync.storage.columns import FacetColumn

log = logging.getLogger(__name__)

GENRES = (
    "Action", "Adult", "Adventure", "Anime", "Children", "Comedy", "Cooking", "Crime", "DIY",
    "Drama", "Espionage", "Family", "Fantasy", "Food", "History", "Horror", "Legal", "Medical",
    "Music", "Mystery", "Nature", "Romance", "Science-Fiction", "Sports", "Supernatural",
    "Thriller", "Travel", "War", "Western",
)  # fmt: skip
TYPES = (
    "Animation", "Award Show", "Documentary", "Game Show", "News", "Panel Show", "Reality",
    "Scripted", "Sports", "Talk Show", "Variety",
)  # fmt: skip
STATUSES = ("Running", "Ended", "To Be Determined", "In Development")
LANGUAGES = (
    # In the reference data:
    "Afrikaans", "Arabic", "Armenian", "Burmese", "Chinese", "Czech", "Danish", "Dutch",
    "English", "Finnish", "French", "German", "Greek", "Hindi", "Hungarian", "Indonesian",
    "Italian", "Japanese", "Korean", "Lithuanian", "Malayalam", "Mongolian", "Norwegian",
    "Polish", "Portuguese", "Russian", "Slovenian", "Spanish", "Swedish", "Tagalog", "Tamil",
    "Thai", "Turkish", "Ukrainian",
    # Other languages, by the English name TVMaze uses:
    "Albanian", "Azerbaijani", "Basque", "Belarusian", "Bengali", "Bosnian", "Bulgarian",
    "Catalan", "Croatian", "Estonian", "Faroese", "Galician", "Georgian", "Gujarati",
    "Hebrew", "Icelandic", "Irish", "Kannada", "Kazakh", "Khmer", "Kurdish", "Kyrgyz",
    "Latvian", "Luxembourgish", "Macedonian", "Malay", "Maltese", "Marathi", "Nepali",
    "Pashto", "Persian", "Punjabi", "Romanian", "Scottish Gaelic", "Serbian", "Sinhalese",
    "Slovak", "Swahili", "Telugu", "Urdu", "Uzbek", "Vietnamese", "Welsh",
)  # fmt: skip
COUNTRIES = tuple(sorted(country.alpha2 for country in iso3166.countries))
#: Words people write for a language TVMaze names otherwise (suggestions only).
LANGUAGE_ALIASES = {
    "mandarin": "Chinese",
    "cantonese": "Chinese",
    "farsi": "Persian",
    "filipino": "Tagalog",
    "flemish": "Dutch",
    "bokmal": "Norwegian",
    "nynorsk": "Norwegian",
}


@dataclass(frozen=True)
class Facet:
    """One list filter: its section under `filters`, what its values are, where the mirror
    keeps them, and how the rules compare them."""

    section: str
    noun: str  # with its article: "a TVMaze genre"
    column: FacetColumn
    known: tuple[str, ...]
    normalise: Callable[[str], str] = fold_word

    def key(self, value: str) -> str:
        return self.normalise(value)


FACETS = (
    Facet("genres", "a TVMaze genre", "genres", GENRES),
    Facet("types", "a TVMaze show type", "type", TYPES),
    Facet("status", "a TVMaze status", "status", STATUSES),
    Facet("languages", "a TVMaze language", "language", LANGUAGES),
    Facet("countries", "an ISO 3166-1 alpha-2 country code", "country", COUNTRIES, fold_country),
)
_TEXT_FACETS = tuple(f for f in FACETS if f.section != "countries")


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def configured(filters: FiltersConfig) -> Iterator[tuple[Facet, str, str]]:
    """(facet, option key, value) for every value of a checked list filter."""
    for facet in FACETS:
        section = getattr(filters, facet.section)
        for which in ("include", "exclude"):
            for value in getattr(section, which):
                yield facet, f"filters.{facet.section}.{which}", value


def routed(routes: Sequence[Route]) -> Iterator[tuple[Facet, str, str]]:
    """(facet, option key, value) for every checked value of a route's `match`: a typo
    there routes nothing, as silently as in a filter."""
    for index, route in enumerate(routes):
        for facet in FACETS:
            for value in getattr(route.match, facet.section, ()):
                yield facet, f"routes[{index}].match.{facet.section}", value


class Mirror:
    """The values the local mirror holds, read once per column and only when asked: most
    configurations name built-in words only and never open the database."""

    def __init__(self, storage_dir: Path | None) -> None:
        self.storage_dir = storage_dir
        self._values: dict[str, set[str]] = {}

    def values(self, column: FacetColumn) -> set[str]:
        if column not in self._values:
            self._values[column] = self._read(column)
        return self._values[column]

    def _read(self, column: FacetColumn) -> set[str]:
        from tvmaze_sync.storage.store import DB_NAME, Store

        if self.storage_dir is None or not (self.storage_dir / DB_NAME).is_file():
            return set()  # never create it: `config check` is offline and read-only
        try:
            with Store.opened(self.storage_dir, readonly=True) as store:
                return store.distinct_values(column)
        except StorageError as error:
            log.warning("vocabulary_mirror_unreadable error=%s", error)
            return set()


def check(filters: FiltersConfig, mirror: Mirror, routes: Sequence[Route] = ()) -> Findings:
    """Every unknown filter (or route match) value as a problem, every misplaced one as a
    warning."""
    findings = Findings()
    for facet, option, value in (*configured(filters), *routed(routes)):
        key = facet.key(value)
        if not key or key in {facet.key(k) for k in facet.known}:
            continue
        if key in {facet.key(v) for v in mirror.values(facet.column)}:
            continue
        home = _other_facet(facet, value)
        if home is not None:
            findings.warnings.append(
                f"{option}: {value!r} is {home.noun}, not {facet.noun}, so it matches "
                f"no show; did you mean {_home_key(option, facet, home)}?"
            )
            continue
        findings.problems.append(
            f"{option}: {value!r} is not {facet.noun}{_suggestion(facet, value, mirror)}"
        )
    return findings


def _home_key(option: str, facet: Facet, home: Facet) -> str:
    """Where a misplaced value belongs: `filters.types.include`, `routes[0].match.types`."""
    if option.startswith("filters."):
        return f"filters.{home.section}.{option.rsplit('.', 1)[1]}"
    return option.removesuffix(facet.section) + home.section


def _other_facet(facet: Facet, value: str) -> Facet | None:
    """The other text filter whose built-in words hold `value` ("Reality" under genres)."""
    if facet not in _TEXT_FACETS:
        return None
    for other in _TEXT_FACETS:
        if other is not facet and other.key(value) in {other.key(k) for k in other.known}:
            return other
    return None


def _suggestion(facet: Facet, value: str, mirror: Mirror) -> str:
    """ "; did you mean 'X'?" with the nearest known value, or where the words are listed.

    Nearest is the fewest edits (a letter missed, doubled, swapped or wrong), at most one per
    three letters; a word of this filter wins a tie with a word of another one.
    """
    if facet.section == "countries":
        return _country_suggestion(value)
    typed = facet.key(value)
    if facet.section == "languages" and typed in LANGUAGE_ALIASES:
        return f"; did you mean {LANGUAGE_ALIASES[typed]!r}?"
    limit = max(1, len(typed) // 3)
    best: tuple[int, int, str, Facet] | None = None
    for rank, other in enumerate((facet, *(f for f in _TEXT_FACETS if f is not facet))):
        words = (*other.known, *sorted(mirror.values(other.column))) if rank == 0 else other.known
        for word in words:
            distance = edit_distance(typed, other.key(word))
            if distance <= limit and (best is None or (distance, rank) < best[:2]):
                best = (distance, rank, word, other)
    if best is None:
        return "; the known values are listed in docs/filters.md"
    _, rank, word, other = best
    where = "" if rank == 0 else f" ({other.noun}: filters.{other.section})"
    return f"; did you mean {word!r}?{where}"


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring letters each count one."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _country_suggestion(value: str) -> str:
    """The code of an alpha-3 code or a country name, else of the nearest name."""
    text = value.strip()
    found = iso3166.countries_by_alpha3.get(text.upper()) or iso3166.countries_by_name.get(
        text.upper()
    )
    if found is None:
        names = {c.name.casefold(): c for c in iso3166.countries}
        near = difflib.get_close_matches(text.casefold(), names, n=1, cutoff=0.75)
        found = names[near[0]] if near else None
    if found is None:
        return "; TVMaze uses two-letter ISO codes such as US, GB (or UK), DE, NO"
    return f"; did you mean {found.alpha2!r} ({found.name})?"


def unknown_value(section: str, value: str, mirror: Mirror) -> str | None:
    """Why `value` matches no show of the list filter `section` ("is not a TVMaze
    language; did you mean 'English'?"), None when TVMaze or the mirror uses it."""
    facet = next(f for f in FACETS if f.section == section)
    key = facet.key(value)
    if not key or key in {facet.key(k) for k in facet.known}:
        return None
    if key in {facet.key(v) for v in mirror.values(facet.column)}:
        return None
    return f"{value!r} is not {facet.noun}{_suggestion(facet, value, mirror)}"


#: The first word of a reason code -> the list filter whose words follow its colon.
_REASON_FACETS = {
    "genre": "genres",
    "type": "types",
    "language": "languages",
    "country": "countries",
    "status": "status",
}


def check_listing(
    country: str | None,
    language: str | None,
    reason: str | None,
    mirror: Mirror,
    *,
    name: str = "--{}",
) -> list[str]:
    """`tvmaze-sync shows` and GET /shows: a typo in a value is an error with a suggestion,
    never an empty listing. Countries and languages are checked as the configuration's
    filters are; a reason is a rule code (rules.ReasonCode), optionally with the value it
    names. `name` formats the option's name in the messages (`--country`, `country:`)."""
    problems = [
        f"{name.format(option)} {problem}"
        for option, section, value in (
            ("country", "countries", country),
            ("language", "languages", language),
        )
        if value is not None and (problem := unknown_value(section, value, mirror))
    ]
    if reason is not None:
        problems += _reason_problems(reason, mirror, name.format("reason"))
    return problems


def nearest(typed: str, words: list[str]) -> str | None:
    """The word of `words` a typo most likely meant (any case): the fewest edits, at most
    one per three letters; None when none is that near."""
    if not words:
        return None
    best = min(words, key=lambda word: edit_distance(typed.casefold(), word.casefold()))
    near = edit_distance(typed.casefold(), best.casefold()) <= max(1, len(typed) // 3)
    return best if near else None


def _reason_problems(reason: str, mirror: Mirror, option: str) -> list[str]:
    rule, colon, value = reason.strip().partition(":")
    codes = [code.value for code in ReasonCode]
    if rule.casefold() not in codes:
        near = nearest(rule, codes)
        hint = f"; did you mean {near!r}?" if near else "; the rules are listed in docs/filters.md"
        return [f"{option} {rule!r} is not a filter rule{hint}"]
    section = _REASON_FACETS.get(rule.split("_", 1)[0].casefold())
    if not colon or section is None or rule.casefold().endswith("_unknown"):
        return []
    return [
        f"{option} {problem}"
        for part in value.split(",")
        if (problem := unknown_value(section, part, mirror))
    ]


def check_config(config: Config) -> Findings:
    """Every command's check of its filter values (cli.Options.load): problems are exit 2.

    The mirror is read only when a value is not a built-in word, read-only, and only if it
    exists already.
    """
    return check(config.filters, Mirror(config.storage_dir), config.routes)
