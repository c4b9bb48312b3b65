"""The Sonarr simulator, exercised over real HTTP with requests and with pyarr 6.9.

These pin the behaviours the project's client relies on (status codes, body shapes,
pyarr's exceptions) to what Sonarr 4.0.19 does, and check the answers against Sonarr's
own OpenAPI description when ``../shared/sonarr/openapi-v3.json`` is present.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from pyarr import Sonarr
from pyarr.exceptions import (
    PyarrBadRequest,
    PyarrConnectionError,
    PyarrResourceNotFound,
    PyarrServerError,
    PyarrUnauthorizedError,
)

from tests.doubles.sonarr_sim import (
    DEFAULT_VERSION,
    SonarrSimulator,
    catalogue_from_tvmaze,
)
from tests.fixtures_sonarr import (
    SONARR_API_KEY,
    SONARR_V3_VERSION,
    SonarrFactory,
)

H = {"X-Api-Key": SONARR_API_KEY}
MULTI = 900001  # a continuing four-season show (specials included) added per test


def pyarr(sim: SonarrSimulator, key: str = SONARR_API_KEY, **kwargs: Any) -> Any:
    """pyarr 6.9's client, pinned to v3 with a timeout (its results are loosely typed)."""
    kwargs.setdefault("api_ver", "v3")
    kwargs.setdefault("request_timeout", 5)
    return Sonarr(sim.url, key, **kwargs)


@pytest.fixture
def client(sonarr_sim: SonarrSimulator) -> Iterator[Any]:
    with pyarr(sonarr_sim) as sonarr:
        yield sonarr


