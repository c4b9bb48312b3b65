"""Prometheus metrics, read from the store and the state file at scrape time.

A cron `sync` is a short process, so nothing is kept in memory between runs: every value is
read from what `shows.db` (statuses, lifetime counters) and `state.json` (the last cycle)
hold when the registry is collected. A cron run exporting through `--metrics-file` or
`--pushgateway` and a long-running `serve` answering `/metrics` therefore report the same
numbers for the same storage directory.

Two values are not stored facts and come from the process instead:
- `tvmaze_sync_next_run_timestamp_seconds`: only `serve` knows its schedule. A cron run leaves the
  metric without a sample (the schedule lives in the crontab, which we cannot see; a guess
  from `sync.poll_interval` would be wrong whenever cron uses another period).
- `tvmaze_sync_sonarr_healthy`: a live `GET /api/v3/system/status` (`probe_sonarr`); no sample
  when Sonarr is not configured, since "unreachable" would be a false alarm.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from prometheus_client import CollectorRegistry, generate_latest, push_to_gateway
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import Collector

from tvmaze_sync.core.config import DEFAULT_INSTANCE, Config, SonarrConfig, display_url
from tvmaze_sync.core.errors import ConfigError, StorageError
from tvmaze_sync.core.models import ProcessingStatus, StatusReason
from tvmaze_sync.core.timeutil import parse_iso
from tvmaze_sync.sonarr.gateway import SonarrGateway, SonarrRefused, SonarrUnavailable
from tvmaze_sync.storage import instances
from tvmaze_sync.storage.state import State, StateFile
from tvmaze_sync.storage.store import DB_NAME, Store
from tvmaze_sync.tvmaze.mapping import RECORDS_SKIPPED, SkipReason

log = logging.getLogger(__name__)

PUSH_JOB = "tvmaze_sync"
PUSH_TIMEOUT = 10.0


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric; the list below is the single source for the metrics reference."""

    name: str  # as scraped (counters end in _total)
    kind: Literal["gauge", "counter"]
    labels: tuple[str, ...]
    help: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "tvmaze_sync_last_run_timestamp_seconds",
        "gauge",
        (),
        "Unix time the last sync cycle finished (successfully or not; see healthy).",
    ),
    MetricSpec(
        "tvmaze_sync_last_run_duration_seconds",
        "gauge",
        (),
        "Duration of the last sync cycle, in seconds.",
    ),
    MetricSpec(
        "tvmaze_sync_next_run_timestamp_seconds",
        "gauge",
        (),
        "Unix time of the next scheduled cycle (serve only; no sample under cron).",
    ),
    MetricSpec(
        "tvmaze_sync_initial_complete",
        "gauge",
        (),
        "1 once the initial full sync of the TVMaze index has completed.",
    ),
    MetricSpec(
        "tvmaze_sync_healthy", "gauge", (), "1 if the last sync cycle completed successfully."
    ),
    MetricSpec("tvmaze_sync_shows", "gauge", ("status",), "Cached shows by processing status."),
    MetricSpec(
        "tvmaze_sync_shows_filtered",
        "gauge",
        ("reason",),
        "Filtered shows by the rule that first excluded them (rule only, no value).",
    ),
    MetricSpec("tvmaze_sync_shows_highest_id", "gauge", (), "Highest TVMaze id seen."),
    MetricSpec(
        "tvmaze_sync_shows_processed_total",
        "counter",
        ("result",),
        "Shows that reached each result, over the life of the cache.",
    ),
    MetricSpec(
        "tvmaze_sync_last_run_shows",
        "gauge",
        ("result",),
        "Shows that reached each result in the last cycle (with instances, over every instance).",
    ),
    MetricSpec(
        "tvmaze_sync_http_requests_total",
        "counter",
        ("service", "endpoint", "code"),
        "HTTP requests made to TVMaze and Sonarr (service), over the life of the cache.",
    ),
    MetricSpec(
        "tvmaze_sync_sonarr_healthy",
        "gauge",
        (),
        "1 if Sonarr answered GET /api/v3/system/status (no sample when not configured).",
    ),
    MetricSpec(
        "tvmaze_sync_shows_pending_retry",
        "gauge",
        ("reason",),
        "Shows waiting for a TVDB id Sonarr knows (pending_tvdb), by why: no_tvdb_id (TVMaze "
        "has none yet) or tvdb_not_in_sonarr (Sonarr's lookup found nothing).",
    ),
    MetricSpec(
        "tvmaze_sync_records_skipped_total",
        "counter",
        ("reason",),
        "TVMaze records not stored, over the life of the cache: shows with an unusable id "
        "(invalid_id) or updated (invalid_updated) or too large (oversized), /updates/shows "
        "entries (invalid_updates_entry); invalid_field counts shows stored with fields "
        "dropped to null.",
    ),
    MetricSpec(
        "tvmaze_sync_adds_waiting",
        "gauge",
        (),
        "Shows ready to add that sonarr.max_adds_per_cycle left for later cycles, in the last "
        "cycle (with instances, over every instance).",
    ),
    MetricSpec(
        "tvmaze_sync_removals_held",
        "gauge",
        (),
        "Series tvmaze-sync added that vanished from Sonarr with too many others at once, "
        "held until `tvmaze-sync removals accept` or `readd` (alert when above 0).",
    ),
    MetricSpec(
        "tvmaze_sync_notifications_sent_total",
        "counter",
        (),
        "Cycle notifications delivered, one per notify URL and message.",
    ),
    MetricSpec(
        "tvmaze_sync_notifications_failed_total",
        "counter",
        (),
        "Cycle notifications that could not be delivered (the cycle's outcome is unaffected; "
        "the notification_failed warning in the log names the URL by position and service).",
    ),
)

