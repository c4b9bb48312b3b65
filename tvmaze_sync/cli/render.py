"""Terminal output: rich tables for people, JSON and CSV for scripts.

Machine formats go to stdout alone (nothing else is printed there), so `| jq` always works.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from tvmaze_sync.cli.terminal import Terminal, printable_lines, write_stdout
from tvmaze_sync.core.config import DEFAULT_INSTANCE
from tvmaze_sync.core.logs import printable, redact
from tvmaze_sync.core.models import TITLES_KEPT, CycleSummary

log = logging.getLogger(__name__)

#: Every table and line for people goes through this console (terminal.py: closed pipes,
#: full disks); every value from data through `_cells` or `printable`.
stdout = Terminal()

#: The columns of the `shows` table on a terminal, chosen to fit a line; JSON and CSV carry
#: every column the listing query gives (storage/query.py), as GET /shows does.
TABLE_COLUMNS = ("tvmaze_id", "title", "processing_status", "filter_reason", "tvdb_id", "weight")


#: DEL and the C1 controls, which json.dumps leaves raw with ensure_ascii=False (it escapes
#: C0): as `\u` escapes, lossless, so no TVMaze text writes a raw CSI to a terminal.
_JSON_RAW = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def _json(data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    write_stdout(text.translate(_JSON_RAW) + "\n")


def _csv(fieldnames: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_stdout(buffer.getvalue())


def shows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str = "table",
    total: int | None = None,
) -> None:
    """The listing (`columns`: the query's, in its order); on a terminal also how many match
    in all (`--limit` may cut the list). CSV writes a list (genres) as JSON text."""
    if fmt == "json":
        _json([{column: row.get(column) for column in columns} for row in rows])
        return
    if fmt == "csv":
        _csv(columns, [{c: _csv_value(row.get(c)) for c in columns} for row in rows])
        return
    table = Table(show_lines=False)
    for column in TABLE_COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*_cells(*(row.get(c) for c in TABLE_COLUMNS)))
    stdout.print(table)
    matching = f" of {total}" if total is not None and total != len(rows) else ""
    stdout.print(f"{len(rows)}{matching} shows")


def _csv_value(value: Any) -> Any:
    """A cell: a list as JSON text; text with any control character but a line break
    escaped (`\\x1b`), as the table shows it: CSV has no escape of its own, and is read on
    terminals too."""
    if isinstance(value, list):
        value = json.dumps(value, ensure_ascii=False).translate(_JSON_RAW)
    return printable_lines(value) if isinstance(value, str) else value


def state_table(data: Mapping[str, Any]) -> None:
    title = Text(f"tvmaze-sync state ({printable(data['storage_path'])})")
    table = Table(title=title, show_header=False)
    table.add_column("key")
    table.add_column("value")
    state = data.get("state") or {}
    for key in sorted(state):
        if key == "last_cycle":
            continue
        table.add_row(*_cells(key, state[key]))
    last = state.get("last_cycle") or {}
    if last:
        table.add_row(
            "last cycle", f"{'ok' if last.get('ok') else 'FAILED'} at {last.get('finished_at')}"
        )
        table.add_row(
            "  adds waiting (sonarr.max_adds_per_cycle)", str(last.get("adds_waiting", 0))
        )
    outcomes = last.get("instances") or {}

    def ran(name: str) -> str:
        outcome = outcomes.get(name) or {}
        return "" if not outcome else (" ok" if outcome.get("ok") else " FAILED last cycle")

    shows_info = data["shows"]
    others = data.get("instances") or {}
    # With instances, the main cache's statuses are default's (the others' follow).
    label = f"instance {DEFAULT_INSTANCE}{ran(DEFAULT_INSTANCE)}" if others else "shows (total)"
    table.add_row(label, str(shows_info["total"]))
    for status, count in shows_info["by_status"].items():
        table.add_row(f"  {status}", str(count))
    held = data.get("removals_held", 0)
    table.add_row("removals held", f"{held} (see `tvmaze-sync removals`)" if held else "0")
    for name, counts in others.items():
        table.add_row(f"instance {name}{ran(name)}", str(sum(counts["by_status"].values())))
        for status, count in counts["by_status"].items():
            table.add_row(f"  {status}", str(count))
        if counts.get("removals_held"):
            table.add_row("  removals held", str(counts["removals_held"]))
    stdout.print(table)


def removals_held(rows: Sequence[Mapping[str, Any]], fmt: str = "table") -> None:
    """`tvmaze-sync removals`: the held series, then the two ways out."""
    if fmt == "json":
        _json(list(rows))
        return
    if not rows:
        stdout.print("no removals held")
        return
    table = Table()
    columns = ("tvdb_id", "tvmaze_id", "title", "sonarr_series_id", "added_at", "held_at")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*_cells(*(row.get(c) for c in columns)))
    stdout.print(table)
    for line in (
        f"{len(rows)} series held: tvmaze-sync added them, and they vanished from Sonarr with "
        "too many others at once to conclude you deleted them.",
        "tvmaze-sync removals accept [TVDB_ID...]   you deleted them: removed_by_user",
        "tvmaze-sync removals readd [TVDB_ID...]    Sonarr was replaced or reset: add them again",
    ):
        stdout.print(line, markup=False, highlight=False)


def removals_settled(
    action: str, rows: Sequence[Mapping[str, Any]], on_user_removal: str, fmt: str = "table"
) -> None:
    """What `removals accept|readd` did, and what the next sync does about it."""
    if fmt == "json":
        _json({"action": action, "series": list(rows)})
        return
    if not rows:
        stdout.print("no removals held: nothing to do")
        return
    if action == "accept":
        done = f"{len(rows)} series concluded removed by you (removed_by_user)"
        then = {
            "exclude_in_sonarr": "the next sync posts an Import List Exclusion for each",
            "allow_readd": "on_user_removal is allow_readd: the next sync adds them again",
        }.get(on_user_removal, "they are not added again (on_user_removal: keep_out)")
    else:
        done = f"{len(rows)} series released"
        then = "the next sync adds each one the filters pass"
    titles = "; ".join(printable(row.get("title")) for row in rows[:TITLES_KEPT])
    stdout.print(
        f"{done}; {then}: {titles}{_more([''] * len(rows))}", markup=False, highlight=False
    )


def config(resolved: Mapping[str, Any], source: str) -> None:
    import yaml

    stdout.print(
        f"# configuration is valid (from {printable(source)})", highlight=False, markup=False
    )
    stdout.print(
        printable_lines(yaml.safe_dump(dict(resolved), sort_keys=False)),
        highlight=False,
        markup=False,
    )


#: Results every sync summary shows, zero or not: what did not happen is news too.
SUMMARY_RESULTS = (
    "added",
    "exists",
    "failed",
    "pending_tvdb",
    "filtered",
    "excluded",
    "removed_by_user",
)


def summary_counts(summary: CycleSummary) -> dict[str, int]:
    """The fixed results first, then any other result the cycle reached (e.g. pending)."""
    counts = {result: summary.results.get(result, 0) for result in SUMMARY_RESULTS}
    counts.update({k: v for k, v in sorted(summary.results.items()) if k not in counts})
    return counts


def _more(titles: list[str]) -> str:
    extra = len(titles) - TITLES_KEPT
    return f" … and {extra} more" if extra > 0 else ""


def cycle_summary(summary: CycleSummary, fmt: str = "text") -> None:
    """One summary per sync: a table on a terminal, else exactly one log line, at any log
    level (WARNING, the default, hides progress but never the summary; `--quiet` skips this).

    In json logging that line is one JSON object (event `sync_summary`) with the counts as
    top-level fields and the titles as lists, so `jq 'select(.event=="sync_summary")'` works.
    """
    counts = summary_counts(summary)
    titles = summary.would_add_titles if summary.dry_run else summary.added_titles
    if fmt == "json":
        line = {
            "ts": summary.finished_at or summary.started_at,
            "level": "info",
            "logger": __name__,
            "event": "sync_summary",
            "ok": summary.ok,
            "dry_run": summary.dry_run,
            "mode": summary.mode,
            "duration_seconds": summary.duration_seconds,
            "shows_fetched": summary.shows_fetched,
            **counts,
            "would_add": len(summary.would_add_titles),
            "adds_waiting": summary.adds_waiting,
            "removals_held": summary.removals_held,
            "exclusions_distrusted": summary.exclusions_distrusted,
            "added_titles": summary.added_titles[:TITLES_KEPT],
            "would_add_titles": summary.would_add_titles[:TITLES_KEPT],
            "requests": summary.requests,
        }
        sys.stderr.write(redact(json.dumps(line, ensure_ascii=False, default=str)) + "\n")
        return
    if not sys.stderr.isatty():
        _always(
            "sync_summary ok=%s dry_run=%s %s adds_waiting=%d removals_held=%d "
            "exclusions_distrusted=%d duration_seconds=%.1f %s=%r",
            summary.ok,
            summary.dry_run,
            " ".join(f"{k}={v}" for k, v in counts.items()),
            summary.adds_waiting,
            summary.removals_held,
            summary.exclusions_distrusted,
            summary.duration_seconds or 0.0,
            "would_add" if summary.dry_run else "titles",
            "; ".join(titles[:TITLES_KEPT]) + _more(titles),
        )
        return
    console = Terminal(stderr=True)
    table = Table(title="sync summary" + (" (dry run)" if summary.dry_run else ""))
    table.add_column("result")
    table.add_column("shows", justify="right")
    for result, count in counts.items():
        table.add_row(*_cells(result, count))
    if summary.dry_run:
        table.add_row("would add", str(len(summary.would_add_titles)))
    if summary.adds_waiting:
        table.add_row("waiting (sonarr.max_adds_per_cycle)", str(summary.adds_waiting))
    if summary.removals_held:
        table.add_row("removals held (tvmaze-sync removals)", str(summary.removals_held))
    if summary.exclusions_distrusted:
        table.add_row("exclusions distrusted (kept excluded)", str(summary.exclusions_distrusted))
    console.print(table)
    if titles:
        verb = "would add" if summary.dry_run else "added"
        shown = ", ".join(printable(t) for t in titles[:TITLES_KEPT]) + _more(titles)
        console.print(f"{verb}: {shown}", highlight=False, markup=False)


def _always(message: str, *args: object) -> None:
    """Log an INFO line past the level check: the handlers still format and redact it."""
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, message, args, None))


def review_queue(
    rows: Sequence[Mapping[str, Any]], fmt: str = "table", enabled: bool = True
) -> None:
    """The approval queue (review.QUEUE_COLUMNS): JSON or CSV for scripts, else a table."""
    from tvmaze_sync.sonarr.review import QUEUE_COLUMNS

    if fmt == "json":
        _json([dict(row) for row in rows])
        return
    if fmt == "csv":
        _csv(QUEUE_COLUMNS, rows)
        return
    table = Table(title="waiting for review (most popular first)")
    for column in QUEUE_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*_cells(*(row[c] for c in QUEUE_COLUMNS)))
    stdout.print(table)
    stdout.print(f"{len(rows)} shows wait for review", highlight=False)
    if not enabled:
        stdout.print(
            "note: sonarr.require_approval is off: the next sync sends these back "
            "through the filters to Sonarr",
            highlight=False,
        )


def review_decision(data: Mapping[str, Any]) -> None:
    """One line per decided show, then what happens next."""
    verb = "approved" if data["action"] == "approve" else "denied"
    for show in data["shows"]:
        line = f"{verb} {show['tvmaze_id']} {printable(show['title'])}"
        stdout.print(line, markup=False, highlight=False)
    after = "the next sync adds them" if verb == "approved" else "they are skipped for good"
    stdout.print(f"{len(data['shows'])} shows {verb}; {after}", highlight=False)


def _cells(*values: object) -> list[Text]:
    """Table cells as plain text: titles such as "[REC]" are data, never rich markup, and
    an escape sequence in TVMaze's data is shown escaped, never sent to the terminal."""
    return [Text(printable(value)) for value in values]


def refilter_report(report: Mapping[str, Any], dry_run: bool, fmt: str = "table") -> None:
    """Counts per status transition, then the titles (JSON lists every title)."""
    if fmt == "json":
        _json({"dry_run": dry_run, **report})
        return
    title = "refilter (dry run: nothing written)" if dry_run else "refilter"
    table = Table(title=title)
    table.add_column("transition")
    table.add_column("shows", justify="right")
    for transition, count in report["transitions"].items():
        table.add_row(*_cells(transition.replace("->", " -> "), count))
    table.add_row(*_cells("reasons changed, status kept", report["reasons_updated"]))
    table.add_row(*_cells("evaluated", report["evaluated"]))
    stdout.print(table)
    for transition, titles in report["titles"].items():
        more = (
            f" … and {len(titles) - 50} more (--format json lists all)" if len(titles) > 50 else ""
        )
        listed = "; ".join(printable(t) for t in titles[:50])
        stdout.print(f"{transition}: {listed}{more}", markup=False, highlight=False)


def explanation(data: Mapping[str, Any], fmt: str = "table") -> None:
    """Every rule, the show's value and the verdict, then what the stored status means."""
    if fmt == "json":
        _json(data)
        return
    if data["allowed"]:
        verdict = "passes: on filters.ids.allow, which wins over every rule"
    elif data["passed"]:
        verdict = "passes every rule"
    else:
        verdict = "fails: " + ", ".join(data["reasons"])
    stored = data["stored_status"]
    if data["stored_reasons"]:
        stored += " (" + ", ".join(data["stored_reasons"]) + ")"
    for line in (
        f"{data['title']} (TVMaze {data['tvmaze_id']})",
        f"stored status: {stored}",
        f"current filters: {verdict}",
    ):
        stdout.print(printable(line), markup=False, highlight=False)
    table = Table()
    for column in ("rule", "setting", "show's value", "result"):
        table.add_column(column)
    for v in data["verdicts"]:
        result = "pass" if v["passed"] else f"FAIL {v['reason']}"
        table.add_row(*_cells(v["rule"], v["setting"], v["value"], result if v["active"] else "-"))
    stdout.print(table)
    for target in data.get("targets") or ():
        stdout.print(printable(_target_line(data.get("route"), target)), markup=False)
    for note in data["notes"]:
        stdout.print(f"note: {printable(note)}", markup=False, highlight=False)


def _target_line(route: str | None, target: Mapping[str, Any]) -> str:
    """`route anime -> default: root_folder /anime, series_type anime, tags anime, …`."""
    settings = ", ".join(
        f"{key} {', '.join(value) if isinstance(value, list) else value}"
        for key, value in target.items()
        if key != "instance" and value not in (None, [])
    )
    via = f"route {route!r}" if route else "no route (the instance's own settings)"
    return f"{via} -> {target['instance']}: {settings}"


def queue_changes(action: str, changes: Sequence[Mapping[str, Any]], fmt: str = "table") -> None:
    """What `retry`, `skip` or `unskip` changed: each show's status before and after."""
    if fmt == "json":
        _json({"action": action, "changes": list(changes)})
        return
    if not changes:
        stdout.print(f"{action}: no show to change", highlight=False)
        return
    table = Table(title=action)
    for column in ("tvmaze_id", "title", "was", "now"):
        table.add_column(column)
    for change in changes:
        table.add_row(*_cells(change["tvmaze_id"], change["title"], change["old"], change["new"]))
    stdout.print(table)
