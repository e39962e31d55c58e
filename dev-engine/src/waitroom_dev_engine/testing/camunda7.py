"""Validating the development engine's answers, and the requests Waitroom sends, against the engines'
official OpenAPI documents.

The documents are in ``dev-engine/src/waitroom_dev_engine/reference``: Camunda 7's, the part of Camunda's own document
covering the routes the engine serves, and Operaton's and CIB seven's, the same routes of theirs
(``info.x-provenance`` of each, and PROVENANCE.md there, say where they come from); no schema here
is written by hand. The development engine's answers (it answers as Camunda 7.24 does) and Waitroom's
requests are validated against each of ``ENGINE_DOCUMENTS`` (:func:`validate_response`,
:func:`validate_request`). Where a document and the real Camunda disagree, these follow Camunda,
on purpose:

* dates: the document says ``format: date-time`` (RFC 3339, ``+00:00``), Camunda writes
  ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (``+0000``); the format checker below accepts Camunda's form only;
* ``code``: ``ExceptionDto.code`` is a number in the document, but errors raised by Camunda's REST
  layer itself (not by the engine) carry ``"code": null``; such bodies are validated without it,
  after checking that their type is one of the REST layer's;
* null references: OpenAPI 3.0 cannot mark a ``$ref`` property nullable, so the document types
  ``execution`` and ``processInstance`` of a message correlation result as objects, while Camunda
  writes the one that does not apply as null (as the document's own example for POST /message
  shows), and ``camundaFormRef`` of a task without a Camunda Form is null; those nulls are left
  out before validating;
* nullable enums: ``TaskDto.delegationState`` is ``nullable`` with an ``enum``, which OpenAPI 3.0
  validators read as "one of the enum values" only, while Camunda writes null for a task nobody
  delegated; that null is left out before validating;
* request dates: a ``format: date-time`` parameter is read in the same ``+0000`` form (Camunda's
  default date format, which the documents' descriptions name);
* multipart parts: every part carrying a file is a resource, whatever its name (the documents'
  ``data`` property says so);
* statuses: Camunda answers 404 for an unknown process definition key on the two routes in
  ``UNDOCUMENTED_ERRORS`` (a RestException in ProcessDefinitionRestServiceImpl), which the document
  does not list; those bodies are validated as the document's ``ExceptionDto``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from waitroom_dev_engine import openapi
from waitroom_dev_engine.multipart import parse_form_data

REFERENCE = openapi.DOCUMENT.parent
# The engines whose /engine-rest Waitroom supports, and their documents (same routes in each).
ENGINE_DOCUMENTS = {
    "camunda7": REFERENCE / "camunda7-engine-rest.openapi.json",
    "operaton": REFERENCE / "operaton-engine-rest.openapi.json",
    "cibseven": REFERENCE / "cibseven-engine-rest.openapi.json",
}

# Camunda REST's date format, Java pattern yyyy-MM-dd'T'HH:mm:ss.SSSZ.
CAMUNDA_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
# Exceptions raised by the REST layer (JAX-RS and Camunda's resources), which carry no engine code.
REST_LAYER_TYPES = frozenset(
    {"InvalidRequestException", "RestException", "NotFoundException", "NotAllowedException", "NotSupportedException"}
)

UNDOCUMENTED_ERRORS = frozenset(
    {("GET", "/process-definition/key/{key}", 404), ("POST", "/process-definition/key/{key}/start", 404)}
)
_EXCEPTION = {"$ref": "#/components/schemas/ExceptionDto"}
_NULL_TASK_PROPERTIES = frozenset({"delegationState", "camundaFormRef"})

_FORMATS = FormatChecker()
for _name, _checker in oas30_format_checker.checkers.items():
    if _name != "date-time":
        _FORMATS.checkers[_name] = _checker


@_FORMATS.checks("date-time")
def _camunda_date(value: object) -> bool:
    return not isinstance(value, str) or CAMUNDA_DATE.match(value) is not None


def response_schema(method: str, route: str, status: int, engine: str = "camunda7") -> dict[str, Any] | None:
    """The documented JSON schema of the answer, None for a documented answer without a body."""
    if (method, route, status) in UNDOCUMENTED_ERRORS:
        return _EXCEPTION
    responses = documented_operation(engine, method, route)["responses"]
    documented = responses.get(str(status))
    assert documented is not None, f"{method} {route} does not document status {status}: {sorted(responses)}"
    content = documented.get("content", {}).get("application/json")
    if content is None:
        return None
    schema: dict[str, Any] = content["schema"]
    return schema


def validate_response(method: str, route: str, status: int, body: Any, engine: str = "camunda7") -> None:
    """Fail unless ``body`` is what ``engine``'s document says ``method route`` answers with ``status``."""
    schema = response_schema(method, route, status, engine)
    if schema is None:
        assert body is None, f"{method} {route} {status} documents no body, got {body!r}"
        return
    if status >= 400 and isinstance(body, dict) and body.get("code", 0) is None:
        assert body.get("type") in REST_LAYER_TYPES, f"code null on a non-REST-layer error: {body}"
        body = {name: value for name, value in body.items() if name != "code"}
    if route.startswith("/task") and status == 200:
        body = _without_nulls(body, _NULL_TASK_PROPERTIES)
    if route == "/message" and isinstance(body, list):
        body = [{name: value for name, value in result.items() if value is not None} for result in body]
    # The schema's references point into the document's components, so the document is its root.
    rooted = {**schema, "components": engine_document(engine)["components"]}
    OAS30Validator(rooted, format_checker=_FORMATS).validate(body)


