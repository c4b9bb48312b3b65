"""Fault injection: failed, delayed and dropped requests, racing adds, a rotated key."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.sonarr_sim.constants import _JSON
from tests.doubles.sonarr_sim.helpers import _dumps, _status_enum_name
from tests.doubles.sonarr_sim.messages import _Reply
from tests.doubles.sonarr_sim.replies import Replies


@dataclass
class _Fault:
    remaining: int
    status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    before: bool = False
    content_type: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_prefix or path.lower().startswith(self.path_prefix.lower())


class Faults(Replies):
    """What tests call to make the next requests misbehave (thread-safe)."""

    _faults: list[_Fault]
    _delays: list[_Fault]
    _drops: list[_Fault]
    _races: list[_Fault]

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` (before auth, like a proxy).

        ``body`` ``None`` gives an ErrorModel JSON (empty for 401), a ``str`` is sent as
        text/plain, ``bytes`` raw, anything else as JSON. ``content_type`` overrides the
        type sent with a ``str`` or ``bytes`` body: raw bytes labelled ``application/json``
        are what a hostile or broken Sonarr looks like to a client that decodes JSON.
        """
        fault = _Fault(
            n, status, path_prefix, method, body, dict(headers or {}), content_type=content_type
        )
        with self._lock:
            self._faults.append(fault)

    def delay_next(
        self,
        n: int = 1,
        seconds: float = 1.0,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        before: bool = False,
    ) -> None:
        """Delay the next ``n`` matching responses.

        By default the request is processed first and the answer is late (a client that
        times out on ``POST /series`` has still added the series); ``before=True`` delays
        processing instead.
        """
        with self._lock:
            self._delays.append(_Fault(n, 0, path_prefix, method, seconds=seconds, before=before))

    def drop_next(
        self, n: int = 1, path_prefix: str | None = None, *, method: str | None = None
    ) -> None:
        """Close the connection without answering the next ``n`` matching requests."""
        with self._lock:
            self._drops.append(_Fault(n, 0, path_prefix, method))

    def race_next_add(
        self, n: int = 1, *, insert: bool = True, column: str = "Series.TvdbId"
    ) -> None:
        """Make the next ``n`` valid ``POST /series`` lose a race into a unique index.

        The request passed validation, but a concurrent write commits first: SQLite raises
        "constraint failed" on ``column`` and Sonarr answers ``409``. With ``insert`` the
        competing add of the same TVDB id really lands, so the series is in the library
        after. ``column="Series.TitleSlug"`` with ``insert=False`` is another series taking
        the slug between validation and insert: a 409 for a series the library lacks.
        """
        with self._lock:
            self._races.append(_Fault(n, 409, body={"insert": insert, "column": column}))

    def rotate_api_key(self, new_key: str | None = None) -> str:
        """Change the key (as a user regenerating it would); returns the new key."""
        with self._lock:
            self.api_key = new_key or secrets.token_hex(16)
            return self.api_key

    def reset_faults(self) -> None:
        """Clear every pending fault and switch."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._drops.clear()
            self._races.clear()
            self.unauthorized = False
            self.error_rate = 0.0
            self.latency = 0.0
            self.metadata_error = None

    def _take(self, queue: list[_Fault], method: str, path: str) -> _Fault | None:
        if self.url_base and path.lower().startswith(self.url_base.lower()):
            path = path[len(self.url_base) :]  # prefixes are given without the URL base
        for fault in queue:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    queue.remove(fault)
                return fault
        return None

    def _timing(self, method: str, path: str) -> tuple[float, float]:
        """(seconds before processing, seconds before answering) for this request."""
        with self._lock:
            fault = self._take(self._delays, method, path)
            before = fault.seconds if fault and fault.before else 0.0
            after = self.latency + (fault.seconds if fault and not fault.before else 0.0)
            return before, after

    def _fault_reply(
        self, status: int, body: Any, headers: Mapping[str, str], content_type: str | None = None
    ) -> _Reply:
        if body is None:
            if status in {401, 403}:
                return _Reply(status, headers=dict(headers))
            phrase = _status_enum_name(status)
            return self._error_model(status, phrase, "Injected fault", headers=headers)
        if isinstance(body, bytes):
            return _Reply(status, body, content_type or "application/octet-stream", dict(headers))
        if isinstance(body, str):
            text_type = content_type or "text/plain; charset=utf-8"
            return _Reply(status, body.encode(), text_type, dict(headers))
        return _Reply(status, _dumps(body), _JSON, dict(headers))
