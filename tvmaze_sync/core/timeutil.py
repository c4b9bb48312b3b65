"""Time as the rest of the code sees it: an injectable clock and one timestamp format.

Everything that waits or compares times takes a `Clock`, so tests move time by hand instead
of sleeping or monkeypatching.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]

system_clock: Clock = time.time


def iso(timestamp: float) -> str:
    """UTC ISO 8601 with a Z, second precision: what the store and state.json hold."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Inverse of `iso`; also accepts offsets and fractional seconds."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A `Retry-After` header in seconds (delta-seconds or an HTTP date), None if absent or
    unreadable; a date in the past is 0. Both TVMaze's and Sonarr's clients read it here."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
