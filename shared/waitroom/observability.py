"""The Powertools logger, tracer and metrics every function shares, and what Waitroom measures.

The logger is named ``waitroom``, the parent of every module logger in this package, so that a
plain ``logging.getLogger(__name__)`` in the layer writes the same structured JSON lines with the
same keys (the correlation id among them) as the handlers.

Metrics are CloudWatch embedded metric format (EMF) lines in the namespace ``Waitroom``, each with
the ``service`` dimension and, where it tells something, the process key or the worker's topic. A
metric with a dimension is also emitted without it, so that alarms and totals need no search.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from waitroom.domain import ProcessRecord, ProcessStatus

SERVICE = "waitroom"
NAMESPACE = "Waitroom"

# A route that counts nothing itself (a status read) flushes no metrics; Powertools warns each time.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=SERVICE)
# Only requests (the Camunda calls) is patched: the database has subsegments of its own (traced), and
# patching everything X-Ray supports would import psycopg and botocore into every cold start.
tracer = Tracer(service=SERVICE, patch_modules=("requests",))
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

#: The metric counted for each way a start request can be answered.
ANSWER_METRICS = {
    ProcessStatus.DONE: "AnsweredInTime",
    ProcessStatus.PENDING: "Deferred",
    ProcessStatus.ERROR: "Failed",
    ProcessStatus.CANCELLED: "Cancelled",
}


def bind_correlation_id(correlation_id: str) -> None:
    """Label this invocation's logs and trace with the process's correlation id."""
    logger.set_correlation_id(correlation_id)
    tracer.put_annotation(key="correlationId", value=correlation_id)


def emit(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str | None) -> None:
    """One data point, written at once (safe from the worker's threads): with its dimensions, and
    once more with the service's alone when it has any, for totals and alarms."""
    given = {dimension: value for dimension, value in dimensions.items() if value}
    for extra in [given, {}] if given else [{}]:
        with single_metric(
            name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE, **extra}
        ):
            pass


def count_answer(record: ProcessRecord, waited_ms: float) -> None:
    """How a start request was answered (in time, deferred, failed, cancelled) and how long it took."""
    emit(ANSWER_METRICS[record.status], 1, ProcessKey=record.process_key)
    emit("WaitTime", waited_ms, MetricUnit.Milliseconds, ProcessKey=record.process_key)


def observe_finish(record: ProcessRecord) -> None:
    """A process finished: its duration, by key and final status."""
    emit("ProcessesFinished", 1, ProcessKey=record.process_key, Status=record.status.value)
    if record.duration_ms is not None:
        emit("ProcessDuration", record.duration_ms, MetricUnit.Milliseconds, ProcessKey=record.process_key)


def traced(name: str) -> AbstractContextManager[Any]:
    """A subsegment of the current X-Ray trace (a dummy when tracing is off)."""
    manager: AbstractContextManager[Any] = tracer.provider.in_subsegment(name=name)
    return manager
