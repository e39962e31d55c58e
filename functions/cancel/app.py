"""POST /api/process/cancel: delete the Camunda instance and end the process as CANCELLED."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from waitroom.http import api_handler, create_resolver, json_response
from waitroom.observability import bind_correlation_id
from waitroom.runtime import process_service
from waitroom.schemas import CancelRequest, ProcessView

app = create_resolver()
service = process_service()


@app.post("/api/process/cancel", summary="Cancel a running process")
def cancel(request: Annotated[CancelRequest, Body()]) -> Response[str]:
    bind_correlation_id(request.correlation_id)
    record = service.cancel(request)
    return json_response(HTTPStatus.OK, ProcessView.of(record).to_json())


lambda_handler = api_handler(app)
