"""The demo server's command line: ``python -m tests.doubles.sonarr_sim``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from tests.doubles.sonarr_sim.constants import DEFAULT_API_KEY, DEFAULT_VERSION
from tests.doubles.sonarr_sim.simulator import SonarrSimulator


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a simulator until Ctrl-C (for demos and manual poking with curl)."""
    parser = argparse.ArgumentParser(description="Simulated Sonarr v3 API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8989)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--version", default=DEFAULT_VERSION, help="3.x selects v3 mode")
    parser.add_argument("--root-folder", action="append", dest="root_folders")
    parser.add_argument("--tag", action="append", dest="tags", default=[])
    parser.add_argument("--url-base", default="")
    args = parser.parse_args(argv)
    sim = SonarrSimulator(
        args.api_key,
        version=args.version,
        root_folders=args.root_folders or ["/tv"],
        tags=args.tags,
        host=args.host,
        port=args.port,
        url_base=args.url_base,
    ).start()
    try:  # the banner inside: a Ctrl-C right after it (a test reading it) is still caught
        print(
            f"Sonarr {sim.version} simulator on {sim.url} (API key {sim.api_key}); Ctrl-C stops.",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