def get(sim: SonarrSimulator, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", H)
    return requests.get(sim.url + path, timeout=5, **kwargs)


def post(sim: SonarrSimulator, path: str, body: Any, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", H)
    return requests.post(sim.url + path, json=body, timeout=5, **kwargs)


def any_tvdb(sim: SonarrSimulator, n: int = 0) -> int:
    return sorted(sim.catalogue)[n]


def add_body(sim: SonarrSimulator, tvdb: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tvdbId": tvdb,
        "title": sim.catalogue[tvdb]["title"] if tvdb in sim.catalogue else "Unknown",
        "qualityProfileId": 4,
        "rootFolderPath": "/tv",
        "monitored": True,
        "seasonFolder": True,
        "tags": [1],
        "addOptions": {"monitor": "all", "searchForMissingEpisodes": False},
    }
    body.update(overrides)
    return body


def with_multi(sim: SonarrSimulator) -> SonarrSimulator:
    sim.add_to_catalogue(
        MULTI,
        "Four Seasons",
        year=2019,
        status="continuing",
        seasons=[0, 1, 2, 3, 4],
        firstAired="2019-03-01",
    )
    return sim


# --------------------------------------------------------------------------- auth


def test_api_key_header_query_and_bearer_are_accepted(sonarr_sim: SonarrSimulator) -> None:
    url = sonarr_sim.url + "/api/v3/system/status"
    assert requests.get(url, headers=H, timeout=5).status_code == 200
    assert requests.get(url, params={"apikey": SONARR_API_KEY}, timeout=5).status_code == 200
    assert requests.get(url, params={"ApiKey": SONARR_API_KEY}, timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {SONARR_API_KEY}"}
    assert requests.get(url, headers=bearer, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({}, {"X-Api-Key": "wrong"}),
        ({}, {"Authorization": f"Basic {SONARR_API_KEY}"}),
        ({"apikey": "wrong"}, H),  # the query parameter wins over a right header
        ({"apikey": ""}, H),
    ],
)
def test_bad_or_missing_key_is_401_with_empty_body(
    sonarr_sim: SonarrSimulator, params: dict[str, str], headers: dict[str, str]
) -> None:
    r = requests.get(sonarr_sim.url + "/api/v3/series", params=params, headers=headers, timeout=5)
    assert r.status_code == 401
    assert r.content == b""
    assert "X-Application-Version" not in r.headers  # authorization ran before the middleware


def test_ping_is_anonymous_and_unknown_routes_are_404(sonarr_sim: SonarrSimulator) -> None:
    assert requests.get(sonarr_sim.url + "/ping", timeout=5).json() == {"status": "OK"}
    r = requests.get(sonarr_sim.url + "/api/v3/nothing-here", timeout=5)
    assert (r.status_code, r.content) == (404, b"")
    assert get(sonarr_sim, "/api/v3/series/not-a-number").status_code == 404
    r = requests.patch(sonarr_sim.url + "/api/v3/series", headers=H, timeout=5)
    assert r.status_code == 405


def test_unauthorized_switch_and_key_rotation(sonarr_sim: SonarrSimulator) -> None:
    sonarr_sim.unauthorized = True
    assert get(sonarr_sim, "/api/v3/series").status_code == 401
    assert requests.get(sonarr_sim.url + "/ping", timeout=5).status_code == 200
    sonarr_sim.unauthorized = False
    new = sonarr_sim.rotate_api_key("fresh")
    assert get(sonarr_sim, "/api/v3/series").status_code == 401
    assert get(sonarr_sim, "/api/v3/series", headers={"X-Api-Key": new}).status_code == 200


def test_pyarr_wrong_key_pinned_is_unauthorized_but_autodetect_is_connection_error(
    sonarr_sim: SonarrSimulator,
) -> None:
    with pyarr(sonarr_sim, key="wrong") as sonarr, pytest.raises(PyarrUnauthorizedError):
        sonarr.series.get()
    with (
        pyarr(sonarr_sim, key="wrong", api_ver=None) as sonarr,
        pytest.raises(PyarrConnectionError),
    ):
        sonarr.series.get()


# --------------------------------------------------------------------------- simple resources


def test_api_info_and_system_status(sonarr_sim: SonarrSimulator, client: Any) -> None:
    assert get(sonarr_sim, "/api").json() == {"current": "v3", "deprecated": []}
    r = get(sonarr_sim, "/api/v3/system/status")
    assert r.headers["X-Application-Version"] == DEFAULT_VERSION
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    status = client.system.get_status()
    assert status["appName"] == "Sonarr"
    assert status["version"] == DEFAULT_VERSION
    assert status["isNetCore"] is True


def test_pyarr_autodetects_v3_through_get_api(sonarr_sim: SonarrSimulator) -> None:
    with pyarr(sonarr_sim, api_ver=None) as sonarr:
        assert sonarr.system.get_status()["version"] == DEFAULT_VERSION
    assert [r.path for r in sonarr_sim.request_log] == ["/api", "/api/v3/system/status"]


def test_profiles_root_folders_and_tags(sonarr_sim: SonarrSimulator, client: Any) -> None:
    assert [(p["id"], p["name"]) for p in client.quality_profile.get()] == [
        (1, "Any"),
        (4, "HD-1080p"),
    ]
    assert client.quality_profile.get(4)["cutoff"] == 9  # HDTV-1080p
    folders = client.root_folder.get()
    assert [f["path"] for f in folders] == ["/tv"]
    assert folders[0]["accessible"] is True
    assert client.tag.get() == [{"id": 1, "label": "auto-sync"}]
    with pytest.raises(PyarrResourceNotFound):
        client.quality_profile.get(99)


def test_language_profile_is_the_deprecated_stub_on_v4(sonarr_sim: SonarrSimulator) -> None:
    r = get(sonarr_sim, "/api/v3/languageprofile")
    assert r.headers["Deprecation"] == "true"
    assert r.json() == [
        {
            "id": 1,
            "name": "Deprecated",
            "upgradeAllowed": True,
            "cutoff": {"id": 1, "name": "English"},
            "languages": [{"language": {"id": 1, "name": "English"}, "allowed": True}],
        }
    ]


def test_tag_create_rules(sonarr_sim: SonarrSimulator, client: Any) -> None:
    created = post(sonarr_sim, "/api/v3/tag", {"label": "Imported"})
    assert created.status_code == 201
    assert created.json() == {"id": 2, "label": "imported"}
    assert created.headers["Location"].endswith("/api/v3/tag/2")
    # exact label: TagService returns the existing tag
    assert client.tag.create("auto-sync") == {"id": 1, "label": "auto-sync"}
    # another case: it is lower-cased and hits the UNIQUE index -> 409
    r = post(sonarr_sim, "/api/v3/tag", {"label": "Auto-Sync"})
    assert r.status_code == 409
    assert "UNIQUE constraint failed: Tags.Label" in r.json()["message"]
    assert post(sonarr_sim, "/api/v3/tag", {}).status_code == 500
    assert len(client.tag.get()) == 2


# --------------------------------------------------------------------------- lookup


def test_lookup_unknown_known_and_library(sonarr_sim: SonarrSimulator, client: Any) -> None:
    assert client.series.lookup(item_id=123456789) == []
    assert client.series.lookup(term="tvdb:0") == []
    assert client.series.lookup(term="tvdb:12 3") == []
    tvdb = any_tvdb(sonarr_sim)
    [found] = client.series.lookup(item_id=tvdb)
    assert "id" not in found
    assert found["tvdbId"] == tvdb
    assert found["folder"] and found["remotePoster"].startswith("http")
    assert found["added"] == "0001-01-01T00:00:00Z"
    assert found["statistics"]["seasonCount"] >= 0
    sonarr_sim.add_series(tvdb, monitored=False)
    [library] = client.series.lookup(term=f"TVDB:{tvdb}")
    assert library["id"] >= 1
    assert library["monitored"] is False
    assert library["path"] == "/tv/" + found["folder"]


def test_lookup_by_title(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb = any_tvdb(sonarr_sim)
    title = sonarr_sim.catalogue[tvdb]["title"]
    results = client.series.lookup(term=title.upper())
    assert results[0]["tvdbId"] == tvdb
    assert client.series.lookup(term="zzqqxx no such show") == []


def test_lookup_metadata_failure_is_503_not_empty(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb, in_library = any_tvdb(sonarr_sim), any_tvdb(sonarr_sim, 1)
    sonarr_sim.add_series(in_library)
    sonarr_sim.metadata_error = 503
    r = get(sonarr_sim, "/api/v3/series/lookup", params={"term": f"tvdb:{tvdb}"})
    assert r.status_code == 503
    assert set(r.json()) == {"message", "description"}
    assert "Unable to communicate with SkyHook" in r.json()["message"]
    with pytest.raises(Exception, match="503") as info:
        client.series.lookup(item_id=tvdb)
    assert type(info.value) is Exception  # pyarr has no class for 503
    # a series already in the library does not need SkyHook
    assert client.series.lookup(item_id=in_library)[0]["id"] >= 1
    # and adding needs the metadata: HttpException -> 500
    with pytest.raises(PyarrServerError):
        client.series.add(add_body(sonarr_sim, tvdb), 4, 1, "/tv")


# --------------------------------------------------------------------------- add


def test_add_series_success_shape(sonarr_sim: SonarrSimulator) -> None:
    tvdb = any_tvdb(sonarr_sim)
    body = add_body(
        sonarr_sim, tvdb, addOptions={"monitor": "all", "searchForMissingEpisodes": True}
    )
    r = post(sonarr_sim, "/api/v3/series", body)
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["id"] == 1
    assert r.headers["Location"] == f"{sonarr_sim.url}/api/v3/series/1"
    assert res["path"] == "/tv/" + re.sub(r'[<>|"]', "", sonarr_sim.catalogue[tvdb]["title"])
    assert res["rootFolderPath"] == "/tv"
    assert (res["qualityProfileId"], res["tags"], res["monitored"]) == (4, [1], True)
    assert res["seasonFolder"] is True
    assert res["monitorNewItems"] == "all"
    assert res["languageProfileId"] == 1
    assert res["addOptions"]["searchForMissingEpisodes"] is True
    assert res["added"].endswith("Z")
    assert sonarr_sim.posts_to("/api/v3/series") == [body]
    assert sonarr_sim.searches == [1]
    # the refresh that follows an add clears addOptions
    stored = sonarr_sim.series_by_tvdb(tvdb)
    assert stored is not None
    assert "addOptions" not in stored
    assert get(sonarr_sim, "/api/v3/series/1").json()["tvdbId"] == tvdb


def test_add_takes_metadata_from_skyhook_not_the_body(sonarr_sim: SonarrSimulator) -> None:
    tvdb = any_tvdb(sonarr_sim)
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, tvdb, title="Whatever", year=1))
    assert r.status_code == 201
    assert r.json()["title"] == sonarr_sim.catalogue[tvdb]["title"]


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("all", {0: False, 1: True, 2: True, 3: True, 4: True}),
        ("firstSeason", {0: False, 1: True, 2: False, 3: False, 4: False}),
        ("lastSeason", {0: False, 1: False, 2: False, 3: False, 4: True}),
        ("future", {0: False, 1: False, 2: False, 3: False, 4: True}),
        ("pilot", {0: False, 1: False, 2: False, 3: False, 4: False}),
        ("none", {0: False, 1: False, 2: False, 3: False, 4: False}),
        ("monitorSpecials", {0: True, 1: True, 2: True, 3: True, 4: True}),
        ("skip", {0: False, 1: True, 2: True, 3: True, 4: True}),
    ],
)
def test_add_monitor_options(
    sonarr_sim: SonarrSimulator, monitor: str, expected: dict[int, bool]
) -> None:
    with_multi(sonarr_sim)
    body = add_body(sonarr_sim, MULTI, addOptions={"monitor": monitor}, monitorNewItems="none")
    r = post(sonarr_sim, "/api/v3/series", body)
    assert r.status_code == 201, r.text
    assert r.json()["addOptions"]["monitor"] == monitor
    series = sonarr_sim.series_by_tvdb(MULTI)
    assert series is not None
    assert {s["seasonNumber"]: s["monitored"] for s in series["seasons"]} == expected
    assert series["monitored"] is (monitor != "none")
    assert series["monitorNewItems"] == "none"


