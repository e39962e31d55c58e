"""Scheduled: delete finished processes older than RETENTION_DAYS, with their steps, in batches."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.observability import logger, metrics, tracer
from waitroom.reconciler import purge_expired
from waitroom.runtime import process_service

service = process_service()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    summary = purge_expired(service.store, service.settings, remaining_ms=context.get_remaining_time_in_millis)
    return asdict(summary)
