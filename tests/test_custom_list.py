"""`/sonarr/list` never lies (issue #13): 503 + Retry-After until a complete list exists.

Sonarr's Custom List (NzbDrone.Core/ImportLists/Custom/CustomImportProxy.cs) GETs the URL
and deserialises the body as the whole list; with "Clean Library" on it unmonitors or
deletes what is missing. A non-2xx answer is an HttpException there, which CustomImport
records as a failed fetch, and ImportListSyncService cleans only after successful ones.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.helpers_cli import run_cli
from tests.helpers_metrics import small_real_shows, write_config
from tests.helpers_ports import free_port
from tests.helpers_store import store_at
from tests.test_server import cycle_done, start_serve, wait_for
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.serve.endpoints import (
    LIST_RETRY_AFTER,
    SONARR_LIST_STATUSES,
    CustomList,
    ListNotReady,
)
from tvmaze_sync.storage.counters import FULL_MIRRORS
from tvmaze_sync.storage.state import StateFile
from tvmaze_sync.storage.store import DB_NAME, Store


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage directory after one real `sync` (first full mirror done and decided)."""
    home = tmp_path_factory.mktemp("synced")
    with TvmazeSimulator(small_real_shows(), rate_limit=None) as tvmaze:
        config = write_config(home / "config.yaml", home / "data", tvmaze.url)
        result = run_cli(home, "-c", str(config), "sync")
    assert result.returncode == 0, result.stderr
    return home / "data"


@pytest.fixture
def storage(synced: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synced, tmp_path / "data"))


def expected_list(storage: Path) -> list[dict[str, Any]]:
    """The list as the cache holds it now, in the wire format Sonarr reads
    (ImportLists/Custom/CustomAPIResource.cs: title, tvdbId; imdbId rides along)."""
    with Store.opened(storage, readonly=True) as store:
        rows = store.sonarr_list_rows(SONARR_LIST_STATUSES)
    return [{"title": r["title"], "tvdbId": r["tvdb_id"], "imdbId": r["imdb_id"]} for r in rows]


def refetched(storage: Path, count: int) -> list[int]:
    """Mark `count` listed pending shows as a mirror refetch does (needs_filter = 1)."""
    store = store_at(storage)
    try:
        ids = [
            row["tvmaze_id"]
            for row in store.rows_where(
                "processing_status = 'pending' AND tvdb_id IS NOT NULL AND needs_filter = 0",
                select="tvmaze_id",
                limit=count,
            )
        ]
        with store.atomic():
            for tvmaze_id in ids:
                store.db.execute(
                    "UPDATE shows SET needs_filter = 1 WHERE tvmaze_id = ?", [tvmaze_id]
                )
    finally:
        store.close()
    assert len(ids) == count
    return ids


def test_the_list_after_the_first_full_mirror_is_every_decided_show(storage: Path) -> None:
    body = json.loads(CustomList(storage).body())
    assert body and body == expected_list(storage)


def test_no_list_before_the_first_full_mirror_completed(storage: Path) -> None:
    state_file = StateFile(storage)
    state = state_file.load()
    state.initial_sync_complete = False
    state.last_tvmaze_page = 1  # a full pass in progress: rows are in the cache already
    state_file.save(state)
    state_file.backup(state)
    assert expected_list(storage)  # the cache holds decided shows, yet:
    with pytest.raises(ListNotReady, match="first full TVMaze mirror"):
        CustomList(storage).body()


def test_no_list_from_a_fresh_storage_directory(tmp_path: Path) -> None:
    with pytest.raises(ListNotReady):
        CustomList(tmp_path / "nothing-here").body()


def test_shows_awaiting_their_decision_keep_the_last_complete_list(storage: Path) -> None:
    """A later mirror (a re-full pass, a refetch) must not make the list partial."""
    served = CustomList(storage)
    before = served.body()
    refetched(storage, 3)
    assert len(expected_list(storage)) == len(json.loads(before)) - 3  # what a naive read gives
    assert served.body() == before
    # A process that never saw a complete list has none to offer until the cycle decides.
    with pytest.raises(ListNotReady, match="await the filters"):
        CustomList(storage).body()