def test_duplicate_add_is_400_series_exists(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb = any_tvdb(sonarr_sim)
    sonarr_sim.add_series(tvdb)
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, tvdb))
    assert r.status_code == 400
    assert r.json() == [
        {
            "propertyName": "TvdbId",
            "errorMessage": "This series has already been added",
            "attemptedValue": tvdb,
            "severity": "error",
            "errorCode": "SeriesExistsValidator",
            "formattedMessageArguments": [],
            "formattedMessagePlaceholderValues": {"propertyName": "Tvdb Id", "propertyValue": tvdb},
        }
    ]
    with pytest.raises(PyarrBadRequest, match="SeriesExistsValidator"):
        client.series.add(client.series.lookup(item_id=tvdb)[0], 4, 1, "/tv")


def codes(r: requests.Response) -> list[tuple[str, str]]:
    assert r.status_code == 400, r.text
    return [(f["propertyName"], f.get("errorCode", "")) for f in r.json()]


def test_add_validation_failures(sonarr_sim: SonarrSimulator) -> None:
    tvdb, other = any_tvdb(sonarr_sim), any_tvdb(sonarr_sim, 1)
    existing = sonarr_sim.add_series(other)
    url = "/api/v3/series"
    assert codes(post(sonarr_sim, url, add_body(sonarr_sim, tvdb, rootFolderPath="/nope"))) == [
        ("RootFolderPath", "RootFolderExistsValidator")
    ]
    r = post(
        sonarr_sim, url, add_body(sonarr_sim, tvdb, rootFolderPath=None, path=existing["path"])
    )
    assert codes(r) == [("Path", "SeriesPathValidator")]
    assert r.json()[0]["errorMessage"] == (
        f"Path '{existing['path']}' is already configured for another series"
    )
    assert r.json()[0]["formattedMessagePlaceholderValues"]["path"] == existing["path"]
    assert codes(post(sonarr_sim, url, add_body(sonarr_sim, tvdb, path="/tv"))) == [
        ("Path", "RootFolderValidator")
    ]
    assert codes(post(sonarr_sim, url, add_body(sonarr_sim, tvdb, qualityProfileId=2))) == [
        ("QualityProfileId", "QualityProfileExistsValidator")
    ]
    r = post(
        sonarr_sim, url, add_body(sonarr_sim, 0, title="", qualityProfileId=0, rootFolderPath=None)
    )
    assert codes(r) == [
        ("QualityProfileId", "GreaterThanValidator"),
        ("Path", "NotEmptyValidator"),
        ("RootFolderPath", "NotEmptyValidator"),
        ("Title", "NotEmptyValidator"),
        ("TvdbId", "GreaterThanValidator"),
    ]
    assert r.json()[-1]["errorMessage"] == "'Tvdb Id' must be greater than '0'."
    assert r.json()[3]["errorMessage"] == "'Title' must not be empty."
    # valid request, but SkyHook does not know the id
    r = post(sonarr_sim, url, add_body(sonarr_sim, 777777777, title="Ghost"))
    assert r.status_code == 400
    assert r.json() == [
        {
            "propertyName": "TvdbId",
            "errorMessage": "A series with this ID was not found. Path: ",
            "attemptedValue": 777777777,
            "severity": "error",
        }
    ]
    assert len(sonarr_sim.library()) == 1
    assert len(sonarr_sim.posts_to(url)) == 6


