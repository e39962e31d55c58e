"""Exceptions named and mapped like Camunda 7's, so error bodies match the real engine.

Camunda's REST layer turns an exception into ``{"type": <Java simple class name>, "message": ...,
"code": ...}``. Engine exceptions (``ProcessEngineException`` and subclasses) answer 500, or 400 for
``BadUserRequestException`` and ``ParseException``; REST exceptions carry their own status. The
classes below keep Camunda's class names because clients read ``type``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# Camunda's BuiltinExceptionCode.FALLBACK: every engine exception carries it unless a provider
# assigned another code.
FALLBACK_CODE = 0


class _CamundaError(Exception):
    """What an error body reads: the Java class's simple name, and the message."""

    @property
    def type_name(self) -> str:
        return type(self).__name__

    @property
    def message(self) -> str:
        return str(self)


class ProcessEngineException(_CamundaError):
    """Camunda's base engine exception: HTTP 500 unless a subclass says otherwise."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR


class NullValueException(ProcessEngineException):
    """Raised by Camunda's EnsureUtil when a mandatory value is missing."""


class BadUserRequestException(ProcessEngineException):
    status = HTTPStatus.BAD_REQUEST


class NotFoundException(BadUserRequestException):
    """Camunda's NotFoundException is a 400 in the engine; REST resources rewrite it to 404."""


class MismatchingMessageCorrelationException(ProcessEngineException):
    """A message matched no waiting execution or message start event, or (for one) several."""

    qualified_name = "org.camunda.bpm.engine.MismatchingMessageCorrelationException"


class ParseException(ProcessEngineException):
    """A BPMN resource could not be deployed; ``details`` follows Camunda's ParseExceptionDto."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class RestException(_CamundaError):
    """An error raised by the REST layer itself, with an explicit status."""

    def __init__(self, status: int, message: str, cause: Exception | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause


class InvalidRequestException(RestException):
    pass


class HttpError(RestException):
    """A JAX-RS error such as an unknown path, reported under the JAX-RS exception's name."""

    def __init__(self, status: int, type_name: str) -> None:
        super().__init__(status, f"HTTP {status} {HTTPStatus(status).phrase}")
        self._type_name = type_name

    @property
    def type_name(self) -> str:
        return self._type_name


def ensure_message(message: str, variable: str, description: str) -> str:
    """Format a message the way Camunda's EnsureUtil does: ``<message>: <variable> <description>``."""
    prefix = f"{message}: " if message else ""
    return f"{prefix}{variable} {description}"


def error_body(error: Exception) -> tuple[int, dict[str, Any]]:
    """Status and JSON body Camunda's ExceptionHandlerHelper produces for ``error``."""
    if isinstance(error, ProcessEngineException):
        body: dict[str, Any] = {"type": error.type_name, "message": error.message, "code": FALLBACK_CODE}
        if isinstance(error, ParseException):
            body["details"] = error.details
        return error.status, body
    if isinstance(error, RestException):
        code = FALLBACK_CODE if isinstance(error.cause, ProcessEngineException) else None
        return error.status, {"type": error.type_name, "message": error.message, "code": code}
    return HTTPStatus.INTERNAL_SERVER_ERROR, {
        "type": type(error).__name__,
        "message": str(error),
        "code": None,
    }


class CommandRejection(Exception):
    """A Camunda 8 command the engine rejects, as Zeebe's broker does: its intent, rejection type
    (``NOT_FOUND``, ``INVALID_STATE``, ``INVALID_ARGUMENT``) and reason. The /v2 API answers it as
    Camunda's gateway does (``rest_v2.problem``)."""

    def __init__(self, intent: str, rejection_type: str, reason: str) -> None:
        super().__init__(f"Command '{intent}' rejected with code '{rejection_type}': {reason}")
        self.intent = intent
        self.rejection_type = rejection_type
        self.reason = reason
