"""RFC 9457 problem details: the body of every error answer (``application/problem+json``), and
the one error table that says each problem's HTTP status.

Each error code has a stable ``type`` URI, ``urn:waitroom:problem:<code in kebab case>``, a title,
and a sentence saying when it is answered; :func:`problem_types` lists them all, for documentation
generated from the code. The types are identifiers, not links: RFC 9457 §3.1 lets a type be a URI
that does not resolve, and a consumer must compare it, not fetch it. The extension members are
``code`` (the SNAKE_CASE code) and ``errors`` (``[{"field", "reason"}]``, the fields at fault as
the caller sent them); a failure of Camunda adds ``camunda``, Camunda's own answer
(``[{"camundaStatus", "camundaType", "camundaMessage"}]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from waitroom.domain.errors import (
    AlreadyFinished,
    CamundaFailed,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaRejected,
    CamundaStartUnconfirmed,
    CamundaUnavailable,
    ConfigurationError,
    CorrelationConflict,
    InvalidRequest,
    PayloadTooLarge,
    ProcessDefinitionNotFound,
    ProcessKeyNotAllowed,
    ProcessNotFound,
    ProcessPending,
    StartFailed,
    StoreUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    WaitroomError,
)
from waitroom.entrypoints.http.request_edges import MAX_JSON_DEPTH

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


#: The one mapping from domain errors to HTTP statuses. The most specific class wins.
STATUS_OF: dict[type[WaitroomError], HTTPStatus] = {
    InvalidRequest: HTTPStatus.BAD_REQUEST,
    Unauthenticated: HTTPStatus.UNAUTHORIZED,
    ProcessKeyNotAllowed: HTTPStatus.FORBIDDEN,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ProcessNotFound: HTTPStatus.NOT_FOUND,
    ProcessDefinitionNotFound: HTTPStatus.NOT_FOUND,
    CorrelationConflict: HTTPStatus.CONFLICT,
    AlreadyFinished: HTTPStatus.CONFLICT,
    ProcessPending: HTTPStatus.CONFLICT,
    CamundaRejected: HTTPStatus.BAD_GATEWAY,
    CamundaNotFound: HTTPStatus.BAD_GATEWAY,
    CamundaFailed: HTTPStatus.BAD_GATEWAY,
    CamundaNoAnswer: HTTPStatus.BAD_GATEWAY,
    CamundaStartUnconfirmed: HTTPStatus.BAD_GATEWAY,
    StartFailed: HTTPStatus.BAD_GATEWAY,
    CamundaUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    StoreUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
}
#: The problems of the HTTP layer itself, which no domain error stands for.
HTTP_STATUS_OF: dict[str, HTTPStatus] = {
    "ROUTE_NOT_FOUND": HTTPStatus.NOT_FOUND,
    "INTERNAL_ERROR": HTTPStatus.INTERNAL_SERVER_ERROR,
}

#: When each problem is answered, for a reader of the API's documentation.
WHEN: dict[str, str] = {
    "VALIDATION_ERROR": "A parameter or a body field breaks its documented limits, or the body is not JSON that "
    f"Waitroom can hold (malformed, nested deeper than {MAX_JSON_DEPTH}, a duplicated key, a number beyond a double "
    "or too small for one, an unpaired UTF-16 surrogate, a variable Camunda cannot store); `errors` names each field",
    "UNAUTHENTICATED": "The token API Gateway verified carries no subject (`sub`)",
    "PROCESS_KEY_NOT_ALLOWED": "The process key is not one of `ALLOWED_PROCESS_KEYS`",
    "PAYLOAD_TOO_LARGE": "The body is larger than `MAX_BODY_BYTES`",
    "UNSUPPORTED_MEDIA_TYPE": "The body's `Content-Type` is not `application/json` (in UTF-8)",
    "PROCESS_NOT_FOUND": "No process with this correlation id is visible to the caller (another caller's process "
    "is not told apart from none)",
    "PROCESS_DEFINITION_NOT_FOUND": "Camunda has no deployed process definition with this key",
    "ROUTE_NOT_FOUND": "A Function URL was called with a method and path its function does not serve (API "
    "Gateway answers an unknown route itself, with its own 404)",
    "CORRELATION_ID_CONFLICT": "The correlation id is in use by another caller, or was started with another "
    "process key or other variables",
    "ALREADY_FINISHED": "The process already ended otherwise (completed with another outcome, or not cancellable)",
    "PROCESS_PENDING": "The operation needs a finished process and it is still PENDING (the command line's delete)",
    "CAMUNDA_REJECTED": "Camunda refused Waitroom's request with a client error; `camunda` holds its answer",
    "CAMUNDA_ERROR": "Camunda failed with a server error or an answer Waitroom cannot read; `camunda` holds it",
    "CAMUNDA_NO_ANSWER": "The request may have reached Camunda, but no answer came back (or its gateway failed)",
    "CAMUNDA_NOT_FOUND": "Camunda answered 404 to a request whose target Waitroom expected it to know",
    "CAMUNDA_START_UNCONFIRMED": "The start went unanswered and the instance was not found: it may be running; "
    "read its status, Waitroom settles it within minutes",
    "PROCESS_START_FAILED": "The start this request joined failed while it waited; starting again is safe",
    "CAMUNDA_UNAVAILABLE": "Camunda cannot be reached (connection refused, DNS, connect timeout); `Retry-After`",
    "STORE_UNAVAILABLE": "The database cannot be reached or failed mid-statement; `Retry-After`",
    "CONFIGURATION_ERROR": "A setting of the deployment is wrong (a secret that cannot be read, for one)",
    "INTERNAL_ERROR": "An unexpected failure of Waitroom (a defect); it is logged with its trace",
}


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem the API answers: its code, status, ``type`` URI, title and when it happens."""

    code: str
    status: int
    type: str
    title: str
    when: str


def status_of(error: WaitroomError) -> HTTPStatus:
    """The HTTP status of an answer to ``error``: its most specific class in the table."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def status_of_code(code: str) -> HTTPStatus:
    """The HTTP status every answer with problem ``code`` has."""
    for cls, status in STATUS_OF.items():
        if cls.code == code:
            return status
    return HTTP_STATUS_OF.get(code, HTTPStatus.INTERNAL_SERVER_ERROR)


def problem_types() -> list[ProblemType]:
    """Every problem the error table maps, by status then code: the data of the API's list of errors."""
    codes = {cls.code for cls in STATUS_OF} | set(HTTP_STATUS_OF)
    found = [
        ProblemType(
            code=code,
            status=status_of_code(code).value,
            type=problem_type(code),
            title=TITLES[code],
            when=WHEN[code],
        )
        for code in codes
    ]
    return sorted(found, key=lambda kind: (kind.status, kind.code))


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
