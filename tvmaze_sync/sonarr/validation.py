"""Startup validation: every Sonarr setting checked against the server before anything is
written, and the names a user configures resolved to the ids an add needs.

A wrong setting is a ConfigError (exit 2) naming the bad value and the valid choices
("quality profile 'HD-1080' not found in Sonarr; available: Any, HD-1080p"); all of them are
reported at once, of every instance (`check` reads and collects, writing nothing; `refuse`
raises them all; `finish` then creates the missing tags, so a run that ends in exit 2 has
created none). An
unreachable or refusing Sonarr is a DependencyError (exit 3) from the gateway, and so is a
root folder Sonarr reports inaccessible (an unmounted disk: every add would fail). Sonarr v4
has no language profiles: a configured one is ignored with one warning; v3 requires one,
and knows fewer `monitor` modes (and `lastSeason` as `latestSeason`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tvmaze_sync.core.config import Route, SonarrConfig
from tvmaze_sync.core.errors import ConfigError
from tvmaze_sync.sonarr.gateway import (
    ServerInfo,
    SonarrGateway,
    SonarrUnavailable,
    SonarrUnreadable,
    sonarr_int,
)

log = logging.getLogger(__name__)

#: `addOptions.monitor` values Sonarr v3 understands; v3 calls `lastSeason` `latestSeason`.
V3_MONITOR = {
    "all": "all",
    "future": "future",
    "missing": "missing",
    "existing": "existing",
    "firstSeason": "firstSeason",
    "lastSeason": "latestSeason",
    "pilot": "pilot",
    "none": "none",
}


def _language_profiles(gateway: SonarrGateway) -> list[dict[str, Any]]:
    # pyarr 6.9 has no language profile call (v3 only; v4 answers a "Deprecated" stub), so
    # this one goes through its request layer.
    return gateway.get_list("languageprofile")


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "(none)"


@dataclasses.dataclass
class Checked:
    """One instance read and checked, nothing written: its problems (exit 2), its
    inaccessible root folders (exit 3), and the lists `finish` resolves ids from."""

    lists: _Lists
    problems: list[str]
    unavailable: list[str]
    info: ServerInfo | None = None
    routed: dict[str, tuple[SonarrConfig, ServerInfo]] = dataclasses.field(default_factory=dict)


def check(gateway: SonarrGateway, routes: Sequence[Route] = ()) -> Checked:
    """Read what the settings name and collect every problem; write nothing (a missing tag
    is only noted). `routes`: each one adding to this instance has its `set` overrides
    checked too, its problems naming the route. Raises DependencyError (exit 3) when Sonarr
    cannot be reached or refuses the key."""
    status = gateway.get("system/status", gateway.client.system.get_status)
    lists = _Lists(gateway)
    checked = Checked(lists, [], lists.unavailable)
    server = _sonarr_version(gateway, status, checked.problems)
    if server is not None:
        lists.version, lists.major = server
        checked.info, checked.routed = _resolve_all(lists, routes, checked.problems)
    return checked


def _sonarr_version(
    gateway: SonarrGateway, status: Any, problems: list[str]
) -> tuple[str, int] | None:
    """The version and major version /system/status gives, or None with the problem added
    when the answer is not a Sonarr we can use."""
    if not isinstance(status, Mapping) or not status.get("version"):
        problems.append(
            f"{gateway.key('url')}: {gateway.url} does not answer like Sonarr (no version in "
            "/api/v3/system/status); check the URL and its URL base"
        )
        return None
    app = str(status.get("appName") or "Sonarr")
    if app.lower() != "sonarr":
        problems.append(f"{gateway.key('url')}: {gateway.url} is {app}, not Sonarr")
        return None
    version = str(status["version"])
    match = re.match(r"(\d+)", version)
    if not match or int(match.group(1)) < 3:
        problems.append(f"{gateway.key('url')}: Sonarr {version} is too old; tvmaze-sync needs v3+")
        return None
    return version, int(match.group(1))


def refuse(checked: Iterable[Checked]) -> None:
    """Raise one ConfigError (exit 2) with the problems of every checked instance, when any
    has one; an inaccessible root folder is listed with them (every problem at once)."""
    every = list(checked)
    problems = [problem for one in every for problem in one.problems]
    if problems:
        raise ConfigError(problems + [line for one in every for line in one.unavailable])


def finish(checked: Checked) -> ServerInfo:
    """After every instance checked clean: create the missing tags (not in a dry run) and
    give the gateway its ids (`gateway.info`, `gateway.routed`). Raises DependencyError
    (exit 3) for an inaccessible root folder or a tag Sonarr would not create."""
    lists = checked.lists
    gateway = lists.gateway
    if checked.unavailable:
        raise SonarrUnavailable("; ".join(checked.unavailable))
    info, routed = checked.info, checked.routed
    assert info is not None and not checked.problems, "finish() only what check() passed"
    if lists.missing_tags and gateway.read_only:
        log.warning("sonarr_tags_not_created dry_run=true labels=%s", ",".join(lists.missing_tags))
    elif lists.missing_tags:
        tags = lists.get("tag")
        for label in lists.missing_tags:
            tags.append({"id": gateway.create_tag(label), "label": label.lower()})
            log.info("sonarr_tag_created label=%r id=%d", label, tags[-1]["id"])
        info = dataclasses.replace(info, tag_ids=_tag_ids(lists, gateway.config.tags))
        routed = {
            name: (settings, dataclasses.replace(ids, tag_ids=_tag_ids(lists, settings.tags)))
            for name, (settings, ids) in routed.items()
        }
    gateway.info = info
    gateway.routed = routed
    log.info(
        "sonarr_validated url=%s version=%s root_folder=%r quality_profile_id=%d tags=%s "
        "instance=%s routes=%d",
        gateway.url,
        info.version,
        info.root_folder,
        info.quality_profile_id,
        ",".join(map(str, info.tag_ids)) or "-",
        gateway.name,
        len(routed),
    )
    return info


def _resolve_all(
    lists: _Lists, routes: Sequence[Route], problems: list[str]
) -> tuple[ServerInfo | None, dict[str, tuple[SonarrConfig, ServerInfo]]]:
    """The instance's settings and every route adding to it, as ids; problems added."""
    gateway = lists.gateway
    info = _resolve(lists, gateway.config, gateway.key, problems)
    routed: dict[str, tuple[SonarrConfig, ServerInfo]] = {}
    for index, route in enumerate(routes):
        if gateway.name in route.instances:
            resolved = _resolve_route(lists, info, index, route, problems)
            if resolved is not None:
                routed[route.name] = resolved
    return info, routed


