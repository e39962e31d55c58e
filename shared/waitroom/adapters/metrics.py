"""The service's :class:`~waitroom.service.ports.Metrics` as CloudWatch embedded metric format lines
(see :func:`waitroom.observability.emit`)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from waitroom.domain.process import ProcessRecord
from waitroom.observability import emit


class CloudWatchMetrics:
    def process_started(self, process_key: str) -> None:
        emit("ProcessesStarted", 1, ProcessKey=process_key)

    def process_finished(self, record: ProcessRecord) -> None:
        """Its duration, by key and final status."""
        emit("ProcessesFinished", 1, ProcessKey=record.process_key, Status=record.status.value)
        if record.duration_ms is not None:
            emit("ProcessDuration", record.duration_ms, MetricUnit.Milliseconds, ProcessKey=record.process_key)

    def repaired(self, repair: str) -> None:
        emit("Repairs", 1, Repair=repair)

    def stuck_processes(self, count: int) -> None:
        emit("StuckProcesses", count)


class Uncounted:
    """Nothing counted: an operator's command runs outside Lambda, where EMF lines would only be noise
    in its output."""

    def process_started(self, process_key: str) -> None:
        """Not counted."""

    def process_finished(self, record: ProcessRecord) -> None:
        """Not counted."""

    def repaired(self, repair: str) -> None:
        """Not counted."""

    def stuck_processes(self, count: int) -> None:
        """Not counted."""
