"""Sonarr's validators (FluentValidation rules of its controllers), failing like Sonarr."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from tests.doubles.sonarr_sim.constants import _LINUX_SYSTEM_FOLDERS
from tests.doubles.sonarr_sim.helpers import (
    _blank,
    _camel,
    _clean_path,
    _display_name,
    _drop_none,
    _is_parent_path,
    _levenshtein,
    _path_equals,
    _path_valid,
    _series_folder,
)
from tests.doubles.sonarr_sim.library import Library
from tests.doubles.sonarr_sim.replies import Replies


class Validation(Replies, Library):
    """ValidationFailure builders and the rules of the series, root folder and exclusion
    controllers (the library is what several rules look at)."""

    def _failure(
        self,
        prop: str,
        value: Any,
        code: str | None,
        message: str,
        args: Mapping[str, Any] | None = None,
        *,
        builtin: bool = False,
    ) -> dict[str, Any]:
        """One ValidationFailure, serialised like Sonarr (FluentValidation 9.5 / 8.4 on v3).

        Placeholder names are camel-cased (the serializer's dictionary key policy);
        ``code`` ``None`` is a failure built by hand, without placeholders.
        """
        if code is None:
            return _drop_none(
                {
                    "propertyName": prop,
                    "errorMessage": message,
                    "attemptedValue": value,
                    "severity": "error",
                }
            )
        placeholders: dict[str, Any] = {_camel(k): v for k, v in (args or {}).items()}
        placeholders["propertyName"] = _display_name(prop)
        placeholders["propertyValue"] = value
        values = {**(args or {}), "PropertyName": _display_name(prop), "PropertyValue": value}

        def fill(m: re.Match[str]) -> str:
            key = m.group(1)
            return str(values[key]) if key in values and values[key] is not None else m.group(0)

        text = re.sub(r"\{([^{}:]+)\}", fill, message)
        failure: dict[str, Any] = {
            "propertyName": prop,
            "errorMessage": text,
            "attemptedValue": value,
            "severity": "error",
            "errorCode": code,
            "formattedMessageArguments": [],
            "formattedMessagePlaceholderValues": placeholders,
        }
        if self.is_v3 and builtin:
            failure["resourceName"] = code
        return _drop_none(failure)

    def _not_empty(self, prop: str, value: Any) -> dict[str, Any]:
        return self._failure(
            prop, value, "NotEmptyValidator", "'{PropertyName}' must not be empty.", builtin=True
        )

    def _greater_than(self, prop: str, value: Any, bound: int) -> dict[str, Any]:
        return self._failure(
            prop,
            value,
            "GreaterThanValidator",
            "'{PropertyName}' must be greater than '{ComparisonValue}'.",
            {"ComparisonValue": bound, "ComparisonProperty": ""},
            builtin=True,
        )

    def _path_failure(self, prop: str, value: Any, code: str, v4: str, v3: str) -> dict[str, Any]:
        if self.is_v3:
            return self._failure(prop, value, code, v3)
        args = {"path": value} if value is not None else {}
        return self._failure(prop, value, code, v4, args)

    def _invalid_path(self, prop: str, value: Any) -> dict[str, Any]:
        return self._path_failure(
            prop, value, "PathValidator", "Invalid Path: '{path}'", "Invalid Path"
        )

    def _root_folder_rule(self, prop: str, path: str) -> dict[str, Any] | None:
        """RootFolderValidator: the path must not be a root folder already."""
        if not any(_path_equals(rf["path"], path) for rf in self._root_folders.values()):
            return None
        return self._path_failure(
            prop,
            path,
            "RootFolderValidator",
            "Path '{path}' is already configured as a root folder",
            "Path is already configured as a root folder",
        )

    def _series_path_rules(self, prop: str, path: str, own_id: int) -> dict[str, Any] | None:
        """Path, RootFolder, SeriesPath, SeriesAncestor, SystemFolder (cascade: first wins)."""
        if not _path_valid(path):
            return self._invalid_path(prop, path)
        if root_folder := self._root_folder_rule(prop, path):
            return root_folder
        if any(s["id"] != own_id and _path_equals(s["path"], path) for s in self._series.values()):
            return self._path_failure(
                prop,
                path,
                "SeriesPathValidator",
                "Path '{path}' is already configured for another series",
                "Path is already configured for another series",
            )
        if any(_is_parent_path(path, s["path"]) for s in self._series.values()):
            return self._path_failure(
                prop,
                path,
                "SeriesAncestorValidator",
                "Path '{path}' is an ancestor of an existing series",
                "Path is an ancestor of an existing series",
            )
        for system in _LINUX_SYSTEM_FOLDERS:
            if _path_equals(system, path) or _is_parent_path(system, path):
                relation = "set to" if _path_equals(system, path) else "child of"
                return self._failure(
                    prop,
                    path,
                    "SystemFolderValidator",
                    "Path '{path}' is {relationship} system folder {systemFolder}",
                    {"path": path, "systemFolder": system, "relationship": relation},
                )
        return None

    def _add_path_rules(self, path: str) -> dict[str, Any] | None:
        """AddSeriesValidator's Path rule: valid, not a root folder, unused, not an ancestor."""
        if not _path_valid(path):
            return self._invalid_path("Path", path)
        failure = self._series_path_rules("Path", path, 0)
        if failure and failure["errorCode"] != "SystemFolderValidator":
            return failure
        return None

    def _given_path_rules(self, path: Any, own_id: int) -> list[dict[str, Any]]:
        """SharedValidator's Path rule: only when given; the cascade stops at the first failure."""
        if _blank(path):
            return []
        failure = self._series_path_rules("Path", path, own_id)
        return [failure] if failure else []

    def _quality_profile_rules(self, qp: int) -> list[dict[str, Any]]:
        """SharedValidator's QualityProfileId rule on 4.x: a valid id, then one that exists."""
        if qp <= 0:
            return [self._greater_than("QualityProfileId", qp, 0)]
        if qp not in self._quality_profiles:
            return [
                self._failure(
                    "QualityProfileId",
                    qp,
                    "QualityProfileExistsValidator",
                    "Quality Profile does not exist",
                )
            ]
        return []

    def _validate_series_post(self, res: Mapping[str, Any]) -> list[dict[str, Any]]:
        """SeriesController's SharedValidator then PostValidator rules, in Sonarr's order."""
        failures: list[dict[str, Any]] = []
        path: Any = res.get("path")
        root: Any = res.get("rootFolderPath")
        own_id = int(res.get("id") or 0)
        failures += self._given_path_rules(path, own_id)
        # Shared: QualityProfileId.
        qp = int(res.get("qualityProfileId") or 0)
        if self.is_v3:
            if qp <= 0:
                failures.append(self._greater_than("QualityProfileId", qp, 0))
            if qp not in self._quality_profiles:
                failures.append(
                    self._failure(
                        "QualityProfileId",
                        qp,
                        "ProfileExistsValidator",
                        "QualityProfile does not exist",
                    )
                )
            lp = int(res.get("languageProfileId") or 0)
            if lp not in self._language_profiles:
                failures.append(
                    self._failure(
                        "LanguageProfileId",
                        lp,
                        "LanguageProfileExistsValidator",
                        "Language profile does not exist",
                    )
                )
        else:
            failures += self._quality_profile_rules(qp)
        # Post: Path when no root folder path.
        if _blank(root):
            if not self.is_v3 and _blank(path):
                failures.append(self._not_empty("Path", path))
            elif not _path_valid(path):
                failures.append(self._invalid_path("Path", path))
        # Post: RootFolderPath when no path.
        if _blank(path):
            if not self.is_v3 and _blank(root):
                failures.append(self._not_empty("RootFolderPath", root))
            elif not _path_valid(root):
                failures.append(self._invalid_path("RootFolderPath", root))
            elif not self.is_v3 and not any(
                _path_equals(rf["path"], root) for rf in self._root_folders.values()
            ):
                failures.append(
                    self._failure(
                        "RootFolderPath",
                        root,
                        "RootFolderExistsValidator",
                        "Root folder '{path}' does not exist",
                        {"path": root},
                    )
                )
            else:
                folder = _series_folder(res.get("title"))
                root_name = posixpath.basename(_clean_path(str(root)))
                distance = _levenshtein(folder, root_name)
                if folder == root_name or distance < max(1, len(folder) * 0.2):
                    message = (
                        "Root folder path contains series folder"
                        if self.is_v3
                        else "Root folder path '{rootFolderPath}' contains series folder "
                        "'{seriesFolder}'"
                    )
                    args = None if self.is_v3 else {"rootFolderPath": root, "seriesFolder": folder}
                    failures.append(
                        self._failure(
                            "RootFolderPath",
                            root,
                            "SeriesFolderAsRootFolderValidator",
                            message,
                            args,
                        )
                    )
        # Post: Title, TvdbId.
        if _blank(res.get("title")):
            failures.append(self._not_empty("Title", res.get("title")))
        tvdb = int(res.get("tvdbId") or 0)
        if tvdb <= 0:
            failures.append(self._greater_than("TvdbId", tvdb, 0))
        if self._find_series_by_tvdb(tvdb) is not None:
            failures.append(
                self._failure(
                    "TvdbId", tvdb, "SeriesExistsValidator", "This series has already been added"
                )
            )
        return failures

    def _exclusion_failures(self, res: Mapping[str, Any], own_id: int) -> list[dict[str, Any]]:
        failures = []
        tvdb = int(res.get("tvdbId") or 0)
        if tvdb == 0:
            failures.append(self._not_empty("TvdbId", tvdb))
        elif any(e["tvdbId"] == tvdb and e["id"] != own_id for e in self._exclusions.values()):
            failures.append(
                self._failure(
                    "TvdbId",
                    tvdb,
                    "ImportListExclusionExistsValidator",
                    "This exclusion has already been added.",
                )
            )
        if _blank(res.get("title")):
            failures.append(self._not_empty("Title", res.get("title")))
        return failures
