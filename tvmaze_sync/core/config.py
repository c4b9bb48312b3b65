"""Configuration: one schema, read from YAML, `${VAR}`/`${VAR_FILE}` and the environment.

The dataclasses below are the single source of truth for every option: their defaults feed
the built-in configuration, `config init`, `config check` and the generated reference in
docs/. Loading collects every problem before failing, so a user fixes them in one go.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import math
import os
import re
import stat
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml

from tvmaze_sync.core.errors import ConfigError

#: A duration as text; ASCII digits only (Python's \d would take any script's digits, which
#: JSON Schema's does not). Shared by `Duration.parse` and the JSON Schema.
DURATION_PATTERN = r"\s*([0-9]{1,12})\s*([smhdwy])\s*"


class Duration(int):
    """Seconds, written in YAML or the environment as `30s 15m 6h 1d 1w 1y`."""

    UNITS: typing.ClassVar[dict[str, int]] = {
        "s": 1,
        "m": 60,
        "h": 3600,
        "d": 86400,
        "w": 7 * 86400,
        "y": 365 * 86400,
    }

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = re.fullmatch(DURATION_PATTERN, text)
        if not match:
            raise ValueError("a duration such as 30s, 15m, 6h, 1d, 1w or 1y")
        return cls(int(match.group(1)) * cls.UNITS[match.group(2)])

    def __str__(self) -> str:
        for unit in ("y", "w", "d", "h", "m"):
            size = self.UNITS[unit]
            if self and self % size == 0:
                return f"{self // size}{unit}"
        return f"{int(self)}s"


class IsoDate(str):
    """A calendar date, YYYY-MM-DD."""

    __slots__ = ()


class Host(str):
    """An address or host name to listen on; never empty (Python would bind every interface
    to "", a surprise for a value that was probably meant to be set)."""

    __slots__ = ()


class Url(str):
    """An http(s) URL; a trailing slash is dropped so paths join cleanly."""

    __slots__ = ()

    @property
    def password(self) -> str | None:
        """The userinfo password (`http://user:pw@host`), a secret like any API key."""
        return urlsplit(self).password or None

    def masked(self, mask: str = "***") -> str:
        """This URL with its password replaced by `mask` (`http://bob:***@host`)."""
        return display_url(self, mask)


def display_url(url: str, mask: str | None = None) -> str:
    """`url` fit to print: credentials dropped (or the password shown as `mask`)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return url
    if mask is not None and parts.password is not None:
        host = f"{parts.username}:{mask}@{host}"
    elif mask is not None:
        host = f"{parts.username}@{host}"
    return parts._replace(netloc=host).geturl()


#: Pieces of a URL never worth hiding: hosts with a dot (names, IPv4) and short numbers (ports).
_PUBLIC_PIECE = re.compile(r"[A-Za-z0-9-]*\.[A-Za-z0-9.-]*(:[0-9]{1,5})?|[0-9]{1,5}|localhost")


def url_secrets(url: str) -> list[str]:
    """The pieces of a secret URL that could leak on their own, for the redaction filter.

    A notification URL carries its secrets anywhere: Discord's token is a path segment,
    Telegram's the host part, e-mail's the password, some services' a query value. Every
    such piece of six characters or more is hidden, except host names and ports; query keys
    (`from`, `to`, `smtp`) are not secrets.
    """
    _, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    pieces = [*userinfo.split(":"), hostport, *hostport.split(":")] if at else [netloc]
    pieces += [*netloc.split(":"), *path.split("/")]
    pieces += [value for _, _, value in (pair.partition("=") for pair in query.split("&"))]
    found = {unquote(p) for p in pieces} | set(pieces)
    return sorted(p for p in found if len(p) >= 6 and not _PUBLIC_PIECE.fullmatch(p))


def masked_secret_url(url: str) -> str:
    """A secret URL fit to print: its scheme (which service) and nothing else."""
    scheme, found, _ = url.partition("://")
    return f"{scheme}://***" if found and re.fullmatch(r"[A-Za-z0-9+.-]{1,20}", scheme) else "***"


def opt(
    default: Any,
    help: str,
    *,
    secret: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """Declare one option: its default, its one-line meaning, and how to treat it.

    `minimum`/`maximum` bound a number or duration (inclusive); `config check` and the JSON
    Schema both read them from here.
    """
    meta = {"help": help, "secret": secret, "minimum": minimum, "maximum": maximum}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help, "section": True})


SeriesType = Literal["standard", "daily", "anime"]

MonitorMode = Literal[
    "all",
    "future",
    "missing",
    "existing",
    "firstSeason",
    "lastSeason",
    "pilot",
    "recent",
    "monitorSpecials",
    "unmonitorSpecials",
    "none",
    "skip",
]


@dataclass
class TvmazeConfig:
    api_key: str | None = opt(
        None, "TVMaze premium credentials as username:apikey (optional).", secret=True
    )
    base_url: Url = opt(Url("https://api.tvmaze.com"), "TVMaze API base URL.")
    rate_limit: int = opt(20, "Requests allowed per 10 seconds.", minimum=1)
    update_window: Literal["day", "week", "month"] = opt(
        "week", "Smallest updates window asked for on an incremental sync."
    )
    timeout: Duration = opt(
        Duration(30), "Longest wait for one whole TVMaze answer (connect to last byte).", minimum=1
    )


@dataclass
class SyncConfig:
    poll_interval: Duration = opt(
        Duration.parse("6h"), "Time between cycles under `serve`.", minimum=1
    )
    retry_delay: Duration = opt(Duration.parse("1w"), "Retry a show without TVDB id after.")
    abandon_after: Duration = opt(
        Duration.parse("1y"),
        "Give up on a show waiting for a TVDB id Sonarr knows this long after the wait began.",
    )
    max_retries: int = opt(
        3,
        "Times a show Sonarr refused is retried (every retry_delay), or answered unusably "
        "(one cycle each), before it stays failed.",
        minimum=0,
    )


@dataclass
class ListFilter:
    include: list[str] = opt([], "Keep only shows with one of these values (empty: any).")
    exclude: list[str] = opt([], "Drop shows with any of these values.")
    allow_unknown: bool = opt(False, "Let a show whose value is unknown pass `include`.")


def list_filter(include: list[str], exclude: list[str], allow_unknown: bool, help: str) -> Any:
    return field(
        default_factory=lambda: ListFilter(list(include), list(exclude), allow_unknown),
        metadata={"help": help, "section": True},
    )


@dataclass
class StatusFilter:
    include: list[str] = opt([], "Keep only these TVMaze statuses (empty: any).")
    exclude: list[str] = opt([], "Drop these TVMaze statuses.")
    exclude_ended: bool = opt(True, "Drop shows whose status is Ended.")
    allow_unknown: bool = opt(False, "Let a show with no status pass `include`.")


@dataclass
class PremieredFilter:
    after: IsoDate | None = opt(IsoDate("2010-01-01"), "Keep shows premiered on/after this.")
    before: IsoDate | None = opt(None, "Keep shows premiered before this.")
    allow_unknown: bool = opt(False, "Let a show with no premiere date pass.")


@dataclass
class RatingFilter:
    min: float | None = opt(None, "Keep shows rated at least this (0-10).", minimum=0, maximum=10)
    allow_unknown: bool = opt(False, "Let a show with no rating pass `min`.")


