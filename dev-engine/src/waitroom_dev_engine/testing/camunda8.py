"""Validating requests to and answers from the development engine's ``/v2`` against Camunda 8's
OpenAPI document for the Orchestration Cluster API (8.8).

The document is ``dev-engine/src/waitroom_dev_engine/reference/camunda8-orchestration-cluster-api.openapi.json``, the
part of Camunda's own document covering the routes the engine serves (its ``info.x-provenance``
says where it comes from); no schema here is written by hand. ``Camunda8`` is a small client whose
``call`` sends a request, checks its JSON body against the documented request schema, and checks
the answer's status and body against the documented response.

One place where the document and Camunda disagree follows Camunda, on purpose: the search filter
properties (``ProcessInstanceStateFilterProperty``, ``StringFilterProperty`` ...) are documented as
``type: object`` with a ``oneOf`` of a plain value (exact match) or an object of operators, so no
plain value could ever validate, while Camunda's documentation and server take ``"state":
"ACTIVE"``; for validating, ``type: object`` is dropped from schemas whose ``oneOf`` offers a
non-object (``_components``). Three more, likewise:

* ``ElementInstanceFilter.elementInstanceScopeKey`` is a ``oneOf`` of ``ElementInstanceKey`` and
  ``ProcessInstanceKey``, two schemas of the same ``LongKey`` string, so no key could match exactly
  one; for validating, a ``oneOf`` of keys only is read as ``anyOf`` (``_any_key``);
* the search queries (``ProcessInstanceSearchQuery``, ``IncidentSearchQuery``) say
  ``additionalProperties: false`` beside an ``allOf`` bringing in ``page``, which JSON Schema reads
  as "no page allowed"; for validating, the ``allOf`` parts' properties are listed with the others;
* statuses: creating an instance of a process nobody deployed is a command Zeebe rejects with
  ``NOT_FOUND``, which Camunda's gateway answers 404 (its RestErrorMapper maps that rejection type
  to 404), while the document lists no 404 for ``POST /process-instances``; that answer is
  validated as the document's ``ProblemDetail`` (``UNDOCUMENTED_ERRORS``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from waitroom_dev_engine.openapi import find_operation

DOCUMENT = Path(__file__).resolve().parents[1] / "reference" / "camunda8-orchestration-cluster-api.openapi.json"
HTTP_TIMEOUT = 30
UNDOCUMENTED_ERRORS = frozenset({("POST", "/process-instances", 404)})
_PROBLEM = {"$ref": "#/components/schemas/ProblemDetail"}


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def operation(method: str, route: str) -> dict[str, Any]:
    return find_operation(document(), method, route, name=DOCUMENT.name)


@cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = json.loads(json.dumps(document()["components"]))
    for schema in components["schemas"].values():
        branches = [_resolve(branch) if "$ref" in branch else branch for branch in schema.get("oneOf", [])]
        if schema.get("type") == "object" and any(branch.get("type") not in (None, "object") for branch in branches):
            del schema["type"]
    _any_key(components["schemas"])
    for schema in components["schemas"].values():
        if schema.get("additionalProperties") is False and "allOf" in schema:
            for part in schema["allOf"]:
                inherited = components["schemas"][part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
                schema.setdefault("properties", {}).update(inherited.get("properties", {}))
    return components


def _any_key(node: Any) -> None:
    """Make each ``oneOf`` of keys only an ``anyOf``: every key (a ``LongKey`` string) is valid under
    all of them, so no value could match exactly one."""
    if isinstance(node, dict):
        branches = node.get("oneOf")
        if branches and all(_is_key(branch) for branch in branches):
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _any_key(value)
    elif isinstance(node, list):
        for item in node:
            _any_key(item)


def _is_key(branch: Any) -> bool:
    return (
        isinstance(branch, dict)
        and "$ref" in branch
        and {"$ref": "#/components/schemas/LongKey"} in _resolve(branch).get("allOf", [])
    )


def _validate(schema: dict[str, Any], value: Any) -> None:
    # The schema's references point into the document's components, so the document is its root.
    rooted = {**schema, "components": _components()}
    OAS30Validator(rooted, format_checker=oas30_format_checker).validate(value)


def _resolve(item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        kind, name = item["$ref"].split("/")[-2:]
        item = document()["components"][kind][name]
    return item


def validate_request(method: str, route: str, body: Any) -> None:
    """Fail unless ``body`` is a JSON body the document allows for ``method route``."""
    request_body = operation(method, route).get("requestBody")
    if request_body is None:
        assert body is None, f"{method} {route} documents no request body"
        return
    if body is None:
        assert not request_body.get("required"), f"{method} {route} requires a body"
        return
    _validate(request_body["content"]["application/json"]["schema"], body)


def validate_response(method: str, route: str, status: int, body: Any, content_type: str) -> None:
    """Fail unless the answer is what the document says ``method route`` answers with ``status``."""
    if (method, route, status) in UNDOCUMENTED_ERRORS:
        assert content_type.startswith("application/problem+json"), content_type
        _validate(_PROBLEM, body)
        return
    responses = operation(method, route)["responses"]
    documented = responses.get(str(status))
    assert documented is not None, f"{method} {route} does not document status {status}: {sorted(responses)}"
    content = _resolve(documented).get("content")
    if not content:
        assert body is None, f"{method} {route} {status} documents no body, got {body!r}"
        return
    media_type = content_type.partition(";")[0].strip()
    assert media_type in content, f"{method} {route} {status}: {media_type} is not one of {sorted(content)}"
    _validate(content[media_type]["schema"], body)


def _body(response: requests.Response) -> Any:
    """An answer's JSON, or its text when it is a document of another type (a process's XML)."""
    if not response.content:
        return None
    if "json" in response.headers.get("Content-Type", "application/json"):
        return response.json()
    return response.text


class Camunda8:
    """The engine's Camunda 8 API, every call checked against the document."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        # Every documented (method, route) called, for the suite to check it exercised them all.
        self.called: set[tuple[str, str]] = set()

    def call(
        self,
        method: str,
        route: str,
        status: int,
        *,
        path: str | None = None,
        json_body: Any = None,
        files: Any = None,
        timeout: float = HTTP_TIMEOUT,
        invalid_request: bool = False,
    ) -> Any:
        """``invalid_request``: the body is one the document forbids (the test checks the answer
        to it), and the document must indeed forbid it."""
        self.called.add((method, route))
        if files is None and invalid_request:
            with pytest.raises(ValidationError):
                validate_request(method, route, json_body)
        elif files is None:
            validate_request(method, route, json_body)
        response = self.session.request(
            method, self.url + (path or route), json=json_body, files=files, timeout=timeout
        )
        assert response.status_code == status, f"{method} {path or route}: {response.status_code} {response.text}"
        body = _body(response)
        validate_response(method, route, status, body, response.headers.get("Content-Type", ""))
        return body

    def deploy(self, *resources: tuple[str, bytes]) -> dict[str, Any]:
        files = [("resources", (name, data, "application/octet-stream")) for name, data in resources]
        deployed: dict[str, Any] = self.call("POST", "/deployments", 200, files=files)
        return deployed

    def start(self, process_id: str, variables: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
        request = {"processDefinitionId": process_id, **({"variables": variables} if variables is not None else {})}
        started: dict[str, Any] = self.call("POST", "/process-instances", 200, json_body={**request, **body})
        return started

    def activate(self, job_type: str, *, worker: str = "tests", timeout: int = 60_000, max_jobs: int = 10,
                 request_timeout: int = -1, **body: Any) -> list[dict[str, Any]]:  # fmt: skip
        request = {
            "type": job_type,
            "worker": worker,
            "timeout": timeout,
            "maxJobsToActivate": max_jobs,
            "requestTimeout": request_timeout,
            **body,
        }
        activated = self.call(
            "POST", "/jobs/activation", 200, json_body=request, timeout=HTTP_TIMEOUT + request_timeout / 1000
        )
        jobs: list[dict[str, Any]] = activated["jobs"]
        return jobs

    def activate_one(self, job_type: str, **options: Any) -> dict[str, Any]:
        jobs = self.activate(job_type, max_jobs=1, **options)
        assert len(jobs) == 1, jobs
        return jobs[0]

    def complete(self, job_key: str, variables: dict[str, Any] | None = None) -> None:
        body = None if variables is None else {"variables": variables}
        self.call("POST", "/jobs/{jobKey}/completion", 204, path=f"/jobs/{job_key}/completion", json_body=body)

    def instance(self, key: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call(
            "GET", "/process-instances/{processInstanceKey}", 200, path=f"/process-instances/{key}"
        )
        return found
