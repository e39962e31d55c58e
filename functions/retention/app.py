"""Scheduled: delete finished processes older than RETENTION_DAYS, with their steps, in batches.
It builds the repository alone: retention needs neither Camunda nor a wake channel."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.composition import scheduled
from waitroom.observability import logger, metrics, tracer
from waitroom.settings import get_settings

retention = scheduled.retention(get_settings())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return asdict(retention.run(context.get_remaining_time_in_millis))
