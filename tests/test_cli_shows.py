"""`shows`, `refilter` and `explain` through the real Typer app (CliRunner), over a real cache."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.helpers_cli import clean_env
from tests.helpers_store import store_at
from tvmaze_sync.cli import render
from tvmaze_sync.cli.main import app
from tvmaze_sync.cli.terminal import Terminal
from tvmaze_sync.core.config import FiltersConfig, load_config
from tvmaze_sync.core.errors import ExitCode
from tvmaze_sync.core.logs import printable
from tvmaze_sync.core.models import ProcessingStatus, Show
from tvmaze_sync.cycle.explain import explain
from tvmaze_sync.decisions.filters import FilterProcessor, apply
from tvmaze_sync.decisions.rules import build_rules
from tvmaze_sync.serve.endpoints import shows_page
from tvmaze_sync.storage.columns import SHOW_COLUMNS, row_from_show
from tvmaze_sync.storage.query import SORT_KEYS, ShowQuery, count_shows, query_shows
from tvmaze_sync.storage.state import StateFile
from tvmaze_sync.storage.store import prepare_storage_dir

P = ProcessingStatus


def show(tvmaze_id: int, title: str, **changes: Any) -> Show:
    fields: dict[str, Any] = dict(
        tvmaze_id=tvmaze_id,
        title=title,
        tvdb_id=70000 + tvmaze_id,
        language="English",
        country="US",
        type="Scripted",
        status="Running",
        premiered="2016-07-15",
        network="HBO",
        genres=("Drama",),
        runtime=50,
        rating=8.0,
    )
    fields.update(changes)
    return Show(**fields)


SHOWS = [
    show(1, "Under the Dome", network="CBS", status="Ended", premiered="2013-06-24"),
    show(2, "Shōgun Élite", language="Japanese", country=None, network=None, web_channel="Hulu"),
    show(3, "Doctor Who", country="GB", network="BBC One", premiered="2005-03-26"),
    show(4, "Doctor Who (2023)", country="GB", network="BBC One", premiered="2023-11-25"),
    show(5, "Stranger Things", country=None, network=None, web_channel="Netflix"),
    show(6, "[/] Markup [bold]Title", premiered=None),
    show(7, "Bake Off", country="UK", genres=("Sports", "Food"), type="Reality"),
    show(8, "Added Show", premiered="2019-01-01"),
    show(9, "Excluded Show", premiered="2018-01-01"),
    show(10, "Removed Show"),
    show(11, "Failed Show"),
    show(12, "No TVDB Yet", tvdb_id=None, premiered="2024-02-02", rating=None),
    show(13, "100% Pure_Fun", premiered="2009-12-12"),
]
# Sonarr outcomes set after the filters ran (status, status_reason, error_message).
OUTCOMES: dict[int, tuple[ProcessingStatus, str | None, str | None]] = {
    8: (P.ADDED, None, None),
    9: (P.EXCLUDED, "sonarr_exclusion", None),
    10: (P.REMOVED_BY_USER, "deleted_in_sonarr", None),
    11: (P.FAILED, "rejected_by_sonarr", "Path is already configured for an existing series"),
    12: (P.PENDING_TVDB, "no_tvdb_id", None),
}


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A cache decided under the default filters, with a few Sonarr outcomes."""
    path = prepare_storage_dir(tmp_path / "data")
    store = store_at(path)
    store.upsert_shows([row_from_show(s, {"id": s.tvmaze_id}) for s in SHOWS], "2025-01-01T00:00Z")
    apply(store, FilterProcessor(FiltersConfig()))
    with store.atomic():
        for tvmaze_id, (status, reason, error) in OUTCOMES.items():
            store.db.execute(
                "UPDATE shows SET processing_status = ?, status_reason = ?, error_message = ?, "
                "retry_after = ?, sonarr_series_id = ? WHERE tvmaze_id = ?",
                [
                    status.value,
                    reason,
                    error,
                    "2025-02-01T00:00:00Z" if status == P.PENDING_TVDB else None,
                    400 + tvmaze_id if status == P.ADDED else None,
                    tvmaze_id,
                ],
            )
    store.close()
    return path


