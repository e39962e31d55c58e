"""The Powertools logger, tracer and metrics every function shares, and what Waitroom measures.

One logging style: every module of the layer writes with ``logging.getLogger(__name__)``. The
Powertools logger here is named ``waitroom``, the parent of all of them, so its handler writes their
records as structured JSON lines with its keys (the correlation id among them); only entry points
touch it, to set those keys (:func:`bind_correlation_id`, :func:`thread_log_keys`) and to wrap a
handler.

Metrics are CloudWatch embedded metric format (EMF) lines in the stack's namespace
(``Waitroom/<stack>``), each with the ``service`` dimension (the stack's name) and, where it tells
something, the process key or the worker's topic. A metric with a dimension is also emitted without
it, so that alarms and totals need no search.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from wrapt import when_imported

from waitroom.domain.process import ProcessRecord, ProcessStatus

#: Powertools' own variables, which template.yaml sets per stack (``POWERTOOLS_SERVICE_NAME`` the stack's
#: name, ``POWERTOOLS_METRICS_NAMESPACE`` ``Waitroom/<stack>``), so that two stacks in one account
#: keep their metrics and alarms apart; the local stack and the tests use the defaults.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "waitroom"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Waitroom"

# A route that counts nothing itself (a status read) flushes no metrics; Powertools warns each time.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=SERVICE)
# Only requests (the Camunda calls) is patched: the database has subsegments of its own (traced), and
# patching everything X-Ray supports would import psycopg and botocore into every cold start. It is
# patched when something first imports it, since patching imports it: a function that calls no
# Camunda in an invocation (status, docs) never loads requests (docs/PERFORMANCE.md, "Cold start").
tracer = Tracer(service=SERVICE, auto_patch=False)


@when_imported("requests")
def _trace_requests(_requests: object) -> None:
    tracer.patch(["requests"])


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


@contextmanager
def thread_log_keys(**keys: str | None) -> Iterator[None]:
    """Keys on every log line this thread writes until the block ends (a worker's task)."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()


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


def traced(name: str) -> AbstractContextManager[Any]:
    """A subsegment of the current X-Ray trace (a dummy when tracing is off)."""
    manager: AbstractContextManager[Any] = tracer.provider.in_subsegment(name=name)
    return manager
