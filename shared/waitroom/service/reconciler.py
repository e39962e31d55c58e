"""Repairs what the happy path cannot: every process a client started must end in a final state.

It runs on a schedule over the PENDING rows older than ``RECONCILE_MIN_AGE_S``, oldest first:

* PENDING longer than ``MAX_PROCESS_AGE`` → its Camunda instance deleted, then ERROR ``TIMED_OUT``;
* no Camunda instance recorded (the start was never confirmed, or the function died before it) →
  look for it by business key: found → attached; not found → ERROR ``START_FAILED``, which its
  client reads, and after which the same id may be started again (``ProcessRecord.never_started``):
  the start is no longer under way (``RECONCILE_MIN_AGE_S`` outlasts it), so no instance will appear;
* the instance ended without finishing the row (:func:`~waitroom.service.engine_watch.engine_ending`):
  COMPLETED at plain end events (a process without a response step) → DONE with its final
  variables; COMPLETED at a terminate end event → ERROR ``TERMINATED``; COMPLETED by an uncaught BPMN
  error → ERROR ``ENDED_WITHOUT_RESULT``; EXTERNALLY_TERMINATED (deleted in Camunda) → CANCELLED;
  INTERNALLY_TERMINATED → ERROR ``TERMINATED``; no history at all → ERROR ``INSTANCE_NOT_FOUND``;
* the instance is running with an open incident → ERROR ``INCIDENT`` with its message.

The listening worker's engine watch (:mod:`waitroom.service.engine_watch`) ends incidents and ended
instances within seconds, with the same outcomes; the reconciler settles what it did not see.

Each repair is the service's :meth:`~waitroom.service.processes.ProcessService.finish`: a row finished
meanwhile is left as it is.

It also keeps a CANCELLED row from having a running instance. A cancel deletes the instance the row
records, or finds it by business key; but a cancel that came while the start was unconfirmed may
find none, and the instance appear after. So the CANCELLED rows with no instance, once their start
can no longer be under way (``RECONCILE_MIN_AGE_S``) and up to ``MAX_PROCESS_AGE``, are looked up by
business key: a running instance is deleted, and the instance found is recorded, which takes the row
off this list. A row whose start never reached Camunda has none, and is looked up at each run until
``MAX_PROCESS_AGE``: such rows are few (a cancel within seconds of an unconfirmed start), and the
row, finished, cannot carry a mark of having been looked at.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from waitroom.domain.errors import WaitroomError
from waitroom.domain.process import START_FAILED, Outcome, ProcessRecord, ProcessStatus, error_value
from waitroom.service.engine_watch import engine_ending, incident_outcome
from waitroom.service.policies import ReconcilePolicy
from waitroom.service.ports import Engine, InstanceHistory, Metrics, WallClock
from waitroom.service.processes import RUNNING, ProcessService

logger = logging.getLogger(__name__)

#: The stuck-processes gauge counts up to this many (enough for an alarm, and the query stays small).
STUCK_COUNTED = 1000


@dataclass
class ReconcileSummary:
    examined: int = 0
    attached: int = 0
    #: Processes whose instance ended plainly, answered DONE with its variables.
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    untouched: int = 0
    #: Rows the engine could not tell us about this time; the next run tries again.
    deferred: int = 0
    #: Running instances of CANCELLED rows deleted.
    deleted: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


_COUNTED_AS = {ProcessStatus.DONE: "done", ProcessStatus.ERROR: "failed", ProcessStatus.CANCELLED: "cancelled"}


class Reconciler:
    def __init__(
        self, *, service: ProcessService, engine: Engine, metrics: Metrics, policy: ReconcilePolicy, now: WallClock
    ) -> None:
        self.service = service
        self.repository = service.repository
        self.engine = engine
        self.metrics = metrics
        self.policy = policy
        self.now = now

    def run(self) -> ReconcileSummary:
        summary = ReconcileSummary()
        now = self.now()
        for record in self.repository.pending_started_before(now - self.policy.min_age, limit=self.policy.batch):
            summary.examined += 1
            try:
                outcome = self._reconcile(record, now)
            except WaitroomError as exc:
                logger.warning(
                    "could not reconcile a process",
                    extra={"correlation_id": record.correlation_id, "code": exc.code, "reason": exc.message},
                )
                outcome = "deferred"
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        self._end_instances_of_cancelled(summary, now)
        stuck = len(self.repository.pending_started_before(now - self.policy.stuck_after, limit=STUCK_COUNTED))
        self.metrics.stuck_processes(stuck)
        logger.info("reconciler run finished", extra={**summary.to_dict(), "stuck": stuck})
        return summary

    def _end_instances_of_cancelled(self, summary: ReconcileSummary, now: datetime) -> None:
        cancelled = self.repository.cancelled_without_instance(
            started_after=now - self.policy.max_process_age,
            started_before=now - self.policy.min_age,
            limit=self.policy.batch,
        )
        for record in cancelled:
            try:
                found = self.service.delete_instances_of(record)
            except WaitroomError as exc:
                logger.warning(
                    "could not look for the instance of a cancelled process",
                    extra={"correlation_id": record.correlation_id, "code": exc.code, "reason": exc.message},
                )
                summary.deferred += 1
                continue
            if not found:
                continue
            self.repository.attach_instance(record.correlation_id, found[0].id)
            running = sum(1 for instance in found if instance.state in RUNNING)
            if running:
                logger.info(
                    "deleted the instance of a cancelled process",
                    extra={"correlation_id": record.correlation_id, "camundaInstanceId": found[0].id},
                )
                summary.deleted += running
                self.metrics.repaired("CANCELLED_INSTANCE_DELETED")

    def _reconcile(self, record: ProcessRecord, now: datetime) -> str:
        if now - record.started_at > self.policy.max_process_age:
            # The engine first, as a cancel does: an instance left running would go on calling the
            # steps' services for a process nobody waits for. Out of reach → deferred, still PENDING.
            if record.camunda_instance_id is not None:
                self.engine.delete(record.camunda_instance_id)
            return self._fail(
                record,
                "TIMED_OUT",
                f"the process was still PENDING after MAX_PROCESS_AGE ({self.policy.max_process_age})",
            )
        instance_id = record.camunda_instance_id
        if instance_id is None:
            found = self.engine.find_by_business_key(record.correlation_id, process_key=record.process_key)
            if not found:
                return self._fail(
                    record,
                    START_FAILED,
                    "Camunda has no instance for this process: its start never reached Camunda. "
                    "Starting it again with the same correlation id is a fresh start",
                )
            self.repository.attach_instance(record.correlation_id, found[0].id)
            logger.info(
                "attached the instance of an unconfirmed start",
                extra={"correlation_id": record.correlation_id, "camundaInstanceId": found[0].id},
            )
            outcome = self._by_history(record, found[0])
            return "attached" if outcome == "untouched" else outcome
        history = self.engine.history(instance_id)
        if history is None:
            return self._fail(record, "INSTANCE_NOT_FOUND", f"Camunda knows no instance {instance_id}")
        return self._by_history(record, history)

    def _by_history(self, record: ProcessRecord, history: InstanceHistory) -> str:
        ending = engine_ending(history, self.engine)
        if ending is not None:
            repair, outcome = ending
            return self._repair(record, outcome, repair, _COUNTED_AS[outcome.status])
        incidents = self.engine.incidents(history.id)
        if incidents:
            return self._repair(record, incident_outcome(incidents[0]), "INCIDENT", "failed")
        return "untouched"

    def _fail(self, record: ProcessRecord, code: str, message: str) -> str:
        return self._repair(record, Outcome.failed(error_value(message, code=code)), code, "failed")

    def _repair(self, record: ProcessRecord, outcome: Outcome, repair: str, counted_as: str) -> str:
        if self.service.finish(record.correlation_id, outcome) is None:
            return "untouched"
        logger.info("reconciled a process", extra={"correlation_id": record.correlation_id, "code": repair})
        self.metrics.repaired(repair)
        return counted_as
