"""The `tvmaze-sync` command: parse options, call the core, render. Nothing else.

Exit codes: errors.ExitCode (its meanings print in `--help`).

Each command imports the core it calls in its own body: `--help`, `--version` and shell
completion (which runs the program on every TAB) then load only Typer, rich and the cheap
modules below (errors, logs, models, query).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape

from tvmaze_sync import __version__
from tvmaze_sync.cli.terminal import Terminal, printable_lines, write_stdout
from tvmaze_sync.core.errors import (
    ConfigError,
    DependencyError,
    ExitCode,
    LockHeld,
    TvmazeSyncError,
)
from tvmaze_sync.core.logs import configure_logging, redact
from tvmaze_sync.core.models import ProcessingStatus
from tvmaze_sync.storage.query import SORT_KEYS

if TYPE_CHECKING:
    from tvmaze_sync.core.config import Config

log = logging.getLogger(__name__)

EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{int(c)} {c.meaning}" for c in ExitCode) + "."

app = typer.Typer(
    name="tvmaze-sync",
    help="Mirror TVMaze into a local SQLite cache, filter it, and add the shows you want to "
    "Sonarr. Each command runs once and exits; schedule `sync` with cron or a systemd timer.\n\n"
    "Example: `tvmaze-sync --config ~/tvmaze.yaml sync --dry-run`. Shell completion: "
    "`tvmaze-sync --install-completion`.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print locals, which may hold secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Check or create the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
removals_app = typer.Typer()  # its help is removals_list's docstring
app.add_typer(removals_app, name="removals")
review_app = typer.Typer(
    help="The approval queue (sonarr.require_approval): list it, approve or deny shows.\n\n"
    "Without a subcommand, list the shows waiting, most popular first. Example: "
    "`tvmaze-sync review`, then `tvmaze-sync review approve 82 169`.",
    invoke_without_command=True,
)
app.add_typer(review_app, name="review")
notify_app = typer.Typer(help="Notifications (notify.urls).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")

stderr = Terminal(stderr=True, soft_wrap=True)


# Choices as Literal types: Typer offers their values, and mypy checks the logging ones
# against config.LoggingConfig.
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["json", "text"]
OutputFormat = Literal["table", "json"]
ListFormat = Literal["table", "json", "csv"]

#: Every command that reads or changes statuses acts on one Sonarr instance's cache.
Instance = Annotated[
    str,
    typer.Option(
        "--instance",
        "-i",
        help="This Sonarr instance's statuses (`instances`; default: the `sonarr` one).",
    ),
]


@dataclass
class Options:
    config_path: Path | None
    log_level: LogLevel | None
    log_format: LogFormat | None
    quiet: bool = False
    verbose: bool = False

    def load(self, default_level: LogLevel = "WARNING") -> Config:
        """Load the configuration and set up logging from it (flags win over the file).

        `default_level` applies when neither a flag nor `logging.level` names one: one-shot
        commands stay quiet (cron mails what they print), `serve` logs its cycles.
        Every command reads its configuration here, so every one refuses a filter value
        TVMaze never uses (decisions/vocabulary.py) and warns of one in the wrong filter.
        """
        from tvmaze_sync.core.config import load_config
        from tvmaze_sync.decisions.vocabulary import check_config

        config = load_config(self.config_path)
        config.logging.level = self.level(config.logging.level or default_level)
        if self.log_format:
            config.logging.format = self.log_format
        configure_logging(config.logging.level, config.logging.format, config.secrets())
        findings = check_config(config)
        for warning in findings.warnings:
            print_warning(warning)
        if findings.problems:
            raise ConfigError(findings.problems)
        return config

    def level(self, configured: LogLevel) -> LogLevel:
        if self.log_level:
            return self.log_level
        if self.quiet:
            return "ERROR"
        if self.verbose:
            return "DEBUG" if configured == "DEBUG" else "INFO"
        return configured


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tvmaze-sync {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file. Default: $TVMAZE_SYNC_CONFIG, else ./config.yaml, else "
            "config.yaml in the XDG config dir (~/.config/tvmaze-sync), else built-in defaults.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        LogLevel | None, typer.Option("--log-level", help="Override logging.level.")
    ] = None,
    log_format: Annotated[
        LogFormat | None, typer.Option("--log-format", help="Override logging.format.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", help="Print nothing on success: errors only (for cron)."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log progress and every show's outcome (INFO)."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options may stand before or after the command (`tvmaze-sync sync --quiet`)."""
    configure_logging(log_level or "WARNING", log_format or "text")
    ctx.obj = Options(config, log_level, log_format, quiet, verbose)


