"""Scheduled: settle the PENDING processes the happy path could not (see waitroom.service.reconciler)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.composition import scheduled
from waitroom.observability import logger, metrics, tracer
from waitroom.settings import get_settings

process_reconciler = scheduled.reconciler(get_settings())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return process_reconciler.run().to_dict()
