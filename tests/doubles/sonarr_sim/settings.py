"""The endpoints of Sonarr's settings: ping, system status, root folders, quality and
language profiles, tags."""

from __future__ import annotations

import copy
from typing import Any

from tests.doubles.sonarr_sim.binding import _ROOTFOLDER_SPEC, _TAG_SPEC, RequestBinding
from tests.doubles.sonarr_sim.constants import _BUILD_TIME
from tests.doubles.sonarr_sim.helpers import _iso, _lang, _path_valid
from tests.doubles.sonarr_sim.library import _root_folder
from tests.doubles.sonarr_sim.messages import _Ctx, _Reply
from tests.doubles.sonarr_sim.validation import Validation


class SettingsEndpoints(RequestBinding, Validation):
    """``/ping``, ``/api``, ``system/status``, ``rootfolder``, ``qualityprofile``,
    ``languageprofile`` and ``tag``."""

    def _ping(self, ctx: _Ctx) -> _Reply:
        return self._json({"status": "OK"})

    def _api_info(self, ctx: _Ctx) -> _Reply:
        return self._json({"current": "v3", "deprecated": []})

    def _system_status(self, ctx: _Ctx) -> _Reply:
        if self.is_v3:
            body: dict[str, Any] = {
                "appName": "Sonarr",
                "instanceName": "Sonarr",
                "version": self.version,
                "buildTime": "2022-06-12T21:30:44Z",
                "isDebug": False,
                "isProduction": True,
                "isAdmin": False,
                "isUserInteractive": False,
                "startupPath": "/usr/lib/sonarr/bin",
                "appData": "/config",
                "osName": "ubuntu",
                "osVersion": "20.04",
                "isMonoRuntime": True,
                "isMono": True,
                "isLinux": True,
                "isOsx": False,
                "isWindows": False,
                "mode": "console",
                "branch": "main",
                "authentication": "forms",
                "sqliteVersion": "3.31.1",
                "urlBase": self.url_base,
                "runtimeVersion": "6.12.0.182",
                "runtimeName": "mono",
                "startTime": _iso(self.start_time),
                "packageUpdateMechanism": "docker",
            }
            return self._json(body)
        body = {
            "appName": "Sonarr",
            "instanceName": "Sonarr",
            "version": self.version,
            "buildTime": _BUILD_TIME,
            "isDebug": False,
            "isProduction": True,
            "isAdmin": False,
            "isUserInteractive": False,
            "startupPath": "/app/sonarr/bin",
            "appData": "/config",
            "osName": "alpine",
            "osVersion": "3.22.1",
            "isNetCore": True,
            "isLinux": True,
            "isOsx": False,
            "isWindows": False,
            "isDocker": True,
            "mode": "console",
            "branch": "main",
            "authentication": "forms",
            "migrationVersion": 217,
            "urlBase": self.url_base,
            "runtimeVersion": "6.0.36",
            "runtimeName": ".NET",
            "startTime": _iso(self.start_time),
            "packageVersion": self.version,
            "packageAuthor": "[Team Sonarr](https://sonarr.tv)",
            "packageUpdateMechanism": "docker",
            "databaseVersion": "3.49.2",
            "databaseType": "sqLite",
        }
        return self._json(body)

    def _rootfolder_list(self, ctx: _Ctx) -> _Reply:
        return self._json([copy.deepcopy(rf) for rf in self._root_folders.values()])

    def _rootfolder_get(self, ctx: _Ctx) -> _Reply:
        return self._one(ctx, self._root_folders, "RootFolder")

    def _rootfolder_add(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _ROOTFOLDER_SPEC, "rootFolderResource")
        path = res.get("path")
        if not _path_valid(path):
            return self._validation([self._invalid_path("Path", path)])
        if taken := self._root_folder_rule("Path", path):
            return self._validation([taken])
        rf_id = max(self._root_folders, default=0) + 1
        self._root_folders[rf_id] = _root_folder(rf_id, {"path": path})
        return self._created(ctx, "rootfolder", rf_id, copy.deepcopy(self._root_folders[rf_id]))

    def _rootfolder_delete(self, ctx: _Ctx) -> _Reply:
        rf_id = ctx.params["id"]
        if rf_id <= 0:
            return self._bad_request_id(rf_id)
        self._root_folders.pop(rf_id, None)
        return _Reply(200)

    def _qualityprofile_list(self, ctx: _Ctx) -> _Reply:
        return self._json([copy.deepcopy(p) for p in self._quality_profiles.values()])

    def _qualityprofile_get(self, ctx: _Ctx) -> _Reply:
        return self._one(ctx, self._quality_profiles, "QualityProfile")

    def _deprecated_language_profile(self) -> dict[str, Any]:
        return {
            "id": 1,
            "name": "Deprecated",
            "upgradeAllowed": True,
            "cutoff": _lang(1),
            "languages": [{"language": _lang(1), "allowed": True}],
        }

    def _languageprofile_list(self, ctx: _Ctx) -> _Reply:
        if self.is_v3:
            return self._json([copy.deepcopy(p) for p in self._language_profiles.values()])
        ctx.deprecated = True  # LanguageProfileController is [Obsolete] on 4.x
        return self._json([self._deprecated_language_profile()])

    def _languageprofile_get(self, ctx: _Ctx) -> _Reply:
        if self.is_v3:
            return self._one(ctx, self._language_profiles, "LanguageProfile")
        ctx.deprecated = True
        return self._json(self._deprecated_language_profile())

    def _tag_list(self, ctx: _Ctx) -> _Reply:
        return self._json([dict(t) for t in self._tags.values()])

    def _tag_get(self, ctx: _Ctx) -> _Reply:
        return self._one(ctx, self._tags, "Tag", dict)

    def _tag_create(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _TAG_SPEC, "resource")
        label = res.get("label")
        if label is None:  # TagService lower-cases the label without a null check
            return self._exception(
                500,
                "System.NullReferenceException",
                "Object reference not set to an instance of an object.",
            )
        # TagService.Add: an exact (case-sensitive) match returns the existing tag...
        for tag in self._tags.values():
            if tag["label"] == label:
                return self._created(ctx, "tag", tag["id"], dict(tag))
        lowered = label.lower()
        # ...otherwise it inserts the lower-cased label into a UNIQUE column.
        if any(t["label"] == lowered for t in self._tags.values()):
            return self._constraint_failed("Tags.Label")
        tag_id = max(self._tags, default=0) + 1
        self._tags[tag_id] = {"id": tag_id, "label": lowered}
        return self._created(ctx, "tag", tag_id, dict(self._tags[tag_id]))

    def _tag_update(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _TAG_SPEC, "resource")
        tag_id = res.get("id") or ctx.params.get("id", 0)
        if tag_id <= 0:
            return self._validation([self._greater_than("Id", tag_id, 0)])
        if tag_id not in self._tags:
            return self._model_not_found("Tag", tag_id)
        label = (res.get("label") or "").lower()
        if any(t["label"] == label and t["id"] != tag_id for t in self._tags.values()):
            return self._constraint_failed("Tags.Label")
        self._tags[tag_id]["label"] = label
        return self._json(dict(self._tags[tag_id]), 202)

    def _tag_delete(self, ctx: _Ctx) -> _Reply:
        tag_id = ctx.params["id"]
        if tag_id <= 0:
            return self._bad_request_id(tag_id)
        self._tags.pop(tag_id, None)
        for s in self._series.values():
            s["tags"] = [t for t in s["tags"] if t != tag_id]
        return _Reply(200)
