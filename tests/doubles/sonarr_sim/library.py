"""The simulated Sonarr's library: series built from catalogue metadata, the resources the
API returns for them, quality profiles, and the mutators tests use to set up any state."""

from __future__ import annotations

import copy
import hashlib
import posixpath
from collections.abc import Mapping
from typing import Any

from tests.doubles.sonarr_sim.constants import (
    _DEFAULT_PROFILES,
    _MIN_DATE,
    _PROFILE_LAYOUT,
    _QUALITIES,
)
from tests.doubles.sonarr_sim.helpers import (
    _clean_path,
    _clean_title,
    _date_to_iso,
    _drop_none,
    _is_parent_path,
    _iso,
    _lang,
    _now,
    _path_equals,
    _series_folder,
    _slugify,
    _sort_title,
)
from tests.doubles.sonarr_sim.state import State


def _root_folder(rf_id: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A RootFolder record: ``spec`` gives the path (and may override the disk facts)."""
    return {
        "id": rf_id,
        "path": spec["path"],
        "accessible": bool(spec.get("accessible", True)),
        "freeSpace": int(spec.get("freeSpace", 4_000_000_000_000)),
        "unmappedFolders": list(spec.get("unmappedFolders", [])),
    }


class Library(State):
    """Series, exclusions, tags and profiles, and how they read as API resources."""

    def series_by_tvdb(self, tvdb_id: int) -> dict[str, Any] | None:
        """The library's SeriesResource for ``tvdb_id``, or ``None``."""
        with self._lock:
            rec = self._find_series_by_tvdb(tvdb_id)
            return self._series_resource(rec) if rec else None

    def library(self) -> list[dict[str, Any]]:
        """Every series in the library as SeriesResource dicts."""
        with self._lock:
            return [self._series_resource(s) for s in self._series.values()]

    def exclusions(self) -> list[dict[str, Any]]:
        """Every import list exclusion ``{id, tvdbId, title}``."""
        with self._lock:
            return [dict(e) for e in self._exclusions.values()]

    def tags(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._tags.values()]

    @property
    def catalogue(self) -> dict[int, dict[str, Any]]:
        """The metadata catalogue (live; mutate under care, or use :meth:`add_to_catalogue`)."""
        return self._catalogue

    def add_to_catalogue(self, tvdb_id: int, title: str, **fields: Any) -> None:
        """Teach SkyHook about a series (``fields`` use Sonarr names: year, status...)."""
        with self._lock:
            entry = {"title": title, "titleSlug": _slugify(title), "seasons": [1], **fields}
            self._catalogue[int(tvdb_id)] = entry

    def add_series(self, tvdb_id: int, **overrides: Any) -> dict[str, Any]:
        """Put a series in the library directly, as a user adding it in the UI would.

        Metadata comes from the catalogue when known (else a stub titled ``Series N``);
        ``overrides`` use SeriesResource names (``title``, ``path``, ``monitored``,
        ``tags``, ``qualityProfileId``...). No validation: tests may build any state.
        """
        with self._lock:
            entry = self._catalogue.get(int(tvdb_id)) or {
                "title": f"Series {tvdb_id}",
                "titleSlug": f"series-{tvdb_id}",
                "seasons": [1],
            }
            rec = self._model_from_metadata(int(tvdb_id), entry)
            rec.update(
                qualityProfileId=min(self._quality_profiles, default=1),
                languageProfileId=min(self._language_profiles, default=1),
                seasonFolder=True,
                added=_iso(_now()),
            )
            for key, value in overrides.items():
                rec[key] = copy.deepcopy(value)
            if "title" in overrides and "cleanTitle" not in overrides:
                rec["cleanTitle"] = _clean_title(rec["title"])
                rec["sortTitle"] = _sort_title(rec["title"])
            if not rec.get("path"):
                root = (
                    self._root_folders[min(self._root_folders)]["path"]
                    if self._root_folders
                    else "/tv"
                )
                rec["path"] = posixpath.join(root, _series_folder(rec["title"]))
            rec["tags"] = sorted(set(rec.get("tags") or []))
            rec.pop("addOptions", None)
            rec["id"] = self._next_series_id
            self._next_series_id += 1
            self._series[rec["id"]] = rec
            return self._series_resource(rec)

    def delete_series(self, series_id: int, *, add_exclusion: bool = False) -> bool:
        """Remove a series as a user would (optionally excluding it from lists)."""
        with self._lock:
            rec = self._series.pop(int(series_id), None)
            if rec is None:
                return False
            if add_exclusion and self._find_exclusion_by_tvdb(rec["tvdbId"]) is None:
                self.add_exclusion(rec["tvdbId"], rec["title"])
            return True

    def add_exclusion(self, tvdb_id: int, title: str = "") -> dict[str, Any]:
        """Add an import list exclusion (returns the existing one for a known TVDB id)."""
        with self._lock:
            existing = self._find_exclusion_by_tvdb(int(tvdb_id))
            if existing:
                return dict(existing)
            ex_id = self._next_exclusion_id
            self._next_exclusion_id += 1
            ex: dict[str, Any] = {"id": ex_id, "tvdbId": int(tvdb_id), "title": title}
            self._exclusions[ex_id] = ex
            return dict(ex)

    def remove_exclusion(
        self, tvdb_id: int | None = None, *, exclusion_id: int | None = None
    ) -> bool:
        """Remove an exclusion by TVDB id or by its own id; True if one was removed."""
        with self._lock:
            if exclusion_id is None:
                found = self._find_exclusion_by_tvdb(int(tvdb_id or 0))
                exclusion_id = found["id"] if found else None
            return self._exclusions.pop(int(exclusion_id or 0), None) is not None

    def _insert_series(self, rec: dict[str, Any]) -> int:
        rec["id"] = self._next_series_id
        self._next_series_id += 1
        self._series[rec["id"]] = rec
        return rec["id"]

    def _find_series_by_tvdb(self, tvdb_id: int) -> dict[str, Any] | None:
        return next((s for s in self._series.values() if s["tvdbId"] == tvdb_id), None)

    def _find_exclusion_by_tvdb(self, tvdb_id: int) -> dict[str, Any] | None:
        return next((e for e in self._exclusions.values() if e["tvdbId"] == tvdb_id), None)

    def _model_from_metadata(self, tvdb_id: int, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A Series model as SkyHookProxy.MapSeries builds it from the catalogue entry."""
        title = str(entry.get("title") or "")
        first_aired = _date_to_iso(entry.get("firstAired"))
        year = int(entry.get("year") or (int(first_aired[:4]) if first_aired else 0))
        seasons_raw = entry.get("seasons", [1])
        if isinstance(seasons_raw, int):
            seasons_raw = list(range(1, seasons_raw + 1))
        seasons = []
        for s in seasons_raw:
            if isinstance(s, Mapping):
                seasons.append(
                    {
                        "seasonNumber": int(s["seasonNumber"]),
                        "monitored": bool(s.get("monitored", s["seasonNumber"] > 0)),
                    }
                )
            else:
                seasons.append({"seasonNumber": int(s), "monitored": int(s) > 0})
        lang = entry.get("originalLanguage", 1)
        lang_id = lang.get("id", 1) if isinstance(lang, Mapping) else int(lang)
        return {
            "id": 0,
            "tvdbId": tvdb_id,
            "title": title,
            "sortTitle": entry.get("sortTitle") or _sort_title(title),
            "cleanTitle": entry.get("cleanTitle") or _clean_title(title),
            "status": entry.get("status") or "continuing",
            "overview": entry.get("overview"),
            "network": entry.get("network"),
            "airTime": entry.get("airTime"),
            "images": copy.deepcopy(list(entry.get("images") or [])),
            "originalLanguage": lang_id,
            "seasons": seasons,
            "year": year,
            "path": None,
            "qualityProfileId": 0,
            "languageProfileId": 0,
            "seasonFolder": False,
            "monitored": True,
            "monitorNewItems": "all",
            "useSceneNumbering": False,
            "runtime": int(entry.get("runtime") or 0),
            "tvRageId": int(entry.get("tvRageId") or 0),
            "tvMazeId": int(entry.get("tvMazeId") or 0),
            "tmdbId": int(entry.get("tmdbId") or 0),
            "firstAired": first_aired,
            "lastAired": _date_to_iso(entry.get("lastAired")),
            "seriesType": entry.get("seriesType") or "standard",
            "imdbId": entry.get("imdbId"),
            "titleSlug": entry.get("titleSlug") or _slugify(title),
            "certification": entry.get("certification"),
            "genres": list(entry.get("genres") or []),
            "tags": [],
            "added": None,
            "addOptions": None,
            "ratings": dict(entry.get("ratings") or {"votes": 0, "value": 0.0}),
            "alternateTitles": copy.deepcopy(entry.get("alternateTitles")),
        }

    def _best_root_folder(self, path: str | None) -> str | None:
        if not path:
            return None
        for rf in self._root_folders.values():
            if _path_equals(rf["path"], path) or _is_parent_path(rf["path"], path):
                return rf["path"]
        return posixpath.dirname(_clean_path(path))

    def _series_resource(self, rec: Mapping[str, Any], *, lookup: bool = False):
        """SeriesResource as SeriesController (or SeriesLookupController) returns it."""
        sid = int(rec.get("id") or 0)
        images = []
        for img in rec.get("images") or []:
            remote = img.get("remoteUrl")
            if sid == 0:
                digest = hashlib.sha256((remote or "").encode()).hexdigest()
                url = f"{self.url_base}/MediaCoverProxy/{digest}/{posixpath.basename(remote or '')}"
            elif img.get("coverType", "unknown") == "unknown":
                url = img.get("url")
            else:
                url = f"{self.url_base}/MediaCover/{sid}/{img['coverType']}.jpg"
            images.append(
                _drop_none(
                    {"coverType": img.get("coverType", "unknown"), "url": url, "remoteUrl": remote}
                )
            )
        seasons = [
            {"seasonNumber": s["seasonNumber"], "monitored": s["monitored"]}
            for s in rec.get("seasons") or []
        ]
        season_count = sum(1 for s in seasons if s["seasonNumber"] > 0)
        stats: dict[str, Any] = {
            "seasonCount": season_count,
            "episodeFileCount": 0,
            "episodeCount": 0,
            "totalEpisodeCount": 0,
            "sizeOnDisk": 0,
            "percentOfEpisodes": 0.0,
        }
        if not lookup:
            stats["releaseGroups"] = []
            stats = {
                k: stats[k]
                for k in (
                    "seasonCount",
                    "episodeFileCount",
                    "episodeCount",
                    "totalEpisodeCount",
                    "sizeOnDisk",
                    "releaseGroups",
                    "percentOfEpisodes",
                )
            }
        poster = next(
            (i.get("remoteUrl") for i in rec.get("images") or [] if i.get("coverType") == "poster"),
            None,
        )
        res: dict[str, Any] = {
            "id": sid or None,  # RestResource.Id is left out when 0
            "title": rec.get("title"),
            "alternateTitles": rec.get("alternateTitles"),
            "sortTitle": rec.get("sortTitle"),
            "status": rec.get("status"),
            "ended": rec.get("status") == "ended",
            "overview": rec.get("overview"),
            "network": rec.get("network"),
            "airTime": rec.get("airTime"),
            "images": images,
            "originalLanguage": _lang(int(rec.get("originalLanguage") or 1)),
            "remotePoster": poster if lookup else None,
            "seasons": seasons,
            "year": rec.get("year", 0),
            "path": rec.get("path"),
            "qualityProfileId": rec.get("qualityProfileId", 0),
            "languageProfileId": rec.get("languageProfileId", 0) if self.is_v3 else None,
            "seasonFolder": rec.get("seasonFolder", False),
            "monitored": rec.get("monitored", True),
            "monitorNewItems": rec.get("monitorNewItems", "all"),
            "useSceneNumbering": rec.get("useSceneNumbering", False),
            "runtime": rec.get("runtime", 0),
            "tvdbId": rec.get("tvdbId"),
            "tvRageId": rec.get("tvRageId", 0),
            "tvMazeId": rec.get("tvMazeId", 0),
            "tmdbId": rec.get("tmdbId", 0),
            "firstAired": rec.get("firstAired"),
            "lastAired": rec.get("lastAired"),
            "seriesType": rec.get("seriesType", "standard"),
            "cleanTitle": rec.get("cleanTitle"),
            "imdbId": rec.get("imdbId"),
            "titleSlug": rec.get("titleSlug"),
            "rootFolderPath": None if lookup else self._best_root_folder(rec.get("path")),
            "folder": _series_folder(rec.get("title")) if lookup else None,
            "certification": rec.get("certification"),
            "genres": list(rec.get("genres") or []),
            "tags": list(rec.get("tags") or []),
            "added": rec.get("added") or _MIN_DATE,
            "addOptions": copy.deepcopy(rec.get("addOptions")),
            "ratings": dict(rec.get("ratings") or {"votes": 0, "value": 0.0}),
            "statistics": stats,
        }
        if self.is_v3:  # fields 3.x does not have
            for key in ("originalLanguage", "monitorNewItems", "tmdbId", "lastAired"):
                res.pop(key)
        else:
            res["languageProfileId"] = 1  # [Obsolete] get-only property, always 1
        return _drop_none(res)

    def _build_quality_profile(self, qp_id: int, name: str, spec: Mapping[str, Any]):
        default = _DEFAULT_PROFILES.get(name)
        allowed = set(spec.get("allowed") or (default[2] if default else _QUALITIES))
        cutoff_name = spec.get("cutoff") or (default[1] if default else "SDTV")
        items: list[dict[str, Any]] = []
        cutoff_id = _QUALITIES[cutoff_name][0] if cutoff_name in _QUALITIES else 1

        def quality_item(qname: str) -> dict[str, Any]:
            qid, qn, source, res = _QUALITIES[qname]
            return {
                "quality": {"id": qid, "name": qn, "source": source, "resolution": res},
                "items": [],
                "allowed": qname in allowed,
            }

        for entry in _PROFILE_LAYOUT:
            if isinstance(entry, str):
                items.append(quality_item(entry))
            else:
                group_id, group_name, members = entry
                if cutoff_name in members:
                    cutoff_id = group_id
                items.append(
                    {
                        "id": group_id,
                        "name": group_name,
                        "items": [quality_item(m) for m in members],
                        "allowed": any(m in allowed for m in members),
                    }
                )
        return {
            "id": qp_id,
            "name": name,
            "upgradeAllowed": bool(spec.get("upgradeAllowed", False)),
            "cutoff": cutoff_id,
            "items": items,
            "minFormatScore": 0,
            "cutoffFormatScore": 0,
            "minUpgradeFormatScore": 1,
            "formatItems": [],
        }
