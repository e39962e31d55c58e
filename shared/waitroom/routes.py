"""The routes of the HTTP API: request in, one call to the service, response out.

Each function's ``app.py`` includes the routes it serves (``template.yaml`` says which); the docs
function includes them all, so that one OpenAPI document describes the whole API. The routes come
from factories because a Powertools router belongs to the one resolver that includes it.
"""

# No `from __future__ import annotations` here: Powertools reads the routes' annotations, which
# refer to values (the list's limit) that only exist while the routes are made.
import time
from datetime import datetime
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from waitroom.domain import Caller, ListQuery, ProcessStatus
from waitroom.errors import Unauthenticated
from waitroom.function_url import iam_principal
from waitroom.http import json_response, parse_prefer, process_response
from waitroom.observability import bind_correlation_id, count_answer
from waitroom.runtime import process_service
from waitroom.schemas import (
    CORRELATION_ID_PATTERN,
    PROCESS_KEY_PATTERN,
    CancelRequest,
    CompleteRequest,
    ErrorBody,
    ProcessPage,
    ProcessView,
    StartRequest,
    decode_cursor,
    encode_cursor,
)
from waitroom.settings import get_settings

PREFER = "RFC 7240: `wait=N` (seconds) to bound the wait, `respond-async` to skip it"
JWT: list[dict[str, list[str]]] = [{"jwt": []}]
#: Statuses whose body is a process (ProcessView); every other answer has the error shape.
PROCESS_STATUSES = frozenset({200, 202, 500})


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves its constructor unannotated


def caller_of(router: Router) -> Caller:
    """The caller of a JWT-protected route, from the claims API Gateway's JWT authorizer verified, or
    the IAM principal that signed a request to the function's Function URL."""
    authorizer = router.current_event.request_context.authorizer  # type: ignore[attr-defined]
    principal = iam_principal(authorizer)
    if principal is not None:
        return Caller(subject=principal)
    subject = (authorizer.jwt_claim or {}).get("sub")
    if not subject:
        raise Unauthenticated("the request carries no token with a subject")
    return Caller(subject=str(subject), admin=get_settings().admin_scope in (authorizer.jwt_scopes or []))


def long_wait_max_ms(router: Router) -> int | None:
    """How long a ``Prefer: wait`` may be: up to LONG_WAIT_MAX_MS on the Function URL, else None
    (API Gateway's 30 s rules)."""
    authorizer = router.current_event.request_context.authorizer  # type: ignore[attr-defined]
    return get_settings().long_wait_max_ms if iam_principal(authorizer) is not None else None


def responses(*statuses: int, success: type[BaseModel] = ProcessView) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of a route: ``success`` for 200 (and the process for 202/500), the
    error shape for the others. Every route may also answer 400, 401 and 503."""
    described: dict[int, OpenAPIResponse] = {}
    for status in sorted({*statuses, 400, 401, 503}):
        model = success if status == 200 else ProcessView if status in PROCESS_STATUSES else ErrorBody
        described[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"model": model}},
        }
    return described


def start_routes() -> Router:
    router = new_router()

    @router.post(
        "/api/process/start",
        summary="Start a process and wait for its result",
        description="200 when it ends in time, 202 with `Location` when it does not, 500 when it ends in error.",
        tags=["processes"],
        responses=responses(200, 202, 403, 404, 409, 413, 500, 502),
        security=JWT,
    )
    def start(
        request: Annotated[StartRequest, Body()],
        prefer: Annotated[str | None, Header(description=PREFER)] = None,
    ) -> Response[str]:
        bind_correlation_id(request.correlation_id)
        began = time.monotonic()
        preferences = parse_prefer(prefer)
        record = process_service().start(
            request,
            caller=caller_of(router),
            max_wait_ms=preferences.max_wait_ms,
            remaining_ms=router.lambda_context.get_remaining_time_in_millis(),
            long_wait_max_ms=long_wait_max_ms(router),
        )
        count_answer(record, waited_ms=(time.monotonic() - began) * 1000)
        return process_response(record, preference_applied=preferences.applied, fetch_variables=request.fetch_variables)

    return router


def status_routes() -> Router:
    router = new_router()
    settings = get_settings()

    @router.get(
        "/api/process/status/all",
        summary="List processes, newest first, a page at a time",
        tags=["processes"],
        responses=responses(200, success=ProcessPage),
        security=JWT,
    )
    def list_processes(
        *,
        limit: Annotated[int, Query(ge=1, le=settings.list_max_limit)] = 50,
        status: Annotated[ProcessStatus | None, Query()] = None,
        process_key: Annotated[str | None, Query(alias="processKey", pattern=PROCESS_KEY_PATTERN)] = None,
        started_after: Annotated[datetime | None, Query(alias="startedAfter", description="inclusive")] = None,
        started_before: Annotated[datetime | None, Query(alias="startedBefore", description="exclusive")] = None,
        cursor: Annotated[str | None, Query(description="`nextCursor` of the previous page")] = None,
    ) -> Response[str]:
        query = ListQuery(
            limit=limit,
            status=status,
            process_key=process_key,
            started_after=started_after,
            started_before=started_before,
            after=decode_cursor(cursor) if cursor else None,
        )
        records, last = process_service().list_page(query, caller=caller_of(router))
        page = ProcessPage(
            items=[ProcessView.of(record) for record in records], next_cursor=encode_cursor(last) if last else None
        )
        return json_response(HTTPStatus.OK, page.to_json())

    @router.get(
        "/api/process/status/<correlationId>",
        summary="Read one process",
        tags=["processes"],
        responses=responses(200, 202, 404, 500),
        security=JWT,
    )
    def get_status(
        correlation_id: Annotated[str, Path(alias="correlationId", pattern=CORRELATION_ID_PATTERN)],
        prefer: Annotated[str | None, Header(description="RFC 7240: `wait=N` to wait up to N seconds")] = None,
        history: Annotated[bool, Query(description="include the steps the worker ran, in order")] = False,
    ) -> Response[str]:
        bind_correlation_id(correlation_id)
        caller = caller_of(router)
        preferences = parse_prefer(prefer)
        service = process_service()
        record = service.status(
            correlation_id,
            caller=caller,
            max_wait_ms=preferences.max_wait_ms,
            remaining_ms=router.lambda_context.get_remaining_time_in_millis(),
            long_wait_max_ms=long_wait_max_ms(router),
        )
        steps = service.steps(correlation_id, caller=caller) if history else None
        applied = preferences.applied if preferences.wait_s else None
        return process_response(record, steps=steps, preference_applied=applied)

    return router


def complete_routes() -> Router:
    router = new_router()

    @router.post(
        "/api/process/complete",
        summary="Finish a process with its result or error (IAM-signed callers only)",
        tags=["steps"],
        responses=responses(200, 403, 404, 409),
        security=[{"sigv4": []}],
    )
    def complete(request: Annotated[CompleteRequest, Body()]) -> Response[str]:
        bind_correlation_id(request.correlation_id)
        record = process_service().complete(request)
        return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())

    return router


def cancel_routes() -> Router:
    router = new_router()

    @router.post(
        "/api/process/cancel",
        summary="Cancel a running process",
        tags=["processes"],
        responses=responses(200, 404, 409, 502),
        security=JWT,
    )
    def cancel(request: Annotated[CancelRequest, Body()]) -> Response[str]:
        bind_correlation_id(request.correlation_id)
        record = process_service().cancel(request, caller=caller_of(router))
        return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())

    return router


#: Every route of the API, for the docs function.
ALL_ROUTES = (start_routes, status_routes, complete_routes, cancel_routes)
