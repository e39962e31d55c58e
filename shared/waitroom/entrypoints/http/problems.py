"""RFC 9457 problem details: the body of every error answer (``application/problem+json``).

Each error code has a stable ``type`` URI, ``urn:waitroom:problem:<code in kebab case>``, and a
title; README.md ("Errors") documents every one. The types are identifiers, not links: RFC 9457
§3.1 lets a type be a URI that does not resolve, and a consumer must compare it, not fetch it. The
extension members ``code`` (the SNAKE_CASE code) and ``errors`` (``[{"field", "reason"}]``) carry
what the previous error shape carried; a failure of Camunda adds ``camunda``, Camunda's own answer
(``[{"camundaStatus", "camundaType", "camundaMessage"}]``).
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:waitroom:problem:"

#: The title of each code's problem: a short summary that does not change from one answer to the
#: next (RFC 9457 §3.1.3); the answer's ``detail`` says what happened this time.
TITLES: dict[str, str] = {
    "VALIDATION_ERROR": "The request is invalid",
    "UNAUTHENTICATED": "The request carries no valid identity",
    "PROCESS_KEY_NOT_ALLOWED": "This process key may not be started through Waitroom",
    "PAYLOAD_TOO_LARGE": "The body is too large",
    "UNSUPPORTED_MEDIA_TYPE": "The body is not JSON",
    "PROCESS_NOT_FOUND": "No such process",
    "PROCESS_DEFINITION_NOT_FOUND": "No such process definition in Camunda",
    "ROUTE_NOT_FOUND": "No such route",
    "CORRELATION_ID_CONFLICT": "The correlation id belongs to another request",
    "ALREADY_FINISHED": "The process has already finished otherwise",
    "PROCESS_PENDING": "The process has not finished yet",
    "CAMUNDA_REJECTED": "Camunda refused the request",
    "CAMUNDA_ERROR": "Camunda failed",
    "CAMUNDA_NO_ANSWER": "Camunda did not answer",
    "CAMUNDA_NOT_FOUND": "Camunda does not know what was asked for",
    "CAMUNDA_START_UNCONFIRMED": "Camunda did not confirm the start",
    "PROCESS_START_FAILED": "The start failed while the request waited for it",
    "CAMUNDA_UNAVAILABLE": "Camunda cannot be reached",
    "STORE_UNAVAILABLE": "The database cannot be reached",
    "CONFIGURATION_ERROR": "Waitroom is misconfigured",
    "INTERNAL_ERROR": "An unexpected error occurred",
}


def problem_type(code: str) -> str:
    """``VALIDATION_ERROR`` → ``urn:waitroom:problem:validation-error``."""
    return TYPE_PREFIX + code.lower().replace("_", "-")


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The problem document of one error answer; ``instance`` is the request's path."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": TITLES.get(code, TITLES["INTERNAL_ERROR"]),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body["code"] = code
    # An error's details name fields; Camunda's failures carry Camunda's own answer instead, kept
    # whole in the extension member ``camunda``, so that nothing of it is lost.
    details = errors or []
    body["errors"] = [
        {"field": str(item["field"]), "reason": str(item["reason"])}
        for item in details
        if "field" in item and "reason" in item
    ]
    upstream = [item for item in details if not ("field" in item and "reason" in item)]
    if upstream:
        body["camunda"] = upstream
    return body
