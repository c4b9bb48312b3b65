"""Shared by test_metrics.py and test_server.py: a small real data set, a config for the
simulators, and the exposition text parsed back into values to compare with the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.doubles.sonarr_sim import SonarrSimulator
from tests.doubles.tvmaze_sim import load_real_shows
from tests.fixtures_sonarr import SONARR_API_KEY
from tests.helpers_store import store_at
from tvmaze_sync.core.models import ProcessingStatus

P = ProcessingStatus


def small_real_shows() -> list[dict[str, Any]]:
    """The real recorded shows with id < 750: three index pages, a realistic mix of outcomes
    under the default filters, and every TVDB id known to the Sonarr simulator's catalogue."""
    return [show for show in load_real_shows() if show["id"] < 750]


def write_config(
    path: Path,
    storage: Path,
    tvmaze_url: str,
    sonarr: SonarrSimulator | None = None,
    sonarr_key: str = SONARR_API_KEY,
    **server: Any,
) -> Path:
    data: dict[str, Any] = {
        "tvmaze": {"base_url": tvmaze_url, "rate_limit": 1000, "timeout": "10s"},
        "storage": {"path": str(storage)},
        "sync": {"poll_interval": "1h"},
    }
    if sonarr is not None:
        data["sonarr"] = {
            "url": sonarr.url,
            "api_key": sonarr_key,
            "root_folder": "/tv",
            "quality_profile": "HD-1080p",
            "tags": ["auto-sync"],
            "timeout": "10s",
            "add_interval": "0s",  # a real process sleeps for real
        }
    if server:
        data["server"] = server
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def families(text: str) -> dict[str, Metric]:
    """Parse exposition text; counters are keyed by their sample name (`..._total`)."""
    out: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = family
    return out


def samples(family: Metric, label: str | None = None) -> dict[str, float]:
    """label value -> sample value (created/other suffixes ignored)."""
    out: dict[str, float] = {}
    for sample in family.samples:
        if sample.name.endswith("_created"):
            continue
        out[sample.labels[label] if label else ""] = sample.value
    return out


def value(family: Metric) -> float | None:
    values = samples(family)
    return values.get("")


def read_store(storage: Path) -> dict[str, Any]:
    """What the metrics must equal, read straight from SQLite."""
    store = store_at(storage, readonly=True)
    try:
        return {
            "by_status": store.count_by_status(),
            "highest_id": store.highest_id() or 0,
            "processed": store.counters("shows_processed"),
            "requests": store.counters("api_requests"),
            "reasons": [
                row["filter_reason"]
                for row in store.rows_where("processing_status = ?", ["filtered"])
            ],
            "waiting": dict(
                store.db.execute(
                    "SELECT status_reason, COUNT(*) FROM shows WHERE processing_status = ? "
                    "GROUP BY status_reason",
                    [P.PENDING_TVDB.value],
                ).fetchall()
            ),
        }
    finally:
        store.close()
