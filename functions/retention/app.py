"""Scheduled: delete finished processes older than RETENTION_DAYS, with their steps, in batches.
It builds the repository alone: retention needs neither Camunda nor a wake channel."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom import bootstrap
from waitroom.observability import logger, metrics, tracer
from waitroom.service.retention import purge_expired
from waitroom.settings import get_settings

settings = get_settings()
repository = bootstrap.repository(settings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    summary = purge_expired(
        repository,
        settings.retention_policy(),
        remaining_ms=context.get_remaining_time_in_millis,
        now=bootstrap.utc_now,
    )
    return asdict(summary)