@contextmanager
def exit_on_error(debug: bool = False) -> Iterator[None]:
    """Turn expected errors into one redacted line on stderr and their exit code; Ctrl-C and
    a reader that closed our stdout too."""
    try:
        yield
    except TvmazeSyncError as error:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            log.debug("error_traceback", exc_info=True)
        print_error(str(error))
        raise typer.Exit(int(error.exit_code)) from None
    except KeyboardInterrupt:  # Typer would exit INTERRUPTED without a word
        stderr.print("interrupted", highlight=False)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:  # Typer would exit 1, the code of a failed cycle
        raise typer.Exit(_closed_pipe()) from None


def print_error(message: str, label: str = "error") -> None:
    """One redacted error line on stderr; the message is escaped, never read as rich markup."""
    text = escape(printable_lines(redact(message)))
    stderr.print(f"[bold red]{label}:[/] {text}", highlight=False)


def print_warnings(config: Config) -> None:
    """One line on stderr per setting that is valid but likely a mistake; exit code unchanged."""
    for warning in config.warnings():
        print_warning(warning)


def print_warning(message: str) -> None:
    text = escape(printable_lines(redact(message)))
    stderr.print(f"[bold yellow]warning:[/] {text}", highlight=False)


def options(ctx: typer.Context) -> Options:
    obj = ctx.find_root().obj
    assert isinstance(obj, Options)
    return obj


# --- sync ----------------------------------------------------------------------------------