def _resolve_route(
    lists: _Lists, info: ServerInfo | None, index: int, route: Route, problems: list[str]
) -> tuple[SonarrConfig, ServerInfo] | None:
    """The settings of `route` on this instance: its `set` keys resolved, each problem
    naming the route; the other keys are the instance's (`info`, None if it had problems)."""
    overrides = route.overrides()
    settings = dataclasses.replace(lists.gateway.config, **overrides)
    found: list[str] = []

    def key(name: str) -> str:
        return f"route {route.name!r} (routes[{index}].set.{name})"

    changed: dict[str, Any] = {}
    if "root_folder" in overrides:
        changed["root_folder"] = _root_folder(lists, settings, key("root_folder"), found)
    if "quality_profile" in overrides:
        changed["quality_profile_id"] = quality = _by_name(
            lists.get("qualityprofile"),
            key("quality_profile"),
            "quality profile",
            settings.quality_profile,
        )
        if isinstance(quality, str):
            found.append(quality)
    if "monitor" in overrides:
        changed["monitor"] = _monitor(settings, key("monitor"), lists.major, lists.version, found)
    if "tags" in overrides:
        changed["tag_ids"] = _tags(lists, settings, key("tags"), found)
    problems.extend(found)
    if found or info is None:
        return None
    return settings, dataclasses.replace(info, **changed)


class _Lists:
    """Sonarr's root folders, profiles and tags, each read once however many routes ask;
    with what the checks found that is not a configuration error: tags to create, and root
    folders Sonarr cannot reach."""

    def __init__(self, gateway: SonarrGateway) -> None:
        self.gateway = gateway
        self._read: dict[str, list[dict[str, Any]]] = {}
        self.version, self.major = "?", 4
        self.missing_tags: list[str] = []  # create_missing_tags: made by `finish`
        self.unavailable: list[str] = []

    def get(self, path: str) -> list[dict[str, Any]]:
        if path not in self._read:
            client = self.gateway.client
            fns = {
                "rootfolder": client.root_folder.get,
                "qualityprofile": client.quality_profile.get,
                "tag": client.tag.get,
            }
            if path == "languageprofile":
                self._read[path] = _language_profiles(self.gateway)
            else:
                self._read[path] = self.gateway.get_list(path, fns[path])
        return self._read[path]


def _resolve(
    lists: _Lists, config: SonarrConfig, key: Callable[[str], str], problems: list[str]
) -> ServerInfo | None:
    """`config`'s names as the ids an add needs, or None with its problems added."""
    major, version = lists.major, lists.version
    found: list[str] = []
    root = _root_folder(lists, config, key("root_folder"), found)
    quality = _by_name(
        lists.get("qualityprofile"),
        key("quality_profile"),
        "quality profile",
        config.quality_profile,
    )
    language: int | str | None = None
    if major >= 4:
        if config.language_profile:
            log.warning(
                "sonarr_language_profile_ignored version=%s value=%r reason=%s",
                version,
                config.language_profile,
                "Sonarr_v4_has_no_language_profiles",
            )
    elif not config.language_profile:
        names = [p.get("name", "") for p in lists.get("languageprofile")]
        found.append(
            f"{key('language_profile')}: required by Sonarr v3 ({version}); "
            f"available: {_names(names)}"
        )
    else:
        language = _by_name(
            lists.get("languageprofile"),
            key("language_profile"),
            "language profile",
            config.language_profile,
        )
    monitor = _monitor(config, key("monitor"), major, version, found)
    new_items: str | None = config.monitor_new_items
    if major < 4:
        if new_items != "all":  # v3 monitors new seasons; only a different wish is lost
            log.warning(
                "sonarr_monitor_new_items_ignored version=%s value=%s reason=%s",
                version,
                new_items,
                "needs_Sonarr_v4",
            )
        new_items = None
    found.extend(item for item in (quality, language) if isinstance(item, str))
    tag_ids = _tags(lists, config, key("tags"), found)
    problems.extend(found)
    if found:
        return None
    assert isinstance(quality, int) and root is not None
    return ServerInfo(
        version=version,
        major=major,
        root_folder=root,
        quality_profile_id=quality,
        language_profile_id=language if isinstance(language, int) else None,
        tag_ids=tag_ids,
        monitor=monitor,
        monitor_new_items=new_items,
    )