def test_add_title_slug_in_use(sonarr_sim: SonarrSimulator) -> None:
    sonarr_sim.add_to_catalogue(1001, "Twin", titleSlug="twin")
    sonarr_sim.add_to_catalogue(1002, "Twin Again", titleSlug="twin")
    assert post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, 1001)).status_code == 201
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, 1002))
    assert codes(r) == [("TitleSlug", "SeriesTitleSlugValidator")]


def test_model_binding_errors_are_problem_details(sonarr_sim: SonarrSimulator) -> None:
    url = sonarr_sim.url + "/api/v3/series"
    r = requests.post(
        url, data="{not json", headers={**H, "Content-Type": "application/json"}, timeout=5
    )
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["title"] == "One or more validation errors occurred."
    assert "$" in r.json()["errors"]
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, any_tvdb(sonarr_sim), tvdbId="123"))
    assert r.status_code == 400
    assert list(r.json()["errors"]) == ["$.tvdbId"]
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, 1, addOptions={"monitor": "x"}))
    assert list(r.json()["errors"]) == ["$.addOptions.monitor"]
    r = requests.post(url, data=b"{}", headers={**H, "Content-Type": "text/plain"}, timeout=5)
    assert r.status_code == 415
    # property names bind case-insensitively, enums too
    tvdb = any_tvdb(sonarr_sim)
    body = {
        "TVDBID": tvdb,
        "Title": "x",
        "QualityProfileId": 1,
        "rootfolderpath": "/tv",
        "addOptions": {"Monitor": "FIRSTSEASON"},
    }
    r = post(sonarr_sim, "/api/v3/series", body)
    assert r.status_code == 201, r.text
    assert r.json()["addOptions"]["monitor"] == "firstSeason"


