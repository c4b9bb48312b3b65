"""Logging setup: event lines as JSON or text, with every configured secret redacted.

Code logs events, not prose: `log.info("page_stored page=%d shows=%d", page, n)`. The first
word is the event name and `key=value` pairs become fields in JSON output, so logs stay
queryable. Redaction runs on the fully formatted line (tracebacks included), which is the only
place a secret could still slip through.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote, quote_plus

from tvmaze_sync.core.timeutil import iso

REDACTED = "***"
#: `key=value`: a value quoted as %r writes text (escapes and all, so a title holding both
#: quote kinds and ` tvdb_id=999` stays one value), else up to the next space.
_FIELD = re.compile(r"""(\w+)=("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\S+)""")

#: C0 controls, DEL and C1 controls -> their Python escape (`\x1b`, `\n`, `\x9b`).
_CONTROLS = {code: repr(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0))}


def printable(value: object) -> str:
    """`value` as text with no control character left raw, for a terminal or a log line:
    an escape sequence in a request line or a TVMaze title is shown, never obeyed, and a
    line break cannot forge a second log line."""
    return ("" if value is None else str(value)).translate(_CONTROLS)


class Redactor:
    """Replaces known secret values in text. Shared by log handlers and error output."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Each secret also in the spellings it takes inside a repr, a JSON string or a URL,
        # so an escaped copy (a traceback's locals, a query string) is caught too.
        # Longest first, so a secret containing another is replaced whole.
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= 3:
                forms.update(
                    (
                        secret,
                        repr(secret)[1:-1],
                        json.dumps(secret)[1:-1],
                        json.dumps(secret, ensure_ascii=False)[1:-1],
                        quote(secret, safe=""),
                        quote_plus(secret, safe=""),
                    )
                )
                # httpx/h11 quote a bad header as a bytes repr, and a `%r` around that
                # escapes it once more (`b'key\\n'`): both forms, and the bytes one alone.
                escaped = repr(secret.encode("utf-8"))[2:-1]
                forms.update((escaped, repr(escaped)[1:-1], repr(repr(secret)[1:-1])[1:-1]))
        self._secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


redact = Redactor()


_LITERALS: dict[str, object] = {"True": True, "False": False, "None": None}


def _typed(value: str) -> object:
    """A field as the type it was logged as: `count=3` is a number, `ok=True` a boolean,
    `title='3'` (quoted, as %r writes text) stays text, so JSON consumers can compare."""
    if value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0]:
        try:
            text = ast.literal_eval(value)  # the text %r wrote, escapes undone
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value[1:-1]
        return text if isinstance(text, str) else value[1:-1]
    if value in _LITERALS:
        return _LITERALS[value]
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _parse_fields(message: str) -> tuple[str, dict[str, object]]:
    """The event name and its fields; the first of two fields with one name wins, so text
    logged after a field (a TVMaze title) can never replace it."""
    event, _, rest = message.partition(" ")
    fields: dict[str, object] = {}
    for key, value in _FIELD.findall(rest):
        fields.setdefault(key, _typed(value))
    return event, fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Redact before encoding: JSON escaping would hide a secret holding `"` or `\`.
        message = redact(record.getMessage())
        event, fields = _parse_fields(message)
        entry: dict[str, object] = {
            "ts": iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
        }
        for key, value in fields.items():  # a field never overwrites ts, level, logger, event
            entry.setdefault(key if key not in entry else f"{key}_", value)
        if _FIELD.sub("", message.partition(" ")[2]).strip():
            entry["message"] = message  # text the fields do not carry is not lost
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))  # the traceback keeps its lines

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """(Re)configure the root logger for this process; safe to call more than once."""
    redact.set_secrets(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_tvmaze_sync", False):
            root.removeHandler(old)
    handler._tvmaze_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter (connection pools, cache backends) only at DEBUG.
    chatter = root.level if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for noisy in ("urllib3", "requests_cache", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(chatter)
