"""Domain errors. Each carries a stable SNAKE_CASE code and a sentence for humans.

They know nothing of HTTP: :mod:`waitroom.entrypoints.http.resolver` is the one place that maps them to statuses.
"""

from __future__ import annotations

from typing import Any


class WaitroomError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigurationError(WaitroomError):
    code = "CONFIGURATION_ERROR"


class InvalidRequest(WaitroomError):
    code = "VALIDATION_ERROR"


class PayloadTooLarge(WaitroomError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(WaitroomError):
    """The body is of a media type the API does not read (it reads JSON only)."""

    code = "UNSUPPORTED_MEDIA_TYPE"


class Unauthenticated(WaitroomError):
    """The request carries no caller identity where one is required."""

    code = "UNAUTHENTICATED"


class ProcessKeyNotAllowed(WaitroomError):
    """The process key is not one of ``ALLOWED_PROCESS_KEYS``."""

    code = "PROCESS_KEY_NOT_ALLOWED"


class ProcessNotFound(WaitroomError):
    """No process with that correlation id is known to Waitroom."""

    code = "PROCESS_NOT_FOUND"


class ProcessDefinitionNotFound(WaitroomError):
    """Camunda has no process definition with the requested key."""

    code = "PROCESS_DEFINITION_NOT_FOUND"


class CorrelationConflict(WaitroomError):
    """The correlation id exists for a different process key or different variables."""

    code = "CORRELATION_ID_CONFLICT"


class AlreadyFinished(WaitroomError):
    """A transition was asked of a process that already ended differently."""

    code = "ALREADY_FINISHED"


class ProcessPending(WaitroomError):
    """The process is still PENDING, and the operation needs it finished."""

    code = "PROCESS_PENDING"


class StartFailed(WaitroomError):
    """The start of the process this request joined failed; starting again is safe."""

    code = "PROCESS_START_FAILED"


class CamundaUnavailable(WaitroomError):
    """Camunda could not be reached (connection refused, DNS, connect timeout)."""

    code = "CAMUNDA_UNAVAILABLE"


class CamundaRejected(WaitroomError):
    """Camunda answered the request with a client error (4xx other than 404)."""

    code = "CAMUNDA_REJECTED"


class CamundaNotFound(CamundaRejected):
    """Camunda answered 404: no such definition, instance or task."""

    code = "CAMUNDA_NOT_FOUND"


class CamundaNoAnswer(WaitroomError):
    """The request may have reached Camunda, but no answer came back."""

    code = "CAMUNDA_NO_ANSWER"


class CamundaFailed(WaitroomError):
    """Camunda answered with a server error, or an answer we cannot use."""

    code = "CAMUNDA_ERROR"


class CamundaStartUnconfirmed(WaitroomError):
    """The start call timed out: the instance may or may not exist."""

    code = "CAMUNDA_START_UNCONFIRMED"


class StoreUnavailable(WaitroomError):
    """The database could not be reached or failed mid-statement."""

    code = "STORE_UNAVAILABLE"


class CallbackNotSent(Exception):
    """A durable waiter's callback could not be sent its process's end. Never a client's answer: the
    finish that sends logs it, and the waiter reads the row when its callback times out."""
