"""state.json: the cursors of the sync (pages done, last sync times, filter hash).

Written so that no crash can leave a half-written file: write `state.json.tmp`, fsync, rename
over `state.json`, fsync the directory. `state.json.bak` is refreshed only after a whole
successful cycle, so it is always a state from which a cycle completed. On load a corrupt
file falls back to the backup, and a corrupt backup to a fresh state (a full resync, which the
SQLite cache makes cheap on the Sonarr side).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.logs import redact
from tvmaze_sync.core.timeutil import parse_iso
from tvmaze_sync.storage.nofollow import create_fresh, refuse_links
from tvmaze_sync.storage.store import DB_NAME, Store

log = logging.getLogger(__name__)

STATE_NAME = "state.json"


@dataclass
class State:
    last_full_sync: str | None = None  # ISO time the last full pass over /shows finished
    last_incremental_sync: str | None = None
    last_tvmaze_page: int | None = None  # last page fully stored in the current full pass
    highest_tvmaze_id: int | None = None
    last_filter_hash: str | None = None
    last_updates_check: str | None = None  # ISO time of the last /updates/shows read
    last_census: str | None = None  # ISO time of the last whole-map read (tvmaze/plan.py)
    initial_sync_complete: bool = False
    last_cycle: dict[str, Any] = field(default_factory=dict)  # CycleSummary of the last cycle

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELD_TYPES = typing.get_type_hints(State)
#: ISO times that code parses (mirror.choose_mode); a value that does not parse is corrupt.
_TIMES = ("last_full_sync", "last_incremental_sync", "last_updates_check", "last_census")


def _valid(data: Any) -> State:
    """Check structure and types; raise ValueError naming the first bad key."""
    if not isinstance(data, dict):
        raise ValueError(f"top level is {type(data).__name__}, not an object")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(State):
        if f.name not in data:
            continue
        value = data[f.name]
        expected = _FIELD_TYPES[f.name]
        union = typing.get_origin(expected) in (types.UnionType, typing.Union)
        options = typing.get_args(expected) if union else (expected,)
        allowed = tuple(typing.get_origin(a) or a for a in options)
        if isinstance(value, bool) and bool not in allowed:
            raise ValueError(f"{f.name} is a boolean")
        if not isinstance(value, allowed):
            raise ValueError(f"{f.name} has type {type(value).__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{f.name} is negative")  # pages and ids count from 0
        times = [(f.name, value)] if f.name in _TIMES else []
        if f.name == "last_cycle":
            times = [(f"last_cycle.{k}", value.get(k)) for k in ("started_at", "finished_at")]
        for name, text in times:
            if isinstance(text, str) and not _is_time(text):
                raise ValueError(f"{name} is not an ISO time")
        values[f.name] = value
    return State(**values)


def _is_time(text: str) -> bool:
    try:
        parse_iso(text)
    except (ValueError, OverflowError):
        return False
    return True


class StateFile:
    """state.json and its backup in the storage directory."""

    def __init__(self, storage_dir: Path) -> None:
        self.path = storage_dir / STATE_NAME
        self.tmp = storage_dir / (STATE_NAME + ".tmp")
        self.bak = storage_dir / (STATE_NAME + ".bak")

    def load(self) -> State:
        """The current state, recovering from corruption as the module docstring says.

        A link in place of either file is a StorageError (nofollow.py): its target is
        neither read nor, later, replaced.
        """
        refuse_links(self.path, self.bak)
        for candidate in (self.path, self.bak):
            if not candidate.exists():
                if candidate is self.path and self.bak.exists():
                    log.warning("state_missing path=%s trying=%s", candidate, self.bak)
                continue
            try:
                state = _valid(json.loads(candidate.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError, RecursionError) as error:
                log.error("state_corrupt path=%s error=%s", candidate, error)
                continue
            except OSError as error:
                raise StorageError(f"cannot read {candidate}: {error.strerror}") from None
            if candidate is self.bak:
                log.warning("state_restored_from_backup path=%s", self.bak)
            return state
        if self.path.exists() or self.bak.exists():
            log.error("state_reset reason=no_valid_state_or_backup path=%s", self.path)
        return State()

    def save(self, state: State) -> None:
        """Atomically replace state.json."""
        self._write_atomic(self.path, state)

    def backup(self, state: State) -> None:
        """Record `state` as the last state a cycle completed from (call after success)."""
        self._write_atomic(self.bak, state)

    def _write_atomic(self, target: Path, state: State) -> None:
        data = json.dumps(_redacted(state.to_json()), indent=2, sort_keys=True).encode("utf-8")
        try:
            with open(create_fresh(self.tmp), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self.tmp, target)
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            raise StorageError(f"cannot write {target}: {error.strerror}") from None


def _redacted(value: Any) -> Any:
    """`value` with every configured secret masked in its texts: the last cycle's error
    quotes whatever a library put in its exception (a header, a URL), and state.json is
    printed by `state` and served by GET /state without authentication."""
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return redact(value) if isinstance(value, str) else value


def read_state(storage_dir: Path, others: Sequence[str] = ()) -> dict[str, Any]:
    """State file plus show counts, for `tvmaze-sync state` and GET /state; `others`: the
    instances besides `default` (`instances`), each counted from its own cache.

    Reads only (a read-only connection, no writer lock), so it never waits on a cycle.
    """
    if storage_dir.exists() and not storage_dir.is_dir():
        raise StorageError(f"storage.path: {storage_dir} is not a directory")
    state = StateFile(storage_dir).load() if storage_dir.exists() else None
    counts: dict[str, int] = {}
    held = 0
    if (storage_dir / DB_NAME).exists():
        with Store.opened(storage_dir, readonly=True) as store:
            counts = store.count_by_status()
            held = len(store.held_removals())
    return {
        "storage_path": str(storage_dir),
        "state": _redacted(state.to_json()) if state else None,  # one saved by an old version
        "shows": {"total": sum(counts.values()), "by_status": counts},
        "removals_held": held,  # series the removal guard holds (`tvmaze-sync removals`)
        **({"instances": _instance_counts(storage_dir, others)} if others else {}),
    }


def _instance_counts(storage_dir: Path, others: Sequence[str]) -> dict[str, Any]:
    """Each other instance's statuses and held removals (empty before its first cycle)."""
    from tvmaze_sync.storage import instances

    found: dict[str, Any] = {}
    for name in others:
        counts: dict[str, int] = {}
        held = 0
        if (instances.storage_dir(storage_dir, name) / DB_NAME).exists():
            with instances.opened(storage_dir, name, readonly=True) as store:
                counts = store.count_by_status()
                held = len(store.held_removals())
        found[name] = {"by_status": counts, "removals_held": held}
    return found
