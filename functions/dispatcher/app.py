"""Scheduled: read the engine's backlog every few seconds and start worker invocations that drain it
(see waitroom.entrypoints.worker.dispatch)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.composition.dispatcher import build_dispatcher
from waitroom.observability import logger, metrics, tracer
from waitroom.settings import get_settings

dispatcher = build_dispatcher(get_settings())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return dispatcher.run(context.get_remaining_time_in_millis).to_dict()
