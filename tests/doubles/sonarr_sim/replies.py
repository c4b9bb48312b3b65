"""How Sonarr answers: JSON, ErrorModel, exceptions, ProblemDetails, validation arrays."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from tests.doubles.sonarr_sim.constants import _JSON, _PROBLEM_JSON
from tests.doubles.sonarr_sim.helpers import _drop_none, _dumps, _trace_id
from tests.doubles.sonarr_sim.messages import _Ctx, _HttpError, _Reply
from tests.doubles.sonarr_sim.state import State


class Replies(State):
    """Reply builders every endpoint uses."""

    def _json(self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        return _Reply(status, _dumps(obj), _JSON, dict(headers or {}))

    def _error_model(
        self,
        status: int,
        message: str,
        description: str | None = None,
        *,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Reply:
        """Sonarr's ErrorModel ``{message, description, content}`` (nulls omitted)."""
        return self._json(
            _drop_none({"message": message, "description": description, "content": content}),
            status,
            headers,
        )

    def _exception(self, status: int, exc_type: str, message: str) -> _Reply:
        """What SonarrErrorPipeline writes for an unhandled exception of ``exc_type``."""
        description: str | None = f"{exc_type}: {message}\n   at Sonarr (simulated stack trace)"
        if self.is_v3 and status == 409:
            description = None
        return self._error_model(status, message, description)

    def _bad_request_id(self, value: int) -> _Reply:
        msg = f"{value} is not a valid ID"
        if self.is_v3:
            return self._error_model(400, msg, None)
        return self._error_model(400, f"BadRequest: {msg}", content=msg)

    def _not_found(self, model: str, model_id: int) -> _Reply:
        """``GET /x/{id}`` for a missing id: ProblemDetails on 4.x, ErrorModel on 3.x."""
        if self.is_v3:
            return self._model_not_found(model, model_id)
        return self._problem(404, "Not Found", "https://tools.ietf.org/html/rfc7231#section-6.5.4")

    def _model_not_found(self, model: str, model_id: int) -> _Reply:
        """The repository's ModelNotFoundException (an update of a missing id, on any version)."""
        msg = f"{model} with ID {model_id} does not exist"
        return self._exception(404, "NzbDrone.Core.Datastore.ModelNotFoundException", msg)

    def _problem(
        self, status: int, title: str, type_uri: str, errors: dict[str, list[str]] | None = None
    ) -> _Reply:
        """ASP.NET Core 6 ProblemDetails / ValidationProblemDetails."""
        body: dict[str, Any] = {"type": type_uri, "title": title, "status": status}
        if errors is not None:
            body["errors"] = errors
        body["traceId"] = _trace_id()
        return _Reply(status, _dumps(body), _PROBLEM_JSON)

    def _binding_problem(self, key: str, message: str) -> _HttpError:
        if self.is_v3:
            return _HttpError(self._error_model(400, message))
        return _HttpError(
            self._problem(
                400,
                "One or more validation errors occurred.",
                "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                {key: [message]},
            )
        )

    def _one(
        self,
        ctx: _Ctx,
        records: Mapping[int, dict[str, Any]],
        model: str,
        resource: Callable[[dict[str, Any]], Any] = copy.deepcopy,
    ) -> _Reply:
        """``GET /x/{id}``: the record as its resource, or Sonarr's not-found answer."""
        rec = records.get(ctx.params["id"])
        if rec is None:
            return self._not_found(model, ctx.params["id"])
        return self._json(resource(rec))

    def _validation(self, failures: list[dict[str, Any]]) -> _Reply:
        """FluentValidation failures as SonarrErrorPipeline writes them: a 400 array."""
        return self._json(failures, 400)

    def _constraint_failed(self, column: str) -> _Reply:
        msg = f"constraint failed\r\nUNIQUE constraint failed: {column}"
        return self._exception(409, "System.Data.SQLite.SQLiteException", msg)

    def _created(self, ctx: _Ctx, resource: str, res_id: int, body: Any) -> _Reply:
        """``CreatedAtAction``: 201, absolute Location of the new resource, the resource."""
        location = f"http://{ctx.host}{self.url_base}/api/v3/{resource}/{res_id}"
        return self._json(body, 201, {"Location": location} if not self.is_v3 else None)