def test_race_into_unique_index_is_409(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb = any_tvdb(sonarr_sim)
    sonarr_sim.race_next_add()
    with pytest.raises(Exception, match="409") as info:
        client.series.add(client.series.lookup(item_id=tvdb)[0], 4, 1, "/tv")
    assert type(info.value) is Exception
    assert sonarr_sim.series_by_tvdb(tvdb) is not None  # the other add won
    sonarr_sim.race_next_add(insert=False)
    r = post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, any_tvdb(sonarr_sim, 1)))
    assert r.status_code == 409
    assert r.json()["message"] == "constraint failed\r\nUNIQUE constraint failed: Series.TvdbId"


def test_concurrent_adds_of_one_series_let_exactly_one_win(sonarr_sim: SonarrSimulator) -> None:
    tvdb = any_tvdb(sonarr_sim)
    results: list[int] = []

    def worker() -> None:
        results.append(post(sonarr_sim, "/api/v3/series", add_body(sonarr_sim, tvdb)).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [400] * 7
    assert len(sonarr_sim.library()) == 1


def test_pyarr_add_sends_language_profile_and_no_monitor(
    sonarr_sim: SonarrSimulator, client: Any
) -> None:
    tvdb = any_tvdb(sonarr_sim)
    series = client.series.lookup(item_id=tvdb)[0]
    series["tags"] = [1]
    series["addOptions"] = {"monitor": "firstSeason"}  # pyarr overwrites this
    added = client.series.add(
        series, 4, 1, "/tv", monitored=True, search_for_missing_episodes=False
    )
    assert added["tags"] == [1]
    [sent] = sonarr_sim.posts_to("/api/v3/series")
    assert sent["languageProfileId"] == 1
    assert sent["addOptions"] == {
        "ignoreEpisodesWithFiles": False,
        "ignoreEpisodesWithoutFiles": False,
        "searchForMissingEpisodes": False,
    }
    assert added["addOptions"]["monitor"] == "unknown"
    # the raw request handler is how a client sends addOptions.monitor through pyarr
    other = client.series.lookup(item_id=any_tvdb(sonarr_sim, 1))[0]
    other.update(
        qualityProfileId=1, rootFolderPath="/tv", monitored=True, addOptions={"monitor": "none"}
    )
    res = client.http_utils.request("series", method="POST", json_data=other)
    assert res["monitored"] is False


# --------------------------------------------------------------------------- library


def test_series_get_and_filters(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb = any_tvdb(sonarr_sim)
    added = sonarr_sim.add_series(tvdb, tags=[1])
    assert client.series.get(tvdb, tvdb=True)[0]["id"] == added["id"]  # pyarr sends ?tvdbid=
    assert client.series.get(999, tvdb=True) == []
    assert client.series.get(added["id"])["tvdbId"] == tvdb
    assert [s["id"] for s in client.series.get()] == [added["id"]]
    r = get(sonarr_sim, "/api/v3/series/999")
    assert r.status_code == 404
    assert r.json()["title"] == "Not Found"
    with pytest.raises(PyarrResourceNotFound):
        client.series.get(999)


def test_delete_series_with_exclusion(sonarr_sim: SonarrSimulator, client: Any) -> None:
    tvdb, other = any_tvdb(sonarr_sim), any_tvdb(sonarr_sim, 1)
    first = sonarr_sim.add_series(tvdb)
    second = sonarr_sim.add_series(other)
    assert client.series.delete(first["id"], delete_files=True, add_exclusion=True) is True
    [req] = sonarr_sim.requests_to(f"/api/v3/series/{first['id']}", "DELETE")
    assert req.query == {"deleteFiles": ["true"], "addImportListExclusion": ["true"]}
    assert req.status == 200
    assert [e["tvdbId"] for e in sonarr_sim.exclusions()] == [tvdb]
    r = requests.delete(f"{sonarr_sim.url}/api/v3/series/{second['id']}", headers=H, timeout=5)
    assert (r.status_code, r.content) == (200, b"")
    assert len(sonarr_sim.exclusions()) == 1
    r = requests.delete(f"{sonarr_sim.url}/api/v3/series/{second['id']}", headers=H, timeout=5)
    assert r.status_code == 500  # SeriesService.DeleteSeries on a missing id
    r = requests.delete(f"{sonarr_sim.url}/api/v3/series/0", headers=H, timeout=5)
    assert r.json() == {
        "message": "BadRequest: 0 is not a valid ID",
        "content": "0 is not a valid ID",
    }


def test_test_facing_mutators(sonarr_sim: SonarrSimulator) -> None:
    tvdb = any_tvdb(sonarr_sim)
    res = sonarr_sim.add_series(tvdb, title="Renamed", path="/tv/Renamed", monitored=False)
    assert sonarr_sim.series_by_tvdb(tvdb) == res
    assert sonarr_sim.delete_series(res["id"], add_exclusion=True) is True
    assert sonarr_sim.delete_series(res["id"]) is False
    assert sonarr_sim.exclusions() == [{"id": 1, "tvdbId": tvdb, "title": "Renamed"}]
    assert sonarr_sim.add_exclusion(tvdb, "again")["id"] == 1
    assert sonarr_sim.remove_exclusion(tvdb) is True
    assert sonarr_sim.remove_exclusion(exclusion_id=1) is False


# --------------------------------------------------------------------------- exclusions


def test_exclusions_paged_and_plain(sonarr_sim_factory: SonarrFactory) -> None:
    sim = sonarr_sim_factory(exclusions=[(300 + i, f"Show {i}") for i in range(12)])
    r = get(sim, "/api/v3/importlistexclusion/paged")
    page = r.json()
    assert (page["page"], page["pageSize"], page["sortKey"], page["sortDirection"]) == (
        1,
        10,
        "id",
        "descending",
    )
    assert page["totalRecords"] == 12
    assert [x["id"] for x in page["records"]] == list(range(12, 2, -1))
    page = get(
        sim,
        "/api/v3/importlistexclusion/paged",
        params={"page": 2, "pageSize": 5, "sortKey": "tvdbId", "sortDirection": "ascending"},
    ).json()
    assert page["sortKey"] == "tvdbId"
    assert [x["tvdbId"] for x in page["records"]] == [305, 306, 307, 308, 309]
    assert (
        get(sim, "/api/v3/importlistexclusion/paged", params={"sortKey": "nonsense"}).json()[
            "sortKey"
        ]
        == "id"
    )
    r = get(sim, "/api/v3/importlistexclusion/paged", params={"page": "one"})
    assert r.status_code == 400
    plain = get(sim, "/api/v3/importlistexclusion")
    assert plain.headers["Deprecation"] == "true"
    assert len(plain.json()) == 12
    sim.paged_exclusions = False
    assert get(sim, "/api/v3/importlistexclusion/paged").status_code == 404


def test_exclusion_add_duplicate_and_delete(sonarr_sim: SonarrSimulator, client: Any) -> None:
    added = client.import_list_exclusion.add({"tvdbId": 4242, "title": "Nope"})
    assert added == {"id": 1, "tvdbId": 4242, "title": "Nope"}
    r = post(sonarr_sim, "/api/v3/importlistexclusion", {"tvdbId": 4242, "title": "Nope"})
    assert codes(r) == [("TvdbId", "ImportListExclusionExistsValidator")]
    assert r.json()[0]["errorMessage"] == "This exclusion has already been added."
    r = post(sonarr_sim, "/api/v3/importlistexclusion", {"tvdbId": 0, "title": ""})
    assert codes(r) == [("TvdbId", "NotEmptyValidator"), ("Title", "NotEmptyValidator")]
    assert client.import_list_exclusion.get() == [added]
    client.import_list_exclusion.delete(1)
    assert sonarr_sim.exclusions() == []


# --------------------------------------------------------------------------- v3 mode


def test_v3_mode(sonarr_sim_factory: SonarrFactory) -> None:
    sim = sonarr_sim_factory(
        version=SONARR_V3_VERSION, language_profiles=[{"id": 1, "name": "English"}]
    )
    assert get(sim, "/api").status_code == 404  # no ApiInfo on 3.x: pin api_ver
    assert get(sim, "/api/v3/system/status").json()["version"] == SONARR_V3_VERSION
    assert [p["name"] for p in get(sim, "/api/v3/languageprofile").json()] == ["English"]
    assert get(sim, "/api/v3/importlistexclusion/paged").status_code == 404
    tvdb = any_tvdb(sim)
    bearer = {"Authorization": f"Bearer {SONARR_API_KEY}"}
    assert get(sim, "/api/v3/series", headers=bearer).status_code == 401
    r = post(sim, "/api/v3/series", add_body(sim, tvdb))
    assert codes(r) == [("LanguageProfileId", "LanguageProfileExistsValidator")]
    r = post(
        sim,
        "/api/v3/series",
        add_body(sim, tvdb, addOptions={"monitor": "lastSeason"}, languageProfileId=1),
    )
    assert r.status_code == 500  # Newtonsoft cannot bind the newer enum value
    with pyarr(sim) as client:
        added = client.series.add(client.series.lookup(item_id=tvdb)[0], 4, 1, "/tv")
        assert added["languageProfileId"] == 1
        assert "monitorNewItems" not in added
        with pytest.raises(PyarrResourceNotFound):
            client.series.get(99)


# --------------------------------------------------------------------------- faults


def test_fail_next_and_error_rate(sonarr_sim: SonarrSimulator, client: Any) -> None:
    sonarr_sim.fail_next(2, 503, path_prefix="/api/v3/series")
    assert get(sonarr_sim, "/api/v3/tag").status_code == 200
    assert get(sonarr_sim, "/api/v3/series").status_code == 503
    with pytest.raises(Exception, match="503"):
        client.series.get()
    assert client.series.get() == []
    sonarr_sim.fail_next(1, 500, method="GET")
    with pytest.raises(PyarrServerError):
        client.tag.get()
    sonarr_sim.fail_next(1, 429, body={"message": "slow down"}, headers={"Retry-After": "1"})
    r = get(sonarr_sim, "/api/v3/tag")
    assert (r.status_code, r.headers["Retry-After"], r.json()) == (
        429,
        "1",
        {"message": "slow down"},
    )
    sonarr_sim.error_rate = 0.5
    statuses = [get(sonarr_sim, "/api/v3/tag").status_code for _ in range(20)]
    assert 0 < statuses.count(503) < 20
    assert [r.status for r in sonarr_sim.request_log[-20:]] == statuses


def test_seeded_error_rate_is_reproducible(sonarr_sim_factory: SonarrFactory) -> None:
    runs = []
    for _ in range(2):
        sim = sonarr_sim_factory(seed=7, catalogue={})
        sim.error_rate = 0.3
        runs.append([get(sim, "/api/v3/tag").status_code for _ in range(15)])
    assert runs[0] == runs[1]


def test_dropped_connection(sonarr_sim: SonarrSimulator, client: Any) -> None:
    sonarr_sim.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        get(sonarr_sim, "/api/v3/tag")
    sonarr_sim.drop_next(1)
    before = len(sonarr_sim.request_log)
    with pytest.raises(PyarrConnectionError):
        client.tag.get()
    # pyarr's backoff decorator never sees the httpx error (it is re-raised as
    # PyarrConnectionError first), so nothing was retried
    assert len(sonarr_sim.request_log) == before + 1


def test_slow_add_times_out_but_still_lands(sonarr_sim: SonarrSimulator) -> None:
    tvdb = any_tvdb(sonarr_sim)
    sonarr_sim.delay_next(1, 1.0, "/api/v3/series", method="POST")
    with (
        Sonarr(
            sonarr_sim.url, SONARR_API_KEY, api_ver="v3", session=httpx.Client(timeout=0.2)
        ) as client,
        pytest.raises(PyarrConnectionError, match="Timeout"),
    ):
        client.series.add(client.series.lookup(item_id=tvdb)[0], 4, 1, "/tv")
    assert sonarr_sim.series_by_tvdb(tvdb) is not None


def test_url_base(sonarr_sim_factory: SonarrFactory) -> None:
    sim = sonarr_sim_factory(url_base="/sonarr", catalogue={})
    assert sim.url.endswith("/sonarr")
    assert get(sim, "/api/v3/tag").status_code == 200
    r = requests.get(sim.url.removesuffix("/sonarr") + "/api/v3/tag", headers=H, timeout=5)
    assert r.status_code == 404
    with pyarr(sim) as client:
        assert client.tag.get() == [{"id": 1, "label": "auto-sync"}]


# --------------------------------------------------------------------------- catalogue


def test_catalogue_from_tvmaze() -> None:
    shows = [
        {
            "id": 1,
            "name": "Doctor Who",
            "premiered": "1963-11-23",
            "status": "Ended",
            "externals": {"thetvdb": 76107, "imdb": "tt0056751"},
            "language": "English",
            "summary": "<p>The <b>Doctor</b> &amp; friends</p>",
            "network": {"name": "BBC One"},
        },
        {
            "id": 2,
            "name": "Doctor Who",
            "premiered": "2005-03-26",
            "status": "Running",
            "externals": {"thetvdb": 78804},
            "webChannel": {"name": "BBC iPlayer"},
            "language": "French",
            "_embedded": {"seasons": [{"number": 1}, {"number": 2}]},
        },
        {"id": 3, "name": "No TVDB", "externals": {"thetvdb": None}},
    ]
    cat = catalogue_from_tvmaze(shows)
    assert set(cat) == {76107, 78804}
    assert cat[76107]["title"] == "Doctor Who"
    assert cat[78804]["title"] == "Doctor Who (2005)"
    assert cat[76107]["titleSlug"] != cat[78804]["titleSlug"]
    assert cat[76107]["overview"] == "The Doctor & friends"
    assert cat[76107]["status"] == "ended" and cat[78804]["status"] == "continuing"
    assert cat[78804]["network"] == "BBC iPlayer"
    assert cat[78804]["seasons"] == [1, 2]
    assert cat[78804]["originalLanguage"] == 2
    assert (cat[76107]["year"], cat[76107]["tvMazeId"], cat[76107]["imdbId"]) == (
        1963,
        1,
        "tt0056751",
    )


def test_standalone_main_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.doubles.sonarr_sim",
            "--port",
            "0",
            "--api-key",
            "demo",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"(http://\S+)", line)
        assert url, line
        r = requests.get(
            url.group(1) + "/api/v3/system/status", headers={"X-Api-Key": "demo"}, timeout=5
        )
        assert r.json()["appName"] == "Sonarr"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0


# --------------------------------------------------------------------------- OpenAPI


# FluentValidation 9.5's ValidationFailure as Sonarr serialises it; the OpenAPI
# description declares no error responses, so this one is written from the library.
VALIDATION_FAILURES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["propertyName", "errorMessage", "severity"],
        "properties": {
            "propertyName": {"type": "string"},
            "errorMessage": {"type": "string"},
            "attemptedValue": {},
            "customState": {},
            "severity": {"enum": ["error", "warning", "info"]},
            "errorCode": {"type": "string"},
            "formattedMessageArguments": {"type": "array"},
            "formattedMessagePlaceholderValues": {"type": "object"},
        },
        "additionalProperties": False,
    },
}