@dataclass
class WeightFilter:
    min: int | None = opt(
        None, "Keep shows with at least this weight (0-100).", minimum=0, maximum=100
    )
    max: int | None = opt(
        None, "Keep shows with at most this weight (0-100).", minimum=0, maximum=100
    )
    allow_unknown: bool = opt(False, "Let a show with no weight pass `min`/`max`.")


@dataclass
class KeywordFilter:
    exclude: list[str] = opt([], "Drop shows whose title contains any of these (any case).")


@dataclass
class IdFilter:
    exclude: list[int] = opt([], "TVMaze ids never to add.")
    allow: list[int] = opt([], "TVMaze ids always added, whatever the other filters say.")


@dataclass
class FiltersConfig:
    genres: ListFilter = list_filter(
        [], ["Sports"], False, "Genre filter (Reality, Talk Show, Game Show, News are types)."
    )
    types: ListFilter = list_filter(
        ["Scripted", "Animation", "Documentary"], [], False, "Show type filter."
    )
    countries: ListFilter = list_filter(
        ["US", "UK", "CA", "AU", "NZ", "IE", "GB"],
        [],
        True,
        "Country (ISO code) filter; GB and UK both mean the United Kingdom. Unknown passes by "
        "default because TVMaze leaves it empty for global web channels such as Netflix.",
    )
    languages: ListFilter = list_filter(["English"], [], False, "Language filter.")
    networks: ListFilter = list_filter(
        [], [], False, "Network or web channel name filter (a show matches by either)."
    )
    status: StatusFilter = section(StatusFilter, "TVMaze status filter.")
    premiered: PremieredFilter = section(PremieredFilter, "Premiere date filter.")
    min_runtime: int | None = opt(20, "Keep shows with at least this runtime (minutes).", minimum=0)
    max_runtime: int | None = opt(
        None, "Keep shows with at most this runtime (minutes).", minimum=0
    )
    runtime_allow_unknown: bool = opt(False, "Let a show with no runtime pass.")
    rating: RatingFilter = section(RatingFilter, "Rating filter.")
    weight: WeightFilter = section(
        WeightFilter, "Popularity filter: TVMaze's weight, 0-100, how much people follow a show."
    )
    title: KeywordFilter = section(KeywordFilter, "Title keyword filter.")
    ids: IdFilter = section(IdFilter, "Explicit TVMaze id lists.")


@dataclass
class SonarrConfig:
    url: Url | None = opt(None, "Sonarr base URL; unset means dry run (no Sonarr).")
    api_key: str | None = opt(None, "Sonarr API key (Settings > General).", secret=True)
    root_folder: str = opt("/tv", "Root folder path new series go to.")
    quality_profile: str = opt("HD-1080p", "Quality profile name.")
    language_profile: str | None = opt(None, "Language profile name (Sonarr v3 only).")
    monitor: MonitorMode = opt("all", "Which episodes of a new series to monitor.")
    monitor_new_items: Literal["all", "none"] = opt(
        "all", "Monitor seasons that appear later (Sonarr v4)."
    )
    search_on_add: bool = opt(True, "Search for missing episodes right after adding.")
    season_folder: bool = opt(True, "Use season folders.")
    series_type: SeriesType | None = opt(
        None,
        "Series type of new series (standard, daily, anime); unset: what Sonarr's lookup says.",
    )
    tags: list[str] = opt([], "Tag labels put on every series added.")
    create_missing_tags: bool = opt(False, "Create configured tags missing in Sonarr.")
    on_user_removal: Literal["keep_out", "exclude_in_sonarr", "allow_readd"] = opt(
        "keep_out", "What to do when a series this tool added was deleted in Sonarr."
    )
    max_removals: int = opt(
        10,
        "Most series this tool added that may vanish from one library read and be concluded "
        "deleted by you; more (or any from an empty library) are held for `tvmaze-sync "
        "removals` (a replaced or reset Sonarr looks like that). Also the most Import List "
        "Exclusions that may vanish at once and free their shows.",
        minimum=0,
    )
    timeout: Duration = opt(
        Duration(30), "Longest wait for one whole Sonarr answer (connect to last byte).", minimum=1
    )
    max_adds_per_cycle: int = opt(
        25, "Most series added in one cycle, most popular first (0: no limit).", minimum=0
    )
    add_interval: Duration = opt(
        Duration(5), "Pause between adds when search_on_add is on (spares the indexers)."
    )
    max_retry_after: Duration = opt(
        Duration.parse("5m"), "Longest Retry-After from Sonarr honoured; longer stops the cycle."
    )
    require_approval: bool = opt(
        False,
        "Queue shows that pass every filter for review (`tvmaze-sync review`) instead of "
        "adding them; approved ones are added by the next sync.",
    )


#: The name the `sonarr` section goes by in `routes` and per-instance reports.
DEFAULT_INSTANCE = "default"

#: An instance name: part of an environment variable name (INSTANCES_4K_URL), of a URL
#: (/sonarr/list/4k) and of a metric label, so lower-case letters, digits and `_` only.
INSTANCE_NAME = r"^[a-z0-9][a-z0-9_]{0,31}$"


@dataclass
class RouteMatch:
    genres: list[str] = opt([], "Any of these TVMaze genres.")
    types: list[str] = opt([], "Any of these TVMaze show types.")
    networks: list[str] = opt([], "Any of these networks or web channels.")
    languages: list[str] = opt([], "Any of these languages.")
    countries: list[str] = opt([], "Any of these ISO country codes (GB and UK alike).")
    title: list[str] = opt([], "Title contains any of these keywords (any case).")
    ids: list[int] = opt([], "Any of these TVMaze ids.")


@dataclass
class RouteSet:
    root_folder: str | None = opt(None, "Root folder instead of the instance's.")
    quality_profile: str | None = opt(None, "Quality profile name instead of the instance's.")
    tags: list[str] | None = opt(None, "Tag labels instead of the instance's (not added to them).")
    series_type: SeriesType | None = opt(None, "Series type: standard, daily or anime.")
    monitor: MonitorMode | None = opt(None, "Which episodes to monitor instead.")
    season_folder: bool | None = opt(None, "Use season folders, or not, instead.")
    search_on_add: bool | None = opt(None, "Search right after adding, or not, instead.")


@dataclass
class Route:
    name: str = opt("", "The route's name, shown by `explain` and in logs (unique).")
    match: RouteMatch = section(
        RouteMatch, "What a show must have: every key given must hold; a list means any of."
    )
    set: RouteSet = section(RouteSet, "The settings this route changes for its shows.")
    instances: list[str] = opt(
        [DEFAULT_INSTANCE], "Instances the show is added to (default: the `sonarr` section)."
    )

    def overrides(self) -> dict[str, Any]:
        """The `set` keys given, by SonarrConfig field name."""
        return {
            f.name: getattr(self.set, f.name)
            for f in dataclasses.fields(RouteSet)
            if getattr(self.set, f.name) is not None
        }


NotifyEvent = Literal["added", "review", "removals", "failure"]


@dataclass
class NotifyConfig:
    urls: list[str] = opt(
        [],
        "Apprise URLs to send one message per sync to (discord://, tgram://, ntfys://, "
        "gotify://, mailto://, json:// ...); see docs/notifications.md.",
        secret=True,
    )
    on: list[NotifyEvent] = opt(
        ["added", "review", "failure"],
        "What is news: added, review (new shows wait for approval), removals (held by the "
        "removal guard), failure.",
    )


