"""One boundary around SQL (#18): every query is a named method of tvmaze_sync/storage/, the
show columns are declared once (the `Show` dataclass), and the store opens one way.

A new TVMaze fact is a `Show` field, its mapping, a migration and its rule: these tests fail
when any other list would have to learn of it (a column the migrations forgot, a field the
row conversion or the filters' reading drops), or when SQL leaks out of the storage layer.
"""

from __future__ import annotations

import ast
import dataclasses
import sqlite3
import types
import typing
from pathlib import Path

import pytest

from tests.helpers_store import store_at
from tvmaze_sync.core.errors import LockHeld, StorageError
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.storage.columns import (
    ALL_COLUMNS,
    METADATA_COLUMNS,
    PROCESSING_COLUMNS,
    RAW,
    SHOW_COLUMNS,
    row_from_show,
    show_from_row,
)
from tvmaze_sync.storage.lock import writer_lock
from tvmaze_sync.storage.query import ShowQuery, query_shows
from tvmaze_sync.storage.store import DB_NAME, Store

PACKAGE = Path(__file__).resolve().parent.parent / "tvmaze_sync"
STORAGE = PACKAGE / "storage"
SQL_WORDS = ("SELECT ", "UPDATE ", "INSERT ", "DELETE ", "PRAGMA ", "CREATE ")
SQL_MODULES = {"sqlite3", "sqlite_utils"}
SQL_CALLS = {"execute", "executemany", "executescript", "rows_where", "create_function"}


# --- SQL stays in storage/ ----------------------------------------------------------------


def sql_uses(source: str) -> list[str]:
    """What in `source` is SQL or reaches the database past the store's named methods."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [*names, module or ""]:
                if name.split(".")[0] in SQL_MODULES:
                    found.append(f"{line}: imports {name}")
        elif isinstance(node, ast.Attribute):
            if node.attr == "db":
                found.append(f"{line}: .db")
            elif node.attr in SQL_CALLS:
                found.append(f"{line}: .{node.attr}(")
        elif isinstance(node, ast.Subscript):
            target = node.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "db":
                found.append(f"{line}: db[...]")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = [w.strip() for w in SQL_WORDS if w in node.value]
            if words:
                found.append(f"{line}: SQL text {words}")
    return found


def test_the_checker_finds_each_kind_of_sql() -> None:
    """The boundary test below could not fail if this one did not find these."""
    source = (
        "import sqlite3\n"
        "from sqlite_utils.db import Table\n"
        "store.db.execute('x')\n"
        "db['shows']\n"
        "store.rows_where('processing_status = ?', [1])\n"
        "sql = 'DELETE FROM shows'\n"
        "sql = f'UPDATE shows SET {x}'\n"
    )
    kinds = " ".join(sql_uses(source))
    for expected in ("imports sqlite3", "imports sqlite_utils", ".db", ".execute(", "db[...]"):
        assert expected in kinds
    assert ".rows_where(" in kinds
    assert "['DELETE']" in kinds and "['UPDATE']" in kinds
    assert sql_uses("store.ledger_rows(added_at=True)\n'an update of the docs'\n") == []


def test_no_sql_outside_the_storage_layer() -> None:
    leaks = {
        str(path.relative_to(PACKAGE)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if STORAGE not in path.parents and (uses := sql_uses(path.read_text(encoding="utf-8")))
    }
    assert leaks == {}, "SQL belongs behind a named method of tvmaze_sync/storage/"


def test_only_the_store_module_opens_the_database() -> None:
    """`Store.opened` is the one way in: no other module builds a connection of its own."""
    opener = STORAGE / "store.py"
    elsewhere = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != opener and "_open(" in path.read_text(encoding="utf-8").replace("def _open(", "")
    ]
    assert elsewhere == []
    assert not hasattr(Store, "open"), "the store opens one way: Store.opened"


# --- the columns, declared once -------------------------------------------------------------


def _sample(hint: object, i: int) -> object:
    """A value of the type `hint` that is not the field's default (never None)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _sample(args[0], i)
    if typing.get_origin(hint) is tuple:
        return (f"item{i}", f"élément{i}")
    return {int: 100 + i, str: f"value {i}", float: 0.5 + i}[hint]  # type: ignore[index]