@app.command()
def sync(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            "--preview",
            help="Write nothing to Sonarr and no decision to the cache (it still refreshes "
            "the TVMaze mirror); report what a real run would do.",
        ),
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            help="After the cycle (even a failed one), write its metrics to this file in "
            "node_exporter textfile format, atomically. Name it *.prom.",
            show_default=False,
        ),
    ] = None,
    pushgateway: Annotated[
        str | None,
        typer.Option(
            "--pushgateway",
            metavar="URL",
            help="After the cycle (even a failed one), push its metrics to this Prometheus "
            "Pushgateway (job tvmaze_sync). Basic auth: http://user@host:9091 with "
            "METRICS_PUSHGATEWAY_PASSWORD_FILE, or http://user:password@host:9091. A failed "
            "push is a warning on stderr; the exit code stays the cycle's.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run one cycle: TVMaze -> cache -> filters -> Sonarr, then exit.

    Example (crontab): `0 */6 * * * tvmaze-sync sync --metrics-file /var/lib/prom/tvmaze.prom`
    """
    from tvmaze_sync.cli import render
    from tvmaze_sync.core.context import CycleContext
    from tvmaze_sync.cycle import metrics
    from tvmaze_sync.cycle.run import run_cycle
    from tvmaze_sync.sonarr import removals

    with exit_on_error():
        config = options(ctx).load()
        print_warnings(config)
        metrics.check_export_targets(metrics_file, pushgateway)
        context = CycleContext(config=config, dry_run=dry_run, progress=sys.stderr.isatty())
        export = functools.partial(
            metrics.export, config, metrics_file=metrics_file, pushgateway=pushgateway
        )
        try:
            summary = run_cycle(context)
        except LockHeld:
            raise  # the run holding the lock exports its own cycle
        except BaseException:
            export(cycle_ok=False)
            raise
        export(cycle_ok=True)
        if not options(ctx).quiet:
            render.cycle_summary(summary, fmt=config.logging.format)
        removals.check(summary, config)  # exit 4 while any is held


# --- state ---------------------------------------------------------------------------------


@app.command()
def state(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
) -> None:
    """Show the sync state and how many shows are in each processing status.

    Example: `tvmaze-sync state --format json`
    """
    from tvmaze_sync.cli import render
    from tvmaze_sync.storage.state import read_state

    with exit_on_error():
        config = options(ctx).load()
        others = list(config.instances)
        data = read_state(config.storage_dir, others) if others else read_state(config.storage_dir)
        if fmt == "json":
            write_stdout(json.dumps(data, indent=2, sort_keys=True) + "\n")
        else:
            render.state_table(data)


# --- serve ---------------------------------------------------------------------------------


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run as a service until SIGTERM: a cycle every sync.poll_interval (the first at start)
    and HTTP endpoints on server.host:server.port.

    GET /health /ready /metrics /state /shows /sonarr/list; POST /trigger /refilter (a bearer
    token when server.token is set, else loopback clients only). /shows takes status, reason,
    country, language, limit and offset, checked as `shows` checks its options.
    Example (container): `SERVER_HOST=0.0.0.0 tvmaze-sync serve`
    """
    from tvmaze_sync.serve import endpoints

    with exit_on_error():
        config = options(ctx).load(default_level="INFO")
        endpoints.serve(config)


# --- shows ---------------------------------------------------------------------------------


@app.command()
def shows(
    ctx: typer.Context,
    status: Annotated[
        ProcessingStatus | None, typer.Option("--status", "-s", help="Only this processing status.")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            "-r",
            help="Only shows failing this rule (language_not_included) or with this exact "
            "reason (genre_excluded:Reality).",
        ),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Title contains this (any case).")
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="Country code (GB and UK are the same).")
    ] = None,
    language: Annotated[str | None, typer.Option("--language", help="Language, any case.")] = None,
    network: Annotated[
        str | None, typer.Option("--network", help="Network or web channel name, any case.")
    ] = None,
    premiered_after: Annotated[
        str | None,
        typer.Option("--premiered-after", metavar="YYYY-MM-DD", help="Premiered on or after."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1_000_000, help="At most this many.")
    ] = 50,
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help=f"One of {', '.join(SORT_KEYS)}; add :desc to reverse (title:desc).",
        ),
    ] = "id",
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """List cached shows. Example: `tvmaze-sync shows -r language_not_included -q tokyo`.

    The table shows a few columns; JSON and CSV carry every column, as GET /shows does.
    """
    from tvmaze_sync.cli import render
    from tvmaze_sync.core.errors import UsageError
    from tvmaze_sync.decisions import vocabulary
    from tvmaze_sync.storage import instances, query

    with exit_on_error():
        config = options(ctx).load()
        mirror = vocabulary.Mirror(config.storage_dir)
        problems = vocabulary.check_listing(country, language, reason, mirror)
        if problems:
            raise UsageError("; ".join(problems))
        wanted = query.ShowQuery(
            status=status,
            reason=reason,
            search=search,
            country=country,
            language=language,
            network=network,
            premiered_after=premiered_after,
            limit=limit,
            sort=sort,
        )
        check_instance(config, instance)
        with instances.opened(config.storage_dir, instance, readonly=True) as store:
            rows = query.query_shows(store, wanted)
            columns = query.listed_columns(store)
            total = query.count_shows(store, wanted) if fmt == "table" else None
        render.shows(rows, columns, fmt=fmt, total=total)


def check_instance(config: Config, name: str) -> None:
    """`--instance`: a name the configuration knows, else exit 2 with the nearest."""
    import difflib

    from tvmaze_sync.core.errors import UsageError

    known = config.instance_names
    if name not in known:
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        guess = f"; did you mean {hint[0]!r}?" if hint else ""
        raise UsageError(
            f"--instance {name!r} is not a configured instance{guess} ({', '.join(known)})"
        )


