"""Startup validation: every Sonarr setting checked against the server before anything is
written, and the names a user configures resolved to the ids an add needs.

A wrong setting is a ConfigError (exit 2) naming the bad value and the valid choices
("quality profile 'HD-1080' not found in Sonarr; available: Any, HD-1080p"); all of them are
reported at once. An unreachable or refusing Sonarr is a DependencyError (exit 3) from the
gateway. Sonarr v4 has no language profiles: a configured one is ignored with one warning;
v3 requires one, and knows fewer `monitor` modes (and `lastSeason` as `latestSeason`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
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


def validate(gateway: SonarrGateway, routes: Sequence[Route] = ()) -> ServerInfo:
    """Check every setting against the server before anything is written.

    `routes`: the configuration's routes; each one that adds to this instance has its `set`
    overrides resolved too (`gateway.routed`), and its problems name the route.
    Raises DependencyError (exit 3) when Sonarr cannot be reached or refuses the key,
    ConfigError (exit 2) naming the bad value and the valid choices otherwise.
    """
    status = gateway.get("system/status", gateway.client.system.get_status)
    if not isinstance(status, Mapping) or not status.get("version"):
        raise ConfigError(
            f"{gateway.key('url')}: {gateway.url} does not answer like Sonarr (no version in "
            "/api/v3/system/status); check the URL and its URL base"
        )
    app = str(status.get("appName") or "Sonarr")
    if app.lower() != "sonarr":
        raise ConfigError(f"{gateway.key('url')}: {gateway.url} is {app}, not Sonarr")
    version = str(status["version"])
    match = re.match(r"(\d+)", version)
    major = int(match.group(1)) if match else 0
    if major < 3:
        raise ConfigError(
            f"{gateway.key('url')}: Sonarr {version} is too old; tvmaze-sync needs v3+"
        )
    problems: list[str] = []
    lists = _Lists(gateway)
    info = _resolve(lists, gateway.config, major, version, gateway.key, problems)
    routed: dict[str, tuple[SonarrConfig, ServerInfo]] = {}
    for index, route in enumerate(routes):
        if gateway.name in route.instances:
            resolved = _resolve_route(lists, info, index, route, problems)
            if resolved is not None:
                routed[route.name] = resolved
    if problems:
        raise ConfigError(problems)
    assert info is not None
    gateway.info = info
    gateway.routed = routed
    log.info(
        "sonarr_validated url=%s version=%s root_folder=%r quality_profile_id=%d tags=%s "
        "instance=%s routes=%d",
        gateway.url,
        version,
        info.root_folder,
        info.quality_profile_id,
        ",".join(map(str, info.tag_ids)) or "-",
        gateway.name,
        len(routed),
    )
    return info


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
        major = info.major if info else 4
        version = info.version if info else "?"
        changed["monitor"] = _monitor(settings, key("monitor"), major, version, found)
    if "tags" in overrides:
        changed["tag_ids"] = _tags(lists, settings, key("tags"), found)
    problems.extend(found)
    if found or info is None:
        return None
    return settings, dataclasses.replace(info, **changed)


class _Lists:
    """Sonarr's root folders, profiles and tags, each read once however many routes ask."""

    def __init__(self, gateway: SonarrGateway) -> None:
        self.gateway = gateway
        self._read: dict[str, list[dict[str, Any]]] = {}

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
    lists: _Lists,
    config: SonarrConfig,
    major: int,
    version: str,
    key: Callable[[str], str],
    problems: list[str],
) -> ServerInfo | None:
    """`config`'s names as the ids an add needs, or None with its problems added."""
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
                # Every add would be rejected and wrongly marked failed: stop instead.
                raise SonarrUnavailable(
                    f"Sonarr at {lists.gateway.url}: root folder '{folder['path']}'{_for(key)} "
                    "is not accessible to Sonarr (missing or unmounted); fix it in Sonarr"
                )
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
    gateway = lists.gateway
    wanted = list(dict.fromkeys(config.tags))
    if not wanted:
        return []
    tags = lists.get("tag")
    # Sonarr stores labels lower-cased, so compare without case.
    by_label = {
        str(t.get("label", "")).lower(): gateway.read_int(t, "id", "tag") for t in tags if "id" in t
    }
    missing = [label for label in wanted if label.lower() not in by_label]
    if missing and not config.create_missing_tags:
        problems.append(
            f"{key}: tag{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} not found in Sonarr; available: "
            f"{_names([str(t.get('label', '')) for t in tags])} "
            f"(or set {gateway.key('create_missing_tags')}: true)"
        )
        return []
    if missing and gateway.read_only:
        log.warning("sonarr_tags_not_created dry_run=true labels=%s", ",".join(missing))
        return [by_label[label.lower()] for label in wanted if label.lower() in by_label]
    for label in missing:
        by_label[label.lower()] = gateway.create_tag(label)
        tags.append({"id": by_label[label.lower()], "label": label.lower()})
        log.info("sonarr_tag_created label=%r id=%d", label, by_label[label.lower()])
    return [by_label[label.lower()] for label in wanted]
