"""Request binding: bodies bound like System.Text.Json (Newtonsoft on v3), query values like
ASP.NET model binding, and the errors each one answers with when the input does not fit."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.doubles.sonarr_sim.constants import (
    _COVER_TYPES,
    _NEW_ITEM_MONITOR_TYPES,
    _SERIES_STATUS,
    _SERIES_TYPES,
    MONITOR_TYPES_V3,
    MONITOR_TYPES_V4,
)
from tests.doubles.sonarr_sim.helpers import _header
from tests.doubles.sonarr_sim.messages import _Ctx, _HttpError
from tests.doubles.sonarr_sim.replies import Replies

# enum (dotnet type, names), obj (fields), list (item spec).
_Spec = tuple[str, Any]
_I: _Spec = ("int", "System.Int32")
_L: _Spec = ("int", "System.Int64")
_S: _Spec = ("str", "System.String")
_B: _Spec = ("bool", "System.Boolean")
_D: _Spec = ("dec", "System.Decimal")
_DT: _Spec = ("date", "System.DateTime")
_ANY: _Spec = ("any", None)
_LANGUAGE_SPEC: _Spec = ("obj", ("NzbDrone.Core.Languages.Language", {"id": _I, "name": _S}))
_COVER_SPEC: _Spec = (
    "obj",
    (
        "NzbDrone.Core.MediaCover.MediaCover",
        {
            "coverType": ("enum", ("NzbDrone.Core.MediaCover.MediaCoverTypes", _COVER_TYPES)),
            "url": _S,
            "remoteUrl": _S,
        },
    ),
)


def _series_spec(v3: bool) -> _Spec:
    monitor = MONITOR_TYPES_V3 if v3 else MONITOR_TYPES_V4
    fields: dict[str, _Spec] = {
        "id": _I,
        "title": _S,
        "alternateTitles": _ANY,
        "sortTitle": _S,
        "status": ("enum", ("NzbDrone.Core.Tv.SeriesStatusType", _SERIES_STATUS)),
        "profileName": _S,
        "overview": _S,
        "nextAiring": _DT,
        "previousAiring": _DT,
        "network": _S,
        "airTime": _S,
        "images": ("list", _COVER_SPEC),
        "remotePoster": _S,
        "seasons": (
            "list",
            (
                "obj",
                (
                    "Sonarr.Api.V3.Series.SeasonResource",
                    {
                        "seasonNumber": _I,
                        "monitored": _B,
                        "statistics": _ANY,
                        "images": ("list", _COVER_SPEC),
                    },
                ),
            ),
        ),
        "year": _I,
        "path": _S,
        "qualityProfileId": _I,
        "seasonFolder": _B,
        "monitored": _B,
        "useSceneNumbering": _B,
        "runtime": _I,
        "tvdbId": _I,
        "tvRageId": _I,
        "tvMazeId": _I,
        "firstAired": _DT,
        "seriesType": ("enum", ("NzbDrone.Core.Tv.SeriesTypes", _SERIES_TYPES)),
        "cleanTitle": _S,
        "imdbId": _S,
        "titleSlug": _S,
        "rootFolderPath": _S,
        "folder": _S,
        "certification": _S,
        "genres": ("list", _S),
        "tags": ("list", _I),
        "added": _DT,
        "addOptions": (
            "obj",
            (
                "NzbDrone.Core.Tv.AddSeriesOptions",
                {
                    "ignoreEpisodesWithFiles": _B,
                    "ignoreEpisodesWithoutFiles": _B,
                    "monitor": ("enum", ("NzbDrone.Core.Tv.MonitorTypes", monitor)),
                    "searchForMissingEpisodes": _B,
                    "searchForCutoffUnmetEpisodes": _B,
                },
            ),
        ),
        "ratings": ("obj", ("NzbDrone.Core.Tv.Ratings", {"votes": _I, "value": _D})),
        "statistics": _ANY,
        "episodesChanged": ("nbool", "System.Boolean"),
    }
    if v3:
        fields["languageProfileId"] = _I
    else:
        fields.update(
            monitorNewItems=(
                "enum",
                ("NzbDrone.Core.Tv.NewItemMonitorTypes", _NEW_ITEM_MONITOR_TYPES),
            ),
            originalLanguage=_LANGUAGE_SPEC,
            tmdbId=_I,
            lastAired=_DT,
        )
    return ("obj", ("Sonarr.Api.V3.Series.SeriesResource", fields))


_TAG_SPEC: _Spec = ("obj", ("Sonarr.Api.V3.Tags.TagResource", {"id": _I, "label": _S}))
_EXCLUSION_SPEC: _Spec = (
    "obj",
    (
        "Sonarr.Api.V3.ImportLists.ImportListExclusionResource",
        {"id": _I, "tvdbId": _I, "title": _S},
    ),
)
_ROOTFOLDER_SPEC: _Spec = (
    "obj",
    ("Sonarr.Api.V3.RootFolders.RootFolderResource", {"id": _I, "path": _S}),
)
_BULK_SPEC: _Spec = (
    "obj",
    ("Sonarr.Api.V3.ImportLists.ImportListExclusionBulkResource", {"ids": ("list", _I)}),
)
_EDITOR_SPEC: _Spec = (
    "obj",
    (
        "Sonarr.Api.V3.Series.SeriesEditorResource",
        {
            "seriesIds": ("list", _I),
            "deleteFiles": _B,
            "addImportListExclusion": _B,
        },
    ),
)


class _BindError(Exception):
    def __init__(self, path: str, target: str) -> None:
        super().__init__(path)
        self.path = path
        self.target = target


def _bind(value: Any, spec: _Spec, path: str, *, lenient: bool) -> Any:
    """Bind JSON like System.Text.Json with Sonarr's options (Newtonsoft when ``lenient``).

    Property names match case-insensitively and unknown ones are ignored; numbers, bools
    and strings are not coerced into each other (Newtonsoft coerces numeric strings);
    enums take camelCase names case-insensitively or their integer value.
    """
    kind, detail = spec
    if kind == "any":
        return value
    if value is None:
        if kind in {"int", "bool", "dec"}:
            if lenient:
                return 0 if kind != "bool" else False
            raise _BindError(path, detail)
        if kind == "enum":
            raise _BindError(path, detail[0])
        return None
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            limit = 2**31 if detail == "System.Int32" else 2**63
            if -limit <= value < limit:
                return value
        if lenient and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise _BindError(path, detail)
    if kind in {"bool", "nbool"}:
        if isinstance(value, bool):
            return value
        if lenient and isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _BindError(path, detail)
    if kind == "dec":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise _BindError(path, detail)
    if kind in {"str", "date"}:
        if isinstance(value, str):
            return value
        if lenient and kind == "str" and isinstance(value, int | float | bool):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise _BindError(path, detail)
    if kind == "enum":
        type_name, names = detail
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return names[value]
        if isinstance(value, str):
            for name in names:
                if name.lower() == value.strip().lower():
                    return name
        raise _BindError(path, type_name)
    if kind == "list":
        if not isinstance(value, list):
            raise _BindError(path, f"System.Collections.Generic.List`1[{detail[1]}]")
        return [_bind(v, detail, f"{path}[{i}]", lenient=lenient) for i, v in enumerate(value)]
    if kind == "obj":
        type_name, fields = detail
        if not isinstance(value, dict):
            raise _BindError(path, type_name)
        by_lower = {k.lower(): k for k in fields}
        out: dict[str, Any] = {}
        for key, val in value.items():
            canonical = by_lower.get(key.lower())
            if canonical is None:
                continue
            out[canonical] = _bind(val, fields[canonical], f"{path}.{key}", lenient=lenient)
        return out
    raise AssertionError(kind)  # pragma: no cover


def _dig(raw: Any, path: str) -> Any:
    current = raw
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, index = part
        try:
            if key:
                lowered = {k.lower(): k for k in current}
                current = current[lowered[key.lower()]]
            else:
                current = current[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return current


class RequestBinding(Replies):
    """``[FromBody]`` and ``[FromQuery]`` parameters, failing the way Sonarr does."""

    def _read_body(self, ctx: _Ctx, spec: _Spec, param: str, *, consumes: bool = True) -> Any:
        """Bind a ``[FromBody]`` parameter, failing the way ASP.NET (or Nancy) would."""
        if not self.is_v3 and consumes:
            ctype = (_header(ctx.headers, "Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                raise _HttpError(
                    self._problem(
                        415,
                        "Unsupported Media Type",
                        "https://tools.ietf.org/html/rfc7231#section-6.5.13",
                    )
                )
        text = ctx.body.decode("utf-8", errors="replace")
        if not text.strip():
            if self.is_v3:
                raise _HttpError(self._error_model(400, "Request body can't be empty"))
            raise self._binding_problem("", "A non-empty request body is required.")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            if self.is_v3:
                msg = (
                    f"Invalid request body. {err.msg}. Path '', line {err.lineno}, "
                    f"position {err.colno}."
                )
                raise _HttpError(self._error_model(400, msg)) from None
            msg = (
                f"'{text[err.pos : err.pos + 1] or 'EOF'}' is an invalid start of a value. "
                f"Path: $ | LineNumber: {err.lineno - 1} | BytePositionInLine: {err.colno - 1}."
            )
            raise self._binding_problem("$", msg) from None
        try:
            return _bind(raw, spec, "$", lenient=self.is_v3)
        except _BindError as err:
            if self.is_v3:
                where = err.path.removeprefix("$").removeprefix(".")
                if err.target.startswith("NzbDrone.Core") and not err.target.endswith("Ratings"):
                    msg = (
                        f"Error converting value {json.dumps(_dig(raw, err.path))} to type "
                        f"'{err.target}'. Path '{where}', line 1, position 1."
                    )
                    raise _HttpError(
                        self._exception(500, "Newtonsoft.Json.JsonSerializationException", msg)
                    ) from None
                raise _HttpError(
                    self._error_model(
                        400,
                        f"Invalid request body. Could not convert value to "
                        f"{err.target}. Path '{where}'.",
                    )
                ) from None
            pos = max(text.find(f'"{err.path.rsplit(".", 1)[-1].split("[")[0]}"'), 0)
            msg = (
                f"The JSON value could not be converted to {err.target}. Path: {err.path} | "
                f"LineNumber: 0 | BytePositionInLine: {pos}."
            )
            raise self._binding_problem(err.path, msg) from None

    def _query_int(self, ctx: _Ctx, name: str, display: str | None = None) -> int | None:
        value = ctx.q(name)
        if value is None or value == "":
            return None
        if re.fullmatch(r"\s*-?\d{1,10}\s*", value) and abs(int(value)) < 2**31:
            return int(value)
        suffix = f" for {display}" if display else ""
        raise self._binding_problem(name, f"The value '{value}' is not valid{suffix}.")

    def _query_bool(self, ctx: _Ctx, name: str) -> bool:
        value = ctx.q(name)
        if value is None or value == "":
            return False
        if value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        if self.is_v3:
            return False
        raise self._binding_problem(name, f"The value '{value}' is not valid.")
