"""POST /api/process/start: start a Camunda process and answer with its result if it ends in time."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from waitroom.http import api_handler, create_resolver, parse_prefer, process_response
from waitroom.observability import bind_correlation_id, count_answer
from waitroom.runtime import process_service
from waitroom.schemas import StartRequest

app = create_resolver()
service = process_service()


@app.post("/api/process/start", summary="Start a process and wait for its result")
def start(
    request: Annotated[StartRequest, Body()],
    prefer: Annotated[str | None, Header(description="RFC 7240: `wait=N` (seconds) or `respond-async`")] = None,
) -> Response[str]:
    bind_correlation_id(request.correlation_id)
    preferences = parse_prefer(prefer)
    record = service.start(
        request,
        max_wait_ms=preferences.max_wait_ms,
        remaining_ms=app.lambda_context.get_remaining_time_in_millis(),
    )
    count_answer(record)
    return process_response(record, preference_applied=preferences.applied, fetch_variables=request.fetch_variables)


lambda_handler = api_handler(app)
