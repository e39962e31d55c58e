"""The routes of the HTTP API: request in, one call to the service, response out.

Each function's ``app.py`` includes the routes it serves (``template.yaml`` says which); ``make
openapi`` includes them all, so that one OpenAPI document describes the whole API. The routes come
from factories, given the service they call and the settings: a Powertools router belongs to the one
resolver that includes it, and nothing is looked up at request time.
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

from waitroom.domain.errors import Unauthenticated
from waitroom.domain.process import Caller, ListQuery, Outcome, ProcessStatus, reported_error
from waitroom.entrypoints.http.resolver import json_response, parse_prefer, process_response
from waitroom.entrypoints.http.schemas import (
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
from waitroom.observability import bind_correlation_id, count_answer
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

PREFER = "RFC 7240: `wait=N` (seconds) to bound the wait, `respond-async` to skip it"
JWT: list[dict[str, list[str]]] = [{"jwt": []}]
#: Statuses whose body is a process (ProcessView); every other answer has the error shape.
PROCESS_STATUSES = frozenset({200, 202, 500})


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves its constructor unannotated


def caller_of(router: Router, settings: Settings) -> Caller:
    """The caller of a JWT-protected route, from the claims API Gateway's JWT authorizer verified."""
    authorizer = router.current_event.request_context.authorizer  # type: ignore[attr-defined]
    subject = (authorizer.jwt_claim or {}).get("sub")
    if not subject:
        raise Unauthenticated("the request carries no token with a subject")
    return Caller(subject=str(subject), admin=settings.admin_scope in (authorizer.jwt_scopes or []))


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


def start_routes(service: ProcessService, settings: Settings) -> Router:
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
        record = service.start(
            request.process_key,
            correlation_id=request.correlation_id,
            variables=request.variables,
            caller=caller_of(router, settings),
            max_wait_ms=preferences.max_wait_ms,
            remaining_ms=router.lambda_context.get_remaining_time_in_millis(),
        )
        count_answer(record, waited_ms=(time.monotonic() - began) * 1000)
        return process_response(
            record,
            retry_after_s=settings.retry_after_s,
            preference_applied=preferences.applied,
            fetch_variables=request.fetch_variables,
        )

    return router


def status_routes(service: ProcessService, settings: Settings) -> Router:
    router = new_router()

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
        found = service.list_page(query, caller=caller_of(router, settings))
        page = ProcessPage(
            items=[ProcessView.of(record) for record in found.records],
            next_cursor=encode_cursor(found.last) if found.last else None,
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
        preferences = parse_prefer(prefer)
        state = service.status(
            correlation_id,
            caller=caller_of(router, settings),
            max_wait_ms=preferences.max_wait_ms,
            remaining_ms=router.lambda_context.get_remaining_time_in_millis(),
            history=history,
        )
        applied = preferences.applied if preferences.wait_s else None
        return process_response(
            state.record, retry_after_s=settings.retry_after_s, steps=state.steps, preference_applied=applied
        )

    return router


def complete_routes(service: ProcessService, settings: Settings) -> Router:
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
        outcome = (
            Outcome.done(request.data)
            if request.status == "ok"
            else Outcome.failed(reported_error(request.error), request.data)
        )
        record = service.complete(request.correlation_id, outcome)
        return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())

    return router


def cancel_routes(service: ProcessService, settings: Settings) -> Router:
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
        record = service.cancel(request.correlation_id, reason=request.reason, caller=caller_of(router, settings))
        return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())

    return router


#: Every route of the API, for the docs function.
ALL_ROUTES = (start_routes, status_routes, complete_routes, cancel_routes)
