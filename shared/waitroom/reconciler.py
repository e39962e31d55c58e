"""Repairs what the happy path cannot: every process a client started must end in a final state.

It runs on a schedule over the PENDING rows older than ``RECONCILE_MIN_AGE_S``, oldest first:

* PENDING longer than ``MAX_PROCESS_AGE`` → its Camunda instance deleted, then ERROR ``TIMED_OUT``;
* no Camunda instance recorded (the start was never confirmed, or the function died before it) →
  look for it by business key: found → attached; not found → ERROR ``START_FAILED``;
* the instance ended without finishing the row: COMPLETED (a terminate end event, or a path that
  skipped the last step) → ERROR ``ENDED_WITHOUT_RESULT``; EXTERNALLY_TERMINATED (deleted in
  Camunda) → CANCELLED; INTERNALLY_TERMINATED → ERROR ``TERMINATED``; no history at all → ERROR
  ``INSTANCE_NOT_FOUND``;
* the instance is running with an open incident → ERROR ``INCIDENT`` with its message. (The worker
  already does this when it raises the incident itself; this catches every other incident.)

Each repair is the store's conditional transition: a row finished meanwhile is left as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waitroom.camunda.client import CamundaClient
from waitroom.domain import ProcessRecord, dump_json
from waitroom.errors import WaitroomError
from waitroom.observability import emit, logger
from waitroom.settings import Settings
from waitroom.store import ProcessStore

#: The stuck-processes gauge counts up to this many (enough for an alarm, and the query stays small).
STUCK_COUNTED = 1000


@dataclass
class ReconcileSummary:
    examined: int = 0
    attached: int = 0
    failed: int = 0
    cancelled: int = 0
    untouched: int = 0
    #: Rows Camunda could not tell us about this time; the next run tries again.
    deferred: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(
        self,
        *,
        store: ProcessStore,
        camunda: CamundaClient,
        settings: Settings,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.camunda = camunda
        self.settings = settings
        self.now = now

    def run(self) -> ReconcileSummary:
        summary = ReconcileSummary()
        now = self.now()
        cutoff = now - timedelta(seconds=self.settings.reconcile_min_age_s)
        for record in self.store.pending_started_before(cutoff, limit=self.settings.reconcile_batch):
            summary.examined += 1
            logger.thread_safe_append_keys(correlation_id=record.correlation_id)
            try:
                outcome = self._reconcile(record, now)
            except WaitroomError as exc:
                logger.warning("could not reconcile a process", extra={"code": exc.code, "reason": exc.message})
                outcome = "deferred"
            finally:
                logger.thread_safe_clear_keys()
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        stuck = len(self.store.pending_started_before(now - self.settings.stuck_after, limit=STUCK_COUNTED))
        emit("StuckProcesses", stuck)
        logger.info("reconciler run finished", extra={**summary.to_dict(), "stuck": stuck})
        return summary

    def _reconcile(self, record: ProcessRecord, now: datetime) -> str:
        if now - record.started_at > self.settings.max_process_age:
            # Camunda first, as a cancel does: an instance left running would go on calling the steps'
            # services for a process nobody waits for. Out of reach → deferred, the row stays PENDING.
            if record.camunda_instance_id is not None:
                self.camunda.delete_process_instance(record.camunda_instance_id)
            return self._fail(
                record,
                "TIMED_OUT",
                f"the process was still PENDING after MAX_PROCESS_AGE ({self.settings.max_process_age})",
            )
        instance_id = record.camunda_instance_id
        if instance_id is None:
            found = self.camunda.find_historic_process_instances(
                business_key=record.correlation_id, process_key=record.process_key
            )
            if not found:
                return self._fail(
                    record,
                    "START_FAILED",
                    "Camunda has no instance for this process: its start never reached Camunda. "
                    "Start it again with a new correlation id",
                )
            instance_id = str(found[0]["id"])
            self.store.attach_instance(record.correlation_id, instance_id)
            logger.info("attached the instance of an unconfirmed start", extra={"camundaInstanceId": instance_id})
            outcome = self._by_history(record, found[0])
            return "attached" if outcome == "untouched" else outcome
        history = self.camunda.get_historic_process_instance(instance_id)
        if history is None:
            return self._fail(record, "INSTANCE_NOT_FOUND", f"Camunda knows no instance {instance_id}")
        return self._by_history(record, history)

    def _by_history(self, record: ProcessRecord, history: dict[str, Any]) -> str:
        state = history.get("state")
        if state == "COMPLETED":
            return self._fail(record, "ENDED_WITHOUT_RESULT", "the process ended in Camunda without reporting a result")
        if state == "EXTERNALLY_TERMINATED":
            reason = history.get("deleteReason") or "no reason given"
            cancelled = self.store.cancel(
                record.correlation_id,
                dump_json({"code": "CANCELLED", "message": f"the instance was deleted in Camunda: {reason}"}),
            )
            if cancelled is None:
                return "untouched"
            emit("Repairs", 1, Repair="EXTERNALLY_TERMINATED")
            return "cancelled"
        if state == "INTERNALLY_TERMINATED":
            return self._fail(record, "TERMINATED", "the process was terminated inside Camunda")
        incidents = self.camunda.list_incidents(process_instance_id=str(history["id"]))
        if incidents:
            first = incidents[0]
            message = f"incident in {first.get('activityId')}: {first.get('incidentMessage')}"
            return self._fail(record, "INCIDENT", message)
        return "untouched"

    def _fail(self, record: ProcessRecord, code: str, message: str) -> str:
        failed = self.store.fail(record.correlation_id, dump_json({"code": code, "message": message}))
        if failed is None:
            return "untouched"
        logger.info("reconciled a process", extra={"code": code})
        emit("Repairs", 1, Repair=code)
        return "failed"


@dataclass(frozen=True)
class RetentionSummary:
    deleted: int
    batches: int


def purge_expired(
    store: ProcessStore,
    settings: Settings,
    *,
    remaining_ms: Callable[[], int],
    now: Callable[[], datetime] = utc_now,
    on_batch: Callable[[RetentionSummary], None] | None = None,
) -> RetentionSummary:
    """Delete finished processes older than ``RETENTION_DAYS``, with their steps, a batch at a time,
    until none is left or the invocation's time runs short (the next run goes on).

    ``on_batch`` is given the running totals after each batch (the command line shows progress)."""
    cutoff = now() - timedelta(days=settings.retention_days)
    deleted = batches = 0
    while remaining_ms() > 5_000:
        started = time.monotonic()
        count = store.purge_finished(updated_before=cutoff, batch=settings.retention_batch)
        deleted += count
        batches += 1
        logger.debug("retention batch", extra={"deleted": count, "ms": round((time.monotonic() - started) * 1000)})
        if on_batch is not None:
            on_batch(RetentionSummary(deleted, batches))
        if count < settings.retention_batch:
            break
    logger.info("retention run finished", extra={"deleted": deleted, "batches": batches})
    return RetentionSummary(deleted, batches)
