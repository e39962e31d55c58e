"""GET /api/process/status/{correlationId} and GET /api/process/status/all."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from waitroom.domain import ListQuery, ProcessStatus
from waitroom.http import api_handler, create_resolver, json_response, parse_prefer, process_response
from waitroom.observability import bind_correlation_id
from waitroom.runtime import process_service
from waitroom.schemas import (
    CORRELATION_ID_PATTERN,
    PROCESS_KEY_PATTERN,
    ProcessPage,
    ProcessView,
    decode_cursor,
    encode_cursor,
)

app = create_resolver()
service = process_service()


@app.get("/api/process/status/all", summary="List processes, newest first, a page at a time")
def list_processes(
    *,
    limit: Annotated[int, Query(ge=1, le=service.settings.list_max_limit)] = 50,
    status: Annotated[ProcessStatus | None, Query()] = None,
    process_key: Annotated[str | None, Query(alias="processKey", pattern=PROCESS_KEY_PATTERN)] = None,
    started_after: Annotated[
        datetime | None, Query(alias="startedAfter", description="inclusive; UTC if no zone")
    ] = None,
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
    records, last = service.list_page(query)
    page = ProcessPage(
        items=[ProcessView.of(record) for record in records], next_cursor=encode_cursor(last) if last else None
    )
    return json_response(HTTPStatus.OK, page.to_json())


@app.get("/api/process/status/<correlationId>", summary="Read one process")
def get_status(
    correlation_id: Annotated[str, Path(alias="correlationId", pattern=CORRELATION_ID_PATTERN)],
    prefer: Annotated[str | None, Header(description="RFC 7240: `wait=N` to wait up to N seconds")] = None,
    history: Annotated[bool, Query(description="include the steps the worker ran, in order")] = False,
) -> Response[str]:
    bind_correlation_id(correlation_id)
    preferences = parse_prefer(prefer)
    record = service.status(
        correlation_id,
        max_wait_ms=preferences.max_wait_ms,
        remaining_ms=app.lambda_context.get_remaining_time_in_millis(),
    )
    steps = service.steps(correlation_id) if history else None
    return process_response(record, steps=steps, preference_applied=preferences.applied if preferences.wait_s else None)


lambda_handler = api_handler(app)
