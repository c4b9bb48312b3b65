"""Notifications: one message per sync cycle that did something, sent through Apprise.

`notify.urls` lists Apprise URLs (Discord, Telegram, ntfy, Gotify, e-mail, a JSON webhook and
about a hundred more); `notify.on` chooses what is news: `added` (titles with TVMaze links),
`review` (shows that newly wait for approval, with the queue's size), `removals` (removals
newly held by the removal guard), `failure` (the exit code and its cause). A cycle with none
of those sends nothing; a queue that merely still waits is not news.

Like Sonarr's own notifications, delivery never decides a cycle's outcome: a message that
cannot be delivered is a warning and `tvmaze_sync_notifications_failed_total`, and the cycle
keeps its exit code. Each URL is tried once (no queue, no retry): a message lost to an outage
is not worth delaying the next cron run for. A URL is a secret (it holds its service's
token), so logs name it only by position and scheme, `notify.urls[0] (discord://)`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from tvmaze_sync.core.config import Config, apprise_server, masked_secret_url
from tvmaze_sync.core.errors import StorageError
from tvmaze_sync.core.logs import redact
from tvmaze_sync.core.models import CycleSummary
from tvmaze_sync.sonarr.review import tvmaze_url
from tvmaze_sync.storage import sqlitefile
from tvmaze_sync.storage.store import DB_NAME, Store

log = logging.getLogger(__name__)

#: Titles listed per section of a message; the rest are "and N more".
TITLES_SHOWN = 10
APP = "tvmaze-sync"


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # an Apprise NotifyType value: info, success, warning, failure
    events: tuple[str, ...]  # the notify.on events it reports


@dataclass(frozen=True)
class Delivery:
    index: int  # position in notify.urls
    service: str  # the URL's scheme: the only part of it fit to print
    ok: bool
    error: str | None = None

    @property
    def name(self) -> str:
        return f"notify.urls[{self.index}] ({self.service}://)"


def _line(text: str) -> str:
    """Text from TVMaze or an error on one line: a title cannot add lines to the message."""
    return " ".join(text.split())


def _listed(ids: Sequence[int], titles: Sequence[str], total: int) -> list[str]:
    lines = [
        f"- {_line(title)} {tvmaze_url(tvmaze_id)}"
        for tvmaze_id, title in zip(ids, titles, strict=False)
    ][:TITLES_SHOWN]
    if total > len(lines):
        lines.append(f"and {total - len(lines)} more")
    return lines


def build_message(summary: CycleSummary, on: Collection[str]) -> Message | None:
    """The one message a cycle's summary is worth, or None when nothing in it is news.

    A cycle that failed after adding shows reports both, in one message.
    """
    heads: list[str] = []
    sections: list[list[str]] = []
    events: list[str] = []
    added = len(summary.added_titles)
    if "added" in on and added:
        events.append("added")
        heads.append(f"added {added} show{'s' * (added != 1)}")
        sections.append(
            [
                f"Added to Sonarr ({added}):",
                *_listed(summary.added_ids, summary.added_titles, added),
            ]
        )
    queued = len(summary.review_titles)
    if "review" in on and queued:
        events.append("review")
        heads.append(f"{queued} new for review")
        sections.append(
            [
                f"New for review ({queued}; {summary.review_waiting} waiting in all):",
                *_listed(summary.review_ids, summary.review_titles, queued),
                "Approve or deny with `tvmaze-sync review`.",
            ]
        )
    if "removals" in on and summary.removals_held:
        held = summary.removals_held
        events.append("removals")
        heads.append(f"{held} removal{'s' * (held != 1)} held")
        sections.append(
            [
                f"Removals held ({held}): series tvmaze-sync added are gone from Sonarr's "
                "library and wait for your word (`tvmaze-sync removals`)."
            ]
        )
    failed = not summary.ok and summary.exit_code is not None
    if "failure" in on and failed:
        events.append("failure")
        heads.insert(0, f"sync failed (exit {summary.exit_code})")
        cause = _line(summary.error or "unknown cause")
        sections.insert(0, [f"The sync failed (exit {summary.exit_code}): {cause}"])
    if not events:
        return None
    kind = "failure" if "failure" in events else "warning" if "removals" in events else "info"
    if kind == "info" and "added" in events:
        kind = "success"
    body = "\n\n".join("\n".join(lines) for lines in sections)
    return Message(redact(f"{APP}: " + ", ".join(heads)), redact(body), kind, tuple(events))


def deliver(urls: Sequence[str], message: Message) -> list[Delivery]:
    """Send `message` to each URL once; one Delivery each, never raising."""
    results = []
    for index, url in enumerate(urls):
        service = masked_secret_url(url).removesuffix("://***") or "unknown"
        server = apprise_server(url)
        if server is None:
            results.append(Delivery(index, service, False, "not a URL Apprise can use"))
            continue
        try:
            ok = bool(
                server.notify(body=message.body, title=message.title, notify_type=message.kind)
            )
        except Exception as error:  # a plugin's bug must not fail the cycle either
            results.append(Delivery(index, service, False, redact(type(error).__name__)))
            continue
        results.append(Delivery(index, service, ok, None if ok else "not delivered"))
    return results


def _report(results: Sequence[Delivery], events: Sequence[str]) -> None:
    for result in results:
        if result.ok:
            log.info(
                "notification_sent target=%s events=%s",
                result.name.replace(" ", ""),
                ",".join(events),
            )
        else:
            log.warning(
                "notification_failed target=%s error=%r",
                result.name.replace(" ", ""),
                result.error,
            )


def _count(storage_dir: Path, results: Sequence[Delivery]) -> None:
    """Lifetime counters for the metrics; an existing cache only (a cycle that failed on its
    storage must not create one), and a failure to count is only a warning."""
    if not results or not (storage_dir / DB_NAME).exists():
        return
    try:
        with Store.opened(storage_dir) as store, store.atomic():
            for result in results:
                name = "notifications_sent" if result.ok else "notifications_failed"
                store.bump_counter(name, result.service)
    except (StorageError, sqlitefile.Error) as error:
        log.warning("notification_count_lost error=%s", error)


def after_cycle(config: Config, summary: CycleSummary) -> Message | None:
    """Send the cycle's one message, if it has news and URLs are configured. Never raises."""
    if not config.notify.urls:
        return None
    try:
        message = build_message(summary, config.notify.on)
        if message is None:
            log.debug("notification_skipped reason=no_news")
            return None
        results = deliver(config.notify.urls, message)
        _report(results, message.events)
        _count(config.storage_dir, results)
        return message
    except Exception as error:  # nothing here may change the cycle's outcome
        log.warning("notification_failed error=%r", redact(f"{type(error).__name__}: {error}"))
        return None


def send_test(config: Config) -> list[Delivery]:
    """`tvmaze-sync notify test`: one test message to every configured URL."""
    message = Message(
        f"{APP}: test notification",
        "This is a test from tvmaze-sync: notifications reach you here.",
        "info",
        ("test",),
    )
    results = deliver(config.notify.urls, message)
    _report(results, message.events)
    return results