def test_responses_conform_to_openapi(sonarr_sim_factory: SonarrFactory, conform: Any) -> None:
    sim = with_multi(sonarr_sim_factory(exclusions=[(5, "Five"), (6, "Six")]))
    tvdb = any_tvdb(sim)
    sim.add_series(any_tvdb(sim, 1), tags=[1])
    cases = [
        ("/api/v3/system/status", "/api/v3/system/status", None),
        ("/api/v3/rootfolder", "/api/v3/rootfolder", None),
        ("/api/v3/qualityprofile", "/api/v3/qualityprofile", None),
        ("/api/v3/qualityprofile/4", "/api/v3/qualityprofile/{id}", None),
        ("/api/v3/languageprofile", "/api/v3/languageprofile", None),
        ("/api/v3/tag", "/api/v3/tag", None),
        ("/api/v3/series", "/api/v3/series", None),
        ("/api/v3/series/1", "/api/v3/series/{id}", None),
        ("/api/v3/series/lookup", "/api/v3/series/lookup", {"term": f"tvdb:{tvdb}"}),
        ("/api/v3/series/lookup", "/api/v3/series/lookup", {"term": "the"}),
        ("/api/v3/importlistexclusion", "/api/v3/importlistexclusion", None),
        ("/api/v3/importlistexclusion/paged", "/api/v3/importlistexclusion/paged", None),
        ("/api/v3/importlistexclusion/1", "/api/v3/importlistexclusion/{id}", None),
    ]
    for path, template, params in cases:
        r = get(sim, path, params=params)
        assert r.status_code == 200, path
        assert r.json(), path
        conform(r.json(), conform.response(template))

    body = add_body(
        sim,
        MULTI,
        addOptions={"monitor": "lastSeason", "searchForCutoffUnmetEpisodes": True},
        monitorNewItems="none",
        seriesType="standard",
    )
    conform(body, conform.request("/api/v3/series"))
    r = post(sim, "/api/v3/series", body)
    assert r.status_code == 201
    conform(r.json(), conform.response("/api/v3/series", "post"))

    r = post(sim, "/api/v3/series", body)
    assert r.status_code == 400
    conform(r.json(), VALIDATION_FAILURES_SCHEMA)

    r = post(sim, "/api/v3/tag", {"label": "new"})
    conform(r.json(), conform.request("/api/v3/tag"))
    r = post(sim, "/api/v3/importlistexclusion", {"tvdbId": 7, "title": "Seven"})
    conform(r.json(), conform.request("/api/v3/importlistexclusion"))


def test_pyarr_add_body_conforms_to_openapi(
    sonarr_sim: SonarrSimulator, client: Any, conform: Any
) -> None:
    tvdb = any_tvdb(sonarr_sim)
    client.series.add(client.series.lookup(item_id=tvdb)[0], 4, 1, "/tv")
    [sent] = sonarr_sim.posts_to("/api/v3/series")
    conform(sent, conform.request("/api/v3/series"))
    conform({"tvdbId": 1, "title": "x"}, conform.request("/api/v3/importlistexclusion"))
    with pytest.raises(Exception, match=r"is not valid|is not of type|Additional properties"):
        conform({"tvdbId": "1", "whatever": 1}, conform.request("/api/v3/importlistexclusion"))
