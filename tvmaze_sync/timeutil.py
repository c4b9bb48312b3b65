"""Time as the rest of the code sees it: an injectable clock and one timestamp format.

Everything that waits or compares times takes a `Clock`, so tests move time by hand instead
of sleeping or monkeypatching.
"""

from __future__ import annotations

import datetime as dt
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