METRICS += (
    MetricSpec(
        "tvmaze_sync_instance_shows",
        "gauge",
        ("instance", "status"),
        "Shows by processing status per Sonarr instance (`instances`; default's are "
        "tvmaze_sync_shows).",
    ),
    MetricSpec(
        "tvmaze_sync_instance_healthy",
        "gauge",
        ("instance",),
        "1 if the instance's part of the last cycle succeeded (without `instances`: the "
        "cycle's, as tvmaze_sync_healthy).",
    ),
    MetricSpec(
        "tvmaze_sync_instance_removals_held",
        "gauge",
        ("instance",),
        "tvmaze_sync_removals_held per Sonarr instance (`instances`).",
    ),
)

SPECS = {spec.name: spec for spec in METRICS}

#: Reasons of `tvmaze_sync_shows_pending_retry`, always exported (0 when empty). Shows that failed
#: on a Sonarr outage stay `pending` and are simply retried next cycle: no retry queue.
RETRY_REASONS = (StatusReason.NO_TVDB_ID.value, StatusReason.TVDB_NOT_IN_SONARR.value)


# --- what the store and the state file hold -------------------------------------------------


@dataclass
class Snapshot:
    """Every stored fact the metrics need, read in one short read-only pass."""

    state: State = field(default_factory=State)
    by_status: dict[str, int] = field(default_factory=dict)
    filtered_by_rule: dict[str, int] = field(default_factory=dict)
    pending_retry: dict[str, int] = field(default_factory=dict)
    highest_id: int | None = None
    processed_lifetime: dict[str, int] = field(default_factory=dict)
    api_requests: dict[str, int] = field(default_factory=dict)
    records_skipped: dict[str, int] = field(default_factory=dict)
    removals_held: int = 0
    notifications_sent: dict[str, int] = field(default_factory=dict)
    notifications_failed: dict[str, int] = field(default_factory=dict)
    # Other instances (their own caches): name -> (statuses, removals held).
    instances: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict)


def read_snapshot(storage_dir: Path) -> Snapshot:
    """Read the metrics' facts without ever blocking a writer (read-only SQLite, WAL).

    A storage directory or database that does not exist yet reads as empty; an unreadable
    one is logged and reads as empty too, so a scrape still reports `healthy` and friends.
    """
    snap = Snapshot()
    if storage_dir.is_dir():
        try:
            snap.state = StateFile(storage_dir).load()
        except StorageError as error:
            log.warning("metrics_state_unreadable error=%s", error)
    if not (storage_dir / DB_NAME).exists():
        return snap
    try:
        with Store.opened(storage_dir, readonly=True) as store:
            _read_store(snap, store)
    except StorageError as error:
        log.warning("metrics_store_unreadable error=%s", error)
    try:
        others = instances.existing(storage_dir)
    except StorageError as error:
        log.warning("metrics_store_unreadable error=%s", error)
        others = []
    for name in others:
        try:
            with instances.opened(storage_dir, name, readonly=True) as other:
                snap.instances[name] = (other.count_by_status(), len(other.held_removals()))
        except StorageError as error:
            log.warning("metrics_store_unreadable instance=%s error=%s", name, error)
    return snap


