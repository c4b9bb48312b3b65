"""Routing: which route a wanted show follows, and so where it is added and with what.

`routes` is a list; the first route whose `match` holds for a show wins, and a show matching
none goes to the `default` instance with its own settings, as without routes. A `match` is
the filter vocabulary: every key given must hold, and a list means any of its values. Values
compare as the filters compare them (rules.py): any case, surrounding spaces ignored, UK is
GB, `networks` matches the network or the web channel, `title` is a keyword anywhere in the
title. A show with no value for a key (no genre, no network) does not match that key.

Pure: a Show and the configuration in, a Route out; the Sonarr phase applies it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config, Route, RouteMatch
from tvmaze_sync.core.models import Show
from tvmaze_sync.decisions.rules import fold_country, fold_word


def _any(wanted: Iterable[str], values: Iterable[str | None], norm: Callable[[str], str]) -> bool:
    keys = {norm(w) for w in wanted}
    return any(norm(v) in keys for v in values if v)


def matches(match: RouteMatch, show: Show) -> bool:
    """Whether every key `match` gives holds for `show` (an empty match holds for none:
    the configuration refuses one)."""
    checks: list[bool] = []
    if match.genres:
        checks.append(_any(match.genres, show.genres, fold_word))
    if match.types:
        checks.append(_any(match.types, (show.type,), fold_word))
    if match.networks:
        checks.append(_any(match.networks, (show.network, show.web_channel), fold_word))
    if match.languages:
        checks.append(_any(match.languages, (show.language,), fold_word))
    if match.countries:
        checks.append(_any(match.countries, (show.country,), fold_country))
    if match.title:
        title = show.title.casefold()
        checks.append(any(k.strip().casefold() in title for k in match.title if k.strip()))
    if match.ids:
        checks.append(show.tvmaze_id in match.ids)
    return bool(checks) and all(checks)


def route_for(routes: Sequence[Route], show: Show) -> Route | None:
    """The first route `show` matches, or None (the `default` instance, unrouted)."""
    return next((route for route in routes if matches(route.match, show)), None)


def instances_for(routes: Sequence[Route], show: Show) -> list[str]:
    """The instances `show` is added to."""
    route = route_for(routes, show)
    return list(route.instances) if route is not None else [DEFAULT_INSTANCE]


def sends_elsewhere(routes: Sequence[Route], instance: str) -> bool:
    """Whether some show may be routed away from `instance` (else routing never makes a
    show unwanted there: without `instances`, every route adds to `default`)."""
    if instance != DEFAULT_INSTANCE:
        return True  # a show matching no route goes to `default`
    return any(DEFAULT_INSTANCE not in route.instances for route in routes)


def hash_key(routes: Sequence[Route], instance: str) -> list[Any] | None:
    """What of `routes` decides whether a show is wanted on `instance`, for the filter
    hash (a change re-decides the cache); None when routing decides nothing there, so a
    configuration without instances keeps its hash."""
    if not sends_elsewhere(routes, instance):
        return None
    return [
        {"match": dataclasses.asdict(route.match), "here": instance in route.instances}
        for route in routes
    ]


#: What `explain` shows of a target's settings, in this order.
SHOWN_SETTINGS = (
    "root_folder",
    "quality_profile",
    "series_type",
    "tags",
    "monitor",
    "season_folder",
    "search_on_add",
)


#: The settings a series keeps in Sonarr once added (where it lives, how it is fetched):
#: recorded in the ledger at the add, so `explain` can say when its target has changed
#: since. (`monitor` and `search_on_add` act once, at the add.)
LASTING_SETTINGS = ("root_folder", "quality_profile", "series_type", "tags", "season_folder")


def lasting(settings: Any) -> dict[str, Any]:
    """The LASTING_SETTINGS of `settings` (a SonarrConfig, or a `targets` entry)."""
    if isinstance(settings, dict):
        return {key: settings.get(key) for key in LASTING_SETTINGS}
    return {key: getattr(settings, key) for key in LASTING_SETTINGS}


def changed_settings(recorded: Any, current: dict[str, Any]) -> tuple[str, str] | None:
    """(what the series got, what its target is now) for the lasting settings that differ,
    or None. `recorded` is the ledger's JSON text (untrusted storage: anything unreadable
    says nothing)."""
    try:
        then = json.loads(recorded) if isinstance(recorded, str) else None
    except (ValueError, RecursionError):  # RecursionError: nested beyond reason
        return None
    if not isinstance(then, dict):
        return None
    changed = [
        key
        for key in LASTING_SETTINGS
        if key in then and _same(then[key]) != _same(current.get(key))
    ]
    if not changed:
        return None

    def shown(values: dict[str, Any]) -> str:
        return ", ".join(f"{key} {_value(values.get(key))}" for key in changed)

    return shown(then), shown(current)


def _same(value: Any) -> Any:
    """A setting as Sonarr holds it: tags as a set of lower-case labels (Sonarr stores
    labels lower-cased, and their order means nothing)."""
    if isinstance(value, list):
        return frozenset(str(item).lower() for item in value)
    return value


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "unset" if value is None else str(value)


def targets(config: Config, show: Show) -> tuple[Route | None, list[dict[str, Any]]]:
    """The route `show` follows and, per instance it goes to, the settings of its add
    (the instance's, with the route's `set` over them): what `explain` prints."""
    route = route_for(config.routes, show)
    names = list(route.instances) if route is not None else [DEFAULT_INSTANCE]
    overrides = route.overrides() if route is not None else {}
    found = []
    for name in names:
        settings = dataclasses.replace(config.instance(name), **overrides)
        shown = {key: getattr(settings, key) for key in SHOWN_SETTINGS}
        found.append({"instance": name, **shown})
    return route, found
