"""JSON text in storage is untrusted (a tampered or damaged cache): the read-only commands
that decode it say what they can and never crash. Nested beyond reason, json.loads raises
RecursionError, not ValueError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers_cli import data_dir, invoke_cli
from tvmaze_sync.decisions import routing
from tvmaze_sync.storage.store import Store, prepare_storage_dir

DEEP = "[" * 100_000

TAMPERED_TARGETS = [
    DEEP,
    '{"root_folder": ' + DEEP,
    "not json",
    "[1, 2]",
    '{"root_folder": {"a": 1}, "tags": "x"}',
    "",
]


@pytest.mark.parametrize("recorded", TAMPERED_TARGETS)
def test_a_tampered_ledger_target_says_nothing_or_what_it_holds(recorded: str) -> None:
    current = routing.lasting(dict.fromkeys(routing.LASTING_SETTINGS))
    changed = routing.changed_settings(recorded, current)
    assert changed is None or all(isinstance(text, str) for text in changed)


def _cache(home: Path, **columns: str) -> None:
    with Store.opened(prepare_storage_dir(data_dir(home)), create=True) as store:
        row = {
            "tvmaze_id": 1,
            "tvdb_id": 5,
            "title": "Tampered",
            "processing_status": "added",
            "last_checked": "2026-01-01T00:00:00Z",
            "genres": '["Drama"]',
        }
        shown = {k: v for k, v in columns.items() if k != "target"}
        store.db.table("shows").insert({**row, **shown})
        store.db.table("sonarr_ledger").insert(
            {"tvdb_id": 5, "tvmaze_id": 1, "title": "Tampered", "route": None}
            | {"target": columns.get("target")}
        )


@pytest.mark.parametrize("recorded", [DEEP, "not json"])
def test_explain_with_a_tampered_ledger_target_does_not_crash(
    tmp_path: Path, recorded: str
) -> None:
    _cache(tmp_path, target=recorded)
    result = invoke_cli(tmp_path, "explain", "1")
    assert result.returncode == 0, result.stderr
    assert "not moved" not in result.stdout


def test_shows_json_with_deeply_nested_stored_lists_gives_the_text(tmp_path: Path) -> None:
    _cache(tmp_path, genres=DEEP, filter_reasons=DEEP)
    result = invoke_cli(tmp_path, "shows", "--format", "json")
    assert result.returncode == 0, result.stderr
    (listed,) = json.loads(result.stdout)
    assert listed["genres"] == DEEP  # a listing shows what is stored


HOSTILE_TITLE = "Evil\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31m\x7f\r\n=cmd|' /C calc'!A0"


def test_shows_csv_and_json_never_write_a_raw_control_character(tmp_path: Path) -> None:
    """A title is TVMaze's (community-edited, untrusted) and CSV or JSON is often read on
    a terminal: an escape sequence in it is written escaped, never obeyed (an OSC 52
    writes the clipboard, a CSI clears the screen), as the table shows it. JSON escapes
    are lossless (the title reads back exactly). A leading '=' is left as it is: CSV is for
    programs, and real titles begin with '@' or '+'."""
    _cache(tmp_path, title=HOSTILE_TITLE)
    for fmt in ("csv", "json"):
        result = invoke_cli(tmp_path, "shows", "--format", fmt)
        assert result.returncode == 0, result.stderr
        raw = [c for c in result.stdout if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]
        assert raw == [], (fmt, raw)
    (listed,) = json.loads(invoke_cli(tmp_path, "shows", "--format", "json").stdout)
    assert listed["title"] == HOSTILE_TITLE
    csv_text = invoke_cli(tmp_path, "shows", "--format", "csv").stdout
    assert "=cmd|" in csv_text and "\\x1b]52" in csv_text


def test_tags_in_another_order_or_case_are_no_change() -> None:
    """Sonarr stores tag labels lower-cased, and their order means nothing."""
    recorded = json.dumps({"tags": ["Anime", "kids"], "root_folder": "/tv"})
    same = routing.lasting({"tags": ["kids", "anime"], "root_folder": "/tv"})
    assert routing.changed_settings(recorded, same) is None
    other = routing.lasting({"tags": ["kids"], "root_folder": "/tv"})
    assert routing.changed_settings(recorded, other) == ("tags [Anime, kids]", "tags [kids]")
