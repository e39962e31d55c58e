"""HTTP glue for the API functions: the resolver, and responses (errors mapped by the one error table
of :mod:`waitroom.entrypoints.http.problems`).

Every error any route can raise leaves through :func:`error_response` as RFC 9457 problem details
(``application/problem+json``, :mod:`waitroom.entrypoints.http.problems`), as the OpenAPI document
(``functions/docs/openapi.json``) describes. A process that ended in ERROR is not an error of the
request: it is answered with the process itself, status 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.domain.errors import InvalidRequest, UnsupportedMediaType, WaitroomError
from waitroom.domain.process import ProcessRecord, ProcessStatus, StepEvent
from waitroom.entrypoints.http.links import process_links
from waitroom.entrypoints.http.problems import PROBLEM_JSON, problem_body, status_of
from waitroom.entrypoints.http.request_edges import JSON_MEDIA_TYPE, screen_request
from waitroom.entrypoints.http.schemas import ProcessView
from waitroom.observability import emit, logger, metrics, tracer
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

#: A process's status → the HTTP status of a response that carries it.
PROCESS_HTTP_STATUS = {
    ProcessStatus.PENDING: HTTPStatus.ACCEPTED,
    ProcessStatus.DONE: HTTPStatus.OK,
    ProcessStatus.CANCELLED: HTTPStatus.OK,
    ProcessStatus.ERROR: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def json_response(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


def problem_response(
    status: HTTPStatus,
    code: str,
    detail: str,
    *,
    instance: str | None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """An error answer: RFC 9457 problem details."""
    body = problem_body(status=status.value, code=code, detail=detail, instance=instance, errors=errors)
    return Response(
        status_code=status.value,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


def error_response(error: WaitroomError, *, retry_after_s: int, instance: str | None = None) -> Response[str]:
    status = status_of(error)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.error("request failed", extra={"code": error.code, "reason": error.message})
        emit("ServerErrors", 1, Code=error.code)
    else:
        logger.info("request refused", extra={"code": error.code, "reason": error.message})
    headers = {"Retry-After": str(retry_after_s)} if status == HTTPStatus.SERVICE_UNAVAILABLE else None
    return problem_response(status, error.code, error.message, instance=instance, errors=error.details, headers=headers)


#: Where Powertools says a faulty value sits: the first part of its error locations.
_LOCATIONS = frozenset({"body", "query", "path", "header"})
#: pydantic's mark for a fault in a dictionary's key, which it puts after the key itself.
_KEY_MARK = "[key]"


def field_path(location: Sequence[Any]) -> str:
    """``("body", "variables", "1x", "[key]")`` → ``variables.1x``: the field as the caller sent it."""
    parts = list(location)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts if part != _KEY_MARK) or "body"


def validation_response(error: RequestValidationError, instance: str | None = None) -> Response[str]:
    """pydantic's complaints as a 400 that names each field and the reason."""
    details = []
    for problem in error.errors():
        field = field_path(problem.get("loc", ()))
        reason = str(problem.get("msg", "invalid"))
        if problem.get("type") == "json_invalid":
            field, reason = (
                "body",
                f"malformed JSON: {problem.get('ctx', {}).get('error', 'cannot be parsed')}",
            )
        details.append({"field": field, "reason": reason})
    summary = "; ".join(f"{detail['field']}: {detail['reason']}" for detail in details)
    logger.info("request refused", extra={"code": InvalidRequest.code, "reason": summary})
    return problem_response(
        HTTPStatus.BAD_REQUEST, InvalidRequest.code, f"invalid request: {summary}", instance=instance, errors=details
    )


#: Makes the routes of one function, given the service they call and the settings.
RouteFactory = Callable[[ProcessService, Settings], Router]


