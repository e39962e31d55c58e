"""Validating the development engine's answers against Camunda 7's official OpenAPI document.

The document is ``devstack/engine/reference/camunda7-engine-rest.openapi.json``, the part of Camunda's
own document covering the routes the engine serves (its ``info.x-provenance`` says where it comes
from); no schema here is written by hand. Two places where the document and the real Camunda
disagree follow Camunda, on purpose:

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
* statuses: Camunda answers 404 for an unknown process definition key on the two routes in
  ``UNDOCUMENTED_ERRORS`` (a RestException in ProcessDefinitionRestServiceImpl), which the document
  does not list; those bodies are validated as the document's ``ExceptionDto``.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from devstack.engine import openapi

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


def response_schema(method: str, route: str, status: int) -> dict[str, Any] | None:
    """The documented JSON schema of the answer, None for a documented answer without a body."""
    if (method, route, status) in UNDOCUMENTED_ERRORS:
        return _EXCEPTION
    responses = openapi.operation(method, route)["responses"]
    documented = responses.get(str(status))
    assert documented is not None, f"{method} {route} does not document status {status}: {sorted(responses)}"
    content = documented.get("content", {}).get("application/json")
    if content is None:
        return None
    schema: dict[str, Any] = content["schema"]
    return schema


def validate_response(method: str, route: str, status: int, body: Any) -> None:
    """Fail unless ``body`` is what Camunda's document says ``method route`` answers with ``status``."""
    schema = response_schema(method, route, status)
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
    rooted = {**schema, "components": openapi.document()["components"]}
    OAS30Validator(rooted, format_checker=_FORMATS).validate(body)


def _without_nulls(body: Any, names: frozenset[str]) -> Any:
    if isinstance(body, list):
        return [_without_nulls(item, names) for item in body]
    if isinstance(body, dict):
        return {name: value for name, value in body.items() if not (name in names and value is None)}
    return body
