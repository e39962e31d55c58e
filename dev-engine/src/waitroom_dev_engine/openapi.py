"""What Camunda documents for each route the engine serves, read from Camunda's own OpenAPI document.

``reference/camunda7-engine-rest.openapi.json`` is the part of Camunda 7's official REST OpenAPI
document covering the routes served here (its ``info.x-provenance`` says where it comes from). The
REST layer uses it to refuse, with a 400 naming it, every documented parameter a route does not
apply; the conformance tests validate every answer against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).parent / "reference" / "camunda7-engine-rest.openapi.json"
_PLACEHOLDER = re.compile(r"\{\w+\}")


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def operation(method: str, path: str) -> dict[str, Any]:
    """The documented operation for a route template (placeholders may be named differently)."""
    return find_operation(document(), method, path, name=DOCUMENT.name)


def find_operation(openapi: Mapping[str, Any], method: str, path: str, *, name: str) -> dict[str, Any]:
    """The operation an OpenAPI document (``name`` in the error) gives a route template, whatever its
    placeholders are named; a ``KeyError`` when it documents none."""
    wanted = _PLACEHOLDER.sub("{}", path)
    for documented, item in openapi["paths"].items():
        if _PLACEHOLDER.sub("{}", documented) == wanted and method.lower() in item:
            found: dict[str, Any] = item[method.lower()]
            return found
    raise KeyError(f"{method} {path} is not in {name}")


def query_parameters(method: str, path: str) -> frozenset[str]:
    parameters = operation(method, path).get("parameters", [])
    return frozenset(parameter["name"] for parameter in parameters if parameter["in"] == "query")


def body_properties(method: str, path: str) -> frozenset[str]:
    """The properties of the route's JSON request body (empty when it takes none)."""
    content = operation(method, path).get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return frozenset(_properties(schema)) if schema is not None else frozenset()


def _properties(schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        return _properties(document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    names = list(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names.extend(_properties(part))
    return names