def test_while_shows_await_their_decision_a_decided_change_still_shows(storage: Path) -> None:
    """The shows awaiting a decision stand as on the last complete list; every decided
    show as it is now. A show the user deleted in Sonarr (the next cycle's reconcile made it
    removed_by_user) leaves the list even when no request came between that cycle and the
    next mirror: a stale copy would have Sonarr's list sync add it back."""
    from tvmaze_sync.core.models import ProcessingStatus as P
    from tvmaze_sync.sonarr import ledger

    served = CustomList(storage)
    before = json.loads(served.body())
    store = store_at(storage)
    try:
        listed = [
            (row["tvmaze_id"], row["tvdb_id"])
            for row in store.rows_where(
                "processing_status = 'pending' AND tvdb_id IS NOT NULL", select="tvmaze_id, tvdb_id"
            )
        ]
        gone_id, gone_tvdb = listed[-1]
        with store.atomic():  # what reconcile writes for a series the user deleted
            ledger.update(store, gone_id, "2026-12-07T00:00:00Z", P.REMOVED_BY_USER)
    finally:
        store.close()
    waiting = refetched(storage, 3)  # then the next cycle's mirror, and Sonarr asks
    assert gone_id not in waiting
    after = json.loads(served.body())
    assert [item for item in before if item["tvdbId"] != gone_tvdb] == after
    assert len(after) == len(before) - 1


def test_a_cache_that_cannot_be_read_is_a_storage_error_never_an_empty_list(
    storage: Path,
) -> None:
    served = CustomList(storage)
    served.body()
    (storage / DB_NAME).write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (storage / (DB_NAME + suffix)).unlink(missing_ok=True)
    with pytest.raises(StorageError):
        served.body()


def delete_database(storage: Path) -> None:
    """The documented recovery from a damaged cache: delete shows.db; state.json stays."""
    for path in storage.glob(DB_NAME + "*"):
        path.unlink()


def test_no_list_from_a_rebuilt_database_beside_an_old_state(storage: Path) -> None:
    """state.json says the first full mirror completed, but shows.db is new (F2): 503."""
    delete_database(storage)
    store_at(storage).close()  # what the next cycle's open creates: empty, migrated
    assert StateFile(storage).load().initial_sync_complete
    with pytest.raises(ListNotReady, match="being rebuilt"):
        CustomList(storage).body()


def test_a_cache_from_before_the_record_gets_it_from_the_next_cycle(storage: Path) -> None:
    """A database a full mirror filled before it recorded that (an upgrade) is not taken for
    a new one for long: the next cycle records it, and the list is served again."""
    store = store_at(storage)
    try:
        with store.atomic():
            store.db.execute("DELETE FROM counters WHERE name = ?", [FULL_MIRRORS])
    finally:
        store.close()
    with pytest.raises(ListNotReady, match="being rebuilt"):
        CustomList(storage).body()
    home = storage.parent
    with TvmazeSimulator(small_real_shows(), rate_limit=None) as tvmaze:
        config = write_config(home / "again.yaml", storage, tvmaze.url)
        result = run_cli(home, "-c", str(config), "sync")
    assert result.returncode == 0, result.stderr
    assert json.loads(CustomList(storage).body()) == expected_list(storage)


# --- over HTTP, from a real serve ---------------------------------------------------------------


def check_unavailable(url: str) -> None:
    """503 with Retry-After, and HEAD answers as GET does. The reason may move on while the
    cycle runs (not mirrored yet -> being rebuilt): HEAD is compared with a GET on each side
    of it, taken again until both GETs give the same answer (then HEAD saw that state too)."""
    for _ in range(50):
        before = requests.get(url, timeout=10)
        head = requests.head(url, timeout=10)
        after = requests.get(url, timeout=10)
        for response in (before, after):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == str(LIST_RETRY_AFTER)
            assert "error" in response.json()
        assert head.status_code == 503 and head.content == b""
        if before.content == after.content:
            break
    else:
        raise AssertionError("the 503 answer never held still for a GET, HEAD, GET")
    for name in ("Content-Type", "Content-Length", "Retry-After"):
        assert head.headers[name] == before.headers[name], name


@pytest.mark.slow
def test_serve_answers_503_until_the_first_full_mirror_then_the_whole_list(
    tmp_path: Path,
) -> None:
    """TVMaze answers each request after 0.4 s, so the first full mirror runs for seconds."""
    tvmaze = TvmazeSimulator(small_real_shows(), rate_limit=None, slow_rate=1.0, slow_seconds=0.4)
    with tvmaze:
        port = free_port()
        config = write_config(tmp_path / "config.yaml", tmp_path / "data", tvmaze.url, port=port)
        served = start_serve(tmp_path, config, tmp_path / "data", port)
        try:
            url = served.url + "/sonarr/list"
            check_unavailable(url)  # before anything is stored
            wait_for(
                lambda: (
                    served.get("/state").json()["shows"]["total"] > 0
                    and served.get("/health").json()["running"] == "cycle"
                ),
                what="the first pages stored",
            )
            check_unavailable(url)  # mid-mirror: rows are cached, the list is not complete
            wait_for(lambda: cycle_done(served), timeout=120, what="the first cycle")
            response = requests.get(url, timeout=10)
            assert response.status_code == 200
            assert "Retry-After" not in response.headers
            items = response.json()
            assert items == expected_list(tmp_path / "data") and items
            head = requests.head(url, timeout=10)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["Content-Length"] == str(len(response.content))
            assert head.headers["Content-Type"] == response.headers["Content-Type"]
            assert served.stop(signal.SIGTERM) == 0
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
    assert "sonarr_list_unavailable" in served.output()