@dataclass
class StorageConfig:
    path: str | None = opt(None, "Data directory (default $XDG_DATA_HOME/tvmaze-sync).")


@dataclass
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = opt(
        None,
        "Log level. Unset: WARNING for one-shot commands (cron mails only problems and the "
        "one-line summary; `--verbose` is INFO), INFO for `serve`.",
    )
    format: Literal["json", "text"] = opt("text", "Log line format.")


@dataclass
class ServerConfig:
    enabled: bool = opt(True, "Serve HTTP endpoints under `serve`.")
    host: Host = opt(
        Host("127.0.0.1"),
        "Address `serve` listens on (0.0.0.0 in a container, :: for IPv6 too).",
    )
    port: int = opt(8080, "Port `serve` listens on.", minimum=1, maximum=65535)
    token: str | None = opt(None, "Bearer token required by POST endpoints.", secret=True)
    shutdown_timeout: Duration = opt(
        Duration.parse("5m"), "How long SIGTERM waits for a running cycle."
    )


@dataclass
class MetricsConfig:
    pushgateway_password: str | None = opt(
        None,
        "Basic-auth password for `sync --pushgateway`; the user goes in the URL "
        "(http://user@host:9091). Wins over a password in the URL.",
        secret=True,
    )


@dataclass
class Config:
    tvmaze: TvmazeConfig = section(TvmazeConfig, "TVMaze API client.")
    sync: SyncConfig = section(SyncConfig, "Cycle timing and the TVDB retry queue.")
    filters: FiltersConfig = section(FiltersConfig, "Which shows you want.")
    sonarr: SonarrConfig = section(SonarrConfig, "Where wanted shows are added.")
    storage: StorageConfig = section(StorageConfig, "Where the cache and state live.")
    logging: LoggingConfig = section(LoggingConfig, "Log output.")
    server: ServerConfig = section(ServerConfig, "HTTP server of `serve`.")
    metrics: MetricsConfig = section(MetricsConfig, "Metrics export of cron runs.")
    notify: NotifyConfig = section(NotifyConfig, "One notification per sync that did something.")
    dry_run: bool = opt(False, "Never write to Sonarr; report what would be added.")
    instances: dict[str, SonarrConfig] = field(
        default_factory=dict,
        metadata={
            "dynamic": True,
            "help": "More Sonarr instances by name; each takes every key of `sonarr` "
            "(docs/routing.md).",
        },
    )
    routes: list[Route] = field(
        default_factory=list,
        metadata={
            "dynamic": True,
            "help": "Which shows go where: first match wins; none: `default` (docs/routing.md).",
        },
    )

    # Where the values came from; not options.
    source: Path | None = field(default=None, metadata={"internal": True}, compare=False)
    # Valid but suspicious inputs seen while loading (an empty list variable), for warnings().
    notices: list[str] = field(default_factory=list, metadata={"internal": True}, compare=False)

    @property
    def sonarr_enabled(self) -> bool:
        return self.sonarr.url is not None

    def instance(self, name: str) -> SonarrConfig:
        """The settings of the instance `name` (`default` is the `sonarr` section)."""
        return self.sonarr if name == DEFAULT_INSTANCE else self.instances[name]

    @property
    def instance_names(self) -> list[str]:
        return [DEFAULT_INSTANCE, *self.instances]

    @property
    def effective_dry_run(self) -> bool:
        return self.dry_run or not self.sonarr_enabled

    @property
    def storage_dir(self) -> Path:
        assert self.storage.path is not None, "load_config resolves storage.path"
        return Path(self.storage.path)

    def warnings(self) -> list[str]:
        """Settings that are valid but probably not what was meant (printed, never fatal)."""
        if self.sonarr.api_key and self.sonarr.url is None:
            return [
                *self.notices,
                "sonarr.api_key is set but sonarr.url is not (env SONARR_URL): Sonarr is not "
                "configured, so every run is a dry run",
            ]
        return list(self.notices)

    def secrets(self) -> list[str]:
        """Every configured secret value, for the log redaction filter."""
        found: list[str] = []
        for option, value in iter_values(self, instances=True):
            if option.secret and isinstance(value, list):
                for item in value:
                    found += [str(item), *url_secrets(str(item))]
            elif option.secret and value not in (None, ""):
                found.append(str(value))
        urls = (self.sonarr.url, self.tvmaze.base_url, *(i.url for i in self.instances.values()))
        return found + [url.password for url in urls if url is not None and url.password]

    def to_dict(self, redact: bool = True) -> dict[str, Any]:
        """Nested plain values, secrets shown as `***` unless asked otherwise."""
        out: dict[str, Any] = {}
        for option, value in iter_values(self, instances=True):
            node = out
            for part in option.path[:-1]:
                node = node.setdefault(part, {})
            if option.secret and redact and isinstance(value, list):
                value = [masked_secret_url(str(item)) for item in value]
            elif option.secret and redact and value not in (None, ""):
                value = "***"
            elif redact and isinstance(value, Url):
                value = value.masked()
            node[option.path[-1]] = plain(value)
        if self.routes:
            out["routes"] = [route_dict(route) for route in self.routes]
        return out


# --- the schema as a flat list of options -------------------------------------------------


@dataclass(frozen=True)
class Option:
    path: tuple[str, ...]
    type: Any
    default: Any
    help: str
    secret: bool
    minimum: float | None
    maximum: float | None

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def env(self) -> str:
        return "_".join(self.path).upper()

    @property
    def type_name(self) -> str:
        return type_name(self.type)


@functools.cache
def schema() -> tuple[Option, ...]:
    """Every leaf option, in declaration order (drives env names, docs and `config init`)."""
    return tuple(_walk(Config, (), Config()))


def iter_options() -> Iterator[Option]:
    return iter(schema())


def _walk(cls: type, prefix: tuple[str, ...], defaults: Any) -> Iterator[Option]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or f.metadata.get("dynamic"):
            continue
        if f.metadata.get("section"):
            yield from _walk(hints[f.name], (*prefix, f.name), getattr(defaults, f.name))
            continue
        yield Option(
            path=(*prefix, f.name),
            type=hints[f.name],
            default=getattr(defaults, f.name),
            help=f.metadata.get("help", ""),
            secret=f.metadata.get("secret", False),
            minimum=f.metadata.get("minimum"),
            maximum=f.metadata.get("maximum"),
        )


def iter_values(config: Config, *, instances: bool = False) -> Iterator[tuple[Option, Any]]:
    """Every option's value; with `instances`, each named instance's options after them."""
    for option in iter_options():
        node: Any = config
        for part in option.path:
            node = getattr(node, part)
        yield option, node
    if instances:
        for name, settings in config.instances.items():
            for option in instance_options(name):
                yield option, getattr(settings, option.path[-1])


@functools.cache
def instance_options(name: str) -> tuple[Option, ...]:
    """The options of the instance `name`: every `sonarr` option under `instances.<name>`,
    so its environment variables are INSTANCES_<NAME>_URL, INSTANCES_<NAME>_API_KEY_FILE…"""
    return tuple(
        dataclasses.replace(option, path=("instances", name, *option.path[1:]))
        for option in iter_options()
        if option.path[0] == "sonarr"
    )


