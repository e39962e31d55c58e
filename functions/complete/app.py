"""POST /api/process/complete: the last step of a process reports its outcome (IAM-signed callers)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from waitroom.http import api_handler, create_resolver, json_response
from waitroom.observability import bind_correlation_id
from waitroom.runtime import process_service
from waitroom.schemas import CompleteRequest, ProcessView

app = create_resolver()
service = process_service()


@app.post("/api/process/complete", summary="Finish a process with its result or error")
def complete(request: Annotated[CompleteRequest, Body()]) -> Response[str]:
    bind_correlation_id(request.correlation_id)
    record = service.complete(request)
    return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())


lambda_handler = api_handler(app)
