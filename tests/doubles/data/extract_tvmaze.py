"""Rebuild ``tvmaze_shows.json.gz`` from the saved real TVMaze responses.

The simulator must serve *real* show objects (nulls, missing keys and all the
schema drift from 2016 to 2024) because that is what the mapping code meets in
production.  The raw samples live outside the repository (``../shared/tvmaze``
next to the work tree), so this script distils them once into a small
committed file that CI and installed copies can rely on.

Usage::

    python tests/doubles/data/extract_tvmaze.py [SOURCE_DIR] [OUTPUT]
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "tvmaze"
DEFAULT_OUTPUT = HERE / "tvmaze_shows.json.gz"

# A show's own URL; episodes (/episodes/), people and seasons never match.
_SHOW_URL = re.compile(r"/shows/(\d+)(?:/|$)")


def _is_show(obj: dict[str, Any]) -> bool:
    url = obj.get("url")
    if not isinstance(obj.get("id"), int) or not isinstance(url, str):
        return False
    match = _SHOW_URL.search(url)
    # "genres" and "externals" tell a show apart from anything else that might
    # link to a show page; the id in the URL guards against mismatched copies.
    return (
        match is not None
        and int(match.group(1)) == obj["id"]
        and "name" in obj
        and "genres" in obj
        and "externals" in obj
    )


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every show object wherever a response nests it.

    Shows appear bare (pages, single show), as ``{score, show}`` (search), as
    ``_embedded.show`` (schedule) and inside recorded exchanges
    (``response.body``); a generic walk copes with all of them.
    """
    if isinstance(node, dict):
        if _is_show(node):
            yield node
            return
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _strip(show: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in show.items() if k != "_embedded"}


def _rank(show: dict[str, Any]) -> tuple[int, int]:
    # Newest copy wins; on a tie prefer the richer (later) shape.
    updated = show.get("updated")
    return (updated if isinstance(updated, int) else 0, len(show))


def extract(source: Path) -> list[dict[str, Any]]:
    best: dict[int, dict[str, Any]] = {}
    files = sorted(p for p in source.rglob("*.json") if p.is_file())
    if not files:
        raise SystemExit(f"no JSON files under {source}")
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        for show in _walk(data):
            show = _strip(show)
            current = best.get(show["id"])
            if current is None or _rank(show) > _rank(current):
                best[show["id"]] = show
    return [best[i] for i in sorted(best)]


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    shows = extract(source)
    payload = json.dumps(shows, ensure_ascii=False, separators=(",", ":"))
    # mtime=0 keeps the committed file byte-identical across re-runs.
    with (
        open(output, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(payload.encode("utf-8"))
    print(f"wrote {len(shows)} shows to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
