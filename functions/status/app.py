"""GET /api/process/status/{correlationId} and GET /api/process/status/all."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from waitroom.domain import ProcessStatus
from waitroom.http import api_handler, create_resolver, json_response, parse_prefer, process_response
from waitroom.observability import bind_correlation_id
from waitroom.runtime import process_service
from waitroom.schemas import CORRELATION_ID_PATTERN, ProcessList, ProcessView

app = create_resolver()
service = process_service()


@app.get("/api/process/status/all", summary="List processes, newest first")
def list_processes(
    limit: Annotated[int, Query(ge=1, le=service.settings.list_max_limit)] = 50,
    status: Annotated[ProcessStatus | None, Query()] = None,
) -> Response[str]:
    records = service.list(limit=limit, status=status)
    return json_response(HTTPStatus.OK, ProcessList(items=[ProcessView.of(record) for record in records]).to_json())


@app.get("/api/process/status/<correlationId>", summary="Read one process")
def get_status(
    correlation_id: Annotated[str, Path(alias="correlationId", pattern=CORRELATION_ID_PATTERN)],
    prefer: Annotated[str | None, Header(description="RFC 7240: `wait=N` to wait up to N seconds")] = None,
) -> Response[str]:
    bind_correlation_id(correlation_id)
    preferences = parse_prefer(prefer)
    record = service.status(
        correlation_id,
        max_wait_ms=preferences.max_wait_ms,
        remaining_ms=app.lambda_context.get_remaining_time_in_millis(),
    )
    return process_response(record, preference_applied=preferences.applied if preferences.wait_s else None)


lambda_handler = api_handler(app)
