"""A loopback simulator of the Sonarr v3 API, as served by Sonarr 4.0.x (and a 3.0.x mode).

Why it exists: the machines that run the tests have no network and no Sonarr, yet the
client must be exercised over real HTTP against the answers it will meet in the field.
Every status code and body shape here follows Sonarr's own code (release 4.0.19, and
3.0.9 for the v3 mode), not guesses:

* auth like ``ApiKeyAuthenticationHandler``: ``apikey`` query parameter first, then the
  ``X-Api-Key`` header, then ``Authorization: Bearer``; a missing or wrong key is ``401``
  with an empty body (v3 mode: header first, then query, no Bearer);
* validation failures are ``400`` with a JSON *array* of FluentValidation failures, as
  ``SonarrErrorPipeline`` writes them; other errors are ``ErrorModel`` objects
  ``{message, description}``; model-binding errors (bad JSON, wrong types, bad query
  values) are ASP.NET ``ProblemDetails`` (``application/problem+json``);
* a duplicate add is ``400`` with ``errorCode: "SeriesExistsValidator"``; a ``409`` only
  happens when two adds race into the unique index (simulated on demand);
* ``series/lookup?term=tvdb:N`` answers ``[]`` for an unknown id, the library record
  (``id > 0``) for a series already added, a lookup resource without ``id`` otherwise,
  and ``503`` (``SkyHookException``) when the metadata server is failing;
* ``POST /series`` takes its metadata from the simulator's *catalogue* (what SkyHook
  would return), applies only the fields Sonarr's ``Series.ApplyChanges`` copies from the
  request, and then plays the post-add refresh (season monitoring per
  ``addOptions.monitor``, ``addOptions`` cleared, search recorded).

Faults (fail the next N requests, random error rate, dropped connections, latency, a
rotated key, a failing metadata server, a racing add) and a request log are there for
tests. Standard library only, so the server runs anywhere the package does.

Run standalone for demos: ``python -m tvmaze_sync.testing.sonarr_sim --port 8989``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import hashlib
import html
import json
import posixpath
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tvmaze_sync.testing.httpserver import LoopbackServer

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_V3_VERSION",
    "DEFAULT_VERSION",
    "MONITOR_TYPES_V3",
    "MONITOR_TYPES_V4",
    "RequestRecord",
    "SonarrSimulator",
    "catalogue_from_tvmaze",
    "load_sample_catalogue",
]

#: Sonarr 4.0.19's build (tag ``v4.0.19.2979``), the line people run today.
DEFAULT_VERSION = "4.0.19.2979"
#: The last Sonarr v3 release; any version string starting with ``3.`` selects v3 mode.
DEFAULT_V3_VERSION = "3.0.10.1567"
DEFAULT_API_KEY = "sonarr-sim-api-key"

# fmt: off
#: ``NzbDrone.Core.Tv.MonitorTypes`` on 4.0.x, in enum order (the index is the int value).
MONITOR_TYPES_V4 = (
    "unknown", "all", "future", "missing", "existing", "firstSeason", "lastSeason",
    "latestSeason", "pilot", "recent", "monitorSpecials", "unmonitorSpecials", "none", "skip",
)
#: The same enum on 3.0.x: no lastSeason, recent, (un)monitorSpecials or skip.
MONITOR_TYPES_V3 = (
    "unknown", "all", "future", "missing", "existing", "firstSeason", "latestSeason",
    "pilot", "none",
)
# fmt: on
_NEW_ITEM_MONITOR_TYPES = ("all", "none")
_SERIES_TYPES = ("standard", "daily", "anime")
_SERIES_STATUS = ("continuing", "ended", "upcoming", "deleted")
_COVER_TYPES = ("unknown", "poster", "banner", "fanart", "screenshot", "headshot", "clearlogo")
_SORT_DIRECTIONS = ("default", "ascending", "descending")

_SKYHOOK = "https://skyhook.sonarr.tv/v1/tvdb"
_BUILD_TIME = "2026-06-26T17:03:14Z"
_MIN_DATE = "0001-01-01T00:00:00Z"
_LINUX_SYSTEM_FOLDERS = ("/bin", "/boot", "/lib", "/sbin", "/proc", "/usr/bin")
_JSON = "application/json; charset=utf-8"
_PROBLEM_JSON = "application/problem+json; charset=utf-8"

# fmt: off
# NzbDrone.Core.Languages.Language: id by English name (TVMaze gives names).
_LANGUAGES = {
    "English": 1, "French": 2, "Spanish": 3, "German": 4, "Italian": 5, "Danish": 6,
    "Dutch": 7, "Japanese": 8, "Icelandic": 9, "Chinese": 10, "Russian": 11, "Polish": 12,
    "Vietnamese": 13, "Swedish": 14, "Norwegian": 15, "Finnish": 16, "Turkish": 17,
    "Portuguese": 18, "Flemish": 19, "Greek": 20, "Korean": 21, "Hungarian": 22, "Hebrew": 23,
    "Lithuanian": 24, "Czech": 25, "Arabic": 26, "Hindi": 27, "Bulgarian": 28,
    "Malayalam": 29, "Ukrainian": 30, "Slovak": 31, "Thai": 32, "Romanian": 35,
    "Latvian": 36, "Persian": 37, "Catalan": 38, "Croatian": 39, "Serbian": 40,
    "Bosnian": 41, "Estonian": 42, "Tamil": 43, "Indonesian": 44, "Macedonian": 45,
    "Slovenian": 46,
}

# NzbDrone.Core.Qualities.Quality: (id, name, source, resolution).
_QUALITIES: dict[str, tuple[int, str, str, int]] = {
    q[1]: q
    for q in (
        (0, "Unknown", "unknown", 0), (1, "SDTV", "television", 480),
        (2, "DVD", "dvd", 480), (3, "WEBDL-1080p", "web", 1080),
        (4, "HDTV-720p", "television", 720), (5, "WEBDL-720p", "web", 720),
        (6, "Bluray-720p", "bluray", 720), (7, "Bluray-1080p", "bluray", 1080),
        (8, "WEBDL-480p", "web", 480), (9, "HDTV-1080p", "television", 1080),
        (10, "Raw-HD", "televisionRaw", 1080), (12, "WEBRip-480p", "webRip", 480),
        (13, "Bluray-480p", "bluray", 480), (14, "WEBRip-720p", "webRip", 720),
        (15, "WEBRip-1080p", "webRip", 1080), (16, "HDTV-2160p", "television", 2160),
        (17, "WEBRip-2160p", "webRip", 2160), (18, "WEBDL-2160p", "web", 2160),
        (19, "Bluray-2160p", "bluray", 2160), (20, "Bluray-1080p Remux", "blurayRaw", 1080),
        (21, "Bluray-2160p Remux", "blurayRaw", 2160), (22, "Bluray-576p", "bluray", 576),
    )
}
# Profile item layout of a fresh install: plain qualities and the four WEB groups.
_PROFILE_LAYOUT: tuple[str | tuple[int, str, tuple[str, ...]], ...] = (
    "Unknown", "SDTV", (1000, "WEB 480p", ("WEBRip-480p", "WEBDL-480p")), "DVD",
    "Bluray-480p", "Bluray-576p", "HDTV-720p", "HDTV-1080p", "Raw-HD",
    (1001, "WEB 720p", ("WEBRip-720p", "WEBDL-720p")), "Bluray-720p",
    (1002, "WEB 1080p", ("WEBRip-1080p", "WEBDL-1080p")), "Bluray-1080p",
    "Bluray-1080p Remux", "HDTV-2160p", (1003, "WEB 2160p", ("WEBRip-2160p", "WEBDL-2160p")),
    "Bluray-2160p", "Bluray-2160p Remux",
)
# fmt: on
_SD = ("SDTV", "WEBRip-480p", "WEBDL-480p", "DVD", "Bluray-480p", "Bluray-576p")
_HD720 = ("HDTV-720p", "WEBRip-720p", "WEBDL-720p", "Bluray-720p")
_HD1080 = ("HDTV-1080p", "WEBRip-1080p", "WEBDL-1080p", "Bluray-1080p", "Bluray-1080p Remux")
_UHD = ("HDTV-2160p", "WEBRip-2160p", "WEBDL-2160p", "Bluray-2160p", "Bluray-2160p Remux")
# QualityProfileService's defaults: name -> (id, cutoff, allowed).
_DEFAULT_PROFILES: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "Any": (1, "SDTV", _SD + _HD720 + _HD1080 + _UHD),
    "SD": (2, "SDTV", _SD),
    "HD-720p": (3, "HDTV-720p", _HD720),
    "HD-1080p": (4, "HDTV-1080p", _HD1080),
    "Ultra-HD": (5, "HDTV-2160p", _UHD),
    "HD - 720p/1080p": (6, "HDTV-720p", _HD720 + _HD1080),
}


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(dt: datetime) -> str:
    """Dates as Sonarr's STJUtcConverter writes them: UTC, seconds, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_to_iso(day: str | None) -> str | None:
    if not day:
        return None
    return f"{day[:10]}T00:00:00Z"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _display_name(prop: str) -> str:
    """FluentValidation's default display name: PascalCase split into words."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", prop)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _clean_path(path: str) -> str:
    return path.rstrip("/") or "/"


def _path_equals(a: str, b: str) -> bool:
    return _clean_path(a) == _clean_path(b)


def _is_parent_path(parent: str, child: str) -> bool:
    parent, child = _clean_path(parent), _clean_path(child)
    if parent == child:
        return False
    return child.startswith(parent if parent.endswith("/") else parent + "/")


def _path_valid(path: Any) -> bool:
    """Linux rules of Sonarr's IsPathValid: non-blank, no NUL, rooted."""
    return isinstance(path, str) and not _blank(path) and "\0" not in path and path[0] == "/"


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _series_folder(title: str | None) -> str:
    """Folder name for the default ``{Series Title}`` format (illegal characters replaced)."""
    name = (title or "").replace(": ", " - ").replace(":", "-")
    for bad, good in (
        ("\\", "+"),
        ("/", "+"),
        ("<", ""),
        (">", ""),
        ("?", "!"),
        ("*", "-"),
        ("|", ""),
        ('"', ""),
    ):
        name = name.replace(bad, good)
    name = name.lstrip(" .").rstrip(" ")
    name = re.sub(r"([- ._])\1+", r"\1", name)
    return name.strip(" .")