def _read_store(snap: Snapshot, store: Store) -> None:
    """Fill `snap` from the cache; one failure leaves the rest unread."""
    snap.by_status = store.count_by_status()
    snap.highest_id = store.highest_id()
    snap.filtered_by_rule = store.filtered_by_rule()
    snap.pending_retry = store.pending_tvdb_reasons()
    snap.processed_lifetime = store.counters("shows_processed")
    snap.api_requests = store.counters("api_requests")
    snap.records_skipped = store.counters(RECORDS_SKIPPED)
    snap.removals_held = len(store.held_removals())
    snap.notifications_sent = store.counters("notifications_sent")
    snap.notifications_failed = store.counters("notifications_failed")


# --- the collector --------------------------------------------------------------------------


def _gauge(name: str, value: float | None = None) -> GaugeMetricFamily:
    spec = SPECS[name]
    if spec.labels:
        return GaugeMetricFamily(name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, value=value)


def _counter(name: str) -> CounterMetricFamily:
    spec = SPECS[name]
    return CounterMetricFamily(name, spec.help, labels=spec.labels)


def _by_status(counts: dict[str, int]) -> dict[str, int]:
    """Every status present (0 when absent), so rate() and alerts see each series from the start."""
    out = {status.value: 0 for status in ProcessingStatus}
    for key, value in counts.items():
        out[str(key)] = int(value)
    return out


class SyncCollector(Collector):
    """Reads a fresh `Snapshot` on every collect; safe to call from many threads at once.

    `next_run` and `sonarr_healthy` are the process-held values (see the module docstring);
    `healthy_override` lets a cron run that failed before it could record its cycle (for
    example, an unwritable storage path) still export `healthy 0`.
    """

    def __init__(
        self,
        storage_dir: Path,
        *,
        next_run: Callable[[], float | None] | None = None,
        sonarr_healthy: Callable[[], bool | None] | None = None,
        healthy_override: bool | None = None,
        instance_names: Collection[str] | None = None,
    ) -> None:
        self.storage_dir = storage_dir
        self.instance_names = instance_names
        self.next_run = next_run or (lambda: None)
        self.sonarr_healthy = sonarr_healthy or (lambda: None)
        self.healthy_override = healthy_override

    def collect(self) -> Iterator[Metric]:
        snap = read_snapshot(self.storage_dir)
        state = snap.state
        last = state.last_cycle or {}

        finished = _timestamp(last.get("finished_at"))
        yield _gauge("tvmaze_sync_last_run_timestamp_seconds", finished)
        duration = last.get("duration_seconds")
        yield _gauge(
            "tvmaze_sync_last_run_duration_seconds",
            float(duration) if isinstance(duration, (int, float)) else None,
        )
        yield _gauge("tvmaze_sync_next_run_timestamp_seconds", self.next_run())
        yield _gauge("tvmaze_sync_initial_complete", 1.0 if state.initial_sync_complete else 0.0)
        healthy: bool | None = bool(last.get("ok")) if last else None
        if self.healthy_override is not None:
            healthy = self.healthy_override
        yield _gauge("tvmaze_sync_healthy", None if healthy is None else float(healthy))

        family = _gauge("tvmaze_sync_shows")
        for status, count in _by_status(snap.by_status).items():
            family.add_metric([status], count)
        yield family

        family = _gauge("tvmaze_sync_shows_filtered")
        for rule, count in sorted(snap.filtered_by_rule.items()):
            family.add_metric([str(rule)], count)
        yield family

        highest = max(
            (v for v in (snap.highest_id, state.highest_tvmaze_id) if v is not None), default=0
        )
        yield _gauge("tvmaze_sync_shows_highest_id", highest)

        counter = _counter("tvmaze_sync_shows_processed_total")
        for result, count in _by_status(snap.processed_lifetime).items():
            counter.add_metric([result], count)
        yield counter

        family = _gauge("tvmaze_sync_last_run_shows")
        results = last.get("results") if isinstance(last.get("results"), dict) else {}
        for result, count in _by_status(results or {}).items():
            family.add_metric([result], count)
        yield family

        counter = _counter("tvmaze_sync_http_requests_total")
        for key, count in sorted(snap.api_requests.items()):
            counter.add_metric(split_request_key(key), count)
        yield counter

        sonarr = self.sonarr_healthy()
        yield _gauge("tvmaze_sync_sonarr_healthy", None if sonarr is None else float(sonarr))

        family = _gauge("tvmaze_sync_shows_pending_retry")
        for reason, count in {**dict.fromkeys(RETRY_REASONS, 0), **snap.pending_retry}.items():
            family.add_metric([str(reason)], count)
        yield family

        counter = _counter("tvmaze_sync_records_skipped_total")
        skipped = {**{reason.value: 0 for reason in SkipReason}, **snap.records_skipped}
        for reason, count in skipped.items():
            counter.add_metric([str(reason)], count)
        yield counter
        waiting = last.get("adds_waiting")
        yield _gauge(
            "tvmaze_sync_adds_waiting",
            float(waiting) if isinstance(waiting, int) and not isinstance(waiting, bool) else 0.0,
        )
        yield _gauge("tvmaze_sync_removals_held", snap.removals_held)
        for name, counts in (
            ("tvmaze_sync_notifications_sent_total", snap.notifications_sent),
            ("tvmaze_sync_notifications_failed_total", snap.notifications_failed),
        ):
            yield CounterMetricFamily(name, SPECS[name].help, value=sum(counts.values()))
        yield from _instance_metrics(snap, last, self.instance_names)


