"""Pytest fixtures serving the Sonarr simulator on loopback, and Sonarr's OpenAPI description.

``sonarr_sim`` is the common case: a Sonarr 4.0.19 with root folder ``/tv``, quality
profiles ``Any`` (id 1) and ``HD-1080p`` (id 4), the tag ``auto-sync`` (id 1), and the
packaged TVMaze sample as its metadata catalogue, so every TVDB id the TVMaze simulator
serves can be looked up and added. ``sonarr_sim_factory`` builds others (v3 mode, an
existing library, exclusions...); every simulator it made is stopped at teardown.

``openapi`` is Sonarr's own OpenAPI description (tests that need it skip when
``../shared/sonarr/openapi-v3.json`` is absent); ``conform(instance, schema)`` checks a
body against one of its schemas (``conform.response(path)``, ``conform.request(path)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.sonarr_sim import DEFAULT_V3_VERSION, SonarrSimulator

SONARR_API_KEY = "sonarr-test-key"
SONARR_ROOT_FOLDER = "/tv"
SONARR_TAG = "auto-sync"
SONARR_QUALITY_PROFILES: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Any"},
    {"id": 4, "name": "HD-1080p"},
)
SONARR_V3_VERSION = DEFAULT_V3_VERSION

SonarrFactory = Callable[..., SonarrSimulator]

OPENAPI_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "sonarr" / "openapi-v3.json"


@pytest.fixture
def sonarr_sim_factory() -> Iterator[SonarrFactory]:
    """Build and start simulators; keyword arguments go to :class:`SonarrSimulator`.

    Defaults match ``sonarr_sim``; pass ``version=SONARR_V3_VERSION`` for a v3 server.
    """
    with ExitStack() as started:

        def make(**kwargs: Any) -> SonarrSimulator:
            kwargs.setdefault("api_key", SONARR_API_KEY)
            kwargs.setdefault("root_folders", [SONARR_ROOT_FOLDER])
            kwargs.setdefault("quality_profiles", [dict(p) for p in SONARR_QUALITY_PROFILES])
            kwargs.setdefault("tags", [SONARR_TAG])
            return started.enter_context(SonarrSimulator(**kwargs))

        yield make


@pytest.fixture
def sonarr_sim(sonarr_sim_factory: SonarrFactory) -> SonarrSimulator:
    """A started Sonarr 4.0.19 simulator with the project's standard setup."""
    return sonarr_sim_factory()


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (nullable, local $refs)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI_PATH.exists():
        pytest.skip("Sonarr's OpenAPI description is not at ../shared/sonarr/openapi-v3.json")
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def conform(openapi: dict[str, Any]) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    defs = _to_json_schema(openapi["components"]["schemas"])

    def check(instance: Any, schema: dict[str, Any]) -> None:
        root = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
            **_to_json_schema(schema),
        }
        jsonschema.Draft202012Validator(root).validate(instance)

    def response_schema(path: str, method: str = "get") -> dict[str, Any]:
        op = openapi["paths"][path][method]
        return op["responses"]["200"]["content"]["application/json"]["schema"]

    def request_schema(path: str, method: str = "post") -> dict[str, Any]:
        op = openapi["paths"][path][method]
        return op["requestBody"]["content"]["application/json"]["schema"]

    check.response = response_schema  # type: ignore[attr-defined]
    check.request = request_schema  # type: ignore[attr-defined]
    return check
