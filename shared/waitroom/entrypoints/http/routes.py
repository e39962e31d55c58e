"""The routes of the HTTP API: request in, one call to the service, response out.

Each function's ``app.py`` includes the routes it serves (``template.yaml`` says which); ``make
openapi`` includes them all, so that one OpenAPI document describes the whole API. The routes come
from factories, given the service they call and the settings: a Powertools router belongs to the one
resolver that includes it, and nothing is looked up at request time.
"""

# No `from __future__ import annotations` here: Powertools reads the routes' annotations, which
# refer to values (the list's limit) that only exist while the routes are made.
import dataclasses
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from waitroom.adapters.secrets import cursor_key
from waitroom.domain.errors import Unauthenticated
from waitroom.domain.process import Caller, ListQuery, Outcome, ProcessRecord, ProcessStatus, reported_error
from waitroom.entrypoints.http.function_url import function_url_principal
from waitroom.entrypoints.http.links import base_url
from waitroom.entrypoints.http.problem_examples import problem_codes, problem_examples
from waitroom.entrypoints.http.problems import PROBLEM_JSON
from waitroom.entrypoints.http.resolver import json_response, parse_prefer, process_response
from waitroom.entrypoints.http.retry_after import retry_after_s
from waitroom.entrypoints.http.schemas import (
    CORRELATION_ID_PATTERN,
    CURSOR_PATTERN,
    PROCESS_KEY_PATTERN,
    START_EXAMPLE,
    TIME_PATTERN,
    CancelRequest,
    CompleteRequest,
    Cursors,
    GatewayMessage,
    ProblemDetails,
    ProcessPage,
    ProcessView,
    StartRequest,
    UtcTime,
    cursor_scope,
)
from waitroom.entrypoints.http.wait_budget import granted_wait_ms
from waitroom.observability import bind_correlation_id, count_answer
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

YEARS = "an ISO 8601 time in the years 0002 to 9998 (UTC when it has no zone)"
TIME_LIMITS = {"pattern": TIME_PATTERN}
PREFER = "RFC 7240: `wait=N` (seconds) to bound the wait, `respond-async` to skip it"
JWT: list[dict[str, list[str]]] = [{"jwt": []}]
#: Statuses whose body is a process (ProcessView) on the routes that wait for one; a 500 may also
#: be a problem (a failure of Waitroom).
PROCESS_STATUSES = frozenset({200, 202, 500})
#: Statuses API Gateway may answer itself, with its own body (GatewayMessage), on any route.
GATEWAY_STATUSES = frozenset({400, 401, 403, 404, 413, 429, 500, 503})
#: Statuses every route may answer: API Gateway's (a bad request, no token, throttled, a failed or
#: unready function) and Waitroom's own failures.
EVERY_ROUTE = frozenset({400, 401, 429, 500, 503})


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves its constructor unannotated