def _instance_metrics(
    snap: Snapshot, last: dict[str, Any], configured: Collection[str] | None
) -> Iterator[Metric]:
    """The per-instance families, labelled `instance`: `default` (the main cache) always,
    each other instance once it has a cache.

    The label's values never come from state.json alone (storage is untrusted: a planted
    `last_cycle.instances` with a million names would be a million series): only the
    configured instances, or without a configuration at hand `default` and the instances
    with a cache (folder names checked against INSTANCE_NAME), may be one."""
    known = set(configured) if configured is not None else {DEFAULT_INSTANCE, *snap.instances}
    every = {DEFAULT_INSTANCE: (snap.by_status, snap.removals_held), **snap.instances}
    shows = _gauge("tvmaze_sync_instance_shows")
    held = _gauge("tvmaze_sync_instance_removals_held")
    for name, (counts, removals) in every.items():
        for status, count in _by_status(counts).items():
            shows.add_metric([name, status], count)
        held.add_metric([name], removals)
    healthy = _gauge("tvmaze_sync_instance_healthy")
    outcomes = last.get("instances") if isinstance(last.get("instances"), dict) else None
    if not outcomes and last:  # one instance: its outcome is the cycle's
        outcomes = {DEFAULT_INSTANCE: {"ok": last.get("ok")}}
    for name, outcome in sorted((outcomes or {}).items()):
        if name in known and isinstance(outcome, dict):
            healthy.add_metric([str(name)], 1.0 if outcome.get("ok") else 0.0)
    yield from (shows, healthy, held)


def split_request_key(key: str) -> list[str]:
    """Split "tvmaze:page:200" into service, endpoint, code ("unknown" fills gaps)."""
    parts = key.split(":", 2)
    return parts + ["unknown"] * (3 - len(parts))


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def build_registry(storage_dir: Path, **collector_options: object) -> CollectorRegistry:
    """A registry holding only our collector (no process/platform metrics: a cron run's
    would describe a process that has already exited)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector(storage_dir, **collector_options))  # type: ignore[arg-type]
    return registry


# --- cron-mode export -----------------------------------------------------------------------


def check_export_targets(metrics_file: Path | None, pushgateway: str | None) -> None:
    """Refuse unusable targets before the cycle runs, so a typo is exit 2, not a lost export."""
    problems: list[str] = []
    if metrics_file is not None:
        parent = metrics_file.parent
        if not parent.is_dir():
            problems.append(f"--metrics-file: directory {parent} does not exist")
        elif metrics_file.is_dir():
            problems.append(f"--metrics-file: {metrics_file} is a directory")
        elif _not_a_file(metrics_file):
            problems.append(_not_a_file_problem(metrics_file))
    if pushgateway is not None:
        parts = urlsplit(pushgateway)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(
                f"--pushgateway: {display_url(pushgateway)!r} is not an http:// or https:// URL"
            )
    if problems:
        raise ConfigError(problems)


def _not_a_file(path: Path) -> bool:
    """Whether something that is not a regular file (a device, FIFO or socket, also behind
    a link) is at `path`: replacing it with our file would break the host (`/dev/null`)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _not_a_file_problem(path: Path) -> str:
    return (
        f"--metrics-file: {path} exists and is not a regular file (a device, pipe or socket)"
        "; tvmaze-sync would replace it: name a *.prom file in node_exporter's textfile "
        "directory, or leave the option out"
    )


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """Write the node_exporter textfile atomically, readable by everyone (0644).

    Like prometheus_client's write_to_textfile (a temporary file, then a rename), but the
    file is 0644 whatever the process umask (077, cli.main): node_exporter runs as another
    user, and the file holds counts and timestamps, never a secret. The target is checked
    again here, as the cycle may have run for hours since check_export_targets.
    """
    if _not_a_file(path):
        raise ValueError(_not_a_file_problem(path))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with open(os.open(tmp, flags, 0o644), "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(generate_latest(registry))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export(
    config: Config,
    *,
    metrics_file: Path | None = None,
    pushgateway: str | None = None,
    cycle_ok: bool | None = None,
) -> None:
    """Write the textfile and/or push, after a cycle. Never raises: a failed export is a
    warning, because the cycle's own outcome decides the exit code."""
    if metrics_file is None and pushgateway is None:
        return
    probe = probe_sonarr(config.sonarr)
    registry = build_registry(
        config.storage_dir,
        sonarr_healthy=lambda: None if probe is None else probe.ok,
        healthy_override=None if cycle_ok is None or cycle_ok else False,
        instance_names=config.instance_names,
    )
    if metrics_file is not None:
        try:
            write_textfile(metrics_file, registry)
            log.info("metrics_written path=%s", metrics_file)
        except ValueError as error:  # something not a file appeared there during the cycle
            log.warning("metrics_write_failed path=%s error=%s", metrics_file, error)
        except OSError as error:
            log.warning("metrics_write_failed path=%s error=%s", metrics_file, error.strerror)
    if pushgateway is not None:
        push(pushgateway, registry, password=config.metrics.pushgateway_password)


