"""The metadata catalogue: what SkyHook (Sonarr's metadata server) would answer, by TVDB id."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from tests.doubles.sonarr_sim.constants import _LANGUAGES
from tests.doubles.sonarr_sim.helpers import _slugify, _strip_html
from tests.doubles.tvmaze_sim.shows import load_real_shows


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
    return catalogue_from_tvmaze(load_real_shows())


def load_sample_catalogue() -> dict[int, dict[str, Any]]:
    """Catalogue built from the TVMaze sample shipped in ``tests/doubles/data``.

    The TVMaze simulator serves the same shows, so every TVDB id the client finds there
    can be looked up and added here. Returns a fresh copy each call.
    """
    return copy.deepcopy(_sample_catalogue())