def _root_folder(lists: _Lists, config: SonarrConfig, key: str, problems: list[str]) -> str | None:
    wanted = config.root_folder
    folders = lists.get("rootfolder")
    paths = [str(f.get("path", "")) for f in folders]

    def norm(path: str) -> str:
        return path.rstrip("/\\") or path

    for folder in folders:
        if norm(str(folder.get("path", ""))) == norm(wanted):
            if folder.get("accessible") is False:
                # Every add would be rejected and wrongly marked failed: `finish` stops.
                message = (
                    f"Sonarr at {lists.gateway.url}: root folder '{folder['path']}'{_for(key)} "
                    "is not accessible to Sonarr (missing or unmounted); fix it in Sonarr"
                )
                if message not in lists.unavailable:
                    lists.unavailable.append(message)
            return str(folder["path"])
    problems.append(
        f"{key}: root folder '{wanted}' not found in Sonarr; available: {_names(paths)}"
    )
    return None


def _for(key: str) -> str:
    """Which route asks for a folder, when one does."""
    return f" (of {key})" if key.startswith("route") else ""


def _by_name(items: list[dict[str, Any]], key: str, what: str, wanted: str) -> int | str:
    """The id of the item named `wanted` (exact, else the one case-insensitive match),
    or the problem to report."""
    names = [str(item.get("name", "")) for item in items]
    exact = [item for item in items if item.get("name") == wanted]
    folded = [item for item in items if str(item.get("name", "")).lower() == wanted.lower()]
    match = exact or (folded if len(folded) == 1 else [])
    if match:
        try:
            return sonarr_int(match[0].get("id"), minimum=1)
        except ValueError as error:
            raise SonarrUnreadable(
                f"Sonarr sent an unreadable answer for the {what} '{wanted}': {error}"
            ) from None
    return f"{key}: {what} '{wanted}' not found in Sonarr; available: {_names(names)}"


def _monitor(config: SonarrConfig, key: str, major: int, version: str, problems: list[str]) -> str:
    monitor = config.monitor
    if major >= 4:
        return monitor
    if monitor not in V3_MONITOR:
        problems.append(
            f"{key}: '{monitor}' needs Sonarr v4 (this is {version}); "
            f"Sonarr v3 accepts: {_names(list(V3_MONITOR))}"
        )
        return monitor
    return V3_MONITOR[monitor]


def _tags(lists: _Lists, config: SonarrConfig, key: str, problems: list[str]) -> list[int]:
    """The ids of `config.tags` Sonarr has; a missing one is a problem, or, with
    `create_missing_tags`, noted for `finish` to create."""
    gateway = lists.gateway
    # One tag per label in any case (Sonarr's are lower-cased, UNIQUE): asked to create
    # 'NewTag' after 'newtag', Sonarr answers 409.
    firsts: dict[str, str] = {}
    for label in config.tags:
        firsts.setdefault(label.lower(), label)
    wanted = list(firsts.values())
    if not wanted:
        return []
    by_label = _by_label(lists)
    missing = [label for label in wanted if label.lower() not in by_label]
    if missing and not config.create_missing_tags:
        problems.append(
            f"{key}: tag{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} not found in Sonarr; available: "
            f"{_names([str(t.get('label', '')) for t in lists.get('tag')])} "
            f"(or set {gateway.key('create_missing_tags')}: true)"
        )
        return []
    folded = {label.lower() for label in lists.missing_tags}
    lists.missing_tags += [label for label in missing if label.lower() not in folded]
    return _tag_ids(lists, wanted)


def _by_label(lists: _Lists) -> dict[str, int]:
    # Sonarr stores labels lower-cased, so compare without case.
    read_int = lists.gateway.read_int
    return {
        str(t.get("label", "")).lower(): read_int(t, "id", "tag")
        for t in lists.get("tag")
        if "id" in t
    }


def _tag_ids(lists: _Lists, labels: Sequence[str]) -> list[int]:
    """The ids of the `labels` Sonarr has, in order, once each."""
    by_label = _by_label(lists)
    ids = [by_label[label.lower()] for label in labels if label.lower() in by_label]
    return list(dict.fromkeys(ids))