def caller_of(router: Router, settings: Settings) -> Caller:
    """The caller of a JWT-protected route, from the claims API Gateway's JWT authorizer verified, or
    the IAM principal that signed a request to the function's Function URL."""
    principal = function_url_principal(request_context(router))
    if principal is not None:
        return Caller(subject=principal)
    authorizer = router.current_event.request_context.authorizer  # type: ignore[attr-defined]
    claims = authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not subject:
        raise Unauthenticated("the request carries no token with a subject")
    return Caller(subject=str(subject), admin=settings.admin_scope in token_scopes(claims))


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes of a verified token, from its claims as API Gateway passes them on.

    API Gateway fills ``requestContext.authorizer.jwt.scopes`` only for routes that declare
    ``AuthorizationScopes`` (none here do), so the claims are read: ``scope`` is a space-separated
    string (OAuth 2.0, Cognito), ``scp`` a list, which API Gateway passes as its string form,
    ``[a b]``.
    """
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        text = str(value or "").strip().removeprefix("[").removesuffix("]")
        items = value if isinstance(value, list) else text.split()
        found.update(str(item).strip(" ,\"'") for item in items)
    found.discard("")
    return frozenset(found)


def request_context(router: Router) -> dict[str, Any]:
    context: dict[str, Any] = router.current_event.raw_event.get("requestContext") or {}
    return context


def through_function_url(router: Router) -> bool:
    """Whether the request came through a Function URL, where ``Prefer: wait`` may exceed 30 s."""
    return function_url_principal(request_context(router)) is not None


def links_base(router: Router) -> str | None:
    """Links are absolute through API Gateway (its ``Host`` and ``X-Forwarded-Proto``), paths
    through a Function URL (see :mod:`waitroom.entrypoints.http.links`)."""
    return None if through_function_url(router) else base_url(router.current_event.headers)


def retry_after_of(service: ProcessService, settings: Settings, record: ProcessRecord) -> int:
    """The ``Retry-After`` of a 202: when the key's history expects the process to end (the history
    is read only for a process still pending, the only one whose answer carries it)."""
    if record.status is not ProcessStatus.PENDING:
        return settings.retry_after_s
    progress = service.progress(record)
    return retry_after_s(progress.durations_ms, progress.elapsed_ms, default_s=settings.retry_after_s)


def responses(operation: str, *statuses: int, success: type[BaseModel] = ProcessView) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of ``operation`` (``METHOD path``): ``success`` for 200 (and the process
    for 202 and 500), a problem (``application/problem+json``, with a real answer as the example of
    each problem the operation gives: :mod:`waitroom.entrypoints.http.problem_examples`) for every
    error Waitroom answers, and API Gateway's own answer (``{"message"}`` as ``application/json``)
    where it may give one. The problem comes first: it is what Swagger UI shows."""
    examples, codes = problem_examples(operation), problem_codes(operation)
    described: dict[int, OpenAPIResponse] = {}
    for status in sorted({*statuses, *codes, *EVERY_ROUTE}):
        content: dict[str, Any] = {}
        said = []
        if status in codes:
            content[PROBLEM_JSON] = {"model": ProblemDetails, "examples": examples[status]}
            said.append("a problem: " + ", ".join(f"`{code}`" for code in codes[status]))
        ours: Any = None
        if status == 200:
            ours = success
        elif status in PROCESS_STATUSES and HTTPStatus.ACCEPTED in statuses:
            # The routes that may answer 202 answer with the process, which may have ended in ERROR.
            ours = ProcessView
            if status >= HTTPStatus.BAD_REQUEST:
                said.append("the process, ended in ERROR (`application/json`)")
        if status in GATEWAY_STATUSES:
            ours = GatewayMessage if ours is None else ours | GatewayMessage
            said.append('API Gateway\'s own `{"message"}` (`application/json`)')
        if ours is not None:
            content["application/json"] = {"model": ours}
        phrase = HTTPStatus(status).phrase
        described[status] = {
            "description": f"{phrase}: {'; or '.join(said)}" if status >= HTTPStatus.BAD_REQUEST else phrase,
            "content": content,
        }
    return described


class StartWait(Protocol):
    """How the start route starts a process and waits for it: holding its invocation
    (:class:`HeldWait`, the classic mode) or suspended on a durable execution's callback
    (:class:`waitroom.entrypoints.http.durable.DurableWait`)."""

    #: Whether the invocation's remaining time bounds the wait (not when the wait spans invocations).
    bounded_by_invocation: ClassVar[bool]

    def start(
        self,
        process_key: str,
        *,
        correlation_id: str,
        variables: Mapping[str, Any],
        caller: Caller,
        wait_ms: int,
    ) -> ProcessRecord: ...


@dataclasses.dataclass(frozen=True)
class HeldWait:
    """The classic wait: the invocation reads the row until it is final, woken by the wake channel."""

    service: ProcessService
    bounded_by_invocation: ClassVar[bool] = True

    def start(
        self,
        process_key: str,
        *,
        correlation_id: str,
        variables: Mapping[str, Any],
        caller: Caller,
        wait_ms: int,
    ) -> ProcessRecord:
        return self.service.start(
            process_key, correlation_id=correlation_id, variables=variables, caller=caller, wait_ms=wait_ms
        )


def start_routes(service: ProcessService, settings: Settings, wait: StartWait | None = None) -> Router:
    router = new_router()
    waiting: StartWait = wait or HeldWait(service)

    @router.post(
        "/api/process/start",
        summary="Start a process and wait for its result",
        description="200 when it ends in time, 202 with `Location` when it does not, 500 when it ends in error.",
        tags=["processes"],
        responses=responses("POST /api/process/start", 200, 202),
        security=JWT,
    )
    def start(
        request: Annotated[
            StartRequest,
            Body(openapi_examples={"onboardUser": {"summary": "Onboard a user", "value": START_EXAMPLE}}),
        ],
        prefer: Annotated[str | None, Header(description=PREFER)] = None,
    ) -> Response[str]:
        bind_correlation_id(request.correlation_id)
        began = time.monotonic()
        preferences = parse_prefer(prefer)
        granted_ms = granted_wait_ms(
            settings,
            preferences,
            remaining_ms=(
                router.lambda_context.get_remaining_time_in_millis() if waiting.bounded_by_invocation else None
            ),
            long_wait=through_function_url(router),
        )
        record = waiting.start(
            request.process_key,
            correlation_id=request.correlation_id,
            variables=request.variables,
            caller=caller_of(router, settings),
            wait_ms=granted_ms,
        )
        count_answer(record, waited_ms=(time.monotonic() - began) * 1000)
        return process_response(
            record,
            retry_after_s=retry_after_of(service, settings, record),
            preference_applied=preferences.applied(granted_ms),
            fetch_variables=request.fetch_variables,
            base_url=links_base(router),
        )

    return router