@functools.cache
def route_options() -> tuple[Option, ...]:
    """The keys of one route, paths relative to the route (`match.genres`, `set.tags`)."""
    return tuple(_walk(Route, (), Route()))


def route_dict(route: Route) -> dict[str, Any]:
    """A route as plain values, only the keys given (`config check`, the state)."""
    out: dict[str, Any] = {"name": route.name}
    match = {k: plain(v) for k, v in dataclasses.asdict(route.match).items() if v}
    out["match"] = match
    if overrides := route.overrides():
        out["set"] = {k: plain(v) for k, v in overrides.items()}
    out["instances"] = list(route.instances)
    return out


def type_name(tp: Any) -> str:
    if tp is Duration:
        return "duration"
    if tp is IsoDate:
        return "date (YYYY-MM-DD)"
    if tp is Url:
        return "URL"
    if tp is Host:
        return "address"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(str(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{type_name(inner[0])} (optional)"
    if origin is list:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    return {str: "text", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def plain(value: Any) -> Any:
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


# --- coercion of one value ------------------------------------------------------------------

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class EnvText(str):
    """Text that came from the environment or a `${VAR}` reference, not typed YAML.

    Text is all a variable can hold, so such a value may spell a number (`"8080"`), a list
    (`"a,b"`) or an unset optional (`""`, `"null"`, `"~"`). A YAML value is taken by its
    YAML type: `port: "8080"` is text, and refused, as the JSON Schema refuses it.
    """

    __slots__ = ()


def coerce(tp: Any, value: Any, from_env: bool = False) -> Any:
    """Turn a YAML or environment value into the option's type, or raise ValueError(allowed).

    Every rule here has its twin in `json_schema` below; tests/test_config_schema.py checks
    that both give the same verdict on a corpus and on generated documents.
    """
    from_env = from_env or isinstance(value, EnvText)
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        if value is None or _unset_text(value, from_env):
            return None
        return coerce(inner, value, from_env)
    if origin is Literal:
        return _coerce_choice(typing.get_args(tp), value)
    if origin is list:
        item = typing.get_args(tp)[0]
        if isinstance(value, str) and from_env:
            parts = [part.strip() for part in value.split(",")]
            if not all(parts):  # a stray comma, `${A},${B}` unset: as a blank item in the file
                raise ValueError(f"a comma-separated list of {type_name(item)} with no blank item")
            value = [EnvText(part) for part in parts]
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError(f"a list of {type_name(item)}")
        items = [coerce(item, v, from_env) for v in value]
        if item is str and not all(items):  # a blank word matches nothing, or every title
            raise ValueError("a list of text with no blank item")
        return items
    if tp in (int, float, Duration):
        return _coerce_number(tp, value, from_env)
    return _coerce_text(tp, value, from_env)


def _unset_text(value: Any, from_env: bool) -> bool:
    """A blank string unsets an optional value; from a variable, `null` and `~` do too."""
    if not isinstance(value, str):
        return False
    return value.strip() == "" or (from_env and value.strip() in ("null", "~"))


def _coerce_choice(allowed: tuple[Any, ...], value: Any) -> Any:
    """One of `allowed`, in any letter case (`level: debug`)."""
    if value in allowed:
        return value
    folded = {str(a).lower(): a for a in allowed}
    if isinstance(value, str) and value.lower() in folded:
        return folded[value.lower()]
    raise ValueError("one of " + ", ".join(str(a) for a in allowed))


def _whole(value: Any) -> int | None:
    """`value` as an int when YAML typed it as a whole number (`8080`, `8080.0`), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _coerce_number(tp: Any, value: Any, from_env: bool) -> Any:
    if tp is Duration:
        whole = _whole(value)
        if whole is not None and whole >= 0:
            return Duration(whole)
        if isinstance(value, str):
            return Duration.parse(value)
        raise ValueError("a duration such as 30s, 15m, 6h, 1d, 1w or 1y")
    if tp is int:
        whole = _whole(value)
        if whole is not None:
            return whole
        if from_env and isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
            return int(value)
        raise ValueError("a whole number")
    if isinstance(value, bool) or (isinstance(value, str) and not from_env):
        raise ValueError("a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("a number") from None
    if not math.isfinite(number):
        raise ValueError("a finite number")
    return number


def _coerce_text(tp: Any, value: Any, from_env: bool) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("true or false")
    if tp is IsoDate:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return IsoDate(value.isoformat())  # a YAML date, from a loader other than ours
        text = value.strip() if isinstance(value, str) and from_env else value
        if isinstance(text, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            try:
                return IsoDate(dt.date.fromisoformat(text).isoformat())
            except ValueError:
                pass
        raise ValueError("a date as YYYY-MM-DD")
    if tp is Url:
        text = value.strip() if isinstance(value, str) else ""
        try:
            parts = urlsplit(text) if re.match(URL_PATTERN, text) else None
            _ = parts and parts.port  # a port that is not a number in 0-65535 raises
        except ValueError:  # urlsplit's own reason ("Invalid IPv6 URL") reads as the expectation
            parts = None
        # No blank or control character: requests would refuse it at every request.
        clean = text.isprintable() and " " not in text
        if parts and parts.scheme in ("http", "https") and parts.hostname and clean:
            return Url(text.rstrip("/"))
        if "?" in text or "#" in text:
            raise ValueError("an http:// or https:// URL without a query (?…) or fragment (#…)")
        raise ValueError("an http:// or https:// URL")
    if tp is Host:
        if isinstance(value, str) and value.strip():
            return Host(value.strip())
        raise ValueError("an address or host name (0.0.0.0 or :: listens on every interface)")
    if tp is str:
        # Surrounding whitespace is never meant (a YAML `key: |` block ends in a line break).
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value).strip()
        raise ValueError("text")
    raise TypeError(f"no coercion for {tp!r}")


#: An http(s) URL with a host and no query or fragment (a base URL has paths appended to
#: it, so `?apikey=…` would be glued into every request and kept in state.json): shared by
#: `coerce` and the JSON Schema.
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s][^?#]*$"


def _any_case(word: str) -> str:
    """A regex matching `word` in any letter case, spelled out (JSON Schema has no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _bounds(option: Option) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if option.minimum is not None:
        out["minimum"] = option.minimum
    if option.maximum is not None:
        out["maximum"] = option.maximum
    return out


def value_schema(tp: Any, option: Option) -> dict[str, Any]:
    """The JSON Schema of one option's YAML value: exactly what `coerce` accepts from a file.

    Twin of `coerce`; change both together. What JSON Schema cannot say is left to
    `config check` alone: NaN (JSON has none), a `${VAR}` whose value is unknown until run
    time, urlsplit's refusal of a malformed IPv6 host, and the checks across keys.
    """
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        blank = {"type": "string", "pattern": r"^\s*$"}
        return {"anyOf": [value_schema(inner, option), {"type": "null"}, blank]}
    if origin is Literal:
        allowed = [str(a) for a in typing.get_args(tp)]
        any_case = "^(" + "|".join(_any_case(a) for a in allowed) + ")$"
        return {"anyOf": [{"enum": allowed}, {"type": "string", "pattern": any_case}]}
    if origin is list:
        inner = typing.get_args(tp)[0]
        item = value_schema(inner, option)
        if inner is str:  # no blank item (a number is never blank)
            item = {**item, "pattern": r"\S"}
        return {"type": ["array", "null"], "items": {"anyOf": [item, ENV_REFERENCE]}}
    if tp is Duration:
        return {"anyOf": [_duration_text(option), _whole_schema(option, least=0)]}
    if tp is int:
        return _whole_schema(option)
    if tp is float:
        return {"type": "number", **_bounds(option)}
    if tp is bool:
        words = "|".join(_any_case(w) for w in _TRUE + _FALSE)
        return {
            "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": rf"^\s*({words})\s*$"}]
        }
    if tp is IsoDate:
        return {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    if tp is Url:
        return {"type": "string", "pattern": r"^\s*" + URL_PATTERN[1:]}
    if tp is Host:
        return {"type": "string", "pattern": r"\S"}
    if tp is str and _is_api_key(option):  # see _unsendable_secret; \s is what strip() removes
        return {"type": ["string", "number"], "pattern": r"^\s*[ -~]*\s*$"}
    if tp is str:
        return {"type": ["string", "number"]}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _whole_schema(option: Option, least: float = -math.inf) -> dict[str, Any]:
    """A whole number (JSON Schema's integer takes 8080.0 too, and so does `coerce`)."""
    bounds = _bounds(option)
    if least > bounds.get("minimum", -math.inf):
        bounds["minimum"] = least
    return {"type": "integer", **bounds}


def _duration_text(option: Option) -> dict[str, Any]:
    """`6h` as a pattern; a minimum of 1 second (the only one in use) means "not zero"."""
    digits = "([0-9]{1,12})"
    if option.minimum is not None and option.minimum > 1:
        raise NotImplementedError(f"{option.key}: express a duration minimum above 1s here")
    if option.minimum == 1:
        digits = "(?=[0-9]*[1-9])" + digits
    if option.maximum is not None:
        raise NotImplementedError(f"{option.key}: express a duration maximum here")
    return {
        "type": "string",
        "pattern": "^" + DURATION_PATTERN.replace("([0-9]{1,12})", digits) + "$",
    }


#: A `${VAR}` reference is valid wherever a value is, so editors must not flag it.
ENV_REFERENCE = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"}


def json_schema() -> dict[str, Any]:
    """The configuration file's JSON Schema (docs/config.schema.json, for editors)."""
    root = _object_schema(list(iter_options()), section_help(), 0)
    root.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "tvmaze-sync configuration",
        }
    )
    sonarr = [o for o in iter_options() if o.path[0] == "sonarr"]
    instance = _object_schema(
        sonarr, {}, 1, lambda option: f"INSTANCES_<NAME>_{'_'.join(option.path[1:]).upper()}"
    )
    instance["description"] = "One Sonarr instance: every key of `sonarr`."
    dynamic = {
        f.name: f.metadata["help"] for f in dataclasses.fields(Config) if f.metadata.get("dynamic")
    }
    root["properties"]["instances"] = {
        "type": ["object", "null"],
        "description": dynamic["instances"],
        "propertyNames": {"pattern": INSTANCE_NAME, "not": {"const": DEFAULT_INSTANCE}},
        "additionalProperties": instance,
    }
    route = _object_schema(list(route_options()), _section_help(Route, ()), 0, lambda _: None)
    route["type"] = "object"
    route["required"] = ["name", "match"]
    root["properties"]["routes"] = {
        "type": ["array", "null"],
        "description": dynamic["routes"] + " From the file only.",
        "items": route,
    }
    return root


def _object_schema(
    options: list[Option],
    helps: Mapping[tuple[str, ...], str],
    skip: int,
    env_of: typing.Callable[[Option], str | None] = lambda option: option.env,
) -> dict[str, Any]:
    """An object of `options` (their paths less the first `skip` parts) and their sections."""
    root: dict[str, Any] = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {},
    }
    for option in options:
        path = option.path[skip:]
        node = root
        for depth, part in enumerate(path[:-1]):
            node = node["properties"].setdefault(
                part,
                {
                    "type": ["object", "null"],
                    "description": helps.get(path[: depth + 1], ""),
                    "additionalProperties": False,
                    "properties": {},
                },
            )
        env = env_of(option)
        described = f"{option.help} Environment: {env}." if env else option.help
        node["properties"][path[-1]] = {
            "description": described,
            "default": plain(option.default),
            "anyOf": [value_schema(option.type, option), ENV_REFERENCE],
        }
    return root