def push(url: str, registry: CollectorRegistry, *, password: str | None = None) -> bool:
    """PUT the registry to a Pushgateway; False (and one warning line) when it did not land.

    Credentials never travel in the URL handed to urllib (it would take `user:pw@host` for a
    host name and fail on DNS): `http://user:pw@host:9091` becomes basic auth on
    `http://host:9091`, and `metrics.pushgateway_password` (METRICS_PUSHGATEWAY_PASSWORD_FILE)
    wins over a password in the URL, so the secret need not sit in a command line.
    """
    gateway = display_url(url)
    parts = urlsplit(url)
    username = unquote(parts.username) if parts.username is not None else None
    password = password or (unquote(parts.password) if parts.password is not None else None)
    handler = default_handler
    if username is not None or password is not None:
        handler = functools.partial(_basic_auth, username=username or "", password=password or "")
    try:
        push_to_gateway(
            gateway, job=PUSH_JOB, registry=registry, timeout=PUSH_TIMEOUT, handler=handler
        )
    except Exception as error:  # urllib raises many types; none may fail the cycle
        log.warning("metrics_push_failed gateway=%s error=%s", gateway, _push_error(error))
        return False
    log.info("metrics_pushed gateway=%s", gateway)
    return True


def _basic_auth(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    *,
    username: str,
    password: str,
) -> Callable[[], None]:
    return basic_auth_handler(url, method, timeout, headers, data, username, password)


def _push_error(error: Exception) -> str:
    """One line saying why a push failed, without a URL (that could hold credentials)."""
    if isinstance(error, HTTPError):
        refused = error.code in (401, 403)
        hint = " (check the URL's user and metrics.pushgateway_password)" if refused else ""
        return f"'HTTP {error.code} {error.reason}{hint}'"
    if isinstance(error, URLError):
        return repr(display_url(str(error.reason)))
    return repr(display_url(f"{type(error).__name__}: {error}"))


# --- Sonarr reachability --------------------------------------------------------------------


@dataclass(frozen=True)
class SonarrProbe:
    ok: bool
    version: str | None = None
    reason: str | None = None  # why not ok, one line, never holding the API key
    refused: bool = False  # Sonarr answered but refused the key: waiting will not help


def probe_sonarr(config: SonarrConfig) -> SonarrProbe | None:
    """One cheap `GET /api/v3/system/status` with the configured key and timeout.

    None when Sonarr is not configured. The full validation (profiles, folders, tags) is the
    cycle's job; this only answers "does Sonarr answer us right now", for /ready and
    `tvmaze_sync_sonarr_healthy`. It goes through the cycle's gateway (one try, no backoff), so
    it never follows a redirect: the API key goes to sonarr.url's host and nowhere else.
    """
    if config.url is None or not config.api_key:
        return None
    try:
        with SonarrGateway(config) as gateway:
            gateway.attempts = 1
            status = gateway.get("system/status", gateway.client.system.get_status)
    except SonarrRefused:
        return SonarrProbe(
            False, reason="Sonarr refused the API key (check sonarr.api_key)", refused=True
        )
    except ConfigError as error:  # a redirect, or a URL that is not Sonarr's API
        return SonarrProbe(False, reason="; ".join(error.problems))
    except SonarrUnavailable as error:
        return SonarrProbe(False, reason=str(error))
    except Exception as error:  # a probe answers /ready; it must never take serve down
        return SonarrProbe(False, reason=f"Sonarr answered with an error ({type(error).__name__})")
    version = status.get("version") if isinstance(status, dict) else None
    return SonarrProbe(True, version=str(version) if version else None)