@app.command()
def refilter(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; write nothing.")
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
) -> None:
    """Re-decide every filtered or unsent show against the current filters, offline.

    Shows that now pass are queued for Sonarr; shows already in Sonarr are never touched.
    `sync` does this by itself when the filters change. Example: `tvmaze-sync refilter --dry-run`
    """
    from tvmaze_sync.cli import render
    from tvmaze_sync.decisions import filters

    with exit_on_error():
        config = options(ctx).load()
        report = filters.run_refilter(config, dry_run=dry_run)
        render.refilter_report(report.to_json(), dry_run=dry_run, fmt=fmt)


@app.command()
def explain(
    ctx: typer.Context,
    show: Annotated[str, typer.Argument(help="TVMaze id, or (part of) a title.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
) -> None:
    """Why a show is (not) wanted: every filter rule, the show's value, pass or fail.

    Example: `tvmaze-sync explain "Under the Dome"`
    """
    from tvmaze_sync.cli import render
    from tvmaze_sync.cycle.explain import explain as explained

    with exit_on_error():
        explanation = explained(options(ctx).load(), show)
        render.explanation(explanation.to_json(), fmt=fmt)


# --- the queues: retry, skip, unskip ---------------------------------------------------------

ShowIds = Annotated[
    list[int] | None,
    typer.Argument(metavar="ID", help="TVMaze ids (see `tvmaze-sync shows`).", show_default=False),
]
RetryStatus = Literal["failed", "pending_tvdb"]


def _queue_action(
    ctx: typer.Context,
    action: str,
    ids: list[int] | None,
    fmt: OutputFormat,
    status: RetryStatus | None = None,
    instance: str = "default",
) -> None:
    """Run one queue action under the writer lock and print what changed."""
    from tvmaze_sync.cli import render
    from tvmaze_sync.core.errors import UsageError
    from tvmaze_sync.sonarr import queues

    with exit_on_error():
        config = options(ctx).load()
        if ids and status is not None:
            raise UsageError(f"{action}: name TVMaze ids or --status, not both")
        if not ids and status is None:
            either = " (or --status failed)" if action == "retry" else ""
            raise UsageError(f"{action}: name at least one TVMaze id{either}")
        check_instance(config, instance)
        changes = queues.apply_action(
            config,
            queues.Action(action),
            list(ids or []),
            ProcessingStatus(status) if status else None,
            instance=instance,
        )
        render.queue_changes(action, [c.to_json() for c in changes], fmt=fmt)


@app.command()
def retry(
    ctx: typer.Context,
    ids: ShowIds = None,
    status: Annotated[
        RetryStatus | None,
        typer.Option("--status", "-s", help="Every show of this status instead of ids."),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """Put failed or pending_tvdb shows back in the queue now, with fresh retries.

    They go through today's filters, and the next sync adds them (within
    sonarr.max_adds_per_cycle). Example: `tvmaze-sync retry --status failed`
    """
    _queue_action(ctx, "retry", ids, fmt, status, instance)


@app.command()
def skip(
    ctx: typer.Context,
    ids: ShowIds = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """Never add these shows, whatever the filters say (kept through refilter and rescans).

    Example: `tvmaze-sync skip 1371 82`
    """
    _queue_action(ctx, "skip", ids, fmt, instance=instance)


@app.command()
def unskip(
    ctx: typer.Context,
    ids: ShowIds = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """Lift `skip`: today's filters decide these shows again. Example: `tvmaze-sync unskip 1371`"""
    _queue_action(ctx, "unskip", ids, fmt, instance=instance)


# --- removals ------------------------------------------------------------------------------

TvdbIds = Annotated[
    list[int] | None,
    typer.Argument(
        help="TheTVDB ids of held series (default: every held series).",
        min=1,
        metavar="TVDB_ID",
        show_default=False,
    ),
]


@removals_app.callback(invoke_without_command=True)
def removals_list(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """Series that vanished from Sonarr all at once: list them, then accept or readd them.

    When more than sonarr.max_removals series tvmaze-sync added are missing from one library
    read (or the library is empty), that looks like a new, reset or restored Sonarr, so none
    is concluded deleted: they are held, neither removed_by_user nor added again, and `sync`
    exits 4 until you decide. Without a command, lists them (exit 0, held or not).
    Example: `tvmaze-sync removals --format json`
    """
    if ctx.invoked_subcommand is not None:
        return
    from tvmaze_sync.cli import render
    from tvmaze_sync.sonarr import removals

    with exit_on_error():
        config = options(ctx).load()
        check_instance(config, instance)
        render.removals_held(removals.held(config.storage_dir, instance), fmt=fmt)


@removals_app.command("accept")
def removals_accept(
    ctx: typer.Context,
    tvdb_ids: TvdbIds = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """You deleted them: conclude the held series removed by you.

    They become removed_by_user and sonarr.on_user_removal applies as for any deletion (with
    exclude_in_sonarr the next sync posts their exclusions). Example:
    `tvmaze-sync removals accept 81189 264492`
    """
    _settle_removals(ctx, "accept", tvdb_ids, fmt, instance)


@removals_app.command("readd")
def removals_readd(
    ctx: typer.Context,
    tvdb_ids: TvdbIds = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """They were lost with a replaced or reset Sonarr: add the held series again.

    The next sync adds each one today's filters pass (no longer counted as added by
    tvmaze-sync until then). Example: `tvmaze-sync removals readd`
    """
    _settle_removals(ctx, "readd", tvdb_ids, fmt, instance)


def _settle_removals(
    ctx: typer.Context,
    action: Literal["accept", "readd"],
    ids: list[int] | None,
    fmt: str,
    instance: str = "default",
) -> None:
    from tvmaze_sync.cli import render
    from tvmaze_sync.sonarr import removals

    with exit_on_error():
        config = options(ctx).load()
        check_instance(config, instance)
        settled = removals.settle(config, action, ids or (), instance=instance)
        on_removal = config.instance(instance).on_user_removal
        render.removals_settled(action, settled, on_removal, fmt=fmt)


# --- review --------------------------------------------------------------------------------


@review_app.callback()
def review_list(
    ctx: typer.Context,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
    instance: Instance = "default",
) -> None:
    """List the shows waiting for review, most popular (TVMaze weight) first."""
    if ctx.invoked_subcommand is not None:
        return
    from tvmaze_sync.cli import render
    from tvmaze_sync.sonarr import review
    from tvmaze_sync.storage import instances

    with exit_on_error():
        config = options(ctx).load()
        check_instance(config, instance)
        with instances.opened(config.storage_dir, instance, readonly=True) as store:
            rows = review.list_queue(store)
        enabled = config.instance(instance).require_approval
        render.review_queue(rows, fmt=fmt, enabled=enabled)


ReviewIds = Annotated[
    list[int] | None, typer.Argument(help="TVMaze ids of shows waiting for review.")
]
ReviewAll = Annotated[bool, typer.Option("--all", help="The whole queue.")]


def _review(
    ctx: typer.Context, action: str, ids: list[int] | None, everything: bool, instance: str
) -> None:
    from tvmaze_sync.cli import render
    from tvmaze_sync.sonarr import review

    with exit_on_error():
        config = options(ctx).load()
        check_instance(config, instance)
        decision = review.decide(
            config, action, ids or [], everything=everything, instance=instance
        )
        render.review_decision(decision.to_json())


@review_app.command("approve")
def review_approve(
    ctx: typer.Context,
    ids: ReviewIds = None,
    everything: ReviewAll = False,
    instance: Instance = "default",
) -> None:
    """Approve shows: the next sync adds them (lookup, exclusions, library check as always).

    Example: `tvmaze-sync review approve 82 169`
    """
    _review(ctx, "approve", ids, everything, instance)


@review_app.command("deny")
def review_deny(
    ctx: typer.Context,
    ids: ReviewIds = None,
    everything: ReviewAll = False,
    instance: Instance = "default",
) -> None:
    """Deny shows: they become `skipped`, never added, kept through refilter and rescans.

    Example: `tvmaze-sync review deny --all`
    """
    _review(ctx, "deny", ids, everything, instance)


# --- notify --------------------------------------------------------------------------------


@notify_app.command("test")
def notify_test(ctx: typer.Context) -> None:
    """Send one test message to every notify.urls entry; exit 3 if any cannot be delivered.

    Example: `NOTIFY_URLS=ntfys://my-topic tvmaze-sync notify test`
    """
    from tvmaze_sync.core.errors import UsageError
    from tvmaze_sync.cycle import notify

    with exit_on_error():
        config = options(ctx).load()
        if not config.notify.urls:
            raise UsageError("notify.urls is empty (env NOTIFY_URLS): nothing to test")
        results = notify.send_test(config)
        for result in results:
            state = "delivered" if result.ok else f"FAILED: {result.error}"
            write_stdout(f"{result.name}: {state}\n")
        failed = [r.name for r in results if not r.ok]
        if failed:
            raise DependencyError(f"{len(failed)} of {len(results)} notification URLs failed")


# --- config --------------------------------------------------------------------------------


@config_app.command("check")
def config_check(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = "table",
) -> None:
    """Validate the configuration offline and print it resolved, secrets as ***.

    Every problem is listed at once; exit 2 if there is any. Example:
    `SONARR_URL=http://sonarr:8989 tvmaze-sync --config config.yaml config check`
    """
    from tvmaze_sync.cli import render

    with exit_on_error():
        config = options(ctx).load()
        print_warnings(config)
        resolved = config.to_dict(redact=True)
        source = str(config.source) if config.source else "built-in defaults"
        if fmt == "json":
            write_stdout(json.dumps({"source": source, "config": resolved}, indent=2) + "\n")
        else:
            render.config(resolved, source)


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path("config.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config.yaml with every option at its default.

    Example: `tvmaze-sync config init ~/.config/tvmaze-sync/config.yaml`
    """
    from tvmaze_sync.core.config import starter_yaml

    if path.exists() and not force:
        print_error(f"{path} exists; use --force to overwrite")
        raise typer.Exit(int(ExitCode.USAGE))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_yaml(), encoding="utf-8")
    except OSError as error:
        print_error(f"cannot write {path}: {error.strerror}")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    stderr.print(f"wrote {escape(str(path))}", highlight=False)


# --- healthcheck ---------------------------------------------------------------------------


@app.command()
def healthcheck(
    ctx: typer.Context,
    ready: Annotated[
        bool,
        typer.Option("--ready", help="Probe /ready (database and Sonarr) instead of /health."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the answer.")
    ] = 5.0,
) -> None:
    """Exit 0 if the local `serve` answers GET /health with 200, else 3.

    For container health checks (the slim image has no curl); it asks server.host:server.port.
    Docker counts any non-zero exit as unhealthy, so it needs no `|| exit 1` (nor a shell).

    Example (Dockerfile, exec form): `tvmaze-sync healthcheck --timeout 5`
    """
    with exit_on_error():
        config = options(ctx).load()
        url = local_url(config.server.host, config.server.port, "/ready" if ready else "/health")
        probe(url, timeout)


def local_url(host: str, port: int, path: str) -> str:
    """The URL a process on the same machine uses to reach a server bound to `host`."""
    wildcard = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
    host = wildcard.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


#: The most of an answer's body the probe reads: it wants the status, not the body.
PROBE_BODY_MAX = 64 * 1024


def probe(url: str, timeout: float) -> None:
    """Raise DependencyError unless `url` answers 2xx within `timeout` seconds in all.

    `timeout` is a deadline for the whole probe, not for each read: a peer trickling one
    byte at a time cannot keep it waiting (the probe runs in a daemon thread, abandoned at
    the deadline). Standard library only (it must stay cheap to start), never a proxy (a
    plain http.client connection), never a redirect (a 3xx is unhealthy: the local server
    never sends one), and a body over PROBE_BODY_MAX bytes is unhealthy, never read whole.
    """
    import threading

    outcome: list[DependencyError | None] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_probe_once(url, timeout)), name="probe", daemon=True
    )
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise DependencyError(f"{url} is not answering: no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def _probe_once(url: str, timeout: float) -> DependencyError | None:
    """One GET of `url`: None when it answered 2xx, else the error to report."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read(PROBE_BODY_MAX + 1)
        status = response.status
    except (http.client.HTTPException, OSError, ValueError) as error:
        return DependencyError(f"{url} is not answering: {error or type(error).__name__}")
    finally:
        connection.close()
    if len(body) > PROBE_BODY_MAX:
        return DependencyError(f"{url} answered over {PROBE_BODY_MAX} bytes: not tvmaze-sync")
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return DependencyError(f"{url} answered HTTP {status}, a redirect (never followed)")
    return DependencyError(f"{url} answered HTTP {status}")


#: Options of the root command, accepted after the subcommand too: name -> takes a value.
GLOBAL_OPTIONS = {
    "--config": True,
    "-c": True,
    "--log-level": True,
    "--log-format": True,
    "--quiet": False,
    "--verbose": False,
    "-v": False,
}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the subcommand in front of it, so that
    `tvmaze-sync sync --log-level DEBUG` means what it says (click only reads a group's
    options before its subcommand). Anything after `--` is left alone."""
    front: list[str] = []
    rest = iter(args)
    for arg in rest:
        if not arg.startswith("-"):  # the subcommand
            break
        front.append(arg)
        if GLOBAL_OPTIONS.get(arg):  # `--config PATH`: its value is not the subcommand
            front.append(next(rest, ""))
    else:
        return args
    tail, hoisted = [arg], []
    for arg in rest:
        if arg == "--":
            tail.extend([arg, *rest])
            break
        name = arg.split("=", 1)[0]
        if name not in GLOBAL_OPTIONS:
            tail.append(arg)
            continue
        hoisted.append(arg)
        if GLOBAL_OPTIONS[name] and "=" not in arg:
            hoisted.append(next(rest, ""))
    return front + hoisted + tail


def _hide_flag_types() -> None:
    """Typer labels on/off flags `<bool>` in `--help`, as if they took a value; they do not."""
    display = typer.core.TyperOption.display_type_rich

    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else display(self, ctx)

    typer.core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign,assignment]


_hide_flag_types()


def main() -> None:
    """Console-script entry: map anything that escaped the commands to an exit code.

    Every file this process creates is private to its user (umask 077): the database, the
    state, the lock, the HTTP cache and the -wal/-shm files SQLite makes beside them, with
    no file-opening code having to remember it.
    """
    os.umask(0o077)
    command = typer.main.get_command(app)
    try:
        code = command.main(
            args=hoist_global_options(sys.argv[1:]),
            prog_name="tvmaze-sync",
            standalone_mode=False,
        )
    except typer.Exit as exit_:
        code = exit_.exit_code
    except typer.TyperException as error:
        # Typer vendors its own click: usage errors are its exceptions, not click's.
        show = getattr(error, "show", None)
        if show is not None:
            show()
        else:
            stderr.print(f"error: {error.format_message()}", highlight=False, markup=False)
        code = getattr(error, "exit_code", ExitCode.USAGE)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("interrupted", highlight=False)
        code = ExitCode.INTERRUPTED
    except TvmazeSyncError as error:
        print_error(str(error))
        code = error.exit_code
    except Exception as error:  # a bug: say so in one line, traceback only at DEBUG
        log.debug("unexpected_error", exc_info=True)
        print_error(
            f"{type(error).__name__}: {error} (run with --log-level DEBUG for the traceback)",
            label="unexpected error",
        )
        code = ExitCode.CYCLE_FAILED
    sys.exit(int(code) if isinstance(code, int) else ExitCode.OK)


def _closed_pipe() -> int:
    """`tvmaze-sync shows | head`: the reader has what it wanted. Exit 0, and point stdout at
    /dev/null so the interpreter's final flush does not fail a second time."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return ExitCode.OK
