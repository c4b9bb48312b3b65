"""Shared by the fault suite (tests/test_faults*.py): configs for real `sync` processes, the
database compared column by column, and the checks that nothing was corrupted.

The fault tests run the real CLI (`python -m tvmaze_sync sync`) against the simulators in
the test process, so a killed or failing run is observed from outside, as cron would.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import TvmazeSimulator
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_cli import clean_env
from tvmaze_sync.storage.state import State, _valid
from tvmaze_sync.storage.store import DB_NAME

#: tvmaze.rate_limit that never waits measurably (the simulators are unthrottled).
UNLIMITED = 1_000_000
#: Columns written from the clock: they differ between any two runs, so never compared.
_CLOCK_COLUMNS = frozenset({"last_checked", "retry_after", "pending_tvdb_since"})
#: Counters that count work done, not results: a killed run's requests are lost with it, and
#: a resumed run repeats a few (validation, the library read), so they legitimately differ.
_WORK_COUNTERS = frozenset({"api_requests"})


def is_clock_column(name: str) -> bool:
    return name.endswith("_at") or name in _CLOCK_COLUMNS


def write_config(
    path: Path,
    storage: Path,
    tvmaze: TvmazeSimulator | str | None = None,
    sonarr: SonarrSimulator | None = None,
    **sections: Any,
) -> Path:
    """A config.yaml for a real `sync` process against the simulators."""
    data: dict[str, Any] = {"storage": {"path": str(storage)}}
    if tvmaze is not None:
        url = tvmaze if isinstance(tvmaze, str) else tvmaze.url
        data["tvmaze"] = {"base_url": url, "rate_limit": UNLIMITED, "timeout": "5s"}
    if sonarr is not None:
        # A real process sleeps for real: no pause between adds, and no add budget (the suite
        # compares interrupted runs with one that adds everything in one cycle).
        data["sonarr"] = {
            "url": sonarr.url,
            "api_key": SONARR_API_KEY,
            "add_interval": "0s",
            "max_adds_per_cycle": 0,
        }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def spawn_sync(
    home: Path, config: Path, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m tvmaze_sync sync` in a clean environment; output goes to files.

    Files, not pipes: a process killed mid-write must never block on a full pipe, and the
    test reads what it wrote afterwards.
    """
    log = log or home / "sync.log"
    with open(log.with_suffix(".out"), "wb") as out, open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tvmaze_sync", "--config", str(config), "sync", *args],
            env=clean_env(home),
            cwd=home,
            stdout=out,
            stderr=err,
        )


