"""What the client raises: every error answer as a typed exception carrying the problem's ``code``.

Waitroom answers errors as RFC 9457 problem details (``application/problem+json``) with the
extension members ``code`` (a stable SNAKE_CASE code) and ``errors`` (``[{"field", "reason"}]``).
The gateway in front of it answers some requests itself (no valid token, throttling) with a bare
``{"message": ...}``; those get the code of their HTTP status (``UNAUTHORIZED``, ``TOO_MANY_REQUESTS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waitroom_client.models import Process


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem as Waitroom answers it (members it lacks are filled from the HTTP status)."""

    status: int
    code: str
    title: str
    detail: str
    type: str = "about:blank"
    instance: str | None = None
    errors: tuple[FieldError, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, status: int, body: Any) -> Problem:
        phrase = _phrase(status)
        if not isinstance(body, dict):
            return cls(status=status, code=_code_of(status), title=phrase, detail=phrase)
        if "code" in body or "type" in body:
            errors = tuple(
                FieldError(str(item.get("field", "")), str(item.get("reason", "")))
                for item in body.get("errors") or []
                if isinstance(item, dict)
            )
            return cls(
                status=int(body.get("status") or status),
                code=str(body.get("code") or _code_of(status)),
                title=str(body.get("title") or phrase),
                detail=str(body.get("detail") or body.get("title") or phrase),
                type=str(body.get("type") or "about:blank"),
                instance=None if body.get("instance") is None else str(body["instance"]),
                errors=errors,
                raw=body,
            )
        # The gateway's own answers: {"message": "Unauthorized"}.
        message = str(body.get("message") or phrase)
        return cls(status=status, code=_code_of(status), title=phrase, detail=message, raw=body)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _code_of(status: int) -> str:
    return _phrase(status).upper().replace(" ", "_").replace("-", "_")


class WaitroomError(Exception):
    """Everything this client raises derives from this."""


class TransportError(WaitroomError):
    """No answer came back, after every retry (connection refused or reset, read timed out)."""


class ApiError(WaitroomError):
    """Waitroom, or the gateway in front of it, answered with an error."""

    def __init__(self, problem: Problem, retry_after_s: float | None = None) -> None:
        super().__init__(f"{problem.status} {problem.code}: {problem.detail}")
        self.problem = problem
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def errors(self) -> tuple[FieldError, ...]:
        return self.problem.errors


class ClientError(ApiError):
    """A 4xx: the request must change before it can succeed."""


class InvalidRequest(ClientError):
    """400: ``errors`` names each field and the reason."""


class Unauthorized(ClientError):
    """401: no valid token."""


class Forbidden(ClientError):
    """403: the process key may not be started, or the signature was refused."""


class NotFound(ClientError):
    """404: no such process for this caller, or no such process definition."""


class Conflict(ClientError):
    """409: the correlation id belongs to another request, or the process already ended otherwise."""


class PayloadTooLarge(ClientError):
    """413: the body is over the server's limit."""


class Throttled(ClientError):
    """429, after every retry."""


class ServerError(ApiError):
    """A 5xx that is not a process's own ERROR."""


class BadGateway(ServerError):
    """502: Camunda failed, or did not confirm a start (``CAMUNDA_START_UNCONFIRMED``)."""


class Unavailable(ServerError):
    """503, after every retry: Camunda or the database cannot be reached."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: Throttled,
    502: BadGateway,
    503: Unavailable,
}


def error_for(status: int, body: Any, retry_after_s: float | None = None) -> ApiError:
    """The exception for an error answer: the most specific class its status has."""
    problem = Problem.from_answer(status, body)
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ClientError)
    return cls(problem, retry_after_s)


class ProcessOutcomeError(WaitroomError):
    """:meth:`Waitroom.run` did not end with a result: ``process`` is the process as last read."""

    def __init__(self, process: Process, code: str, message: str) -> None:
        super().__init__(f"{process.correlation_id}: {code}: {message}")
        self.process = process
        self.code = code


class ProcessFailed(ProcessOutcomeError):
    """The process ended in ERROR; ``code`` is its error's code (``USER_REJECTED``, ``INCIDENT`` …)."""


class ProcessCancelled(ProcessOutcomeError):
    """The process was cancelled (``code`` is ``CANCELLED``)."""


class WaitTimedOut(ProcessOutcomeError):
    """The process is still running at the end of the wait (``code`` is ``WAIT_TIMED_OUT``); it goes
    on: read it later with :meth:`Waitroom.status` under ``process.correlation_id``."""
