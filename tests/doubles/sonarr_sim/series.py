"""The series endpoints: list, get, lookup (SkyHook), add with its refresh, update, delete."""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.doubles.sonarr_sim.binding import _EDITOR_SPEC, RequestBinding, _series_spec
from tests.doubles.sonarr_sim.constants import _JSON, _SKYHOOK
from tests.doubles.sonarr_sim.faults import Faults
from tests.doubles.sonarr_sim.helpers import (
    _blank,
    _clean_title,
    _iso,
    _now,
    _series_folder,
    _status_enum_name,
)
from tests.doubles.sonarr_sim.messages import _Ctx, _Reply
from tests.doubles.sonarr_sim.validation import Validation


def _requested_seasons(seasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Season monitoring as a POST or PUT sends it (only these two fields are applied)."""
    return [
        {"seasonNumber": s.get("seasonNumber", 0), "monitored": s.get("monitored", False)}
        for s in seasons
    ]


class SeriesEndpoints(RequestBinding, Validation, Faults):
    """``series``, ``series/{{id}}``, ``series/lookup`` and ``series/editor``."""

    def _series_list(self, ctx: _Ctx) -> _Reply:
        tvdb = self._query_int(ctx, "tvdbId")
        self._query_bool(ctx, "includeSeasonImages")
        if tvdb is not None and (not self.is_v3 or tvdb > 0):
            rec = self._find_series_by_tvdb(tvdb)
            return self._json([self._series_resource(rec)] if rec else [])
        return self._json([self._series_resource(s) for s in self._series.values()])

    def _series_get(self, ctx: _Ctx) -> _Reply:
        return self._one(ctx, self._series, "Series", self._series_resource)

    def _metadata_failure(self, url: str) -> str:
        status = int(self.metadata_error or 503)
        return f"HTTP request failed: [{status}:{_status_enum_name(status)}] [GET] at [{url}]"

    def _series_lookup(self, ctx: _Ctx) -> _Reply:
        term = ctx.q("term")
        if term is None:  # SearchForNewSeries(null) throws inside its catch-all
            msg = (
                "Search for '' failed. Invalid response received from SkyHook. "
                "Object reference not set to an instance of an object."
            )
            return self._exception(
                503, "NzbDrone.Core.MetadataSource.SkyHook.SkyHookException", msg
            )
        lowered = term.lower()
        if lowered.startswith(("tvdb:", "tvdbid:")):
            slug = lowered.split(":")[1].strip()
            if not slug or any(c.isspace() for c in slug) or not re.fullmatch(r"\d{1,10}", slug):
                return self._json([])
            tvdb = int(slug)
            if tvdb <= 0 or tvdb >= 2**31:
                return self._json([])
            rec = self._find_series_by_tvdb(tvdb)
            if rec is not None:
                return self._json([self._series_resource(rec)])
            if tvdb in self.broken_lookups:
                return self._broken_lookup(term, self.broken_lookups[tvdb])
            if self.metadata_error is not None:
                return self._skyhook_down(term, f"{_SKYHOOK}/shows/en/{tvdb}")
            entry = self._catalogue.get(tvdb)
            if entry is None:
                return self._json([])
            return self._json([self._lookup_resource(tvdb, entry)])
        if self.metadata_error is not None:
            return self._skyhook_down(term, f"{_SKYHOOK}/search/en/?term={lowered.strip()}")
        results = []
        for tvdb in self._search_catalogue(lowered.strip()):
            rec = self._find_series_by_tvdb(tvdb)
            results.append(
                self._series_resource(rec)
                if rec
                else self._lookup_resource(tvdb, self._catalogue[tvdb])
            )
        return self._json(results)

    def _broken_lookup(self, term: str, mode: str) -> _Reply:
        if mode == "garbage":
            return _Reply(200, b'[{"title": "x", "tvdbId": 1,', _JSON)
        msg = (
            f"Search for '{term}' failed. Invalid response received from SkyHook. "
            "Unexpected character encountered while parsing value: <. Path '', line 0."
        )
        return self._exception(503, "NzbDrone.Core.MetadataSource.SkyHook.SkyHookException", msg)

    def _skyhook_down(self, term: str, url: str) -> _Reply:
        msg = (
            f"Search for '{term}' failed. Unable to communicate with SkyHook. "
            f"{self._metadata_failure(url)}"
        )
        return self._exception(503, "NzbDrone.Core.MetadataSource.SkyHook.SkyHookException", msg)

    def _lookup_resource(self, tvdb: int, entry: Mapping[str, Any]) -> dict[str, Any]:
        return self._series_resource(self._model_from_metadata(tvdb, entry), lookup=True)

    def _search_catalogue(self, term: str, limit: int = 20) -> list[int]:
        """SkyHook's title search, approximated: exact, then prefix, then word matches."""
        if not term:
            return []
        for prefix, key in (("imdb:", "imdbId"), ("tmdb:", "tmdbId"), ("tvmaze:", "tvMazeId")):
            if term.startswith(prefix):
                want = term[len(prefix) :].strip()
                return [
                    t for t, e in self._catalogue.items() if str(e.get(key) or "").lower() == want
                ][:limit]
        clean = _clean_title(term)
        scored: list[tuple[int, str, int]] = []
        for tvdb, entry in self._catalogue.items():
            title = str(entry.get("title") or "")
            ct = _clean_title(title)
            if not ct:
                continue
            if ct == clean:
                rank = 0
            elif ct.startswith(clean):
                rank = 1
            elif clean in ct or all(w in title.lower() for w in term.split()):
                rank = 2
            else:
                continue
            scored.append((rank, title.lower(), tvdb))
        scored.sort()
        return [tvdb for _, _, tvdb in scored[:limit]]

    def _series_add(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _series_spec(self.is_v3), "seriesResource")
        failures = self._validate_series_post(res)
        if failures:
            return self._validation(failures)

        # AddSeriesService.AddSkyhookData: metadata for the TVDB id.
        tvdb = res["tvdbId"]
        if self.metadata_error is not None:
            msg = self._metadata_failure(f"{_SKYHOOK}/shows/en/{tvdb}")
            return self._exception(500, "NzbDrone.Common.Http.HttpException", msg)
        entry = self._catalogue.get(tvdb)
        if entry is None:
            path_txt = res.get("path") or ""
            return self._validation(
                [
                    self._failure(
                        "TvdbId",
                        tvdb,
                        None,
                        f"A series with this ID was not found. Path: {path_txt}",
                    )
                ]
            )
        rec = self._model_from_metadata(tvdb, entry)
        # Series.ApplyChanges: only these fields come from the request.
        if res.get("seasons"):
            rec["seasons"] = _requested_seasons(res["seasons"])
        for key, default in (
            ("path", None),
            ("qualityProfileId", 0),
            ("seasonFolder", False),
            ("monitored", False),
            ("monitorNewItems", "all"),
            ("seriesType", "standard"),
            ("tags", []),
            ("addOptions", None),
            ("languageProfileId", 0),
        ):
            rec[key] = copy.deepcopy(res.get(key, default))
        if not self.is_v3:
            rec["languageProfileId"] = 0
        rec["tags"] = sorted(set(rec["tags"] or []))
        if rec["addOptions"] is not None:  # a bound AddSeriesOptions has every property
            rec["addOptions"] = {
                "ignoreEpisodesWithFiles": False,
                "ignoreEpisodesWithoutFiles": False,
                "monitor": "unknown",
                "searchForMissingEpisodes": False,
                "searchForCutoffUnmetEpisodes": False,
                **rec["addOptions"],
            }
        # SetPropertiesAndValidate.
        if _blank(rec["path"]):
            root_path = res.get("rootFolderPath") or ""
            rec["path"] = posixpath.join(root_path, _series_folder(rec["title"]))
        rec["added"] = _iso(_now())
        if (rec["addOptions"] or {}).get("monitor") == "none":
            rec["monitored"] = False
        failures = []
        path_failure = self._add_path_rules(rec["path"])
        if path_failure:
            failures.append(path_failure)
        slug_owner = next(
            (
                s
                for s in self._series.values()
                if s.get("titleSlug") and s["titleSlug"] == rec["titleSlug"]
            ),
            None,
        )
        if slug_owner is not None:
            failures.append(
                self._failure(
                    "TitleSlug",
                    rec["titleSlug"],
                    "SeriesTitleSlugValidator",
                    "Title slug '{slug}' is in use by series '{seriesTitle}'. "
                    "Check the FAQ for more information",
                    {"slug": rec["titleSlug"], "seriesTitle": slug_owner["title"]},
                )
            )
        if failures:
            return self._validation(failures)

        race = self._take(self._races, "POST", ctx.path)
        if race is not None:
            if race.body["insert"]:  # the competing add commits first
                self._insert_series(copy.deepcopy(rec))
            return self._constraint_failed(race.body["column"])

        new_id = self._insert_series(rec)
        reply = self._created(ctx, "series", new_id, self._series_resource(rec))
        self._after_add_refresh(rec)
        return reply

    def _after_add_refresh(self, rec: dict[str, Any]) -> None:
        """The refresh Sonarr queues after an add, played at once.

        EpisodeMonitoredService sets season monitoring from ``addOptions.monitor`` (this
        simulator has no episodes or files: ``missing`` behaves like ``all`` and
        ``existing`` monitors nothing), then SeriesScannedHandler clears ``addOptions``
        and starts a search when ``searchForMissingEpisodes`` asks for one.
        """
        options = rec.get("addOptions") or {}
        monitor = options.get("monitor", "unknown")
        seasons = rec["seasons"]
        numbers = [s["seasonNumber"] for s in seasons]
        first = min((n for n in numbers if n > 0), default=0)
        last = max(numbers, default=0)
        continuing = rec.get("status") in {"continuing", "upcoming"}
        monitored_by: dict[str, Callable[[int], bool]] = {
            "all": lambda n: n > 0,
            "missing": lambda n: n > 0,
            "future": lambda n: n > 0 and n == last and continuing,
            "recent": lambda n: n > 0 and n == last and continuing,
            "existing": lambda n: False,
            "firstSeason": lambda n: n > 0 and n == first,
            "lastSeason": lambda n: n > 0 and n == last,
            "latestSeason": lambda n: n > 0 and n == last,
            "pilot": lambda n: False,
            "none": lambda n: False,
        }
        rule = monitored_by.get(monitor)
        if rule is not None:
            for season in seasons:
                season["monitored"] = rule(season["seasonNumber"])
        elif monitor == "monitorSpecials":
            for season in seasons:
                if season["seasonNumber"] == 0:
                    season["monitored"] = True
        elif monitor == "unmonitorSpecials":
            for season in seasons:
                if season["seasonNumber"] == 0:
                    season["monitored"] = False
        if options.get("searchForMissingEpisodes"):
            self.searches.append(rec["id"])
        rec["addOptions"] = None

    def _series_update(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _series_spec(self.is_v3), "seriesResource")
        series_id = int(res.get("id") or 0) or ctx.params.get("id", 0)
        failures = self._given_path_rules(res.get("path"), series_id)
        failures += self._quality_profile_rules(int(res.get("qualityProfileId") or 0))
        if _blank(res.get("path")):
            failures.append(self._not_empty("Path", res.get("path")))
        if series_id <= 0:
            failures.append(self._greater_than("Id", series_id, 0))
        if failures:
            return self._validation(failures)
        rec = self._series.get(series_id)
        if rec is None:
            return self._model_not_found("Series", series_id)
        for key in (
            "path",
            "qualityProfileId",
            "seasonFolder",
            "monitored",
            "monitorNewItems",
            "seriesType",
            "languageProfileId",
        ):
            if key in res:
                rec[key] = res[key]
        rec["tags"] = sorted(set(res.get("tags") or []))
        if res.get("seasons"):
            rec["seasons"] = _requested_seasons(res["seasons"])
        return self._json(self._series_resource(rec), 202)

    def _series_delete(self, ctx: _Ctx) -> _Reply:
        series_id = ctx.params["id"]
        if series_id <= 0:
            return self._bad_request_id(series_id)
        self._query_bool(ctx, "deleteFiles")
        add_exclusion = self._query_bool(ctx, "addImportListExclusion")
        return self._delete_many([series_id], add_exclusion) or _Reply(200)

    def _series_editor_delete(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _EDITOR_SPEC, "resource", consumes=False)
        ids = list(res.get("seriesIds") or [])
        return self._delete_many(ids, bool(res.get("addImportListExclusion"))) or self._json({})

    def _delete_many(self, ids: list[int], add_exclusion: bool) -> _Reply | None:
        """SeriesService.DeleteSeries: all ids must exist (else a 500), then the event."""
        found = [self._series[i] for i in dict.fromkeys(ids) if i in self._series]
        if len(found) != len(ids):
            return self._exception(
                500,
                "System.ApplicationException",
                f"Expected query to return {len(ids)} rows but returned {len(found)}",
            )
        for rec in found:
            self.delete_series(rec["id"], add_exclusion=add_exclusion)
        return None