def _clean_title(title: str) -> str:
    """Approximates Parser.CleanSeriesTitle: lowercase letters and digits, articles dropped."""
    if title.isdigit():
        return title
    lowered = title.lower().replace("&", "and")
    words = re.findall(r"[^\W_]+", lowered)
    articles = {"a", "an", "the", "and", "or", "of"}
    kept = [w for i, w in enumerate(words) if i == 0 or w not in articles]
    return "".join(kept)


def _sort_title(title: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", title.lower()).strip()


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or "series"


def _strip_html(text: str | None) -> str | None:
    if not text:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip() or None


def _status_enum_name(status: int) -> str:
    """.NET ``HttpStatusCode`` member name, as Sonarr's HttpException message prints it."""
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(status)


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _dumps(obj: Any) -> bytes:
    # Sonarr's STJson writes indented JSON; clients must not care, but mirror it anyway.
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """STJson's ``WhenWritingNull``: null properties are left out."""
    return {k: v for k, v in d.items() if v is not None}


def _lang(lang_id: int) -> dict[str, Any]:
    names = {v: k for k, v in _LANGUAGES.items()}
    return {"id": lang_id, "name": names.get(lang_id, "English")}


# --------------------------------------------------------------------------- catalogue


def catalogue_from_tvmaze(shows: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Build a metadata catalogue ``{tvdb_id: entry}`` from TVMaze show objects.

    Only shows with ``externals.thetvdb`` are kept (Sonarr knows series by TVDB id).
    Entries use Sonarr's field names (``title``, ``year``, ``status``, ``tvMazeId``...).
    Like TheTVDB, titles shared by several shows get the premiere year appended to all
    but the oldest (``Doctor Who (2005)``), and title slugs are made unique, so that
    adding two of them never collides on a folder the way it would not in real life.
    """
    entries: list[tuple[int, dict[str, Any], str]] = []
    for show in shows:
        externals = show.get("externals") or {}
        tvdb = externals.get("thetvdb")
        if not isinstance(tvdb, int) or tvdb <= 0:
            continue
        premiered = show.get("premiered") or None
        status_map = {"running": "continuing", "ended": "ended", "in development": "upcoming"}
        status = status_map.get(str(show.get("status") or "").lower(), "continuing")
        network = (show.get("network") or {}).get("name") or (show.get("webChannel") or {}).get(
            "name"
        )
        embedded = (show.get("_embedded") or {}).get("seasons")
        if embedded:
            seasons = sorted({int(s["number"]) for s in embedded if s.get("number") is not None})
        elif status == "upcoming" and not premiered:
            seasons = []
        else:
            seasons = [1]
        image = (show.get("image") or {}).get("original")
        rating = (show.get("rating") or {}).get("average")
        entry: dict[str, Any] = {
            "title": str(show.get("name") or "").strip(),
            "year": int(premiered[:4]) if premiered else 0,
            "firstAired": premiered,
            "lastAired": show.get("ended") or None,
            "status": status,
            "overview": _strip_html(show.get("summary")),
            "network": network,
            "airTime": ((show.get("schedule") or {}).get("time") or None),
            "runtime": int(show.get("runtime") or show.get("averageRuntime") or 0),
            "genres": list(show.get("genres") or []),
            "imdbId": externals.get("imdb") or None,
            "tvRageId": int(externals.get("tvrage") or 0),
            "tvMazeId": int(show.get("id") or 0),
            "originalLanguage": _LANGUAGES.get(str(show.get("language") or ""), 1),
            "seasons": seasons,
            "images": [{"coverType": "poster", "remoteUrl": image}] if image else [],
            "ratings": {"votes": 0, "value": float(rating or 0)},
        }
        entries.append((tvdb, entry, premiered or "9999"))

    by_title: dict[str, list[tuple[int, dict[str, Any], str]]] = {}
    for item in entries:
        by_title.setdefault(item[1]["title"].lower(), []).append(item)
    for group in by_title.values():
        group.sort(key=lambda it: (it[2], it[0]))
        for tvdb, entry, _ in group[1:]:
            suffix = entry["year"] or tvdb
            entry["title"] = f"{entry['title']} ({suffix})"

    catalogue: dict[int, dict[str, Any]] = {}
    slugs: set[str] = set()
    for tvdb, entry, _ in entries:
        slug = _slugify(entry["title"])
        if slug in slugs:
            slug = f"{slug}-{tvdb}"
        slugs.add(slug)
        entry["titleSlug"] = slug
        catalogue[tvdb] = entry
    return catalogue


@lru_cache(maxsize=1)
def _sample_catalogue() -> dict[int, dict[str, Any]]:
    ref = resources.files("tvmaze_sync.testing") / "data" / "tvmaze_shows.json.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        shows = json.load(fh)
    return catalogue_from_tvmaze(shows)


def load_sample_catalogue() -> dict[int, dict[str, Any]]:
    """Catalogue built from the TVMaze sample shipped in ``tvmaze_sync/testing/data``.

    The TVMaze simulator serves the same shows, so every TVDB id the client finds there
    can be looked up and added here. Returns a fresh copy each call.
    """
    return copy.deepcopy(_sample_catalogue())


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it.

    ``query`` keeps every value of each name as sent; ``body`` is the parsed JSON (or the
    raw text, or ``None``); ``status`` is 0 for a connection dropped on purpose.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    #: Went through Sonarr's middleware (VersionMiddleware runs after authorization,
    #: so a 401 carries no X-Application-Version; nor does a fault injected "in front").
    app: bool = True


@dataclass
class _Fault:
    remaining: int
    status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    before: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_prefix or path.lower().startswith(self.path_prefix.lower())


class _HttpError(Exception):
    """Carries a finished reply out of deep handler code."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Ctx:
    method: str
    path: str
    query: dict[str, list[str]]  # keys lower-cased: ASP.NET binds query names case-insensitively
    headers: Mapping[str, str]
    body: bytes
    host: str
    params: dict[str, int] = field(default_factory=dict)
    deprecated: bool = False

    def q(self, name: str) -> str | None:
        values = self.query.get(name.lower())
        return values[0] if values else None


# Request-body binding specs: (kind, detail). Kinds: int, long, str, bool, dec, date, any,
# enum (dotnet type, names), obj (fields), list (item spec).
_Spec = tuple[str, Any]
_I: _Spec = ("int", "System.Int32")
_L: _Spec = ("int", "System.Int64")
_S: _Spec = ("str", "System.String")
_B: _Spec = ("bool", "System.Boolean")
_D: _Spec = ("dec", "System.Decimal")
_DT: _Spec = ("date", "System.DateTime")
_ANY: _Spec = ("any", None)
_LANGUAGE_SPEC: _Spec = ("obj", ("NzbDrone.Core.Languages.Language", {"id": _I, "name": _S}))
_COVER_SPEC: _Spec = (
    "obj",
    (
        "NzbDrone.Core.MediaCover.MediaCover",
        {
            "coverType": ("enum", ("NzbDrone.Core.MediaCover.MediaCoverTypes", _COVER_TYPES)),
            "url": _S,
            "remoteUrl": _S,
        },
    ),
)


def _series_spec(v3: bool) -> _Spec:
    monitor = MONITOR_TYPES_V3 if v3 else MONITOR_TYPES_V4
    fields: dict[str, _Spec] = {
        "id": _I,
        "title": _S,
        "alternateTitles": _ANY,
        "sortTitle": _S,
        "status": ("enum", ("NzbDrone.Core.Tv.SeriesStatusType", _SERIES_STATUS)),
        "profileName": _S,
        "overview": _S,
        "nextAiring": _DT,
        "previousAiring": _DT,
        "network": _S,
        "airTime": _S,
        "images": ("list", _COVER_SPEC),
        "remotePoster": _S,
        "seasons": (
            "list",
            (
                "obj",
                (
                    "Sonarr.Api.V3.Series.SeasonResource",
                    {
                        "seasonNumber": _I,
                        "monitored": _B,
                        "statistics": _ANY,
                        "images": ("list", _COVER_SPEC),
                    },
                ),
            ),
        ),
        "year": _I,
        "path": _S,
        "qualityProfileId": _I,
        "seasonFolder": _B,
        "monitored": _B,
        "useSceneNumbering": _B,
        "runtime": _I,
        "tvdbId": _I,
        "tvRageId": _I,
        "tvMazeId": _I,
        "firstAired": _DT,
        "seriesType": ("enum", ("NzbDrone.Core.Tv.SeriesTypes", _SERIES_TYPES)),
        "cleanTitle": _S,
        "imdbId": _S,
        "titleSlug": _S,
        "rootFolderPath": _S,
        "folder": _S,
        "certification": _S,
        "genres": ("list", _S),
        "tags": ("list", _I),
        "added": _DT,
        "addOptions": (
            "obj",
            (
                "NzbDrone.Core.Tv.AddSeriesOptions",
                {
                    "ignoreEpisodesWithFiles": _B,
                    "ignoreEpisodesWithoutFiles": _B,
                    "monitor": ("enum", ("NzbDrone.Core.Tv.MonitorTypes", monitor)),
                    "searchForMissingEpisodes": _B,
                    "searchForCutoffUnmetEpisodes": _B,
                },
            ),
        ),
        "ratings": ("obj", ("NzbDrone.Core.Tv.Ratings", {"votes": _I, "value": _D})),
        "statistics": _ANY,
        "episodesChanged": ("nbool", "System.Boolean"),
    }
    if v3:
        fields["languageProfileId"] = _I
    else:
        fields.update(
            monitorNewItems=(
                "enum",
                ("NzbDrone.Core.Tv.NewItemMonitorTypes", _NEW_ITEM_MONITOR_TYPES),
            ),
            originalLanguage=_LANGUAGE_SPEC,
            tmdbId=_I,
            lastAired=_DT,
        )
    return ("obj", ("Sonarr.Api.V3.Series.SeriesResource", fields))


_TAG_SPEC: _Spec = ("obj", ("Sonarr.Api.V3.Tags.TagResource", {"id": _I, "label": _S}))
_EXCLUSION_SPEC: _Spec = (
    "obj",
    (
        "Sonarr.Api.V3.ImportLists.ImportListExclusionResource",
        {"id": _I, "tvdbId": _I, "title": _S},
    ),
)
_ROOTFOLDER_SPEC: _Spec = (
    "obj",
    ("Sonarr.Api.V3.RootFolders.RootFolderResource", {"id": _I, "path": _S}),
)
_BULK_SPEC: _Spec = (
    "obj",
    ("Sonarr.Api.V3.ImportLists.ImportListExclusionBulkResource", {"ids": ("list", _I)}),
)
_EDITOR_SPEC: _Spec = (
    "obj",
    (
        "Sonarr.Api.V3.Series.SeriesEditorResource",
        {
            "seriesIds": ("list", _I),
            "deleteFiles": _B,
            "addImportListExclusion": _B,
        },
    ),
)


class _BindError(Exception):
    def __init__(self, path: str, target: str) -> None:
        super().__init__(path)
        self.path = path
        self.target = target


def _bind(value: Any, spec: _Spec, path: str, *, lenient: bool) -> Any:
    """Bind JSON like System.Text.Json with Sonarr's options (Newtonsoft when ``lenient``).

    Property names match case-insensitively and unknown ones are ignored; numbers, bools
    and strings are not coerced into each other (Newtonsoft coerces numeric strings);
    enums take camelCase names case-insensitively or their integer value.
    """
    kind, detail = spec
    if kind == "any":
        return value
    if value is None:
        if kind in {"int", "bool", "dec"}:
            if lenient:
                return 0 if kind != "bool" else False
            raise _BindError(path, detail)
        if kind == "enum":
            raise _BindError(path, detail[0])
        return None
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            limit = 2**31 if detail == "System.Int32" else 2**63
            if -limit <= value < limit:
                return value
        if lenient and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise _BindError(path, detail)
    if kind in {"bool", "nbool"}:
        if isinstance(value, bool):
            return value
        if lenient and isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _BindError(path, detail)
    if kind == "dec":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise _BindError(path, detail)
    if kind in {"str", "date"}:
        if isinstance(value, str):
            return value
        if lenient and kind == "str" and isinstance(value, int | float | bool):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise _BindError(path, detail)
    if kind == "enum":
        type_name, names = detail
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return names[value]
        if isinstance(value, str):
            for name in names:
                if name.lower() == value.strip().lower():
                    return name
        raise _BindError(path, type_name)
    if kind == "list":
        if not isinstance(value, list):
            raise _BindError(path, f"System.Collections.Generic.List`1[{detail[1]}]")
        return [_bind(v, detail, f"{path}[{i}]", lenient=lenient) for i, v in enumerate(value)]
    if kind == "obj":
        type_name, fields = detail
        if not isinstance(value, dict):
            raise _BindError(path, type_name)
        by_lower = {k.lower(): k for k in fields}
        out: dict[str, Any] = {}
        for key, val in value.items():
            canonical = by_lower.get(key.lower())
            if canonical is None:
                continue
            out[canonical] = _bind(val, fields[canonical], f"{path}.{key}", lenient=lenient)
        return out
    raise AssertionError(kind)  # pragma: no cover


# --------------------------------------------------------------------------- the simulator


class SonarrSimulator:
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
        self._server: LoopbackServer | None = None

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
            self._root_folders[rf_id] = {
                "id": rf_id,
                "path": rf_d["path"],
                "accessible": bool(rf_d.get("accessible", True)),
                "freeSpace": int(rf_d.get("freeSpace", 4_000_000_000_000)),
                "unmappedFolders": list(rf_d.get("unmappedFolders", [])),
            }

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

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_v3(self) -> bool:
        """True when the simulated server is Sonarr 3.x."""
        return self.version.startswith("3.")

    def start(self) -> Self:
        """Start serving in a daemon thread; returns self for chaining."""
        if self._server is None:
            self._server = LoopbackServer(_Handler, host=self.host, port=self.port, sim=self)
            self._server.start()
            self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL including the URL base, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.url + self.url_base

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` (before auth, like a proxy).

        ``body`` ``None`` gives an ErrorModel JSON (empty for 401), a ``str`` is sent as
        text/plain, ``bytes`` raw, anything else as JSON.
        """
        with self._lock:
            self._faults.append(_Fault(n, status, path_prefix, method, body, dict(headers or {})))

    def delay_next(
        self,
        n: int = 1,
        seconds: float = 1.0,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        before: bool = False,
    ) -> None:
        """Delay the next ``n`` matching responses.

        By default the request is processed first and the answer is late (a client that
        times out on ``POST /series`` has still added the series); ``before=True`` delays
        processing instead.
        """
        with self._lock:
            self._delays.append(_Fault(n, 0, path_prefix, method, seconds=seconds, before=before))

    def drop_next(
        self, n: int = 1, path_prefix: str | None = None, *, method: str | None = None
    ) -> None:
        """Close the connection without answering the next ``n`` matching requests."""
        with self._lock:
            self._drops.append(_Fault(n, 0, path_prefix, method))

    def race_next_add(self, n: int = 1, *, insert: bool = True) -> None:
        """Make the next ``n`` valid ``POST /series`` lose a race into the unique index.

        The request passed validation, but a concurrent add of the same TVDB id commits
        first: SQLite raises "constraint failed" and Sonarr answers ``409``. With
        ``insert`` the competing add really lands, so the series is in the library after.
        """
        with self._lock:
            self._races.append(_Fault(n, 409, body=insert))

    def rotate_api_key(self, new_key: str | None = None) -> str:
        """Change the key (as a user regenerating it would); returns the new key."""
        with self._lock:
            self.api_key = new_key or secrets.token_hex(16)
            return self.api_key

    def reset_faults(self) -> None:
        """Clear every pending fault and switch."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._drops.clear()
            self._races.clear()
            self.unauthorized = False
            self.error_rate = 0.0
            self.latency = 0.0
            self.metadata_error = None

    # ------------------------------------------------------------------ observability

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

    # ------------------------------------------------------------------ test-facing mutators

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

    # ------------------------------------------------------------------ request entry points

    def _norm_path(self, path: str) -> str:
        path = urlsplit(path).path
        if self.url_base and path.lower().startswith(self.url_base.lower()):
            path = path[len(self.url_base) :]
        return path.rstrip("/").lower() or "/"

    def _take(self, queue: list[_Fault], method: str, path: str) -> _Fault | None:
        if self.url_base and path.lower().startswith(self.url_base.lower()):
            path = path[len(self.url_base) :]  # prefixes are given without the URL base
        for fault in queue:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    queue.remove(fault)
                return fault
        return None

    def _timing(self, method: str, path: str) -> tuple[float, float]:
        """(seconds before processing, seconds before answering) for this request."""
        with self._lock:
            fault = self._take(self._delays, method, path)
            before = fault.seconds if fault and fault.before else 0.0
            after = self.latency + (fault.seconds if fault and not fault.before else 0.0)
            return before, after

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str = ""
    ) -> _Reply:
        """Answer one request (also usable without HTTP, for unit tests of the simulator)."""
        split = urlsplit(target)
        raw_query = parse_qs(split.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, values in raw_query.items():
            query.setdefault(key.lower(), []).extend(values)
        ctx = _Ctx(method.upper(), split.path, query, headers, body, host)
        with self._lock:
            try:
                reply = self._dispatch(ctx)
            except _HttpError as err:
                reply = err.reply
            if ctx.deprecated and reply.status < 400:
                reply.headers.setdefault("Deprecation", "true")
            api = split.path.lower().startswith(self.url_base.lower() + "/api")
            if api and reply.app and reply.status != 401:
                reply.headers.setdefault("X-Application-Version", self.version)
            self._log.append(
                RequestRecord(
                    method=ctx.method,
                    path=split.path,
                    query=raw_query,
                    status=reply.status,
                    body=_log_body(body),
                    headers=dict(headers.items()),
                    at=time.time(),
                )
            )
            return reply

    def _dispatch(self, ctx: _Ctx) -> _Reply:
        if self._take(self._drops, ctx.method, ctx.path):
            return _Reply(0, drop=True)
        fault = self._take(self._faults, ctx.method, ctx.path)
        if fault is not None:
            reply = self._fault_reply(fault.status, fault.body, fault.headers)
            reply.app = False
            return reply
        if self.error_rate > 0 and self._rng.random() < self.error_rate:
            reply = self._fault_reply(self.error_status, None, {})
            reply.app = False
            return reply

        path = ctx.path
        if self.url_base:
            if not path.lower().startswith(self.url_base.lower()):
                return _Reply(404)
            path = path[len(self.url_base) :]
        segments = [s for s in path.lower().split("/") if s]

        handlers, params = self._match(segments)
        if handlers is None:
            return _Reply(404)
        ctx.params = params
        anonymous = segments == ["ping"]
        if not anonymous and not self._authenticated(ctx):
            return _Reply(401)
        handler = handlers.get(ctx.method)
        if handler is None:
            return _Reply(405, headers={"Allow": ", ".join(sorted(handlers))})
        return handler(ctx)

    def _fault_reply(self, status: int, body: Any, headers: Mapping[str, str]) -> _Reply:
        if body is None:
            if status in {401, 403}:
                return _Reply(status, headers=dict(headers))
            phrase = _status_enum_name(status)
            return self._error_model(status, phrase, "Injected fault", headers=headers)
        if isinstance(body, bytes):
            return _Reply(status, body, "application/octet-stream", dict(headers))
        if isinstance(body, str):
            return _Reply(status, body.encode(), "text/plain; charset=utf-8", dict(headers))
        return _Reply(status, _dumps(body), _JSON, dict(headers))

    def _authenticated(self, ctx: _Ctx) -> bool:
        if self.unauthorized:
            return False
        if self.is_v3:  # Sonarr 3: X-Api-Key header first, then the ApiKey query parameter
            key = _header(ctx.headers, "X-Api-Key") or ctx.q("apikey")
        elif "apikey" in ctx.query:  # the query parameter wins even when it is wrong
            key = ctx.q("apikey")
        elif _header(ctx.headers, "X-Api-Key") is not None:
            key = _header(ctx.headers, "X-Api-Key")
        else:
            auth = _header(ctx.headers, "Authorization")
            key = auth.replace("Bearer ", "") if auth is not None else None
        return not _blank(key) and key == self.api_key

    # ------------------------------------------------------------------ routing

    def _build_routes(self) -> list[tuple[tuple[str, ...], dict[str, Callable[[_Ctx], _Reply]]]]:
        r: list[tuple[tuple[str, ...], dict[str, Callable[[_Ctx], _Reply]]]] = [
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

    def _match(
        self, segments: list[str]
    ) -> tuple[dict[str, Callable[[_Ctx], _Reply]] | None, dict[str, int]]:
        for pattern, handlers in self._routes:  # literal routes before {id}
            if "{id}" not in pattern and list(pattern) == segments:
                if pattern[-1] == "paged" and not self.paged_exclusions:
                    return None, {}
                return handlers, {}
        for pattern, handlers in self._routes:
            if len(pattern) != len(segments) or "{id}" not in pattern:
                continue
            params: dict[str, int] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want == "{id}":
                    if not re.fullmatch(r"-?\d{1,10}", got) or abs(int(got)) >= 2**31:
                        break
                    params["id"] = int(got)
                elif want != got:
                    break
            else:
                return handlers, params
        return None, {}

    # ------------------------------------------------------------------ reply builders

    def _json(self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        return _Reply(status, _dumps(obj), _JSON, dict(headers or {}))

    def _error_model(
        self,
        status: int,
        message: str,
        description: str | None = None,
        *,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Reply:
        """Sonarr's ErrorModel ``{message, description, content}`` (nulls omitted)."""
        return self._json(
            _drop_none({"message": message, "description": description, "content": content}),
            status,
            headers,
        )

    def _exception(self, status: int, exc_type: str, message: str) -> _Reply:
        """What SonarrErrorPipeline writes for an unhandled exception of ``exc_type``."""
        description: str | None = f"{exc_type}: {message}\n   at Sonarr (simulated stack trace)"
        if self.is_v3 and status == 409:
            description = None
        return self._error_model(status, message, description)

    def _bad_request_id(self, value: int) -> _Reply:
        msg = f"{value} is not a valid ID"
        if self.is_v3:
            return self._error_model(400, msg, None)
        return self._error_model(400, f"BadRequest: {msg}", content=msg)

    def _not_found(self, model: str, model_id: int) -> _Reply:
        """``GET /x/{id}`` for a missing id: ProblemDetails on 4.x, ErrorModel on 3.x."""
        if self.is_v3:
            msg = f"{model} with ID {model_id} does not exist"
            return self._exception(404, "NzbDrone.Core.Datastore.ModelNotFoundException", msg)
        return self._problem(404, "Not Found", "https://tools.ietf.org/html/rfc7231#section-6.5.4")

    def _problem(
        self, status: int, title: str, type_uri: str, errors: dict[str, list[str]] | None = None
    ) -> _Reply:
        """ASP.NET Core 6 ProblemDetails / ValidationProblemDetails."""
        body: dict[str, Any] = {"type": type_uri, "title": title, "status": status}
        if errors is not None:
            body["errors"] = errors
        body["traceId"] = _trace_id()
        return _Reply(status, _dumps(body), _PROBLEM_JSON)

    def _binding_problem(self, key: str, message: str) -> _HttpError:
        if self.is_v3:
            return _HttpError(self._error_model(400, message))
        return _HttpError(
            self._problem(
                400,
                "One or more validation errors occurred.",
                "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                {key: [message]},
            )
        )

    def _validation(self, failures: list[dict[str, Any]]) -> _Reply:
        """FluentValidation failures as SonarrErrorPipeline writes them: a 400 array."""
        return self._json(failures, 400)

    # ------------------------------------------------------------------ validation failures

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

    def _series_path_rules(self, prop: str, path: str, own_id: int) -> dict[str, Any] | None:
        """Path, RootFolder, SeriesPath, SeriesAncestor, SystemFolder (cascade: first wins)."""
        if not _path_valid(path):
            return self._invalid_path(prop, path)
        if any(_path_equals(rf["path"], path) for rf in self._root_folders.values()):
            return self._path_failure(
                prop,
                path,
                "RootFolderValidator",
                "Path '{path}' is already configured as a root folder",
                "Path is already configured as a root folder",
            )
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

    # ------------------------------------------------------------------ body binding

    def _read_body(self, ctx: _Ctx, spec: _Spec, param: str, *, consumes: bool = True) -> Any:
        """Bind a ``[FromBody]`` parameter, failing the way ASP.NET (or Nancy) would."""
        if not self.is_v3 and consumes:
            ctype = (_header(ctx.headers, "Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                raise _HttpError(
                    self._problem(
                        415,
                        "Unsupported Media Type",
                        "https://tools.ietf.org/html/rfc7231#section-6.5.13",
                    )
                )
        text = ctx.body.decode("utf-8", errors="replace")
        if not text.strip():
            if self.is_v3:
                raise _HttpError(self._error_model(400, "Request body can't be empty"))
            raise self._binding_problem("", "A non-empty request body is required.")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            if self.is_v3:
                msg = (
                    f"Invalid request body. {err.msg}. Path '', line {err.lineno}, "
                    f"position {err.colno}."
                )
                raise _HttpError(self._error_model(400, msg)) from None
            msg = (
                f"'{text[err.pos : err.pos + 1] or 'EOF'}' is an invalid start of a value. "
                f"Path: $ | LineNumber: {err.lineno - 1} | BytePositionInLine: {err.colno - 1}."
            )
            raise self._binding_problem("$", msg) from None
        try:
            return _bind(raw, spec, "$", lenient=self.is_v3)
        except _BindError as err:
            if self.is_v3:
                where = err.path.removeprefix("$").removeprefix(".")
                if err.target.startswith("NzbDrone.Core") and not err.target.endswith("Ratings"):
                    msg = (
                        f"Error converting value {json.dumps(_dig(raw, err.path))} to type "
                        f"'{err.target}'. Path '{where}', line 1, position 1."
                    )
                    raise _HttpError(
                        self._exception(500, "Newtonsoft.Json.JsonSerializationException", msg)
                    ) from None
                raise _HttpError(
                    self._error_model(
                        400,
                        f"Invalid request body. Could not convert value to "
                        f"{err.target}. Path '{where}'.",
                    )
                ) from None
            pos = max(text.find(f'"{err.path.rsplit(".", 1)[-1].split("[")[0]}"'), 0)
            msg = (
                f"The JSON value could not be converted to {err.target}. Path: {err.path} | "
                f"LineNumber: 0 | BytePositionInLine: {pos}."
            )
            raise self._binding_problem(err.path, msg) from None

    def _query_int(self, ctx: _Ctx, name: str, display: str | None = None) -> int | None:
        value = ctx.q(name)
        if value is None or value == "":
            return None
        if re.fullmatch(r"\s*-?\d{1,10}\s*", value) and abs(int(value)) < 2**31:
            return int(value)
        suffix = f" for {display}" if display else ""
        raise self._binding_problem(name, f"The value '{value}' is not valid{suffix}.")

    def _query_bool(self, ctx: _Ctx, name: str) -> bool:
        value = ctx.q(name)
        if value is None or value == "":
            return False
        if value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        if self.is_v3:
            return False
        raise self._binding_problem(name, f"The value '{value}' is not valid.")

    # ------------------------------------------------------------------ simple endpoints

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
        rf = self._root_folders.get(ctx.params["id"])
        if rf is None:
            return self._not_found("RootFolder", ctx.params["id"])
        return self._json(copy.deepcopy(rf))

    def _rootfolder_add(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _ROOTFOLDER_SPEC, "rootFolderResource")
        path = res.get("path")
        if not _path_valid(path):
            return self._validation([self._invalid_path("Path", path)])
        if any(_path_equals(rf["path"], path) for rf in self._root_folders.values()):
            return self._validation(
                [
                    self._path_failure(
                        "Path",
                        path,
                        "RootFolderValidator",
                        "Path '{path}' is already configured as a root folder",
                        "Path is already configured as a root folder",
                    )
                ]
            )
        rf_id = max(self._root_folders, default=0) + 1
        self._root_folders[rf_id] = {
            "id": rf_id,
            "path": path,
            "accessible": True,
            "freeSpace": 4_000_000_000_000,
            "unmappedFolders": [],
        }
        return self._created(ctx, "rootfolder", rf_id, copy.deepcopy(self._root_folders[rf_id]))

    def _rootfolder_delete(self, ctx: _Ctx) -> _Reply:
        rf_id = ctx.params["id"]
        if rf_id <= 0:
            return self._bad_request_id(rf_id)
        self._root_folders.pop(rf_id, None)
        return _Reply(200)

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

    def _qualityprofile_list(self, ctx: _Ctx) -> _Reply:
        return self._json([copy.deepcopy(p) for p in self._quality_profiles.values()])

    def _qualityprofile_get(self, ctx: _Ctx) -> _Reply:
        qp = self._quality_profiles.get(ctx.params["id"])
        if qp is None:
            return self._not_found("QualityProfile", ctx.params["id"])
        return self._json(copy.deepcopy(qp))

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
            lp = self._language_profiles.get(ctx.params["id"])
            if lp is None:
                return self._not_found("LanguageProfile", ctx.params["id"])
            return self._json(copy.deepcopy(lp))
        ctx.deprecated = True
        return self._json(self._deprecated_language_profile())

    # ------------------------------------------------------------------ tags

    def _tag_list(self, ctx: _Ctx) -> _Reply:
        return self._json([dict(t) for t in self._tags.values()])

    def _tag_get(self, ctx: _Ctx) -> _Reply:
        tag = self._tags.get(ctx.params["id"])
        if tag is None:
            return self._not_found("Tag", ctx.params["id"])
        return self._json(dict(tag))

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
            return self._exception(
                404,
                "NzbDrone.Core.Datastore.ModelNotFoundException",
                f"Tag with ID {tag_id} does not exist",
            )
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

    def _constraint_failed(self, column: str) -> _Reply:
        msg = f"constraint failed\r\nUNIQUE constraint failed: {column}"
        return self._exception(409, "System.Data.SQLite.SQLiteException", msg)

    def _created(self, ctx: _Ctx, resource: str, res_id: int, body: Any) -> _Reply:
        """``CreatedAtAction``: 201, absolute Location of the new resource, the resource."""
        location = f"http://{ctx.host}{self.url_base}/api/v3/{resource}/{res_id}"
        return self._json(body, 201, {"Location": location} if not self.is_v3 else None)

    # ------------------------------------------------------------------ series resources

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

    def _find_series_by_tvdb(self, tvdb_id: int) -> dict[str, Any] | None:
        return next((s for s in self._series.values() if s["tvdbId"] == tvdb_id), None)

    def _find_exclusion_by_tvdb(self, tvdb_id: int) -> dict[str, Any] | None:
        return next((e for e in self._exclusions.values() if e["tvdbId"] == tvdb_id), None)

    # ------------------------------------------------------------------ series endpoints

    def _series_list(self, ctx: _Ctx) -> _Reply:
        tvdb = self._query_int(ctx, "tvdbId")
        self._query_bool(ctx, "includeSeasonImages")
        if tvdb is not None and (not self.is_v3 or tvdb > 0):
            rec = self._find_series_by_tvdb(tvdb)
            return self._json([self._series_resource(rec)] if rec else [])
        return self._json([self._series_resource(s) for s in self._series.values()])

    def _series_get(self, ctx: _Ctx) -> _Reply:
        rec = self._series.get(ctx.params["id"])
        if rec is None:
            return self._not_found("Series", ctx.params["id"])
        return self._json(self._series_resource(rec))

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
            rec["seasons"] = [
                {"seasonNumber": s.get("seasonNumber", 0), "monitored": s.get("monitored", False)}
                for s in res["seasons"]
            ]
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
            if race.body:  # the competing add commits first
                self._insert_series(copy.deepcopy(rec))
            return self._constraint_failed("Series.TvdbId")

        new_id = self._insert_series(rec)
        reply = self._created(ctx, "series", new_id, self._series_resource(rec))
        self._after_add_refresh(rec)
        return reply

    def _insert_series(self, rec: dict[str, Any]) -> int:
        rec["id"] = self._next_series_id
        self._next_series_id += 1
        self._series[rec["id"]] = rec
        return rec["id"]

    def _add_path_rules(self, path: str) -> dict[str, Any] | None:
        """AddSeriesValidator's Path rule: valid, not a root folder, unused, not an ancestor."""
        if not _path_valid(path):
            return self._invalid_path("Path", path)
        failure = self._series_path_rules("Path", path, 0)
        if failure and failure["errorCode"] != "SystemFolderValidator":
            return failure
        return None

    def _validate_series_post(self, res: Mapping[str, Any]) -> list[dict[str, Any]]:
        """SeriesController's SharedValidator then PostValidator rules, in Sonarr's order."""
        failures: list[dict[str, Any]] = []
        path: Any = res.get("path")
        root: Any = res.get("rootFolderPath")
        own_id = int(res.get("id") or 0)
        # Shared: Path (only when given), cascade stops at the first failure.
        if not _blank(path):
            failure = self._series_path_rules("Path", path, own_id)
            if failure:
                failures.append(failure)
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
        elif qp <= 0:
            failures.append(self._greater_than("QualityProfileId", qp, 0))
        elif qp not in self._quality_profiles:
            failures.append(
                self._failure(
                    "QualityProfileId",
                    qp,
                    "QualityProfileExistsValidator",
                    "Quality Profile does not exist",
                )
            )
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
        failures = []
        if not _blank(res.get("path")):
            failure = self._series_path_rules("Path", res["path"], series_id)
            if failure:
                failures.append(failure)
        qp = int(res.get("qualityProfileId") or 0)
        if qp <= 0:
            failures.append(self._greater_than("QualityProfileId", qp, 0))
        elif qp not in self._quality_profiles:
            failures.append(
                self._failure(
                    "QualityProfileId",
                    qp,
                    "QualityProfileExistsValidator",
                    "Quality Profile does not exist",
                )
            )
        if _blank(res.get("path")):
            failures.append(self._not_empty("Path", res.get("path")))
        if series_id <= 0:
            failures.append(self._greater_than("Id", series_id, 0))
        if failures:
            return self._validation(failures)
        rec = self._series.get(series_id)
        if rec is None:
            return self._exception(
                404,
                "NzbDrone.Core.Datastore.ModelNotFoundException",
                f"Series with ID {series_id} does not exist",
            )
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
            rec["seasons"] = [
                {"seasonNumber": s.get("seasonNumber", 0), "monitored": s.get("monitored", False)}
                for s in res["seasons"]
            ]
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

    # ------------------------------------------------------------------ import list exclusions

    def _exclusion_list(self, ctx: _Ctx) -> _Reply:
        ctx.deprecated = not self.is_v3  # [Obsolete("Deprecated")] on 4.x
        return self._json([dict(e) for e in self._exclusions.values()])

    def _exclusion_paged(self, ctx: _Ctx) -> _Reply:
        page = self._query_int(ctx, "page", "Page")
        page_size = self._query_int(ctx, "pageSize", "PageSize")
        sort_key = ctx.q("sortKey")
        direction_raw = ctx.q("sortDirection")
        direction = "descending"
        if direction_raw not in {None, ""}:
            assert direction_raw is not None
            match = [d for d in _SORT_DIRECTIONS if d == direction_raw.strip().lower()]
            if re.fullmatch(r"\d", direction_raw.strip()) and int(direction_raw) < 3:
                match = [_SORT_DIRECTIONS[int(direction_raw)]]
            if not match:
                raise self._binding_problem(
                    "sortDirection", f"The value '{direction_raw}' is not valid for SortDirection."
                )
            direction = match[0]
        if direction == "default":
            direction = "descending"
        page = 1 if page is None else page
        page_size = 10 if page_size is None else page_size
        effective_key = (
            sort_key if sort_key and sort_key.lower() in {"id", "title", "tvdbid"} else "id"
        )
        field_name = {"id": "id", "title": "title", "tvdbid": "tvdbId"}[effective_key.lower()]
        records = sorted(
            self._exclusions.values(),
            key=lambda e: (e[field_name], e["id"]),
            reverse=direction == "descending",
        )
        offset = max(0, (page - 1) * page_size)
        window = records[offset:] if page_size < 0 else records[offset : offset + page_size]
        return self._json(
            {
                "page": page,
                "pageSize": page_size,
                "sortKey": effective_key,
                "sortDirection": direction,
                "totalRecords": len(records),
                "records": [dict(e) for e in window],
            }
        )

    def _exclusion_get(self, ctx: _Ctx) -> _Reply:
        ex = self._exclusions.get(ctx.params["id"])
        if ex is None:
            return self._not_found("ImportListExclusion", ctx.params["id"])
        return self._json(dict(ex))

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

    def _exclusion_add(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _EXCLUSION_SPEC, "resource")
        failures = self._exclusion_failures(res, int(res.get("id") or 0))
        if failures:
            return self._validation(failures)
        ex = {"id": self._next_exclusion_id, "tvdbId": res["tvdbId"], "title": res["title"]}
        self._next_exclusion_id += 1
        self._exclusions[ex["id"]] = ex
        return self._created(ctx, "importlistexclusion", ex["id"], dict(ex))

    def _exclusion_update(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _EXCLUSION_SPEC, "resource")
        ex_id = int(res.get("id") or 0) or ctx.params.get("id", 0)
        failures = self._exclusion_failures(res, ex_id)
        if ex_id <= 0:
            failures.append(self._greater_than("Id", ex_id, 0))
        if failures:
            return self._validation(failures)
        ex = self._exclusions.get(ex_id)
        if ex is None:
            return self._exception(
                404,
                "NzbDrone.Core.Datastore.ModelNotFoundException",
                f"ImportListExclusion with ID {ex_id} does not exist",
            )
        ex.update(tvdbId=res["tvdbId"], title=res["title"])
        return self._json(dict(ex), 202)

    def _exclusion_delete(self, ctx: _Ctx) -> _Reply:
        ex_id = ctx.params["id"]
        if ex_id <= 0:
            return self._bad_request_id(ex_id)
        self._exclusions.pop(ex_id, None)  # a missing id is not an error (DELETE ... WHERE)
        return _Reply(200)

    def _exclusion_bulk(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _BULK_SPEC, "resource", consumes=False)
        for ex_id in res.get("ids") or []:
            self._exclusions.pop(ex_id, None)
        return self._json({})


# --------------------------------------------------------------------------- HTTP glue


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _log_body(body: bytes) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _dig(raw: Any, path: str) -> Any:
    current = raw
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, index = part
        try:
            if key:
                lowered = {k.lower(): k for k in current}
                current = current[lowered[key.lower()]]
            else:
                current = current[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return current


class _Handler(BaseHTTPRequestHandler):
    """Feeds each request to ``server.sim`` and writes its reply (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "Kestrel"
    server: Any

    def version_string(self) -> str:
        return "Kestrel"

    def log_message(self, format: str, *args: Any) -> None:
        return  # tests stay quiet; the simulator keeps its own request log

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        sim: SonarrSimulator = self.server.sim
        body = self._read_body()
        path_only = urlsplit(self.path).path
        before, after = sim._timing(self.command, path_only)
        if before:
            time.sleep(before)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name, value)  # like FirstOrDefault(): the first one counts
        host = self.headers.get("Host") or f"{sim.host}:{sim.port}"
        reply = sim.handle(self.command, self.path, headers, body, host)
        if after:
            time.sleep(after)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD" and reply.body:
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test); the request was still processed.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


# --------------------------------------------------------------------------- standalone


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a simulator until Ctrl-C (for demos and manual poking with curl)."""
    parser = argparse.ArgumentParser(description="Simulated Sonarr v3 API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8989)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--version", default=DEFAULT_VERSION, help="3.x selects v3 mode")
    parser.add_argument("--root-folder", action="append", dest="root_folders")
    parser.add_argument("--tag", action="append", dest="tags", default=[])
    parser.add_argument("--url-base", default="")
    args = parser.parse_args(argv)
    sim = SonarrSimulator(
        args.api_key,
        version=args.version,
        root_folders=args.root_folders or ["/tv"],
        tags=args.tags,
        host=args.host,
        port=args.port,
        url_base=args.url_base,
    ).start()
    print(f"Sonarr {sim.version} simulator on {sim.url} (API key {sim.api_key}); Ctrl-C stops.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
