"""Sonarr's fixed facts, as its source code has them: builds, enums, languages, qualities,
the default quality profiles, and the content types of its answers."""

from __future__ import annotations

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
