"""The simulator: one class built from the package's parts, with its route table."""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tests.doubles.httpserver import LoopbackSimulator
from tests.doubles.sonarr_sim.catalogue import load_sample_catalogue
from tests.doubles.sonarr_sim.constants import (
    _DEFAULT_PROFILES,
    _LANGUAGES,
    DEFAULT_API_KEY,
    DEFAULT_VERSION,
)
from tests.doubles.sonarr_sim.exclusions import ExclusionEndpoints
from tests.doubles.sonarr_sim.faults import _Fault
from tests.doubles.sonarr_sim.helpers import _lang, _now
from tests.doubles.sonarr_sim.library import _root_folder
from tests.doubles.sonarr_sim.messages import RequestRecord
from tests.doubles.sonarr_sim.routing import Router, _Handler
from tests.doubles.sonarr_sim.series import SeriesEndpoints
from tests.doubles.sonarr_sim.settings import SettingsEndpoints
from tests.doubles.sonarr_sim.state import _Routes


class SonarrSimulator(
    SeriesEndpoints, ExclusionEndpoints, SettingsEndpoints, Router, LoopbackSimulator
):
    """An in-memory Sonarr answering the v3 API over loopback HTTP.

    Args:
        api_key: the key clients must send.
        version: Sonarr build; a ``3.`` prefix selects v3 mode (language profiles
            required, Newtonsoft-style errors, no ``/paged`` exclusions, no ``GET /api``).
        root_folders: paths (or ``{"path", "freeSpace", "accessible"}`` dicts).
        quality_profiles: ``{"id", "name"}`` dicts or names; names of Sonarr's defaults
            get their default qualities. ``None`` gives a fresh install's six profiles.
        language_profiles: v3 only; ``{"id", "name"}`` dicts or names (default English).
        tags: labels or ``{"id", "label"}`` dicts.
        series: initial library; dicts with at least ``tvdbId`` (other SeriesResource
            fields override the catalogue's metadata; ``id``/``path`` are assigned).
        exclusions: import list exclusions as ``{"tvdbId", "title"}`` dicts or tuples.
        catalogue: ``{tvdb_id: entry}`` metadata SkyHook would serve (see
            :func:`catalogue_from_tvmaze`); ``None`` means the packaged TVMaze sample.
        host, port: where to listen once started (port 0 picks a free one).
        url_base: Sonarr's URL base (e.g. ``/sonarr``); requests outside it are 404.
        seed: seeds the random ``error_rate`` faults.
    """

    handler_class = _Handler

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        version: str = DEFAULT_VERSION,
        root_folders: Sequence[str | Mapping[str, Any]] = ("/tv",),
        quality_profiles: Sequence[str | Mapping[str, Any]] | None = None,
        language_profiles: Sequence[str | Mapping[str, Any]] | None = None,
        tags: Sequence[str | Mapping[str, Any]] = (),
        series: Sequence[Mapping[str, Any]] = (),
        exclusions: Sequence[Mapping[str, Any] | tuple[int, str]] = (),
        catalogue: Mapping[int, Mapping[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        url_base: str = "",
        seed: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self.api_key = api_key
        self.version = version
        self.host = host
        self.port = port
        self.url_base = ("/" + url_base.strip("/")) if url_base.strip("/") else ""
        self.start_time = _now()

        # Fault switches (public: tests flip them directly).
        #: Every authenticated request answers 401, as if the key had been rotated.
        self.unauthorized = False
        #: Probability that any request answers ``error_status`` instead (seeded RNG).
        self.error_rate = 0.0
        self.error_status = 503
        #: Seconds added to every response.
        self.latency = 0.0
        #: HTTP status SkyHook answers, or ``None`` when the metadata server is healthy.
        self.metadata_error: int | None = None
        #: TVDB ids whose lookup always fails, alone: ``"skyhook"`` answers as Sonarr does
        #: when SkyHook's record for the id cannot be read (503 SkyHookException), and
        #: ``"garbage"`` is a 200 labelled JSON that is not (a broken proxy or plugin).
        self.broken_lookups: dict[int, str] = {}
        #: ``False`` makes ``/importlistexclusion/paged`` answer 404 like servers before it.
        self.paged_exclusions = not self.is_v3

        self._rng = random.Random(seed)
        self._faults: list[_Fault] = []
        self._delays: list[_Fault] = []
        self._drops: list[_Fault] = []
        self._races: list[_Fault] = []
        self._log: list[RequestRecord] = []
        #: Series ids for which an episode search was started (``searchForMissingEpisodes``).
        self.searches: list[int] = []

        self._catalogue: dict[int, dict[str, Any]] = (
            load_sample_catalogue()
            if catalogue is None
            else {int(k): dict(copy.deepcopy(v)) for k, v in catalogue.items()}
        )

        self._root_folders: dict[int, dict[str, Any]] = {}
        for i, rf in enumerate(root_folders, 1):
            rf_d = {"path": rf} if isinstance(rf, str) else dict(rf)
            rf_id = int(rf_d.get("id", i))
            self._root_folders[rf_id] = _root_folder(rf_id, rf_d)

        if quality_profiles is None:
            quality_profiles = [{"id": v[0], "name": k} for k, v in _DEFAULT_PROFILES.items()]
        self._quality_profiles: dict[int, dict[str, Any]] = {}
        for i, qp in enumerate(quality_profiles, 1):
            qp_d = {"name": qp} if isinstance(qp, str) else dict(qp)
            name = str(qp_d["name"])
            default = _DEFAULT_PROFILES.get(name)
            qp_id = int(qp_d.get("id", default[0] if default else i))
            self._quality_profiles[qp_id] = self._build_quality_profile(qp_id, name, qp_d)

        if language_profiles is None:
            language_profiles = [{"id": 1, "name": "English"}]
        self._language_profiles: dict[int, dict[str, Any]] = {}
        for i, lp in enumerate(language_profiles, 1):
            lp_d = {"name": lp} if isinstance(lp, str) else dict(lp)
            lp_id = int(lp_d.get("id", i))
            lang_id = _LANGUAGES.get(str(lp_d["name"]), 1)
            self._language_profiles[lp_id] = {
                "id": lp_id,
                "name": str(lp_d["name"]),
                "upgradeAllowed": bool(lp_d.get("upgradeAllowed", False)),
                "cutoff": _lang(lang_id),
                "languages": [
                    {"language": _lang(lid), "allowed": lid == lang_id}
                    for lid in sorted({0, *_LANGUAGES.values()})
                ],
            }

        self._tags: dict[int, dict[str, Any]] = {}
        for i, tag in enumerate(tags, 1):
            tag_d = {"label": tag} if isinstance(tag, str) else dict(tag)
            tag_id = int(tag_d.get("id", i))
            self._tags[tag_id] = {"id": tag_id, "label": str(tag_d["label"]).lower()}

        self._series: dict[int, dict[str, Any]] = {}
        self._next_series_id = 1
        for s in series:
            self.add_series(int(s["tvdbId"]), **{k: v for k, v in s.items() if k != "tvdbId"})

        self._exclusions: dict[int, dict[str, Any]] = {}
        self._next_exclusion_id = 1
        for ex in exclusions:
            if isinstance(ex, tuple):
                self.add_exclusion(int(ex[0]), str(ex[1]))
            else:
                self.add_exclusion(int(ex["tvdbId"]), str(ex.get("title", "")))

        self._routes = self._build_routes()

    @property
    def url(self) -> str:
        """Base URL including the URL base, e.g. ``http://127.0.0.1:40123``."""
        return super().url + self.url_base

    @property
    def request_log(self) -> list[RequestRecord]:
        """A copy of every request seen so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RequestRecord]:
        """Logged requests whose path (URL base, case and trailing ``/`` aside) is ``path``."""
        want = self._norm_path(path)
        with self._lock:
            return [
                r
                for r in self._log
                if self._norm_path(r.path) == want and (method is None or r.method == method)
            ]

    def posts_to(self, path: str) -> list[Any]:
        """JSON bodies of every POST to ``path``, whatever the answer was."""
        return [r.body for r in self.requests_to(path, "POST")]

    def _norm_path(self, path: str) -> str:
        path = urlsplit(path).path
        if self.url_base and path.lower().startswith(self.url_base.lower()):
            path = path[len(self.url_base) :]
        return path.rstrip("/").lower() or "/"

    def _build_routes(self) -> _Routes:
        r: _Routes = [
            (("ping",), {"GET": self._ping, "HEAD": self._ping}),
            (("api", "v3", "system", "status"), {"GET": self._system_status}),
            (
                ("api", "v3", "rootfolder"),
                {"GET": self._rootfolder_list, "POST": self._rootfolder_add},
            ),
            (
                ("api", "v3", "rootfolder", "{id}"),
                {"GET": self._rootfolder_get, "DELETE": self._rootfolder_delete},
            ),
            (("api", "v3", "qualityprofile"), {"GET": self._qualityprofile_list}),
            (("api", "v3", "qualityprofile", "{id}"), {"GET": self._qualityprofile_get}),
            (("api", "v3", "languageprofile"), {"GET": self._languageprofile_list}),
            (("api", "v3", "languageprofile", "{id}"), {"GET": self._languageprofile_get}),
            (
                ("api", "v3", "tag"),
                {"GET": self._tag_list, "POST": self._tag_create, "PUT": self._tag_update},
            ),
            (
                ("api", "v3", "tag", "{id}"),
                {"GET": self._tag_get, "PUT": self._tag_update, "DELETE": self._tag_delete},
            ),
            (
                ("api", "v3", "series"),
                {"GET": self._series_list, "POST": self._series_add, "PUT": self._series_update},
            ),
            (("api", "v3", "series", "lookup"), {"GET": self._series_lookup}),
            (("api", "v3", "series", "editor"), {"DELETE": self._series_editor_delete}),
            (
                ("api", "v3", "series", "{id}"),
                {
                    "GET": self._series_get,
                    "PUT": self._series_update,
                    "DELETE": self._series_delete,
                },
            ),
            (
                ("api", "v3", "importlistexclusion"),
                {
                    "GET": self._exclusion_list,
                    "POST": self._exclusion_add,
                    "PUT": self._exclusion_update,
                },
            ),
            (("api", "v3", "importlistexclusion", "bulk"), {"DELETE": self._exclusion_bulk}),
            (
                ("api", "v3", "importlistexclusion", "{id}"),
                {
                    "GET": self._exclusion_get,
                    "PUT": self._exclusion_update,
                    "DELETE": self._exclusion_delete,
                },
            ),
        ]
        if not self.is_v3:
            r.append((("api",), {"GET": self._api_info}))
            r.append(
                (("api", "v3", "importlistexclusion", "paged"), {"GET": self._exclusion_paged})
            )
        return r