def create_resolver(settings: Settings, *routers: Router) -> APIGatewayHttpResolver:
    """The resolver of an API function: validation and the error mapping installed, ``routers``
    included."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    def refused(error: WaitroomError) -> Response[str]:
        return error_response(error, retry_after_s=settings.retry_after_s, instance=app.current_event.path)

    def invalid(error: RequestValidationError) -> Response[str]:
        return validation_response(error, instance=app.current_event.path)

    def unexpected(error: Exception) -> Response[str]:
        return unexpected_error_response(error, instance=app.current_event.path)

    app.exception_handler(WaitroomError)(refused)
    app.exception_handler(RequestValidationError)(invalid)

    def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[str]:
        # Powertools' own refusal of a media type, should one ever get past serve's screen.
        return refused(
            UnsupportedMediaType(
                f"the body must be {JSON_MEDIA_TYPE}",
                details=[{"field": "Content-Type", "reason": f"only {JSON_MEDIA_TYPE} is accepted"}],
            )
        )

    app.exception_handler(RequestUnsupportedContentType)(unsupported_content_type)

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        event = app.current_event
        return problem_response(
            HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", f"no route {event.http_method} {event.path}", instance=event.path
        )

    app.exception_handler(Exception)(unexpected)
    return app


def unexpected_error_response(_: Exception, instance: str | None = None) -> Response[str]:
    logger.exception("unexpected error")
    emit("ServerErrors", 1, Code="INTERNAL_ERROR")
    return problem_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "an unexpected error occurred; it has been logged",
        instance=instance,
    )


def serve(
    app: APIGatewayHttpResolver, settings: Settings, event: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    """Resolve one API Gateway event, refusing a body the parser would choke on or change (see
    :mod:`waitroom.entrypoints.http.request_edges`) before anything parses it."""
    event, refusal = screen_request(event, max_body_bytes=settings.max_body_bytes)
    if refusal is not None:
        response = error_response(refusal, retry_after_s=settings.retry_after_s, instance=event.get("rawPath"))
        return {
            "statusCode": response.status_code,
            "headers": {"Content-Type": PROBLEM_JSON, **(response.headers or {})},
            "body": response.body,
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


ApiHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def api_handler(app: APIGatewayHttpResolver, settings: Settings) -> ApiHandler:
    """The Lambda entry point of an API function: structured logs, trace and metrics around :func:`serve`."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        logger.append_keys(request_id=event.get("requestContext", {}).get("requestId"))
        return serve(app, settings, event, context)

    return lambda_handler


# --- responses that carry a process -------------------------------------------------------------


def process_response(
    record: ProcessRecord,
    *,
    retry_after_s: int,
    preference_applied: str | None = None,
    fetch_variables: list[str] | None = None,
    steps: list[StepEvent] | None = None,
    base_url: str | None = None,
) -> Response[str]:
    """200 DONE/CANCELLED, 500 ERROR, 202 PENDING with ``Location`` (the ``status`` link) and
    ``Retry-After``; ``links`` absolute under ``base_url``."""
    status = PROCESS_HTTP_STATUS[record.status]
    headers: dict[str, str] = {}
    if record.status is ProcessStatus.PENDING:
        headers["Location"] = process_links(record.correlation_id, base_url)["status"]
        headers["Retry-After"] = str(retry_after_s)
    if preference_applied:
        headers["Preference-Applied"] = preference_applied
    view = ProcessView.of(record, fetch_variables=fetch_variables, steps=steps, base_url=base_url)
    return json_response(status, view.to_json(), headers)


# --- RFC 7240 Prefer ------------------------------------------------------------------------------

#: ``wait=N`` beyond this many digits is read as :data:`MAX_WAIT_S` (``int`` refuses thousands of digits).
MAX_WAIT_DIGITS = 6
MAX_WAIT_S = 999_999
_PREFERENCE = re.compile(r"\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*(?:=\s*(\"[^\"]*\"|[^;,\s]*))?")


@dataclass(frozen=True)
class Preferences:
    respond_async: bool = False
    wait_s: int | None = None

    @property
    def max_wait_ms(self) -> int | None:
        """The client's limit on the wait: none for ``respond-async``, else ``wait`` if given."""
        if self.respond_async:
            return 0
        return None if self.wait_s is None else self.wait_s * 1000

    def applied(self, granted_ms: int) -> str | None:
        """The ``Preference-Applied`` value: what was honoured, the wait as the request was granted it
        (``granted_ms``: the client's ``wait`` bounded by the configured and the gateway's limits)."""
        if self.respond_async:
            return "respond-async"
        return None if self.wait_s is None else f"wait={granted_ms // 1000}"


def parse_prefer(header: str | None) -> Preferences:
    """The preferences Waitroom honours from a ``Prefer`` header; unknown ones are ignored (RFC 7240 §2)."""
    if not header:
        return Preferences()
    respond_async, wait_s = False, None
    for item in header.split(","):
        token = item.split(";", 1)[0]
        match = _PREFERENCE.match(token)
        if match is None:
            continue
        name, value = match.group(1).lower(), (match.group(2) or "").strip('"')
        if name == "respond-async":
            respond_async = True
        elif name == "wait" and value.isascii() and value.isdigit():
            # A wait longer than any function may run is no different from the longest one.
            wait_s = int(value) if len(value) <= MAX_WAIT_DIGITS else MAX_WAIT_S
    return Preferences(respond_async=respond_async, wait_s=wait_s)
