"""The data set as the API shows it: the current shows, the lagging index snapshot the
pages serve, the sim clock, and the edits tests make (as TVMaze's editors would)."""

from __future__ import annotations

import copy
import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from tests.doubles.tvmaze_sim.shows import (
    DAY,
    Show,
    SyntheticShows,
    _slug,
    _synthetic_external,
    _url_prefix,
    load_real_shows,
)

PAGE_SIZE: Final = 250
SINCE_WINDOWS: Final[dict[str, int]] = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY}


class _Delete:
    """Sentinel type for :data:`DELETE`."""

    def __repr__(self) -> str:
        return "DELETE"


#: Pass as a value to :meth:`TvmazeSimulator.update_show` to remove a key, since
#: the real data has keys that are absent rather than null.
DELETE: Final = _Delete()


def _set_path(show: Show, path: list[str], value: Any) -> None:
    node = show
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


_Ref = Show | int  # a full dict, or an index into the SyntheticShows store


class Dataset:
    """The shows of a :class:`TvmazeSimulator`, current and as the index last saw them.

    Thread-safe: every read and edit holds ``_lock``, which the server shares.
    """

    def __init__(
        self,
        shows: Iterable[Show] | SyntheticShows | None,
        clock: Callable[[], float] | None,
        seed: int,
    ) -> None:
        self.clock: Callable[[], float] = clock or time.time
        self._lock = threading.RLock()
        self._offset = 0.0
        self._data_rng = random.Random(seed + 1)

        self._synth: SyntheticShows | None = None
        self._current: dict[int, _Ref] = {}
        owned = shows is None  # a fresh parse nobody else holds: no need to copy
        if shows is None:
            shows = load_real_shows()
        if isinstance(shows, SyntheticShows):
            self._synth = shows
            for i in range(len(shows)):
                self._current[shows.id_at(i)] = i
            self._templates = shows.templates
        else:
            for show in shows:
                if not owned:
                    show = copy.deepcopy(show)
                show.pop("_embedded", None)
                self._current[int(show["id"])] = show
            self._templates = [s for s in self._current.values() if isinstance(s, dict)]
            if not self._templates:
                self._templates = load_real_shows()
        self._current = dict(sorted(self._current.items()))
        self._max_id_ever = max(self._current, default=0)

        self._index: dict[int, _Ref] = {}
        self._index_ids: list[int] = []
        self._index_time = 0.0
        self.refresh_index()

    def now(self) -> float:
        return self.clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the sim clock forward (for ``since`` windows and index age)."""
        with self._lock:
            self._offset += seconds
            return self.now()

    def _materialize(self, ref: _Ref) -> Show:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.shared(ref)
        return ref

    def _updated_of(self, ref: _Ref) -> int:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.updated_at(ref)
        value = ref.get("updated")
        return value if isinstance(value, int) else 0

    def _name_of(self, ref: _Ref) -> str:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.name_at(ref)
        return str(ref.get("name") or "")

    def _externals_of(self, ref: _Ref) -> dict[str, Any] | None:
        if isinstance(ref, int):
            assert self._synth is not None
            return self._synth.externals_at(ref)
        ext = ref.get("externals")
        return ext if isinstance(ext, dict) else None

    @property
    def shows(self) -> list[Show]:
        """Deep copies of the current data set, by id: what a perfect mirror holds.

        For a large synthetic set prefer :meth:`iter_shows`, which does not
        build every copy at once.
        """
        return list(self.iter_shows())

    def iter_shows(self) -> Iterator[Show]:
        with self._lock:
            refs = [self._current[i] for i in sorted(self._current)]
        for ref in refs:
            yield copy.deepcopy(self._materialize(ref))

    def get_show(self, show_id: int) -> Show | None:
        """The current object for ``show_id`` (a copy), or None if absent."""
        with self._lock:
            ref = self._current.get(show_id)
        return None if ref is None else copy.deepcopy(self._materialize(ref))

    @property
    def show_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._current)

    @property
    def show_count(self) -> int:
        return len(self._current)

    @property
    def max_id(self) -> int:
        """Highest current id (0 if empty)."""
        with self._lock:
            return max(self._current, default=0)

    @property
    def last_page(self) -> int:
        """Highest page the *index snapshot* serves; the next one is a 404."""
        with self._lock:
            return self._index_ids[-1] // PAGE_SIZE if self._index_ids else -1

    def updates_map(self, since: str | None = None) -> dict[int, int]:
        """What ``/updates/shows`` answers now, keyed by int id."""
        with self._lock:
            cutoff = None if since is None else self.now() - SINCE_WINDOWS[since]
            result: dict[int, int] = {}
            for show_id in sorted(self._current):
                updated = self._updated_of(self._current[show_id])
                if cutoff is None or updated >= cutoff:
                    result[show_id] = updated
            return result

    def index_page(self, page: int) -> list[Show]:
        """Copies of what ``/shows?page=N`` serves now (no 404 check)."""
        with self._lock:
            refs = self._page_refs(page)
        return [copy.deepcopy(self._materialize(r)) for r in refs]

    def _page_refs(self, page: int) -> list[_Ref]:
        lo = bisect_left(self._index_ids, page * PAGE_SIZE)
        hi = bisect_left(self._index_ids, (page + 1) * PAGE_SIZE)
        return [self._index[i] for i in self._index_ids[lo:hi]]

    def refresh_index(self) -> None:
        """Let the show index catch up with the current data (cache expiry)."""
        with self._lock:
            self._index = dict(self._current)
            self._index_ids = sorted(self._index)
            self._index_time = self.now()

    def _bump(self, old: int) -> int:
        # Strictly increasing, so a change within the same second as the
        # previous one is still visible to a client comparing timestamps.
        return max(int(self.now()), old + 1)

    def update_show(self, show_id: int, **changes: Any) -> Show:
        """Change a show as TVMaze editors would; returns the new object (copy).

        Keys may be top-level (``name="X"``, ``network=None``) or nested, written
        ``rating__average=7.5`` or ``**{"network.country.code": "GB"}``; a value
        of :data:`DELETE` removes the key.  ``updated`` is bumped to the sim
        clock unless given explicitly.  An explicit ``id`` is served as given
        (a corrupt record: the show keeps its place on its page and at
        ``/shows/<show_id>``, but its object names that id).
        """
        with self._lock:
            ref = self._current.get(show_id)
            if ref is None:
                raise KeyError(show_id)
            show = copy.deepcopy(self._materialize(ref))
            old_updated = self._updated_of(ref)
            for key, value in changes.items():
                path = key.split("__") if "__" in key else key.split(".")
                _set_path(show, path, value)
            if "updated" not in changes:
                show["updated"] = self._bump(old_updated)
            if "id" not in changes:
                show["id"] = show_id
            self._current[show_id] = show  # copy-on-write: the index keeps the old object
            return copy.deepcopy(show)

    def add_show(self, obj: Show | None = None, *, show_id: int | None = None) -> Show:
        """Add a show; returns it (copy).

        Without ``obj`` a random real shape is cloned.  The id is ``show_id``,
        else ``obj["id"]``, else one above the highest id ever used (TVMaze
        never reuses ids).  ``updated`` defaults to the sim clock.
        """
        with self._lock:
            if obj is None:
                template = self._data_rng.choice(self._templates)
                show = copy.deepcopy(self._materialize(template))
                new_name = f"New Show {self._max_id_ever + 1}"
                show["name"] = new_name
                obj_id = None
            else:
                show = copy.deepcopy(obj)
                show.pop("_embedded", None)
                obj_id = show.get("id")
            sid = show_id if show_id is not None else obj_id
            if sid is None:
                sid = self._max_id_ever + 1
            sid = int(sid)
            if sid in self._current:
                raise ValueError(f"show {sid} already exists")
            show["id"] = sid
            if obj is None:
                site = _url_prefix(show.get("url"), "https://www.tvmaze.com")
                show["url"] = f"{site}/shows/{sid}/{_slug(show['name'])}"
                links = show.get("_links")
                if isinstance(links, dict) and isinstance(links.get("self"), dict):
                    api = _url_prefix(links["self"].get("href"), "https://api.tvmaze.com")
                    links["self"] = {"href": f"{api}/shows/{sid}"}
                ext = show.get("externals")
                if isinstance(ext, dict):
                    show["externals"] = {k: _synthetic_external(k, sid, v) for k, v in ext.items()}
            if obj is None or "updated" not in show:
                show["updated"] = int(self.now())
            self._current[sid] = show
            self._max_id_ever = max(self._max_id_ever, sid)
            return copy.deepcopy(show)

    def delete_show(self, show_id: int) -> None:
        """Remove a show; it stays on its index page until the next refresh."""
        with self._lock:
            del self._current[show_id]

    def random_updates(self, n: int, seed: int | None = None) -> list[int]:
        """Update ``n`` random shows (weight, sometimes rating/status); their ids."""
        with self._lock:
            rng = self._data_rng if seed is None else random.Random(seed)
            ids = sorted(rng.sample(sorted(self._current), min(n, len(self._current))))
            for show_id in ids:
                changes: dict[str, Any] = {"weight": rng.randint(0, 100)}
                current = self._materialize(self._current[show_id])
                if isinstance(current.get("rating"), dict) and rng.random() < 0.3:
                    changes["rating__average"] = round(rng.uniform(1, 10), 1)
                if rng.random() < 0.1:
                    changes["status"] = rng.choice(["Running", "Ended", "To Be Determined"])
                self.update_show(show_id, **changes)
            return ids