def status_routes(service: ProcessService, settings: Settings) -> Router:
    router = new_router()
    cursors = Cursors(cursor_key(settings))

    @router.get(
        "/api/process/status/all",
        summary="List processes, newest first, a page at a time",
        tags=["processes"],
        responses=responses("GET /api/process/status/all", 200, success=ProcessPage),
        security=JWT,
    )
    def list_processes(
        *,
        limit: Annotated[int, Query(ge=1, le=settings.list_max_limit)] = 50,
        status: Annotated[ProcessStatus | None, Query()] = None,
        process_key: Annotated[str | None, Query(alias="processKey", pattern=PROCESS_KEY_PATTERN)] = None,
        started_after: Annotated[
            UtcTime | None,
            Query(alias="startedAfter", description=f"inclusive; {YEARS}", json_schema_extra=TIME_LIMITS),
        ] = None,
        started_before: Annotated[
            UtcTime | None,
            Query(alias="startedBefore", description=f"exclusive; {YEARS}", json_schema_extra=TIME_LIMITS),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(
                description="`nextCursor` of the previous page, sent by the same caller with the same filters "
                "(`limit` may change); any other cursor is refused",
                pattern=CURSOR_PATTERN,
            ),
        ] = None,
    ) -> Response[str]:
        query = ListQuery(
            limit=limit,
            status=status,
            process_key=process_key,
            started_after=started_after,
            started_before=started_before,
        )
        caller = caller_of(router, settings)
        scope = cursor_scope(caller, query)
        if cursor:
            query = dataclasses.replace(query, after=cursors.decode(cursor, scope))
        found = service.list_page(query, caller=caller)
        base = links_base(router)
        page = ProcessPage(
            items=[ProcessView.of(record, base_url=base) for record in found.records],
            next_cursor=cursors.encode(found.last, scope) if found.last else None,
        )
        return json_response(HTTPStatus.OK, page.to_json())

    @router.get(
        "/api/process/status/<correlationId>",
        summary="Read one process",
        tags=["processes"],
        responses=responses("GET /api/process/status/{correlationId}", 200, 202),
        security=JWT,
    )
    def get_status(
        correlation_id: Annotated[str, Path(alias="correlationId", pattern=CORRELATION_ID_PATTERN)],
        prefer: Annotated[str | None, Header(description="RFC 7240: `wait=N` to wait up to N seconds")] = None,
        history: Annotated[bool, Query(description="include the steps the worker ran, in order")] = False,
    ) -> Response[str]:
        bind_correlation_id(correlation_id)
        preferences = parse_prefer(prefer)
        granted_ms = granted_wait_ms(
            settings,
            preferences,
            remaining_ms=router.lambda_context.get_remaining_time_in_millis(),
            long_wait=through_function_url(router),
        )
        state = service.status(
            correlation_id,
            caller=caller_of(router, settings),
            # Only a request that asked to wait waits (``Prefer: wait=0`` and ``respond-async`` do not).
            wait_ms=granted_ms if preferences.max_wait_ms else None,
            history=history,
        )
        applied = preferences.applied(granted_ms) if preferences.wait_s else None
        return process_response(
            state.record,
            retry_after_s=retry_after_of(service, settings, state.record),
            steps=state.steps,
            preference_applied=applied,
            base_url=links_base(router),
        )

    return router


def complete_routes(service: ProcessService, settings: Settings) -> Router:
    router = new_router()

    @router.post(
        "/api/process/complete",
        summary="Finish a process with its result or error (IAM-signed callers only)",
        tags=["steps"],
        responses=responses("POST /api/process/complete", 200, 403),
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
        return json_response(HTTPStatus.OK, ProcessView.of(record, base_url=links_base(router)).to_json())

    return router


def cancel_routes(service: ProcessService, settings: Settings) -> Router:
    router = new_router()

    @router.post(
        "/api/process/cancel",
        summary="Cancel a running process",
        tags=["processes"],
        responses=responses("POST /api/process/cancel", 200),
        security=JWT,
    )
    def cancel(request: Annotated[CancelRequest, Body()]) -> Response[str]:
        bind_correlation_id(request.correlation_id)
        record = service.cancel(request.correlation_id, reason=request.reason, caller=caller_of(router, settings))
        return json_response(HTTPStatus.OK, ProcessView.of(record, base_url=links_base(router)).to_json())

    return router