def run_sync(
    home: Path, config: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """One whole `sync` process, waited for."""
    return subprocess.run(
        [sys.executable, "-m", "tvmaze_sync", "--config", str(config), "sync", *args],
        env=clean_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(stderr: str, *fragments: str) -> str:
    """The failure was reported as one `error:` line (among log lines), no traceback."""
    assert "Traceback" not in stderr, stderr
    assert "unexpected error" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# --- the database, compared ------------------------------------------------------------------


def _connect_ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def db_snapshot(storage: Path) -> dict[str, Any]:
    """Every table's rows, minus the clock-written columns and the work counters.

    Sorted, so two databases that hold the same facts compare equal whatever order the
    rows were written in.
    """
    conn = _connect_ro(storage / DB_NAME)
    try:
        snapshot: dict[str, Any] = {
            "user_version": conn.execute("PRAGMA user_version").fetchone()[0]
        }
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if not is_clock_column(c)]
            where = ""
            if table == "counters":
                marks = ",".join("?" * len(_WORK_COUNTERS))
                where = f" WHERE name NOT IN ({marks})"
            rows = conn.execute(
                f"SELECT {', '.join(kept)} FROM {table}{where}",
                sorted(_WORK_COUNTERS) if where else [],
            ).fetchall()
            snapshot[table] = {"columns": kept, "rows": sorted(rows, key=repr)}
        return snapshot
    finally:
        conn.close()


def snapshot_diff(got: Mapping[str, Any], want: Mapping[str, Any], limit: int = 10) -> list[str]:
    """Human-readable differences between two `db_snapshot`s (empty when equal)."""
    problems: list[str] = []
    for table in sorted(set(got) | set(want)):
        if table not in got or table not in want:
            problems.append(f"table {table} only in {'got' if table in got else 'want'}")
            continue
        a, b = got[table], want[table]
        if not isinstance(a, dict):
            if a != b:
                problems.append(f"{table}: {a!r} != {b!r}")
            continue
        if a["columns"] != b["columns"]:
            problems.append(f"{table}: columns {a['columns']} != {b['columns']}")
            continue
        extra: Counter[tuple[Any, ...]] = Counter(a["rows"]) - Counter(b["rows"])
        missing: Counter[tuple[Any, ...]] = Counter(b["rows"]) - Counter(a["rows"])
        for row in list(extra)[:limit]:
            problems.append(f"{table}: unexpected {dict(zip(a['columns'], row, strict=True))}")
        for row in list(missing)[:limit]:
            problems.append(f"{table}: missing {dict(zip(b['columns'], row, strict=True))}")
    return problems


def integrity_problems(storage: Path) -> list[str]:
    """`PRAGMA integrity_check` of shows.db, read-only; [] when the database is sound."""
    try:
        return _integrity_problems(_connect_ro(storage / DB_NAME))
    except sqlite3.OperationalError:
        # A run that failed on a full disk can leave a -wal without its -shm, which only a
        # writable connection may rebuild (as the next sync does); the check itself is the same.
        return _integrity_problems(sqlite3.connect(storage / DB_NAME))


def _integrity_problems(conn: sqlite3.Connection) -> list[str]:
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        # A kill before migration 1 committed leaves a sound database with no tables yet.
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'shows'").fetchone():
            conn.execute("SELECT COUNT(*) FROM shows").fetchone()
    finally:
        conn.close()
    return [] if result == ["ok"] else result


def strict_state(path: Path) -> State:
    """Load a state file with no recovery at all: it must be whole and well typed."""
    return _valid(json.loads(path.read_text(encoding="utf-8")))


def status_counts(storage: Path) -> dict[str, int]:
    conn = _connect_ro(storage / DB_NAME)
    try:
        return dict(
            conn.execute(
                "SELECT processing_status, COUNT(*) FROM shows GROUP BY processing_status"
            ).fetchall()
        )
    finally:
        conn.close()


def cached_ids(storage: Path) -> set[int]:
    conn = _connect_ro(storage / DB_NAME)
    try:
        return {row[0] for row in conn.execute("SELECT tvmaze_id FROM shows")}
    finally:
        conn.close()


def rows_by_status(storage: Path, *statuses: str) -> dict[int, dict[str, Any]]:
    conn = _connect_ro(storage / DB_NAME)
    conn.row_factory = sqlite3.Row
    try:
        marks = ",".join("?" * len(statuses))
        return {
            row["tvmaze_id"]: dict(row)
            for row in conn.execute(
                f"SELECT * FROM shows WHERE processing_status IN ({marks})", statuses
            )
        }
    finally:
        conn.close()


# --- what Sonarr received ----------------------------------------------------------------------


def successful_adds(sonarr: SonarrSimulator) -> Counter[int]:
    """tvdbId -> how many `POST /api/v3/series` for it Sonarr answered 201."""
    return Counter(
        int(record.body["tvdbId"])
        for record in sonarr.requests_to("/api/v3/series", "POST")
        if record.status == 201 and isinstance(record.body, dict)
    )


def duplicate_adds(sonarr: SonarrSimulator) -> dict[str, Any]:
    """Every way Sonarr could hold a series twice: empty when there is none."""
    posted = {tvdb: n for tvdb, n in successful_adds(sonarr).items() if n > 1}
    library = Counter(series["tvdbId"] for series in sonarr.library())
    doubled = {tvdb: n for tvdb, n in library.items() if n > 1}
    return {k: v for k, v in {"posted_twice": posted, "library_twice": doubled}.items() if v}


# --- mounts ------------------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path | str]:
    """Mount a tmpfs of `size` on `path`; yields the path, or the reason it cannot be done.

    Unmounted on exit whatever happened (lazily if something still holds it open).
    """
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux":
        yield f"tmpfs mounts need Linux (this is {sys.platform})"
        return
    result = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if result.returncode != 0:
        why = result.stderr.strip().replace(str(path), path.name) or result.returncode
        yield f"cannot mount a tmpfs here: {why}"
        return
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, mode: str) -> None:
    """Remount `path` read-only (`ro`) or read-write (`rw`)."""
    result = _mount("-o", f"remount,{mode}", str(path))
    assert result.returncode == 0, result.stderr