@pytest.fixture
def cli(tmp_path: Path, storage: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke the app in-process with an isolated environment (no stray config or options)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.chdir(tmp_path)
    # Wide and fixed: rich reads COLUMNS once, when the console is made at import.
    monkeypatch.setattr(render, "stdout", Terminal(width=200))
    env = clean_env(tmp_path, {"STORAGE_PATH": str(storage)})
    runner = CliRunner()

    def invoke(*args: str, **extra_env: str) -> Result:
        for name in list(os.environ):
            monkeypatch.delenv(name)
        return runner.invoke(app, list(args), env={**env, **extra_env}, catch_exceptions=False)

    yield invoke
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def ids(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [row["tvmaze_id"] for row in json.loads(result.stdout)]


def rows(storage: Path) -> list[dict[str, Any]]:
    store = store_at(storage, readonly=True)
    try:
        return list(store.rows_where(order_by="tvmaze_id"))
    finally:
        store.close()


# --- shows ---------------------------------------------------------------------------------


def test_shows_filters(cli: Any) -> None:
    j = ("--format", "json")
    assert ids(cli("shows", "--status", "pending", *j)) == [4, 5]
    assert ids(cli("shows", "--status", "filtered", *j)) == [1, 2, 3, 6, 7, 13]
    assert ids(cli("shows", "--reason", "language_not_included", *j)) == [2]
    assert ids(cli("shows", "--reason", "status_ended", *j)) == [1]
    assert ids(cli("shows", "-r", "genre_excluded:Sports", *j)) == [7]
    assert ids(cli("shows", "-r", "genre_excluded:sports", *j)) == [7]  # any case
    assert ids(cli("shows", "-r", "type_not_included", *j)) == [7]  # any failure, not just first
    assert ids(cli("shows", "-r", "genre_excluded:Food", *j)) == []
    assert ids(cli("shows", "--search", "doctor", *j)) == [3, 4]
    assert ids(cli("shows", "--search", "ÉLITE", *j)) == [2]  # Unicode case folding
    assert ids(cli("shows", "--country", "uk", *j)) == [3, 4, 7]  # GB and UK alike
    assert ids(cli("shows", "--country", "GB", *j)) == [3, 4, 7]
    assert ids(cli("shows", "--language", "japanese", *j)) == [2]
    assert ids(cli("shows", "--network", "netflix", *j)) == [5]  # a web channel counts
    assert ids(cli("shows", "--network", "bbc one", *j)) == [3, 4]
    assert ids(cli("shows", "--premiered-after", "2019-01-01", *j)) == [4, 8, 12]
    assert ids(cli("shows", "--country", "GB", "--premiered-after", "2010-01-01", *j)) == [4, 7]
    assert ids(cli("shows", "--limit", "2", *j)) == [1, 2]


def test_shows_sorts(cli: Any) -> None:
    j = ("--format", "json")
    titles = [s.title for s in sorted(SHOWS, key=lambda s: s.title.casefold())]
    result = cli("shows", "--sort", "title", *j)
    assert [row["title"] for row in json.loads(result.stdout)] == titles
    result = cli("shows", "--sort", "title:desc", *j)
    assert [row["title"] for row in json.loads(result.stdout)] == titles[::-1]
    newest = ids(cli("shows", "--sort", "premiered:desc", "-n", "3", *j))
    assert newest == [12, 4, 8]
    unknown_last = ids(cli("shows", "--sort", "premiered", *j))
    assert unknown_last[0] == 3 and unknown_last[-1] == 6  # no premiere date sorts last
    assert ids(cli("shows", "--sort", "id:desc", "-n", "2", *j)) == [13, 12]


def test_shows_formats(cli: Any) -> None:
    as_csv = cli("shows", "--format", "csv", "--status", "pending")
    assert as_csv.exit_code == 0
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["title"] for r in records] == ["Doctor Who (2023)", "Stranger Things"]
    assert records[1]["web_channel"] == "Netflix" and records[1]["country"] == ""
    table = cli("shows", "--search", "markup")
    assert table.exit_code == 0, table.output
    assert "[/] Markup [bold]Title" in table.stdout  # a title is text, never rich markup
    assert "1 shows" in table.stdout
    cut = cli("shows", "--sort", "id", "-n", "2")
    assert cut.exit_code == 0, cut.output
    every = len(ids(cli("shows", "--format", "json")))
    assert f"2 of {every} shows" in cut.stdout  # --limit cut the list


def test_json_and_csv_carry_every_column_get_shows_gives(cli: Any, storage: Path) -> None:
    """`shows --format json|csv` is the listing GET /shows gives (serve/endpoints.shows_page),
    every column of it: each Show field (a new one included, with no change here), the
    status_reason docs/troubleshooting.md points to; never the raw JSON or the flag."""
    store = store_at(storage, readonly=True)
    try:
        served = shows_page(store, ShowQuery(limit=None))["shows"]
    finally:
        store.close()
    as_json = json.loads(cli("shows", "--format", "json", "-n", "1000").stdout)
    assert as_json == served
    columns = set(served[0])
    assert {*SHOW_COLUMNS, "status_reason", "filter_reasons"} <= columns
    assert not {"raw", "needs_filter"} & columns
    as_csv = list(csv.DictReader(io.StringIO(cli("shows", "--format", "csv", "-n", "1000").stdout)))
    assert set(as_csv[0]) == columns and len(as_csv) == len(served)
    bake_off = next(r for r in as_csv if r["title"] == "Bake Off")
    assert json.loads(bake_off["genres"]) == ["Sports", "Food"] and bake_off["imdb_id"] == ""
    empty = cli("shows", "--format", "csv", "--search", "no such title")
    assert empty.stdout.strip().split(",") == list(served[0])  # the header, in query order


def test_every_single_valued_show_field_sorts_under_its_name() -> None:
    """`--sort` is derived from the Show fields: a new fact sorts without a change to the
    whitelist, and the names that have always worked keep their meaning."""
    for f in fields(Show):
        if f.name in ("genres", "network"):
            continue  # a list has no order; `network` sorts by network or web channel
        key = f"tvmaze_{f.name}" if f.name == "status" else f.name
        assert SORT_KEYS[key].split()[0] == f.metadata.get("column", f.name), key
    old = ("id", "title", "premiered", "rating", "weight", "runtime", "status", "reason")
    assert set(old) | {"language", "country", "network", "updated"} <= set(SORT_KEYS)
    assert (SORT_KEYS["status"], SORT_KEYS["reason"]) == ("processing_status", "filter_reason")


def test_shows_sorts_by_a_tvmaze_fact_the_whitelist_never_named(cli: Any) -> None:
    result = cli("shows", "--sort", "tvmaze_status", "--format", "json", "-n", "1000")
    assert result.exit_code == 0, result.output
    statuses = [row["status"] for row in json.loads(result.stdout)]
    assert statuses == sorted(statuses) and statuses[0] == "Ended"


@pytest.mark.parametrize(
    "wanted",
    [
        ShowQuery(),
        ShowQuery(status=P.FILTERED),
        ShowQuery(country="uk", sort="premiered:desc"),
        ShowQuery(reason="genre_excluded", search="o"),
        ShowQuery(status=P.SKIPPED),
    ],
)
def test_count_and_offset_page_through_one_listing(storage: Path, wanted: ShowQuery) -> None:
    """The server's GET /shows pages with these: pages laid end to end are the whole listing."""
    store = store_at(storage, readonly=True)
    try:
        everything = query_shows(store, replace(wanted, limit=None))
        assert count_shows(store, wanted) == len(everything)
        pages = [
            query_shows(store, replace(wanted, limit=2, offset=offset))
            for offset in range(0, len(everything) + 2, 2)
        ]
    finally:
        store.close()
    assert [row for page in pages for row in page] == everything
    for row in everything:
        assert "raw" not in row and "needs_filter" not in row
        assert isinstance(row["genres"], list)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--sort", "title; DROP TABLE shows"), "--sort 'title; DROP TABLE shows' is not one of"),
        (("--sort", "rating:sideways"), "is not one of"),
        (("--premiered-after", "2020-13-01"), "is not a date as YYYY-MM-DD"),
        (("--premiered-after", "' OR 1=1 --"), "is not a date"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(cli: Any, args: tuple[str, ...], fragment: str) -> None:
    result = cli("shows", *args)
    assert result.exit_code == ExitCode.USAGE
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--country", "USA"),
            "--country 'USA' is not an ISO 3166-1 alpha-2 country code; "
            "did you mean 'US' (United States of America)?",
        ),
        (
            ("--language", "Englsh"),
            "--language 'Englsh' is not a TVMaze language; did you mean 'English'?",
        ),
        (
            ("-r", "language_not_incuded"),
            "--reason 'language_not_incuded' is not a filter "
            "rule; did you mean 'language_not_included'?",
        ),
        (
            ("-r", "genre_excluded:Realty"),
            "--reason 'Realty' is not a TVMaze genre; "
            "did you mean 'Reality'? (a TVMaze show type: filters.types)",
        ),
        (
            ("-r", "frobnicate"),
            "--reason 'frobnicate' is not a filter rule; the rules are listed in docs/filters.md",
        ),
    ],
)
def test_a_typo_in_an_option_value_is_exit_2_with_a_suggestion(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    """ "A typo is an error with a suggestion, not an empty result" (`shows --country USA`
    used to list nothing): the same words and suggestions as `config check`."""
    result = cli("shows", *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == f"error: {message}\n"


@pytest.mark.parametrize(
    "args",
    [
        ("--country", "uk"),
        ("--language", "JAPANESE"),
        ("-r", "Language_Not_Included"),
        ("-r", "genre_excluded:sports"),
        ("-r", "status_ended"),
        ("-r", "type_not_included:Reality"),
    ],
)
def test_right_words_in_any_case_are_accepted(cli: Any, args: tuple[str, ...]) -> None:
    assert cli("shows", *args, "--format", "json").exit_code == 0


def test_a_value_only_the_mirror_holds_is_accepted(cli: Any, storage: Path) -> None:
    """TVMaze may start using a language after this release: the cache knows it."""
    store = store_at(storage)
    novel = show(98, "Novel", language="Klingon", country="AQ")
    store.upsert_shows([row_from_show(novel, {"id": 98})], "2025-01-01T00:00Z")
    store.close()
    assert ids(cli("shows", "--language", "klingon", "--format", "json")) == [98]


def test_a_bad_status_is_a_usage_error(cli: Any) -> None:
    result = cli("shows", "--status", "pending' OR '1'='1")
    assert result.exit_code == ExitCode.USAGE
    assert "Traceback" not in result.output


INJECTIONS = [
    "' OR '1'='1",
    '" OR 1=1 --',
    "x'); DROP TABLE shows; --",
    "%",
    "_",
    "\\",
    "*",
    "1 UNION SELECT * FROM counters",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("option", ["--reason", "--search", "--country", "--language", "--network"])
def test_sql_injection_attempts_are_harmless(
    cli: Any, storage: Path, option: str, payload: str
) -> None:
    before = rows(storage)
    result = cli("shows", option, payload, "--format", "json")
    if option in ("--reason", "--country", "--language"):  # words checked before any query
        assert result.exit_code == ExitCode.USAGE, result.output
        assert len(result.stderr.strip().splitlines()) == 1
        # and the query layer itself (GET /shows uses it unchecked) matches nothing
        store = store_at(storage, readonly=True)
        try:
            assert query_shows(store, ShowQuery(**{option[2:]: payload})) == []
        finally:
            store.close()
    else:
        assert result.exit_code == 0, result.output
        found = json.loads(result.stdout)
        if option == "--search":  # a literal substring: only titles containing it
            assert [r["title"] for r in found] == [s.title for s in SHOWS if payload in s.title]
        else:
            assert found == []
    assert rows(storage) == before


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_explain_and_sort_is_harmless(cli: Any, storage: Path, payload: str) -> None:
    before = rows(storage)
    assert cli("explain", payload).exit_code in (0, ExitCode.USAGE)
    assert cli("shows", "--sort", payload).exit_code == ExitCode.USAGE
    assert rows(storage) == before


# --- refilter ------------------------------------------------------------------------------


def test_refilter_dry_run_writes_nothing(cli: Any, storage: Path) -> None:
    before, state_before = rows(storage), StateFile(storage).load()
    result = cli(
        "refilter",
        "--dry-run",
        "--format",
        "json",
        FILTERS_LANGUAGES_INCLUDE="English,Japanese",
        FILTERS_STATUS_EXCLUDE_ENDED="false",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["transitions"] == {"filtered->pending": 2}
    assert sorted(report["titles"]["filtered->pending"]) == ["Shōgun Élite", "Under the Dome"]
    assert rows(storage) == before
    assert StateFile(storage).load() == state_before

    table = cli("refilter", "--dry-run", FILTERS_LANGUAGES_INCLUDE="English,Japanese")
    assert table.exit_code == 0
    assert "dry run: nothing written" in table.stdout
    assert "filtered -> pending" in table.stdout and "Shōgun Élite" in table.stdout
    assert rows(storage) == before


def test_refilter_writes_and_records_the_hash(cli: Any, storage: Path) -> None:
    result = cli("refilter", "--format", "json", FILTERS_LANGUAGES_INCLUDE="English,Japanese")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["transitions"] == {"filtered->pending": 1}
    after = {row["tvmaze_id"]: row for row in rows(storage)}
    assert after[2]["processing_status"] == "pending"
    assert after[8]["processing_status"] == "added"  # never touched
    assert after[9]["processing_status"] == "excluded"
    assert StateFile(storage).load().last_filter_hash is not None


# --- explain -------------------------------------------------------------------------------


def test_explain_by_id_lists_every_rule(cli: Any) -> None:
    result = cli("explain", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Shōgun Élite (TVMaze 2)" in out
    assert "stored status: filtered (language_not_included:Japanese)" in out
    assert "current filters: fails: language_not_included:Japanese" in out
    for rule in ("genres", "types", "countries", "languages", "networks", "status", "premiered"):
        assert rule in out
    assert "FAIL language_not_included:Japanese" in out
    assert "include English; unknown fails" in out


def test_explain_json_by_title(cli: Any) -> None:
    result = cli("explain", "stranger things", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tvmaze_id"] == 5 and data["passed"] is True
    countries = next(v for v in data["verdicts"] if v["rule"] == "countries")
    assert countries["value"] == "(unknown)" and countries["passed"] is True
    # every rule, in the order they run (a new rule shows here with no change to this test)
    assert [v["rule"] for v in data["verdicts"]] == [r.name for r in build_rules(FiltersConfig())]
    assert len(data["verdicts"]) >= 12
    assert "queued for Sonarr" in " ".join(data["notes"])


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("9", "import list exclusions: never added, whatever the filters say [sonarr_exclusion]"),
        ("Removed Show", "deleted in Sonarr: never re-added"),
        ("11", "last error: Path is already configured for an existing series"),
        ("12", "no TVDB id Sonarr can add yet: retried later (next try after 2025-02-01T00:00:00Z"),
        ("8", "tvmaze-sync added it (Sonarr series id 408)"),
    ],
)
def test_explain_names_non_filter_reasons(cli: Any, key: str, fragment: str) -> None:
    result = cli("explain", key, "--format", "json")
    assert result.exit_code == 0, result.output
    assert fragment in " ".join(json.loads(result.stdout)["notes"])


def test_explain_says_when_filters_would_change_the_stored_status(cli: Any) -> None:
    data = json.loads(
        cli("explain", "2", "--format", "json", FILTERS_LANGUAGES_INCLUDE="Japanese").stdout
    )
    assert data["passed"] is True and data["stored_status"] == "filtered"
    assert any("makes it pending" in note for note in data["notes"])


@pytest.mark.parametrize("key", ["doctor who (2023)", "8", "9", "11", "12"])
def test_explain_is_one_library_call_the_cli_renders(
    cli: Any, storage: Path, tmp_path: Path, key: str
) -> None:
    """Every note `explain` prints is composed by cycle/explain.py, not by the command: the
    library call gives what `explain --format json` prints."""
    config = load_config(None, clean_env(tmp_path, {"STORAGE_PATH": str(storage)}))
    printed = json.loads(cli("explain", key, "--format", "json").stdout)
    assert explain(config, key).to_json() == printed and printed["notes"]


def test_explain_ids_allow(cli: Any) -> None:
    result = cli("explain", "1", FILTERS_IDS_ALLOW="1")
    assert "passes: on filters.ids.allow, which wins over every rule" in result.stdout
    assert "FAIL status_ended" in result.stdout


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("doctor", "2 shows match 'doctor': 3 (Doctor Who), 4 (Doctor Who (2023)); give the id"),
        ("999", "no cached show has TVMaze id 999 or such a title"),
        ("no such show", "no cached show matches 'no such show'"),
    ],
)
def test_explain_ambiguous_or_unknown_is_exit_2(cli: Any, key: str, fragment: str) -> None:
    result = cli("explain", key)
    assert result.exit_code == ExitCode.USAGE
    assert fragment in result.stderr


def test_explain_exact_title_wins_over_partial_matches(cli: Any) -> None:
    assert json.loads(cli("explain", "doctor who", "--format", "json").stdout)["tvmaze_id"] == 3


def test_explain_digits_are_an_id_then_a_title(cli: Any) -> None:
    assert json.loads(cli("explain", "13", "--format", "json").stdout)["tvmaze_id"] == 13
    assert json.loads(cli("explain", "100", "--format", "json").stdout)["tvmaze_id"] == 13


# --- hostile text from TVMaze -------------------------------------------------------------

ESCAPES = "Evil \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x9b2J"


def _add_hostile(storage: Path) -> None:
    store = store_at(storage)
    hostile = show(99, ESCAPES, network="Net\x1b]0;title\x07", premiered="2020-01-01")
    store.upsert_shows([row_from_show(hostile, {"id": 99})], "2025-01-01T00:00Z")
    store.close()


def test_escape_sequences_from_tvmaze_never_reach_the_terminal(cli: Any, storage: Path) -> None:
    """TVMaze records are user-editable: a title may set colours or the window title."""
    _add_hostile(storage)
    for args in (("shows", "-q", "evil"), ("explain", "99"), ("shows", "--network", "x")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output, args
        assert "\x9b" not in result.output, args
    assert "Evil \\x1b[31mred" in cli("shows", "-q", "evil").stdout
    assert "Net\\x1b]0;title\\x07" in cli("explain", "99").stdout


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_summary_and_review_tables_escape_control_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tvmaze_sync.core.models import CycleSummary
    from tvmaze_sync.sonarr.review import QUEUE_COLUMNS

    out = io.StringIO()
    console = Terminal(file=out, width=300)
    original = render.stdout
    render.stdout = console
    try:
        row = {column: ESCAPES if column == "title" else 1 for column in QUEUE_COLUMNS}
        render.review_queue([row])
        render.review_decision({"action": "approve", "shows": [{"tvmaze_id": 1, "title": ESCAPES}]})
    finally:
        render.stdout = original
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert out.getvalue().count("Evil \\x1b[31mred") == 2
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    render.cycle_summary(CycleSummary(started_at="2025-01-01T00:00:00Z", added_titles=[ESCAPES]))
    assert "added: Evil \\x1b[31mred" in tty.getvalue()
    # rich styles its own table on a terminal; the title's sequences stay escaped.
    assert "\x1b[31m" not in tty.getvalue() and "\x1b]0;" not in tty.getvalue()
    assert "\x07" not in tty.getvalue() and "\x9b" not in tty.getvalue()


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))])
def test_printable_escapes_every_c0_and_c1_control(char: str) -> None:
    assert printable(f"a{char}b") == f"a{char!r}b".replace("'", "") or char == "'"
    assert all(c.isprintable() for c in printable(char))


def test_a_sort_typo_gets_a_suggestion_and_the_direction_any_case(cli: Any) -> None:
    """A typo is an error with a suggestion (`titel` -> `title`); `:DESC` is `:desc`, as a
    choice is matched in any case."""
    result = cli("shows", "--sort", "titel")
    assert result.exit_code == 2
    assert "did you mean 'title'?" in result.output
    j = ("--format", "json")
    assert ids(cli("shows", "--sort", "id:DESC", "-n", "2", *j)) == [13, 12]
