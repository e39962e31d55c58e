"""Take the engine's tasks and run their handlers. On the schedule: until the invocation's time
is nearly up (one worker always listening). Started by the dispatcher: until the backlog is drained."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.composition.worker import build_worker
from waitroom.entrypoints.worker.dispatch import is_drain
from waitroom.observability import logger, metrics, tracer
from waitroom.settings import get_settings

camunda_worker = build_worker(get_settings())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return camunda_worker.run(context.get_remaining_time_in_millis, drain=is_drain(event)).to_dict()
