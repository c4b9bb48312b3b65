"""Startup validation: every Sonarr setting checked against the server before anything is
written, and the names a user configures resolved to the ids an add needs.

A wrong setting is a ConfigError (exit 2) naming the bad value and the valid choices
("quality profile 'HD-1080' not found in Sonarr; available: Any, HD-1080p"); all of them are
reported at once. An unreachable or refusing Sonarr is a DependencyError (exit 3) from the
gateway. Sonarr v4 has no language profiles: a configured one is ignored with one warning;
v3 requires one, and knows fewer `monitor` modes (and `lastSeason` as `latestSeason`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

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


def validate(gateway: SonarrGateway) -> ServerInfo:
    """Check every setting against the server before anything is written.

    Raises DependencyError (exit 3) when Sonarr cannot be reached or refuses the key,
    ConfigError (exit 2) naming the bad value and the valid choices otherwise.
    """
    status = gateway.get("system/status", gateway.client.system.get_status)
    if not isinstance(status, Mapping) or not status.get("version"):
        raise ConfigError(
            f"sonarr.url: {gateway.url} does not answer like Sonarr (no version in "
            "/api/v3/system/status); check the URL and its URL base"
        )
    app = str(status.get("appName") or "Sonarr")
    if app.lower() != "sonarr":
        raise ConfigError(f"sonarr.url: {gateway.url} is {app}, not Sonarr")
    version = str(status["version"])
    match = re.match(r"(\d+)", version)
    major = int(match.group(1)) if match else 0
    if major < 3:
        raise ConfigError(f"sonarr.url: Sonarr {version} is too old; tvmaze-sync needs v3+")
    problems: list[str] = []
    root = _root_folder(gateway, problems)
    quality = _by_name(
        gateway.get_list("qualityprofile", gateway.client.quality_profile.get),
        "sonarr.quality_profile",
        "quality profile",
        gateway.config.quality_profile,
    )
    language: int | str | None = None
    if major >= 4:
        if gateway.config.language_profile:
            log.warning(
                "sonarr_language_profile_ignored version=%s value=%r reason=%s",
                version,
                gateway.config.language_profile,
                "Sonarr_v4_has_no_language_profiles",
            )
    elif not gateway.config.language_profile:
        names = [p.get("name", "") for p in _language_profiles(gateway)]
        problems.append(
            f"sonarr.language_profile: required by Sonarr v3 ({version}); "
            f"available: {_names(names)}"
        )
    else:
        language = _by_name(
            _language_profiles(gateway),
            "sonarr.language_profile",
            "language profile",
            gateway.config.language_profile,
        )
    monitor = _monitor(gateway, major, version, problems)
    new_items: str | None = gateway.config.monitor_new_items
    if major < 4:
        if new_items != "all":  # v3 monitors new seasons; only a different wish is lost
            log.warning(
                "sonarr_monitor_new_items_ignored version=%s value=%s reason=%s",
                version,
                new_items,
                "needs_Sonarr_v4",
            )
        new_items = None
    problems.extend(item for item in (quality, language) if isinstance(item, str))
    tag_ids = _tags(gateway, problems)
    if problems:
        raise ConfigError(problems)
    assert isinstance(quality, int)
    assert root is not None
    info = gateway.info = ServerInfo(
        version=version,
        major=major,
        root_folder=root,
        quality_profile_id=quality,
        language_profile_id=language if isinstance(language, int) else None,
        tag_ids=tag_ids,
        monitor=monitor,
        monitor_new_items=new_items,
    )
    log.info(
        "sonarr_validated url=%s version=%s root_folder=%r quality_profile_id=%d tags=%s",
        gateway.url,
        version,
        root,
        quality,
        ",".join(map(str, tag_ids)) or "-",
    )
    return info


def _root_folder(gateway: SonarrGateway, problems: list[str]) -> str | None:
    wanted = gateway.config.root_folder
    folders = gateway.get_list("rootfolder", gateway.client.root_folder.get)
    paths = [str(f.get("path", "")) for f in folders]

    def norm(path: str) -> str:
        return path.rstrip("/\\") or path

    for folder in folders:
        if norm(str(folder.get("path", ""))) == norm(wanted):
            if folder.get("accessible") is False:
                # Every add would be rejected and wrongly marked failed: stop instead.
                raise SonarrUnavailable(
                    f"Sonarr at {gateway.url}: root folder '{folder['path']}' is not "
                    "accessible to Sonarr (missing or unmounted); fix it in Sonarr"
                )
            return str(folder["path"])
    problems.append(
        f"sonarr.root_folder: root folder '{wanted}' not found in Sonarr; "
        f"available: {_names(paths)}"
    )
    return None


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


def _monitor(gateway: SonarrGateway, major: int, version: str, problems: list[str]) -> str:
    monitor = gateway.config.monitor
    if major >= 4:
        return monitor
    if monitor not in V3_MONITOR:
        problems.append(
            f"sonarr.monitor: '{monitor}' needs Sonarr v4 (this is {version}); "
            f"Sonarr v3 accepts: {_names(list(V3_MONITOR))}"
        )
        return monitor
    return V3_MONITOR[monitor]


def _tags(gateway: SonarrGateway, problems: list[str]) -> list[int]:
    wanted = list(dict.fromkeys(gateway.config.tags))
    if not wanted:
        return []
    tags = gateway.get_list("tag", gateway.client.tag.get)
    # Sonarr stores labels lower-cased, so compare without case.
    by_label = {
        str(t.get("label", "")).lower(): gateway.read_int(t, "id", "tag") for t in tags if "id" in t
    }
    missing = [label for label in wanted if label.lower() not in by_label]
    if missing and not gateway.config.create_missing_tags:
        problems.append(
            f"sonarr.tags: tag{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} not found in Sonarr; available: "
            f"{_names([str(t.get('label', '')) for t in tags])} "
            "(or set sonarr.create_missing_tags: true)"
        )
        return []
    if missing and gateway.read_only:
        log.warning("sonarr_tags_not_created dry_run=true labels=%s", ",".join(missing))
        return [by_label[label.lower()] for label in wanted if label.lower() in by_label]
    for label in missing:
        by_label[label.lower()] = gateway.create_tag(label)
        log.info("sonarr_tag_created label=%r id=%d", label, by_label[label.lower()])
    return [by_label[label.lower()] for label in wanted]
