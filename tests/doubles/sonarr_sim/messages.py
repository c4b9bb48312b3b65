"""A request and its reply as the simulator's parts hand them to each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it.

    ``query`` keeps every value of each name as sent; ``body`` is the parsed JSON (or the
    raw text, or ``None``); ``status`` is 0 for a connection dropped on purpose.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    #: Went through Sonarr's middleware (VersionMiddleware runs after authorization,
    #: so a 401 carries no X-Application-Version; nor does a fault injected "in front").
    app: bool = True


class _HttpError(Exception):
    """Carries a finished reply out of deep handler code."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Ctx:
    method: str
    path: str
    query: dict[str, list[str]]  # keys lower-cased: ASP.NET binds query names case-insensitively
    headers: Mapping[str, str]
    body: bytes
    host: str
    params: dict[str, int] = field(default_factory=dict)
    deprecated: bool = False

    def q(self, name: str) -> str | None:
        values = self.query.get(name.lower())
        return values[0] if values else None