def documented_operation(engine: str, method: str, route: str) -> dict[str, Any]:
    """The operation ``engine``'s document gives a route template (placeholders may be named differently)."""
    return openapi.find_operation(engine_document(engine), method, route, name=ENGINE_DOCUMENTS[engine].name)


def _without_nulls(body: Any, names: frozenset[str]) -> Any:
    if isinstance(body, list):
        return [_without_nulls(item, names) for item in body]
    if isinstance(body, dict):
        return {name: value for name, value in body.items() if not (name in names and value is None)}
    return body


# Requests -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentRequest:
    """One HTTP request as it left Waitroom, its path below the ``/engine-rest`` mount point."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    content_type: str | None
    body: bytes

    @classmethod
    def from_prepared(
        cls, method: str, url: str, headers: Mapping[str, str], body: bytes | str | None, base: str
    ) -> SentRequest:
        mount = urlsplit(base).path.rstrip("/")
        parts = urlsplit(url)
        assert parts.path.startswith(mount + "/"), f"{url} is not below {base}"
        return cls(
            method=method,
            path=parts.path[len(mount) :],
            query=parse_qs(parts.query, keep_blank_values=True),
            content_type=headers.get("Content-Type"),
            body=body.encode("utf-8") if isinstance(body, str) else body or b"",
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@cache
def engine_document(engine: str) -> dict[str, Any]:
    path: Path = ENGINE_DOCUMENTS[engine]
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def validate_request(engine: str, request: SentRequest) -> str:
    """Fail unless ``engine``'s document describes ``request``: its route and method, every query
    parameter (documented, of its type), its body (documented media type, valid, no undocumented
    property). Returns the documented route."""
    document = engine_document(engine)
    route, operation = _operation(document, request)
    parameters = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, values in request.query.items():
        assert name in parameters, f"{request}: {engine} does not document query parameter {name!r}"
        for value in values:
            _validate(document, parameters[name]["schema"], _from_text(parameters[name]["schema"], value), name)
    for name, parameter in parameters.items():
        assert not parameter.get("required") or name in request.query, f"{request}: {name!r} is required"
    body = operation.get("requestBody")
    if body is None:
        assert not request.body, f"{request}: {engine} documents no request body"
        return route
    if not request.body:
        assert not body.get("required"), f"{request}: {engine} requires a body"
        return route
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    content = body["content"].get(media_type)
    assert content is not None, f"{request}: {engine} documents {sorted(body['content'])}, not {media_type!r}"
    schema = content["schema"]
    if media_type == "application/json":
        value = json.loads(request.body)
        _validate(document, schema, value, "body")
        undocumented = _undocumented(document, schema, value, "body")
        assert not undocumented, f"{request}: {engine} does not document {undocumented}"
    else:
        _validate_form(document, schema, request, engine)
    return route


def _operation(document: dict[str, Any], request: SentRequest) -> tuple[str, dict[str, Any]]:
    """The documented route the path matches, literal segments first (``/external-task/fetchAndLock``
    before ``/external-task/{id}``)."""
    segments = [unquote(segment) for segment in request.path.strip("/").split("/")]
    matches: list[tuple[int, str]] = []
    for route in document["paths"]:
        template = route.strip("/").split("/")
        if len(template) == len(segments) and all(
            part == segment or (part.startswith("{") and segment)
            for part, segment in zip(template, segments, strict=True)
        ):
            matches.append((sum(not part.startswith("{") for part in template), route))
    for _literal, route in sorted(matches, reverse=True):
        operation = document["paths"][route].get(request.method.lower())
        if operation is not None:
            found: dict[str, Any] = operation
            return route, found
    raise AssertionError(f"{request} is not documented ({[route for _, route in matches]} do not take it)")


def _validate(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    rooted = {**schema, "components": document["components"]}
    errors = list(OAS30Validator(rooted, format_checker=_FORMATS).iter_errors(value))
    assert not errors, f"{where}: {[error.message for error in errors]}"


def _from_text(schema: dict[str, Any], text: str) -> Any:
    """A query or form value as the JAX-RS layer converts it for the documented type."""
    kind = schema.get("type")
    if kind == "integer":
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _properties(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolved(document, schema)
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        found.update(_properties(document, part))
    return found


def _undocumented(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> list[str]:
    """The paths of the JSON values the schema does not describe (a documented object's undocumented
    property); a free-form object (no properties) describes all of its own."""
    schema = _resolved(document, schema)
    if isinstance(value, list):
        items = schema.get("items")
        if items is None:
            return []
        return [
            name
            for index, item in enumerate(value)
            for name in _undocumented(document, items, item, f"{where}[{index}]")
        ]
    if not isinstance(value, dict):
        return []
    properties = _properties(document, schema)
    extra = schema.get("additionalProperties")
    if not properties and extra is None:
        return []
    found: list[str] = []
    for name, item in value.items():
        if name in properties:
            found.extend(_undocumented(document, properties[name], item, f"{where}.{name}"))
        elif isinstance(extra, dict):
            found.extend(_undocumented(document, extra, item, f"{where}.{name}"))
        elif extra is not True:
            found.append(f"{where}.{name}")
    return found


def _validate_form(document: dict[str, Any], schema: dict[str, Any], request: SentRequest, engine: str) -> None:
    properties = _properties(document, schema)
    binary = [name for name, prop in properties.items() if _resolved(document, prop).get("format") == "binary"]
    parts = parse_form_data(request.content_type or "", request.body)
    for part in parts:
        if part.filename is not None:
            assert binary, f"{request}: {engine} documents no file part"
            continue
        assert part.name in properties, f"{request}: {engine} does not document form field {part.name!r}"
        prop = _resolved(document, properties[part.name])
        _validate(document, prop, _from_text(prop, part.text), part.name)
