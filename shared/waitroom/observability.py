"""The Powertools logger, tracer and metrics every function shares.

The logger is named ``waitroom``, the parent of every module logger in this package, so that a
plain ``logging.getLogger(__name__)`` in the layer writes the same structured JSON lines with the
same keys (the correlation id among them) as the handlers.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from waitroom.domain import ProcessRecord, ProcessStatus

SERVICE = "waitroom"

# A route that counts nothing (a status read) flushes no metrics; Powertools warns each time, for nothing.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Waitroom", service=SERVICE)

__all__ = ["SERVICE", "bind_correlation_id", "count_answer", "logger", "metrics", "tracer"]


def bind_correlation_id(correlation_id: str) -> None:
    """Label this invocation's logs and trace with the process's correlation id."""
    logger.set_correlation_id(correlation_id)
    tracer.put_annotation(key="correlationId", value=correlation_id)


#: The metric counted for each way a start request can be answered.
ANSWER_METRICS = {
    ProcessStatus.DONE: "AnsweredInTime",
    ProcessStatus.PENDING: "Deferred",
    ProcessStatus.ERROR: "Failed",
    ProcessStatus.CANCELLED: "Cancelled",
}


def count_answer(record: ProcessRecord) -> None:
    """Count how a start request was answered: in time (200), deferred (202), failed or cancelled."""
    metrics.add_metric(name=ANSWER_METRICS[record.status], unit=MetricUnit.Count, value=1)
