"""The import list exclusion endpoints (``/paged`` on 4.x only)."""

from __future__ import annotations

import re

from tests.doubles.sonarr_sim.binding import _BULK_SPEC, _EXCLUSION_SPEC, RequestBinding
from tests.doubles.sonarr_sim.constants import _SORT_DIRECTIONS
from tests.doubles.sonarr_sim.messages import _Ctx, _Reply
from tests.doubles.sonarr_sim.validation import Validation


class ExclusionEndpoints(RequestBinding, Validation):
    """``importlistexclusion``, its ``/{{id}}``, ``/paged`` and ``/bulk``."""

    def _exclusion_list(self, ctx: _Ctx) -> _Reply:
        ctx.deprecated = not self.is_v3  # [Obsolete("Deprecated")] on 4.x
        return self._json([dict(e) for e in self._exclusions.values()])

    def _exclusion_paged(self, ctx: _Ctx) -> _Reply:
        page = self._query_int(ctx, "page", "Page")
        page_size = self._query_int(ctx, "pageSize", "PageSize")
        sort_key = ctx.q("sortKey")
        direction_raw = ctx.q("sortDirection")
        direction = "descending"
        if direction_raw not in {None, ""}:
            assert direction_raw is not None
            match = [d for d in _SORT_DIRECTIONS if d == direction_raw.strip().lower()]
            if re.fullmatch(r"\d", direction_raw.strip()) and int(direction_raw) < 3:
                match = [_SORT_DIRECTIONS[int(direction_raw)]]
            if not match:
                raise self._binding_problem(
                    "sortDirection", f"The value '{direction_raw}' is not valid for SortDirection."
                )
            direction = match[0]
        if direction == "default":
            direction = "descending"
        page = 1 if page is None else page
        page_size = 10 if page_size is None else page_size
        effective_key = (
            sort_key if sort_key and sort_key.lower() in {"id", "title", "tvdbid"} else "id"
        )
        field_name = {"id": "id", "title": "title", "tvdbid": "tvdbId"}[effective_key.lower()]
        records = sorted(
            self._exclusions.values(),
            key=lambda e: (e[field_name], e["id"]),
            reverse=direction == "descending",
        )
        offset = max(0, (page - 1) * page_size)
        window = records[offset:] if page_size < 0 else records[offset : offset + page_size]
        return self._json(
            {
                "page": page,
                "pageSize": page_size,
                "sortKey": effective_key,
                "sortDirection": direction,
                "totalRecords": len(records),
                "records": [dict(e) for e in window],
            }
        )

    def _exclusion_get(self, ctx: _Ctx) -> _Reply:
        return self._one(ctx, self._exclusions, "ImportListExclusion", dict)

    def _exclusion_add(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _EXCLUSION_SPEC, "resource")
        failures = self._exclusion_failures(res, int(res.get("id") or 0))
        if failures:
            return self._validation(failures)
        ex = {"id": self._next_exclusion_id, "tvdbId": res["tvdbId"], "title": res["title"]}
        self._next_exclusion_id += 1
        self._exclusions[ex["id"]] = ex
        return self._created(ctx, "importlistexclusion", ex["id"], dict(ex))

    def _exclusion_update(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _EXCLUSION_SPEC, "resource")
        ex_id = int(res.get("id") or 0) or ctx.params.get("id", 0)
        failures = self._exclusion_failures(res, ex_id)
        if ex_id <= 0:
            failures.append(self._greater_than("Id", ex_id, 0))
        if failures:
            return self._validation(failures)
        ex = self._exclusions.get(ex_id)
        if ex is None:
            return self._model_not_found("ImportListExclusion", ex_id)
        ex.update(tvdbId=res["tvdbId"], title=res["title"])
        return self._json(dict(ex), 202)

    def _exclusion_delete(self, ctx: _Ctx) -> _Reply:
        ex_id = ctx.params["id"]
        if ex_id <= 0:
            return self._bad_request_id(ex_id)
        self._exclusions.pop(ex_id, None)  # a missing id is not an error (DELETE ... WHERE)
        return _Reply(200)

    def _exclusion_bulk(self, ctx: _Ctx) -> _Reply:
        res = self._read_body(ctx, _BULK_SPEC, "resource", consumes=False)
        for ex_id in res.get("ids") or []:
            self._exclusions.pop(ex_id, None)
        return self._json({})
