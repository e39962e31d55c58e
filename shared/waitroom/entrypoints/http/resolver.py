"""HTTP glue for the API functions: the resolver, the one error-to-status mapping, and responses.

Every error any route can raise leaves through :func:`error_response`, in the shape the OpenAPI
document (``functions/docs/openapi.json``) describes:
``{"error": {"code": "SNAKE_CASE", "message": "...", "details": [...]}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.bootstrap import application
from waitroom.domain.errors import (
    AlreadyFinished,
    CamundaFailed,
    CamundaNoAnswer,
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
    WaitroomError,
)
from waitroom.domain.process import ProcessRecord, ProcessStatus, StepEvent
from waitroom.entrypoints.http.schemas import ProcessView, status_url
from waitroom.observability import emit, logger, metrics, tracer
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings, get_settings

#: The one mapping from domain errors to HTTP statuses. The most specific class wins.
STATUS_OF: dict[type[WaitroomError], HTTPStatus] = {
    InvalidRequest: HTTPStatus.BAD_REQUEST,
    Unauthenticated: HTTPStatus.UNAUTHORIZED,
    ProcessKeyNotAllowed: HTTPStatus.FORBIDDEN,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ProcessNotFound: HTTPStatus.NOT_FOUND,
    ProcessDefinitionNotFound: HTTPStatus.NOT_FOUND,
    CorrelationConflict: HTTPStatus.CONFLICT,
    AlreadyFinished: HTTPStatus.CONFLICT,
    ProcessPending: HTTPStatus.CONFLICT,
    CamundaRejected: HTTPStatus.BAD_GATEWAY,
    CamundaFailed: HTTPStatus.BAD_GATEWAY,
    CamundaNoAnswer: HTTPStatus.BAD_GATEWAY,
    CamundaStartUnconfirmed: HTTPStatus.BAD_GATEWAY,
    StartFailed: HTTPStatus.BAD_GATEWAY,
    CamundaUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    StoreUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
}

#: A process's status → the HTTP status of a response that carries it.
PROCESS_HTTP_STATUS = {
    ProcessStatus.PENDING: HTTPStatus.ACCEPTED,
    ProcessStatus.DONE: HTTPStatus.OK,
    ProcessStatus.CANCELLED: HTTPStatus.OK,
    ProcessStatus.ERROR: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def status_of(error: WaitroomError) -> HTTPStatus:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def json_response(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(error: WaitroomError, *, retry_after_s: int) -> Response[str]:
    status = status_of(error)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.error("request failed", extra={"code": error.code, "reason": error.message})
        emit("ServerErrors", 1, Code=error.code)
    else:
        logger.info("request refused", extra={"code": error.code, "reason": error.message})
    headers = {"Retry-After": str(retry_after_s)} if status == HTTPStatus.SERVICE_UNAVAILABLE else None
    return json_response(status, error_body(error.code, error.message, error.details), headers)


def validation_response(error: RequestValidationError) -> Response[str]:
    """pydantic's complaints as a 400 that names each field and the reason."""
    details = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path", "header")]
        field = ".".join(location) or "body"
        reason = str(problem.get("msg", "invalid"))
        if problem.get("type") == "json_invalid":
            field, reason = (
                "body",
                f"malformed JSON: {problem.get('ctx', {}).get('error', 'cannot be parsed')}",
            )
        details.append({"field": field, "reason": reason})
    summary = "; ".join(f"{detail['field']}: {detail['reason']}" for detail in details)
    logger.info("request refused", extra={"code": InvalidRequest.code, "reason": summary})
    return json_response(
        HTTPStatus.BAD_REQUEST, error_body(InvalidRequest.code, f"invalid request: {summary}", details)
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
        return error_response(error, retry_after_s=settings.retry_after_s)

    app.exception_handler(WaitroomError)(refused)
    app.exception_handler(RequestValidationError)(validation_response)

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        event = app.current_event
        return json_response(
            HTTPStatus.NOT_FOUND,
            error_body("ROUTE_NOT_FOUND", f"no route {event.http_method} {event.path}"),
        )

    app.exception_handler(Exception)(unexpected_error_response)
    return app


def unexpected_error_response(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    emit("ServerErrors", 1, Code="INTERNAL_ERROR")
    return json_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        error_body("INTERNAL_ERROR", "an unexpected error occurred; it has been logged"),
    )


#: JSON nested deeper than this is refused before it is parsed (the parser recurses per level).
MAX_JSON_DEPTH = 32


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON text nests objects and arrays deeper than ``limit``, found without parsing it."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def refuse_body(event: dict[str, Any], *, limit: int) -> WaitroomError | None:
    """Why a body must be refused before anything parses it: larger than ``limit`` bytes, or nested
    too deep."""
    body = event.get("body") or ""
    # A base64 body is 4/3 of its bytes; judge the decoded size.
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > limit:
        return PayloadTooLarge(
            f"the body has {size} bytes; the limit is {limit}",
            details=[{"field": "body", "reason": f"larger than {limit} bytes"}],
        )
    if not event.get("isBase64Encoded") and json_depth_exceeds(body, MAX_JSON_DEPTH):
        return InvalidRequest(
            f"the body nests deeper than {MAX_JSON_DEPTH} levels",
            details=[{"field": "body", "reason": f"JSON nested deeper than {MAX_JSON_DEPTH}"}],
        )
    return None


def serve(
    app: APIGatewayHttpResolver, settings: Settings, event: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    """Resolve one API Gateway event, refusing bodies that are too large or too deep before anything
    parses them."""
    refusal = refuse_body(event, limit=settings.max_body_bytes)
    if refusal is not None:
        response = error_response(refusal, retry_after_s=settings.retry_after_s)
        return {
            "statusCode": response.status_code,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, **(response.headers or {})},
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


def http_function(*routes: RouteFactory, settings: Settings | None = None) -> tuple[APIGatewayHttpResolver, ApiHandler]:
    """The composition of an API function, at its cold start: the settings (a bad one fails here),
    the service on its adapters, the resolver with ``routes``, and the Lambda handler around it."""
    settings = settings or get_settings()
    service = application(settings).service
    app = create_resolver(settings, *(make_routes(service, settings) for make_routes in routes))
    return app, api_handler(app, settings)


# --- responses that carry a process -------------------------------------------------------------


def process_response(
    record: ProcessRecord,
    *,
    retry_after_s: int,
    preference_applied: str | None = None,
    fetch_variables: list[str] | None = None,
    steps: list[StepEvent] | None = None,
) -> Response[str]:
    """200 DONE/CANCELLED, 500 ERROR, 202 PENDING with ``Location`` and ``Retry-After``."""
    status = PROCESS_HTTP_STATUS[record.status]
    headers: dict[str, str] = {}
    if record.status is ProcessStatus.PENDING:
        headers["Location"] = status_url(record.correlation_id)
        headers["Retry-After"] = str(retry_after_s)
    if preference_applied:
        headers["Preference-Applied"] = preference_applied
    view = ProcessView.of(record, fetch_variables=fetch_variables, steps=steps)
    return json_response(status, view.to_json(), headers)


# --- RFC 7240 Prefer ------------------------------------------------------------------------------

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

    @property
    def applied(self) -> str | None:
        """The ``Preference-Applied`` value that echoes what was honoured."""
        if self.respond_async:
            return "respond-async"
        return None if self.wait_s is None else f"wait={self.wait_s}"


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
        elif name == "wait" and value.isdigit():
            wait_s = int(value)
    return Preferences(respond_async=respond_async, wait_s=wait_s)
