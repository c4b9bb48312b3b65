"""Small pure functions that write dates, paths, titles and JSON the way Sonarr does."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from tests.doubles.sonarr_sim.constants import _LANGUAGES


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(dt: datetime) -> str:
    """Dates as Sonarr's STJUtcConverter writes them: UTC, seconds, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_to_iso(day: str | None) -> str | None:
    if not day:
        return None
    return f"{day[:10]}T00:00:00Z"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _display_name(prop: str) -> str:
    """FluentValidation's default display name: PascalCase split into words."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", prop)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _clean_path(path: str) -> str:
    return path.rstrip("/") or "/"


def _path_equals(a: str, b: str) -> bool:
    return _clean_path(a) == _clean_path(b)


def _is_parent_path(parent: str, child: str) -> bool:
    parent, child = _clean_path(parent), _clean_path(child)
    if parent == child:
        return False
    return child.startswith(parent if parent.endswith("/") else parent + "/")


def _path_valid(path: Any) -> bool:
    """Linux rules of Sonarr's IsPathValid: non-blank, no NUL, rooted."""
    return isinstance(path, str) and not _blank(path) and "\0" not in path and path[0] == "/"


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _series_folder(title: str | None) -> str:
    """Folder name for the default ``{Series Title}`` format (illegal characters replaced)."""
    name = (title or "").replace(": ", " - ").replace(":", "-")
    for bad, good in (
        ("\\", "+"),
        ("/", "+"),
        ("<", ""),
        (">", ""),
        ("?", "!"),
        ("*", "-"),
        ("|", ""),
        ('"', ""),
    ):
        name = name.replace(bad, good)
    name = name.lstrip(" .").rstrip(" ")
    name = re.sub(r"([- ._])\1+", r"\1", name)
    return name.strip(" .")


def _clean_title(title: str) -> str:
    """Approximates Parser.CleanSeriesTitle: lowercase letters and digits, articles dropped."""
    if title.isdigit():
        return title
    lowered = title.lower().replace("&", "and")
    words = re.findall(r"[^\W_]+", lowered)
    articles = {"a", "an", "the", "and", "or", "of"}
    kept = [w for i, w in enumerate(words) if i == 0 or w not in articles]
    return "".join(kept)


def _sort_title(title: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", title.lower()).strip()


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or "series"


def _strip_html(text: str | None) -> str | None:
    if not text:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip() or None


def _status_enum_name(status: int) -> str:
    """.NET ``HttpStatusCode`` member name, as Sonarr's HttpException message prints it."""
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(status)


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _dumps(obj: Any) -> bytes:
    # Sonarr's STJson writes indented JSON; clients must not care, but mirror it anyway.
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """STJson's ``WhenWritingNull``: null properties are left out."""
    return {k: v for k, v in d.items() if v is not None}


def _lang(lang_id: int) -> dict[str, Any]:
    names = {v: k for k, v in _LANGUAGES.items()}
    return {"id": lang_id, "name": names.get(lang_id, "English")}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
