"""The shows the simulator serves: TVMaze's recorded show objects (``data/``), and compact
synthetic clones of them for benchmarks and scale tests."""

from __future__ import annotations

import copy
import functools
import gzip
import json
import random
import re
import time
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, overload

Show = dict[str, Any]

DAY: Final = 86_400
DATA_FILE: Final = Path(__file__).resolve().parents[1] / "data" / "tvmaze_shows.json.gz"


@functools.cache
def _real_payload() -> bytes:
    with gzip.open(DATA_FILE, "rb") as fh:
        return fh.read()


def load_real_shows() -> list[Show]:
    """The ~1,200 real show objects, freshly parsed so callers may mutate them."""
    shows: list[Show] = json.loads(_real_payload())
    return shows


_ADJECTIVES: Final = (
    "Silent", "Broken", "Golden", "Hidden", "Last", "Little", "Midnight", "Northern",
    "Perfect", "Red", "Savage", "Secret", "Small", "Wild", "Young", "Dark", "Lucky",
    "Crooked", "Blue", "Final",
)  # fmt: skip
_NOUNS: Final = (
    "Harbor", "Kingdom", "Doctors", "Detective", "Garden", "Empire", "Island", "Kitchen",
    "Crown", "Rivals", "Signal", "Frontier", "Witness", "Academy", "Family", "Hotel",
    "Station", "Legacy", "Patrol", "Affair",
)  # fmt: skip
_PLACES: Final = (
    "Brooklyn", "Oslo", "Seoul", "Lagos", "Manchester", "Kraków", "Montréal", "Osaka",
    "São Paulo", "Reykjavík",
)  # fmt: skip


def _synthetic_name(rng: random.Random, template_name: str) -> str:
    # Mostly invented titles, plus real names (some repeated verbatim, as TVMaze
    # itself has several shows called e.g. "Top Gear") and non-ASCII ones.
    r = rng.random()
    if r < 0.10:
        return template_name
    if r < 0.20:
        return f"{template_name} ({rng.randint(1990, 2025)})"
    if r < 0.45:
        return f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    if r < 0.70:
        return f"{rng.choice(_NOUNS)} of {rng.choice(_PLACES)}"
    if r < 0.85:
        return f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.randint(2, 99)}"
    return f"{rng.choice(_PLACES)} {rng.choice(_NOUNS)}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "show"


def _url_prefix(url: Any, default: str) -> str:
    if isinstance(url, str) and "/shows/" in url:
        return url.split("/shows/", 1)[0]
    return default


def _synthetic_external(key: str, show_id: int, value: Any) -> Any:
    # Unique per clone (Sonarr matching relies on thetvdb) and outside the real
    # id ranges so clones never collide with the real shows they copy.
    if value is None:
        return None
    if key == "imdb":
        return f"tt9{show_id:07d}"
    if key == "thetvdb":
        return 1_000_000 + show_id
    if key == "tvrage":
        return 2_000_000 + show_id
    return value


class SyntheticShows(Sequence[Show]):
    """A large data set of cloned real shows, stored in a few compact arrays.

    Holding 100,000 show dicts would cost hundreds of MB; instead each clone is
    (template, id, name, updated) and is only built as a dict when served.
    Indexing returns a fresh deep copy so callers cannot corrupt the templates.
    """

    def __init__(
        self,
        templates: list[Show],
        ids: array[int],
        template_index: array[int],
        updated: array[int],
        names: list[str],
    ) -> None:
        self.templates = templates
        self._ids = ids
        self._tix = template_index
        self._updated = updated
        self._names = names

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Show: ...
    @overload
    def __getitem__(self, index: slice) -> list[Show]: ...
    def __getitem__(self, index: int | slice) -> Show | list[Show]:
        if isinstance(index, slice):
            return [copy.deepcopy(self.shared(i)) for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return copy.deepcopy(self.shared(index))

    def id_at(self, index: int) -> int:
        return self._ids[index]

    def name_at(self, index: int) -> str:
        return self._names[index]

    def updated_at(self, index: int) -> int:
        return self._updated[index]

    def template_at(self, index: int) -> Show:
        """The real show this clone copies (tests compare null shapes with it)."""
        return self.templates[self._tix[index]]

    def externals_at(self, index: int) -> dict[str, Any] | None:
        ext = self.template_at(index).get("externals")
        if not isinstance(ext, dict):
            return None
        sid = self._ids[index]
        return {k: _synthetic_external(k, sid, v) for k, v in ext.items()}

    def shared(self, index: int) -> Show:
        """Build clone ``index``; nested objects are shared with the template.

        Serialising does not need a deep copy, and skipping it keeps page
        responses of a 100k-show data set cheap.  Never mutate the result.
        """
        template = self.template_at(index)
        sid = self._ids[index]
        name = self._names[index]
        show = dict(template)  # keeps the template's key order, nulls and absences
        show["id"] = sid
        site = _url_prefix(template.get("url"), "https://www.tvmaze.com")
        show["url"] = f"{site}/shows/{sid}/{_slug(name)}"
        show["name"] = name
        show["updated"] = self._updated[index]
        if isinstance(template.get("externals"), dict):
            show["externals"] = self.externals_at(index)
        links = template.get("_links")
        if isinstance(links, dict):
            new_links = dict(links)
            if isinstance(links.get("self"), dict):
                api = _url_prefix(links["self"].get("href"), "https://api.tvmaze.com")
                new_links["self"] = {"href": f"{api}/shows/{sid}"}
            show["_links"] = new_links
        return show


def synthetic_shows(
    n: int,
    seed: int = 0,
    *,
    now: float | None = None,
    gap_rate: float = 0.04,
    templates: list[Show] | None = None,
) -> SyntheticShows:
    """``n`` clones of the real shapes, for benchmarks and scale tests.

    Ids start at 1 and skip about ``gap_rate`` of the id space (deleted shows,
    sometimes in runs).  ``updated`` is spread over ten years before ``now``
    with a realistic recent tail: ~1% within a day, ~3% within a week, ~8%
    within a month, so every ``since`` window is non-trivial.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    base = int(time.time() if now is None else now)
    templates = load_real_shows() if templates is None else templates
    if not templates:
        raise ValueError("need at least one template show")
    ids: array[int] = array("q")
    tix: array[int] = array("I")
    updated: array[int] = array("q")
    names: list[str] = []
    next_id = 1
    for _ in range(n):
        while rng.random() < gap_rate:
            next_id += 1
        t = rng.randrange(len(templates))
        r = rng.random()
        if r < 0.01:
            age = rng.uniform(0, DAY)
        elif r < 0.03:
            age = rng.uniform(DAY, 7 * DAY)
        elif r < 0.08:
            age = rng.uniform(7 * DAY, 30 * DAY)
        else:
            age = rng.uniform(30 * DAY, 3650 * DAY)
        ids.append(next_id)
        tix.append(t)
        updated.append(base - int(age))
        names.append(_synthetic_name(rng, str(templates[t].get("name") or "Show")))
        next_id += 1
    return SyntheticShows(templates, ids, tix, updated, names)