def undecided_listed(storage: Path) -> int:
    with Store.opened(storage, readonly=True) as store:
        rows = store.db.execute(
            "SELECT COUNT(*) FROM shows WHERE processing_status = 'pending' "
            "AND needs_filter = 1 AND tvdb_id IS NOT NULL"
        ).fetchone()
    return int(rows[0])


@pytest.mark.slow
def test_a_later_full_pass_refetching_listed_shows_never_shrinks_the_list(
    tmp_path: Path,
) -> None:
    """A resumed full pass stores changed shows page by page (undecided until the cycle's
    filter phase), slowly; every answer meanwhile is the whole list of the first cycle."""
    tvmaze = TvmazeSimulator(small_real_shows(), rate_limit=None)
    with tvmaze:
        port = free_port()
        storage = tmp_path / "data"
        config = write_config(tmp_path / "config.yaml", storage, tvmaze.url, port=port)
        served = start_serve(tmp_path, config, storage, port)
        try:
            wait_for(lambda: cycle_done(served), timeout=120, what="the first cycle")
            url = served.url + "/sonarr/list"
            first = requests.get(url, timeout=10)
            assert first.status_code == 200 and first.json()
            with Store.opened(storage, readonly=True) as store:
                listed = {item["tvdbId"] for item in first.json()}
                changed = [
                    row["tvmaze_id"]
                    for row in store.rows_where("tvmaze_id >= 250", select="tvmaze_id, tvdb_id")
                    if row["tvdb_id"] in listed
                ][:5]
            assert changed
            for tvmaze_id in changed:
                tvmaze.update_show(tvmaze_id)
            tvmaze.refresh_index()
            state_file = StateFile(storage)
            state = state_file.load()
            state.last_tvmaze_page = 0  # a full pass to resume from page 1
            state_file.save(state)
            tvmaze.slow_rate, tvmaze.slow_seconds = 1.0, 0.4
            before = state.last_cycle["started_at"]
            time.sleep(1.0)  # state times have second precision
            assert served.post("/trigger").status_code == 202
            seen_undecided = 0
            while StateFile(storage).load().last_cycle["started_at"] == before:
                seen_undecided = max(seen_undecided, undecided_listed(storage))
                response = requests.get(url, timeout=10)
                assert response.status_code == 200
                assert response.content == first.content
                time.sleep(0.02)
            assert seen_undecided > 0, "the test never caught the cycle mid-way"
            wait_for(lambda: cycle_done(served), timeout=60, what="the second cycle")
            assert requests.get(url, timeout=10).json() == expected_list(storage)
            assert served.stop(signal.SIGTERM) == 0
        finally:
            if served.proc.poll() is None:
                served.proc.kill()


@pytest.mark.slow
def test_serve_after_deleting_the_database_answers_503_for_the_whole_rebuild(
    storage: Path, tmp_path: Path
) -> None:
    """The documented recovery (delete shows.db, keep state.json) with serve running and TVMaze
    slow: 503 while the cache is rebuilt, never `200 []` (FINDINGS F2), then the whole list."""
    expected = expected_list(storage)
    old_finish = StateFile(storage).load().last_cycle["finished_at"]
    delete_database(storage)
    tvmaze = TvmazeSimulator(small_real_shows(), rate_limit=None, slow_rate=1.0, slow_seconds=0.4)
    with tvmaze:
        port = free_port()
        config = write_config(tmp_path / "serve.yaml", storage, tvmaze.url, port=port)
        served = start_serve(tmp_path, config, storage, port)
        try:
            url = served.url + "/sonarr/list"
            check_unavailable(url)
            wait_for(
                lambda: (
                    served.get("/state").json()["shows"]["total"] > 0
                    and served.get("/health").json()["running"] == "cycle"
                ),
                what="the first pages stored again",
            )
            check_unavailable(url)  # mid-rebuild: rows are cached, the list is not complete
            assert not StateFile(storage).load().initial_sync_complete  # reset for the rebuild

            def rebuilt() -> bool:
                state = served.get("/state").json()["state"]["last_cycle"]
                running = served.get("/health").json()["running"]
                return running is None and state.get("finished_at") != old_finish

            wait_for(rebuilt, timeout=120, what="the rebuilding cycle")
            response = requests.get(url, timeout=10)
            assert response.status_code == 200, response.text
            assert response.json() == expected and expected
            assert served.stop(signal.SIGTERM) == 0
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
    assert "cache_empty reason=state_says_synced" in served.output()