def section_help() -> dict[tuple[str, ...], str]:
    """The help text of every section (`filters`, `filters.genres` …), keyed by its path."""
    return _section_help(Config, ())


def _section_help(cls: type, prefix: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("section"):
            path = (*prefix, f.name)
            found[path] = f.metadata.get("help", "")
            found.update(_section_help(hints[f.name], path))
    return found


# --- loading -------------------------------------------------------------------------------

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_env_value(name: str, env: Mapping[str, str]) -> str | None:
    """`NAME_FILE` (file contents, stripped) wins over `NAME`; None when neither is set."""
    file_var = f"{name}_FILE"
    if file_var in env:
        path = Path(env[file_var])
        try:
            return _read_small_file(path, file_var).decode("utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{file_var}: cannot read {path}: {error.strerror}") from None
        except (UnicodeDecodeError, ValueError):  # binary contents; a NUL in the path
            raise ConfigError(f"{file_var}: {path} is not a readable UTF-8 text file") from None
    return env.get(name)


#: The most a `*_FILE` secret may hold: a key or token is well under 1 KiB.
FILE_VALUE_LIMIT = 64 * 1024


def _read_small_file(path: Path, file_var: str) -> bytes:
    """The bytes of a regular file of at most FILE_VALUE_LIMIT: a FIFO (or /dev/stdin at a
    terminal) would block `config check` forever and /dev/zero would fill the memory, so
    anything but a regular file is refused before it is read, and the read is bounded."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ConfigError(
                f"{file_var}: {path} is not a regular file (a directory, device, pipe or socket)"
            )
        data = handle.read(FILE_VALUE_LIMIT + 1)
    if len(data) > FILE_VALUE_LIMIT:
        raise ConfigError(f"{file_var}: {path} is larger than 64 KiB; it should hold one value")
    return data


def _resolve_refs(value: Any, key: str, env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _resolve_refs(v, f"{key}.{k}" if key else k, env, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_refs(v, key, env, problems) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            resolved = read_env_value(name, env)
        except ConfigError as error:
            problems.extend(f"{key}: {p}" for p in error.problems)
            return ""
        if resolved is None:
            problems.append(
                f"{key}: references ${{{name}}} but neither {name}_FILE nor {name} is set"
            )
            return ""
        return resolved

    return EnvText(_REF.sub(substitute, value))


def find_config_file(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, then TVMAZE_SYNC_CONFIG, then ./config.yaml, then the XDG config dir."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"--config: {explicit} does not exist or is not a file")
        return explicit
    if env.get("TVMAZE_SYNC_CONFIG"):
        path = Path(env["TVMAZE_SYNC_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"TVMAZE_SYNC_CONFIG: {path} does not exist or is not a file")
        return path
    local = Path("config.yaml")
    if local.is_file():
        return local
    xdg = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = xdg / "tvmaze-sync" / "config.yaml"
    return candidate if candidate.is_file() else None


def default_storage_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tvmaze-sync"


class _Loader(yaml.SafeLoader):
    """SafeLoader minus the implicit timestamp: `2020-13-45` stays a string for coerce() to
    reject with the option's name, where PyYAML's resolver would raise a bare ValueError."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML reads it per class)
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _bool_as_typed(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    """YAML 1.1 reads `NO` (Norway), `yes`, `off` as booleans. Kept as the text typed, each
    is still a boolean where the option is one (coerce() reads yes/no/on/off/true/false)
    and stays the user's word in a list of text (`countries.include: [NO]`)."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:bool", _bool_as_typed)


#: Bounds on a configuration file (ours is a few KB): its size, the alias uses in it, and the
#: values it holds once every alias is expanded. PyYAML composes an alias as a reference to
#: its anchor's node, so a "billion laughs" file (nine levels of nine aliases) composes in
#: microseconds; the blow-up comes later, when something walks the graph (validation, env
#: merging, JSON dumps) and visits 10^9 values. So the expansion is measured on the composed
#: graph, counting each shared node once, and refused before anything walks it.
MAX_CONFIG_BYTES = 1 << 20
MAX_ALIASES = 1_000
MAX_EXPANDED_VALUES = 100_000


def _read_yaml(path: Path) -> Any:
    """The YAML document in `path`, refused (ConfigError) past the bounds above."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a configuration file"
        )
    loader = _Loader(raw.decode("utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, path: Path) -> None:
    """Refuse a composed document whose aliases expand too far, or into themselves."""
    sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded
    open_nodes: set[int] = set()
    aliases = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliases
        key = id(node)
        if key in sizes:  # a node met again is an alias use
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(f"{path}: more than {MAX_ALIASES} YAML alias uses")
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(f"{path}: a YAML alias inside its own anchor never ends")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        if total > MAX_EXPANDED_VALUES:
            raise ConfigError(
                f"{path}: YAML aliases expand to more than {MAX_EXPANDED_VALUES} "
                'values (a "billion laughs" file?); refusing it'
            )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


def load_config(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: defaults < YAML file < environment. Raises ConfigError."""
    env = os.environ if env is None else env
    path = find_config_file(explicit, env)
    data: Any = {}
    if path is not None:
        try:
            data = _read_yaml(path) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            problem = getattr(error, "problem", None)
            detail = f" ({problem})" if problem else ""
            raise ConfigError(f"{path}:{where} is not valid YAML{detail}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read: {error}") from None
        except RecursionError:
            raise ConfigError(f"{path}: is nested too deeply to be a config file") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path}: top level must be a mapping of sections, got {type(data).__name__}"
            )
    try:
        return build_config(data, env, source=path)
    except RecursionError:  # an alias inside its own anchor (`a: &x [*x]`) never ends
        raise ConfigError(f"{path}: an alias inside its own anchor, or nested too deeply") from None


def build_config(
    data: dict[str, Any], env: Mapping[str, str], source: Path | None = None
) -> Config:
    problems: list[str] = []
    notices: list[str] = []
    refused: set[str] = set()
    data = _resolve_refs(data, "", env, problems)
    data = dict(data)
    raw_instances, raw_routes = data.pop("instances", None), data.pop("routes", None)
    options = {option.path: option for option in iter_options()}
    _check_unknown_keys(data, (), options, problems)
    values = _read_values(data, options, env, problems, notices, refused)
    config = _assemble(values)
    config.source = source
    config.notices = notices
    if config.storage.path is None:
        config.storage.path = str(default_storage_path(env))
    config.instances = _read_instances(raw_instances, env, problems, notices, refused)
    problems.extend(_ambiguous_instance_env(list(config.instances)))
    problems.extend(_stray_instance_env(env, list(config.instances)))
    config.routes = _read_routes(raw_routes, problems)
    # A key refused above (an unreadable *_FILE, a bad value) is that problem only: the
    # checks across keys would see its default and call it missing too.
    problems.extend(p for p in _cross_checks(config) if p.split(":", 1)[0] not in refused)
    if problems:
        raise ConfigError(problems)
    return config


def _read_values(
    data: Any,
    options: Mapping[tuple[str, ...], Option],
    env: Mapping[str, str] | None,
    problems: list[str],
    notices: list[str],
    refused: set[str] | None = None,
) -> dict[tuple[str, ...], Any]:
    """Each option's value: the environment's (unless `env` is None), else the file's, else
    its default; every bad one is a problem, and its key goes in `refused`."""
    values: dict[tuple[str, ...], Any] = {}
    refused = set() if refused is None else refused
    for path, option in options.items():
        raw, present, from_env, origin = _lookup(data, path), True, False, option.key
        try:
            env_value = None if env is None else read_env_value(option.env, env)
        except ConfigError as error:
            problems.extend(error.problems)
            refused.add(option.key)
            continue
        if env_value is not None and env_value.strip() == "" and _empty_env_ignored(option):
            applies = "the default" if raw is _MISSING else "the file's value"
            notices.append(f"{option.env} is empty: ignored; {applies} applies")
            env_value = None
        if env_value is not None:
            raw, from_env, origin = env_value, True, f"{option.env} ({option.key})"
        elif raw is _MISSING:
            present = False
        if not present:
            values[path] = option.default
            continue
        try:
            value = coerce(option.type, raw, from_env)
        except ValueError as error:
            problems.append(f"{origin}: {shown(raw, option)} is not valid; expected {error}")
            refused.add(option.key)
            continue
        problem = _out_of_bounds(option, value) or _unsendable_secret(option, value)
        if problem:
            problems.append(f"{origin}: {shown(raw, option)} {problem}")
            refused.add(option.key)
            continue
        values[path] = value
    return values


def _read_instances(
    raw: Any,
    env: Mapping[str, str],
    problems: list[str],
    notices: list[str],
    refused: set[str] | None = None,
) -> dict[str, SonarrConfig]:
    """`instances`: each name's settings, read like `sonarr` (environment included)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"instances: {raw!r} is not valid; expected a mapping of names")
        return {}
    found: dict[str, SonarrConfig] = {}
    for key, settings in raw.items():
        name = str(key)
        if name == DEFAULT_INSTANCE:
            problems.append("instances.default: `default` is the `sonarr` section; rename it")
            continue
        if not re.fullmatch(INSTANCE_NAME, name):
            problems.append(
                f"instances.{name}: not a valid instance name; expected lower-case letters, "
                "digits and _ (at most 32), as it names variables, URLs and metric labels"
            )
            continue
        options = {o.path: o for o in instance_options(name)}
        data = {"instances": {name: settings}}
        _check_unknown_keys(settings, ("instances", name), options, problems)
        values = _read_values(data, options, env, problems, notices, refused)
        found[name] = SonarrConfig(**{path[-1]: value for path, value in values.items()})
    return found


def _ambiguous_instance_env(names: list[str]) -> list[str]:
    """Two instances whose variables share a name (`x` and `x_create_missing` would both
    read INSTANCES_X_CREATE_MISSING_TAGS): one value would silently set the other's key,
    so such names are refused, whatever the environment holds today."""
    owner: dict[str, tuple[str, str]] = {}
    problems = []
    for name in names:
        for option in instance_options(name):
            key = ".".join(option.path[2:])
            first = owner.setdefault(option.env, (name, key))  # and so its _FILE too
            if first[0] != name:
                problems.append(
                    f"instances.{name}: its variable {option.env} (key {key}) is also "
                    f"instances.{first[0]}'s (key {first[1]}); rename one instance so "
                    "that neither name is the other's followed by `_` and a key"
                )
    return problems


def _stray_instance_env(env: Mapping[str, str], names: list[str]) -> list[str]:
    """`INSTANCES_<NAME>_<KEY>` for an instance the file does not declare: a typo, or an
    instance given by the environment alone, would otherwise be ignored without a word."""
    claimed = {
        variable
        for name in names
        for option in instance_options(name)
        for variable in (option.env, f"{option.env}_FILE")
    }
    suffixes = sorted(
        (
            option.env.removeprefix("SONARR_")
            for option in iter_options()
            if option.path[0] == "sonarr"
        ),
        key=len,
        reverse=True,
    )
    problems = []
    for variable in sorted(env):
        if not variable.startswith("INSTANCES_") or variable in claimed:
            continue
        rest = variable.removeprefix("INSTANCES_").removesuffix("_FILE")
        key = next((k for k in suffixes if rest.endswith(f"_{k}")), None)
        if key is None:
            continue  # not one of ours
        name = rest.removesuffix(f"_{key}").lower()
        hint = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        guess = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(
            f"{variable}: no instance {name!r} in the file's `instances`{guess} (an instance "
            f"is declared in the file, e.g. `instances: {{{name}: {{}}}}`; the environment "
            "overrides its keys)"
        )
    return problems


def _read_routes(raw: Any, problems: list[str]) -> list[Route]:
    """`routes`, from the file only: a list of routes, each read like a section."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"routes: {raw!r} is not valid; expected a list of routes")
        return []
    routes = []
    for index, item in enumerate(raw):
        prefix = f"routes[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{prefix}: {item!r} is not valid; expected a route (mapping)")
            continue
        if "instances" in item and item["instances"] is None:
            # `instances:` with no value (its items commented out) is the default, as if
            # absent; only an explicit `[]` asks for no instance, and is refused below.
            item = {k: v for k, v in item.items() if k != "instances"}
        options = {
            (prefix, *o.path): dataclasses.replace(o, path=(prefix, *o.path))
            for o in route_options()
        }
        before = len(problems)
        _check_unknown_keys(item, (prefix,), options, problems)
        values = _read_values({prefix: item}, options, None, problems, [])
        route = _assemble(values, Route, (prefix,))
        if not any(p.startswith(f"{prefix}.match") for p in problems[before:]):
            problems.extend(_empty_match(route.match, prefix))
        routes.append(route)
    return routes


def _empty_match(match: RouteMatch, prefix: str) -> list[str]:
    """A match that gives no value says nothing of its shows. Only asked of a match read
    without a problem: a key refused (`genres: Anime`, a typo) is the problem to report,
    not the empty match it leaves behind."""
    if any(dataclasses.asdict(match).values()):
        return []
    keys = ", ".join(f.name for f in dataclasses.fields(RouteMatch))
    return [
        f"{prefix}.match: give at least one of {keys} (a show matching no route goes to `default`)"
    ]


_MISSING = object()


def _empty_env_ignored(option: Option) -> bool:
    """Whether an empty variable leaves the file's value (or the default) alone.

    A compose `.env` template (`FILTERS_TYPES_INCLUDE=${TYPES}`) gives an empty variable
    when its own is unset; taken as a value it would turn a list into "any", or unset a
    filter bound, and the next sync would add everything the filter kept out. So an empty
    variable is ignored for every list and every filter option. Elsewhere it still unsets an
    optional scalar, as documented: an empty SONARR_URL means a dry run, the safe side.
    """
    return typing.get_origin(option.type) is list or option.path[0] == "filters"


def _is_api_key(option: Option) -> bool:
    """An API key goes in a request header (Sonarr's X-Api-Key) or query: ASCII only. A
    server token or a password may be any text; the server and Apprise encode it."""
    return option.secret and option.path[-1] == "api_key"


def _unsendable_secret(option: Option, value: Any) -> str | None:
    """Why an API key cannot be what was meant: it is sent in an HTTP header or URL,
    which cannot carry a control character (a line break from YAML's `key: |`) or a
    non-ASCII one; the request would fail at run time with the key quoted in the error."""
    if not _is_api_key(option) or not isinstance(value, str):
        return None
    if value.isascii() and value.isprintable():
        return None
    return (
        "contains a control character (a line break?) or a non-ASCII character; "
        "it is sent in an HTTP header, which cannot carry it"
    )


def _out_of_bounds(option: Option, value: Any) -> str | None:
    """Why `value` breaks the option's bounds (`is too small; expected at least 1s`), if it does."""
    if value is None or isinstance(value, list):
        return None

    def shown_bound(bound: float) -> str:
        return str(Duration(int(bound))) if option.type is Duration else f"{bound:g}"

    if option.minimum is not None and value < option.minimum:
        return f"is too small; expected at least {shown_bound(option.minimum)}"
    if option.maximum is not None and value > option.maximum:
        return f"is too large; expected at most {shown_bound(option.maximum)}"
    return None


def shown(raw: Any, option: Option) -> str:
    """The bad value as a user may see it: secrets never printed, nor a URL's credentials,
    query or fragment (a URL refused for its `?apikey=…` would print the key)."""
    if option.secret:
        return "'***'"
    if isinstance(raw, str) and "://" in raw:
        return repr(_masked_url_text(raw))
    return repr(raw)


def _masked_url_text(text: str) -> str:
    """`text` (a URL, valid or not) with its userinfo, query and fragment as `***`."""
    base, query, _ = text.partition("?")
    base, fragment, _ = base.partition("#")
    base = re.sub(r"(?<=//)[^/?#]*@", "***@", base)
    return base + ("?***" if query else "") + ("#***" if fragment else "")


def _has_text(value: Any) -> bool:
    """Whether `value` holds anything that could be a secret: a string, or a number long
    enough to be a key or token (`[1, 2]` or `true` cannot be; `12345678` might)."""
    if isinstance(value, dict):
        return any(_has_text(k) or _has_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    if isinstance(value, bool) or value is None:
        return False
    return isinstance(value, str) or len(str(value)) > 6


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    node = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _check_unknown_keys(
    data: Any, prefix: tuple[str, ...], options: dict[tuple[str, ...], Option], problems: list[str]
) -> None:
    if data is None:  # an empty section, e.g. every key in it commented out
        return
    if not isinstance(data, dict):
        if prefix and prefix not in options:
            holds_secret = any(o.secret for p, o in options.items() if p[: len(prefix)] == prefix)
            got = "'***'" if holds_secret and _has_text(data) else repr(data)
            problems.append(f"{'.'.join(prefix)}: {got} is not valid; expected a section (mapping)")
        return
    children = {
        path[len(prefix)]
        for path in options
        if path[: len(prefix)] == prefix and len(path) > len(prefix)
    }
    for key, value in data.items():
        path = (*prefix, str(key))
        if str(key) not in children:
            hint = difflib.get_close_matches(str(key), sorted(children), n=1)
            where = ".".join(path)
            if hint:
                guess = ".".join((*prefix, hint[0]))
                problems.append(f"{where}: unknown key; did you mean '{guess}'?")
            else:
                allowed = ", ".join(sorted(children))
                problems.append(f"{where}: unknown key; expected one of {allowed}")
        elif path not in options:
            _check_unknown_keys(value, path, options, problems)


def _assemble(
    values: dict[tuple[str, ...], Any], cls: type = Config, prefix: tuple[str, ...] = ()
) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        path = (*prefix, f.name)
        if f.metadata.get("section"):
            kwargs[f.name] = _assemble(values, hints[f.name], path)
        elif path in values:
            kwargs[f.name] = values[path]
    return cls(**kwargs)


def _cross_checks(config: Config) -> list[str]:
    problems: list[str] = []
    sonarr = config.sonarr
    if sonarr.url is not None and not sonarr.api_key:
        problems.append("sonarr.api_key: required when sonarr.url is set (env SONARR_API_KEY)")
    if sonarr.url is not None and not sonarr.root_folder:
        problems.append("sonarr.root_folder: required when sonarr.url is set")
    if sonarr.url is not None and not sonarr.quality_profile:
        problems.append("sonarr.quality_profile: required when sonarr.url is set")
    f = config.filters
    if f.premiered.after and f.premiered.before and f.premiered.after >= f.premiered.before:
        problems.append(
            f"filters.premiered: after {f.premiered.after!r} is not before {f.premiered.before!r}"
        )
    problems.extend(_range_problems(f, "filters"))
    problems.extend(_notify_url_problems(config.notify.urls))
    problems.extend(_instance_problems(config))
    problems.extend(_route_problems(config))
    return problems


def _range_problems(section: Any, path: str) -> list[str]:
    """Every bound pair of `section` and the sections in it, `min`/`max` or
    `min_<x>`/`max_<x>` (filters.weight, filters.min_runtime): the lower one must not be
    above the other, or no show could pass. A new range section is checked with no change
    here."""
    problems = []
    names = [f.name for f in dataclasses.fields(section)]
    for name in names:
        value = getattr(section, name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            problems.extend(_range_problems(value, f"{path}.{name}"))
        elif name == "min" or name.startswith("min_"):
            high_name = "max" + name[3:]
            high = getattr(section, high_name, None) if high_name in names else None
            if value is not None and high is not None and value > high:
                problems.append(f"{path}.{name}: {value} is above {path}.{high_name} {high}")
    return problems


def _instance_problems(config: Config) -> list[str]:
    """An instance without a URL or key is a mistake: it is only there to be added to."""
    problems = []
    for name, settings in config.instances.items():
        env = f"INSTANCES_{name.upper()}"
        if settings.url is None:
            problems.append(f"instances.{name}.url: required (env {env}_URL)")
        elif not settings.api_key:
            problems.append(f"instances.{name}.api_key: required (env {env}_API_KEY)")
        if not settings.root_folder:
            problems.append(f"instances.{name}.root_folder: required")
        if not settings.quality_profile:
            problems.append(f"instances.{name}.quality_profile: required")
    if config.instances and config.sonarr.url is None:
        problems.append(
            "sonarr.url: required when `instances` are configured (the `default` instance)"
        )
    return problems


def _route_problems(config: Config) -> list[str]:
    """Names given and unique, match values that can match, instances that exist."""
    problems: list[str] = []
    known = config.instance_names
    seen: set[str] = set()
    for index, route in enumerate(config.routes):
        where = f"routes[{index}]"
        if not route.name:
            problems.append(f"{where}.name: required (explain and the logs name the route)")
        elif route.name in seen:
            problems.append(f"{where}.name: {route.name!r} is the name of an earlier route")
        seen.add(route.name)
        problems.extend(_never_matching(route.match, f"{where}.match"))
        if not route.instances:
            problems.append(
                f"{where}.instances: empty; a route must target at least one instance "
                "(leave `instances` out for `[default]`)"
            )
        for name in route.instances:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
                guess = f"; did you mean {hint[0]!r}?" if hint else ""
                problems.append(
                    f"{where}.instances: unknown instance {name!r}{guess} "
                    f"(known: {', '.join(known)})"
                )
        route.instances = list(dict.fromkeys(route.instances))
    return problems


def _never_matching(match: RouteMatch, where: str) -> list[str]:
    """Ids no show can have (TVMaze's start at 1): the key, and so the route, would match
    nothing without a word. (A blank text is refused for every list of text, by `coerce`.)"""
    return [
        f"{where}.ids: {i} is not a TVMaze id; expected a whole number of at least 1"
        for i in match.ids
        if i < 1
    ]


def _notify_url_problems(urls: list[str]) -> list[str]:
    """Each notification URL Apprise cannot use, named by position (never printed: a URL
    holds its service's token), with the nearest scheme Apprise knows as a suggestion."""
    if not urls:
        return []
    import apprise  # only when notifications are configured

    problems = []
    schemes: list[str] | None = None
    for index, url in enumerate(urls):
        if apprise_server(url) is not None:
            continue
        scheme, found, _ = url.partition("://")
        where = f"notify.urls[{index}]"
        if not found:
            problems.append(
                f"{where}: not a URL; expected scheme://... (see docs/notifications.md)"
            )
            continue
        if schemes is None:
            schemes = sorted(
                {s for entry in apprise.Apprise().details()["schemas"] for s in _schemes(entry)}
            )
        folded = scheme.lower()
        if folded in schemes:
            problems.append(f"{where}: Apprise cannot use this {folded}:// URL; check its parts")
            continue
        shown = masked_secret_url(url).removesuffix("://***")
        hint = difflib.get_close_matches(folded, schemes, n=1)
        guess = f"; did you mean '{hint[0]}://'?" if hint else " (see docs/notifications.md)"
        problems.append(f"{where}: unknown notification service '{shown}://'{guess}")
    return problems


def apprise_server(url: str) -> Any:
    """Apprise's plugin for `url`, or None. Apprise logs a URL it cannot use verbatim, and a
    URL is a secret (this runs before the log redaction knows it): its logger is muted."""
    import logging

    import apprise

    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        logger.setLevel(level)


def _schemes(entry: Mapping[str, Any]) -> list[str]:
    return [
        str(s).lower() for key in ("protocols", "secure_protocols") for s in entry.get(key) or ()
    ]


# --- the starter file ----------------------------------------------------------------------


def starter_yaml() -> str:
    """A commented config.yaml with every option at its default (`config init`, examples/)."""
    lines = [
        "# tvmaze-sync configuration. Every key is optional; shown values are the defaults.",
        "# Any value can be `${VAR}` (or `${VAR}` with VAR_FILE set, for Docker secrets), and",
        "# every key can be overridden by an environment variable, named beside it.",
        "",
    ]
    opened: tuple[str, ...] = ()
    for option in iter_options():
        parents = option.path[:-1]
        common = 0
        while common < min(len(parents), len(opened)) and parents[common] == opened[common]:
            common += 1
        for depth in range(common, len(parents)):
            if depth == 0:
                lines.append("")
            lines.append(f"{'  ' * depth}{parents[depth]}:")
        opened = parents
        indent = "  " * len(parents)
        lines.append(f"{indent}# {option.help} [{option.type_name}] env: {option.env}")
        value = yaml.safe_dump(
            {option.path[-1]: plain(option.default)},
            default_flow_style=True,
            sort_keys=False,
            width=1 << 30,  # one line per option, however long its default list
        ).strip()[1:-1]
        commented = option.default is None or option.secret
        lines.append(f"{indent}{'# ' if commented else ''}{value}")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