def full_show() -> Show:
    """A Show with every field set to a value of its type, none left at its default: a new
    field gets one without this test changing."""
    hints = typing.get_type_hints(Show)
    return Show(
        **{f.name: _sample(hints[f.name], n) for n, f in enumerate(dataclasses.fields(Show))}
    )


def test_every_declared_column_exists_after_the_migrations(tmp_path: Path) -> None:
    """A Show field (or processing column) the migrations forgot fails here, and so does a
    column the migrations added that nothing declares."""
    store = store_at(tmp_path)
    assert set(store.db["shows"].columns_dict) == ALL_COLUMNS
    assert {*SHOW_COLUMNS, RAW, *PROCESSING_COLUMNS} == ALL_COLUMNS
    store.close()


def test_the_lists_are_derived_from_the_dataclass() -> None:
    fields = [f.name for f in dataclasses.fields(Show)]
    assert len(SHOW_COLUMNS) == len(fields)
    assert SHOW_COLUMNS[0] == "tvmaze_id" and "tvmaze_updated_at" in SHOW_COLUMNS
    assert set(METADATA_COLUMNS) == {*SHOW_COLUMNS, RAW} - {"tvmaze_id"}
    assert set(row_from_show(full_show())) == {*SHOW_COLUMNS, RAW}


def test_every_show_field_round_trips_through_the_cache(tmp_path: Path) -> None:
    """row <-> Show keeps every field: through the row conversion, the upsert, the row read
    and the filters' positional read alike."""
    show = full_show()
    raw = {"id": show.tvmaze_id, "name": show.title}
    assert show_from_row(row_from_show(show, raw)) == show
    store = store_at(tmp_path)
    store.upsert_shows([row_from_show(show, raw)], "2025-01-01T00:00:00Z")
    assert store.get_show(show.tvmaze_id) == show
    decided = list(store.decision_rows([ProcessingStatus.PENDING], only_needing=True))
    assert decided == [(show, ProcessingStatus.PENDING.value, None, 1)]
    listed = query_shows(store, ShowQuery())[0]
    assert set(SHOW_COLUMNS) <= set(listed)
    store.close()


def test_unknown_column_names_never_reach_sql(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    with pytest.raises(ValueError, match="not a column"):
        store.update_show(1, **{"title = 'x' --": 1})
    with pytest.raises(ValueError, match="not a moment"):
        store.ledger_rows(tvdb_id=True)
    store.close()


# --- one way to open ------------------------------------------------------------------------


def test_opened_for_writing_needs_an_existing_cache_unless_it_creates(tmp_path: Path) -> None:
    missing = pytest.raises(StorageError, match="run `tvmaze-sync sync` first")
    with missing, Store.opened(tmp_path, lock=True):
        pass
    assert not (tmp_path / DB_NAME).exists()
    with Store.opened(tmp_path, lock=True, create=True) as store:
        assert store.count_by_status()["pending"] == 0
    with pytest.raises(sqlite3.ProgrammingError):  # closed on exit
        store.db.execute("select 1")


def test_writers_take_the_lock_and_readers_never_wait(tmp_path: Path) -> None:
    with Store.opened(tmp_path, create=True):
        pass
    with writer_lock(tmp_path):
        with pytest.raises(LockHeld), Store.opened(tmp_path, lock=True):
            pass
        with Store.opened(tmp_path, readonly=True) as reader:
            assert reader.count_by_status()["pending"] == 0
    held = pytest.raises(LockHeld)
    with Store.opened(tmp_path, lock=True), held, writer_lock(tmp_path):  # released on exit
        pass


def test_a_read_only_store_takes_no_lock_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError), Store.opened(tmp_path, readonly=True, lock=True):
        pass
    with pytest.raises(StorageError, match="no cache"), Store.opened(tmp_path, readonly=True):
        pass
    assert not (tmp_path / DB_NAME).exists()
