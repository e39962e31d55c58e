"""Scheduled: read Camunda's backlog every few seconds and start worker invocations that drain it
(see waitroom.entrypoints.worker.dispatch). Composed here rather than in the worker's package, so
that only this function loads boto3's Lambda client."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.lambda_invoke import LambdaInvoker
from waitroom.entrypoints.worker.dispatch import Dispatcher
from waitroom.entrypoints.worker.plugins import load_registry
from waitroom.observability import logger, metrics, tracer
from waitroom.settings import get_settings

settings = get_settings()
dispatcher = Dispatcher(
    camunda=CamundaClient.from_settings(settings),
    registry=load_registry(settings),
    settings=settings,
    invoke=LambdaInvoker(settings.worker_function_name),
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return dispatcher.run(context.get_remaining_time_in_millis).to_dict()
