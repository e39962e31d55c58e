"""What Waitroom does with a process: start it and wait for it, read it, list it, cancel it, end it.

The service speaks the domain and its own ports (:mod:`waitroom.service.ports`); the composition
roots in :mod:`waitroom.bootstrap` give it the adapters. No HTTP, SQL or AWS in here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from waitroom.domain.errors import (
    AlreadyFinished,
    CallbackNotSent,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaStartUnconfirmed,
    CorrelationConflict,
    ProcessDefinitionNotFound,
    ProcessKeyNotAllowed,
    ProcessNotFound,
    ProcessPending,
    StartFailed,
    WaitroomError,
)
from waitroom.domain.process import (
    Caller,
    ListQuery,
    NewProcess,
    Outcome,
    ProcessRecord,
    ProcessStatus,
    StepEvent,
    error_value,
    record_to_json,
    request_hash,
)
from waitroom.service.policies import StartPolicy, WaitPolicy
from waitroom.service.ports import (
    Callbacks,
    Clock,
    Engine,
    InstanceHistory,
    Metrics,
    ProcessRepository,
    Waker,
    WallClock,
)
from waitroom.service.schedules import Schedules
from waitroom.service.waiting import wait_for_final

logger = logging.getLogger(__name__)

#: Rows per page when an operator fails every PENDING process.
FAIL_ALL_PAGE = 200
#: The engine states of an instance that still runs (and so can be deleted).
RUNNING = frozenset({"ACTIVE", "SUSPENDED"})


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Page:
    """One page of processes, and the row the next page starts after (None on the last page)."""

    records: list[ProcessRecord]
    last: ProcessRecord | None


class Discard(Enum):
    """The end of a row whose start certainly failed: no instance exists, so the row is deleted and
    its id may be started afresh."""

    UNSTARTED = "unstarted"


#: How a row ends: finished with an outcome, or discarded.
type Ending = Outcome | Discard


@dataclass(frozen=True)
class Ended:
    """What :meth:`ProcessService._end` did: the row it finished (None when it finished none; a
    discard finishes none, it deletes), and the row as it stands after it (None: there is none)."""

    finished: ProcessRecord | None
    current: ProcessRecord | None


@dataclass(frozen=True)
class Progress:
    """How long a process has run, and how long its key's recent processes took, in milliseconds."""

    elapsed_ms: float
    durations_ms: list[float]


@dataclass(frozen=True)
class ProcessState:
    """A process as a status request answers it: the row, and its steps when they were asked for."""

    record: ProcessRecord
    steps: list[StepEvent] | None = None


class ProcessService:
    def __init__(
        self,
        *,
        repository: ProcessRepository,
        engine: Engine,
        waker: Waker,
        metrics: Metrics,
        start_policy: StartPolicy,
        wait_policy: WaitPolicy,
        clock: Clock,
        wall_clock: WallClock = utc_now,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.repository = repository
        self.wall_clock = wall_clock
        self.engine = engine
        self.waker = waker
        self.metrics = metrics
        self.start_policy = start_policy
        self.wait_policy = wait_policy
        self.clock = clock
        self.callbacks = callbacks
        self.schedules = Schedules(repository, waker, wait_policy, clock)

    # --- start ---------------------------------------------------------------------------------

    def start(
        self,
        process_key: str,
        *,
        correlation_id: str,
        variables: Mapping[str, Any],
        caller: Caller,
        wait_ms: int,
    ) -> ProcessRecord:
        """Start the process (or join the one already started under this id) and wait for it to
        finish, for up to ``wait_ms`` (the wait the caller's entry point grants). Returns the row as it
        stands then."""
        deadline = self.clock() + wait_ms / 1000
        created = self.begin(process_key, correlation_id=correlation_id, variables=variables, caller=caller)
        finished = self.wait(correlation_id, process_key=process_key, deadline=deadline)
        return self.waited(finished, created=created)

    def begin(self, process_key: str, *, correlation_id: str, variables: Mapping[str, Any], caller: Caller) -> bool:
        """The start before its wait: the row saved and the instance started, or the process started
        before under this id joined. Whether this start made the row."""
        if not self.start_policy.may_start(process_key):
            raise ProcessKeyNotAllowed(
                f"process key {process_key!r} may not be started through Waitroom",
                details=[{"field": "processKey", "reason": "not one of ALLOWED_PROCESS_KEYS"}],
            )
        self.engine.check_variables(variables)
        new = NewProcess(
            correlation_id=correlation_id,
            process_key=process_key,
            request_hash=request_hash(process_key, dict(variables)),
            owner=caller.subject,
        )
        record, created = self.repository.save(new)
        if not created and record.never_started and record.owner == caller.subject:
            # No instance exists, as after a start that failed for certain (whose row is discarded):
            # its client may start the id afresh. Only its own client, so that no other caller's start
            # takes away the final state that client reads.
            record, created = self.repository.replace_unstarted(new, record)
            logger.info("starting again a process whose start never reached Camunda", extra={"replaced": created})
        if created:
            self._start_in_engine(new, variables)
        else:
            self._ensure_same_request(record, new, caller)
            logger.info("joined a process started before", extra={"status": record.status.value})
        return created

    def waited(self, finished: ProcessRecord, *, created: bool) -> ProcessRecord:
        """The answer of a start (``created``: it made the row, not joined it) once its wait is over:
        ``finished``, the row as the wait left it."""
        if created and finished.status is ProcessStatus.CANCELLED and finished.camunda_instance_id is not None:
            self._end_instance_cancelled_while_starting(finished.camunda_instance_id)
        return finished

    def _end_instance_cancelled_while_starting(self, instance_id: str) -> None:
        """A cancel that came between the row's insert and the instance's attach found no instance to
        delete: this start deletes it. (Had the cancel seen it, this finds it ended.)"""
        try:
            if self.engine.delete(instance_id):
                logger.info("deleted the instance of a process cancelled while it started")
        except WaitroomError:
            logger.warning(
                "could not delete the instance of a process cancelled while it started",
                extra={"camundaInstanceId": instance_id},
                exc_info=True,
            )

    @staticmethod
    def _ensure_same_request(record: ProcessRecord, new: NewProcess, caller: Caller) -> None:
        if not caller.may_see(record.owner):
            # Ids are global, so the id is taken; nothing else about the other caller's process is told.
            raise CorrelationConflict(
                f"correlation id {new.correlation_id!r} is already in use",
                details=[{"field": "correlationId", "reason": "already in use"}],
            )
        if record.process_key != new.process_key:
            raise CorrelationConflict(
                f"correlation id {new.correlation_id!r} belongs to a process of key {record.process_key!r}",
                details=[{"field": "processKey", "reason": "differs from the process started under this id"}],
            )
        if record.request_hash != new.request_hash:
            raise CorrelationConflict(
                f"correlation id {new.correlation_id!r} was started with different variables",
                details=[{"field": "variables", "reason": "differ from the process started under this id"}],
            )

    def _start_in_engine(self, new: NewProcess, variables: Mapping[str, Any]) -> None:
        try:
            instance_id = self.engine.start(new.process_key, business_key=new.correlation_id, variables=variables)
        except CamundaNoAnswer as exc:
            instance_id = self._instance_started_without_answer(new, exc)
        except CamundaNotFound as exc:
            self._discard_unstarted(new.correlation_id)
            raise ProcessDefinitionNotFound(
                f"no process definition with key {new.process_key!r} is deployed in Camunda",
                details=[{"field": "processKey", "reason": "unknown to Camunda"}],
            ) from exc
        except WaitroomError:
            self._discard_unstarted(new.correlation_id)
            raise
        self.repository.attach_instance(new.correlation_id, instance_id)
        logger.info("process started", extra={"camundaInstanceId": instance_id})
        self.metrics.process_started(new.process_key)

    def _instance_started_without_answer(self, new: NewProcess, no_answer: CamundaNoAnswer) -> str:
        """The start got no answer, so the instance may exist: look for it by its business key.

        Not found now proves nothing (the start may still be on its way), so the row stays PENDING
        and the reconciler settles it later: it attaches the instance, or marks the row ERROR.
        """
        try:
            found = self.engine.find_by_business_key(new.correlation_id, process_key=new.process_key)
        except WaitroomError:
            found = []
        if len(found) == 1:
            logger.info("an unconfirmed start did start; attaching its instance")
            return found[0].id
        raise CamundaStartUnconfirmed(
            f"Camunda did not confirm the start of {new.correlation_id!r}; it may be running. "
            "Read its status: Waitroom settles an unconfirmed start within a few minutes",
            details=no_answer.details,
        ) from no_answer

    def _discard_unstarted(self, correlation_id: str) -> None:
        """Forget a row whose start certainly failed, so that starting it again is a fresh start."""
        try:
            self._end(correlation_id, Discard.UNSTARTED)
        except WaitroomError:
            logger.exception("could not discard the row of a process that never started")

    # --- wait and read -------------------------------------------------------------------------

    def wait(self, correlation_id: str, *, process_key: str | None, deadline: float) -> ProcessRecord:
        """Read the row until it is final or ``deadline`` passes, woken early by the waker.

        The subscription comes before the first read: a finish after it is announced, a finish
        before it is seen by that read.
        """
        with self.waker.subscribe(correlation_id) as subscription:
            record = wait_for_final(
                lambda: self.repository.poll(correlation_id),
                deadline=deadline,
                schedule=self.schedules.for_key(process_key),
                clock=self.clock,
                pause=subscription.wait,
            )
        if record is None:
            raise _start_failed(correlation_id)
        return record

    def current(self, correlation_id: str) -> ProcessRecord:
        """The row of a process this request started or joined, as it stands: what a waiter reads when
        its wait ends without the process's end in hand."""
        record = self.repository.get(correlation_id)
        if record is None:
            raise _start_failed(correlation_id)
        return record

    # --- durable waiters -----------------------------------------------------------------------

    def await_callback(self, correlation_id: str, callback_id: str) -> ProcessRecord:
        """Record the callback a durable waiter is about to suspend on, then read the row once.

        A finish that lands before the recording takes no callback of this waiter, and this read,
        after the recording, sees the row final: the waiter answers without suspending, and its
        callback is forgotten. A finish after the recording takes the callback and sends it.
        """
        self.repository.add_waiter(correlation_id, callback_id)
        record = self.current(correlation_id)
        if record.status.is_final:
            self.repository.drop_waiter(correlation_id, callback_id)
        return record

    def _wake_durable_waiters(self, correlation_id: str, record: ProcessRecord | None) -> None:
        """Send the process's end to every durable waiter recorded for it, each once (the callbacks are
        taken from the store, so of racing finishes one sends each). The message carries the row,
        unless it is larger than a callback carries or the row is gone: then it carries nothing
        and the waiter reads the row. A failure is logged and loses nothing: the row stays the
        truth, and a waiter whose callback was not sent reads it when its callback times out."""
        if self.callbacks is None:
            return
        try:
            taken = self.repository.take_waiters(correlation_id)
        except WaitroomError:
            logger.warning("could not take the durable waiters of a finished process", exc_info=True)
            return
        if not taken:
            return
        message = "{}" if record is None else json.dumps({"record": record_to_json(record)}, separators=(",", ":"))
        if len(message.encode()) > self.callbacks.max_message_bytes:
            message = "{}"
        for callback_id in taken:
            try:
                if not self.callbacks.send(callback_id, message):
                    logger.info("a durable waiter's callback was closed already")
            except CallbackNotSent:
                logger.warning("could not send a durable waiter its process's end", exc_info=True)

    def progress(self, record: ProcessRecord) -> Progress:
        """How long the process has run, beside how long its key's recent processes took (from which
        the HTTP entry point tells a client when to look again)."""
        durations = [] if record.process_key is None else self.schedules.durations_ms(record.process_key)
        return Progress(
            elapsed_ms=(self.wall_clock() - record.started_at).total_seconds() * 1000, durations_ms=durations
        )

    def read(self, correlation_id: str, *, caller: Caller | None) -> ProcessRecord:
        """The process, if ``caller`` may see it (see :func:`_visible`)."""
        return _visible(self.repository.get(correlation_id), correlation_id, caller)

    def status(
        self,
        correlation_id: str,
        *,
        caller: Caller | None,
        wait_ms: int | None = None,
        history: bool = False,
    ) -> ProcessState:
        """The process, with its steps when ``history``; a caller granted a wait (``wait_ms``) waits
        for it like a start does."""
        record = self.read(correlation_id, caller=caller)
        if not record.status.is_final and wait_ms is not None:
            deadline = self.clock() + wait_ms / 1000
            record = self.wait(correlation_id, process_key=record.process_key, deadline=deadline)
        return ProcessState(record, self.repository.steps(correlation_id) if history else None)

    def list_page(self, query: ListQuery, *, caller: Caller | None) -> Page:
        """A page of processes. A caller without the admin scope sees only their own processes."""
        if caller is not None and not caller.admin:
            query = replace(query, owner=caller.subject)
        rows = self.repository.list_page(replace(query, limit=query.limit + 1))
        records = rows[: query.limit]
        return Page(records, records[-1] if len(rows) > query.limit else None)

    def pages(self, query: ListQuery, *, caller: Caller | None) -> Iterator[Page]:
        """Every page of ``query``, newest first (keyset paging: rows started meanwhile do not shift it)."""
        while True:
            page = self.list_page(query, caller=caller)
            yield page
            if page.last is None:
                return
            query = replace(query, after=(page.last.started_at, page.last.correlation_id))

    # --- end -----------------------------------------------------------------------------------

    def finish(self, correlation_id: str, outcome: Outcome, *, instance_id: str | None = None) -> ProcessRecord | None:
        """End a PENDING process with ``outcome`` (through :meth:`_end`, as every ending). Its waiters
        wake and its duration is counted. ``instance_id`` is the engine instance that ended it, recorded
        if the row has none (its start was never confirmed). None when the process was not PENDING (or
        is unknown): of racing finishes exactly one gets the row, and a finished row keeps its outcome."""
        return self._end(correlation_id, outcome, instance_id=instance_id).finished

    def end_for_instance(self, correlation_id: str, outcome: Outcome, *, instance_id: str) -> ProcessRecord | None:
        """End a PENDING process with ``outcome`` for what the engine did to instance ``instance_id``
        (an incident stopped it, it ended without a result): only if the row records that instance, or
        none yet (another instance started under the same business key outside Waitroom leaves the row
        alone). As :meth:`finish` otherwise."""
        if not self.awaits_instance(correlation_id, instance_id):
            return None
        return self._end(correlation_id, outcome, instance_id=instance_id).finished

    def awaits_instance(self, correlation_id: str, instance_id: str) -> bool:
        """Whether the process is PENDING and records instance ``instance_id``, or none yet: whether
        what the engine did to that instance may end it (:meth:`end_for_instance`)."""
        record = self.repository.get(correlation_id)
        if record is None or record.status is not ProcessStatus.PENDING:
            return False
        return record.camunda_instance_id in (None, instance_id)

    def _end(self, correlation_id: str, ending: Ending, *, instance_id: str | None = None) -> Ended:
        """The one operation through which every process ends: the only caller of the repository's
        ending statements (``finish``, ``discard_unstarted``; tests/unit/test_one_end.py holds to it),
        and the one place that announces an end. A finished row wakes its waiters and is counted; a
        discarded one wakes its waiters, who read it gone (the start failed).

        An ending whose statement committed but whose answer was lost is retried by the store and
        finds nothing left to end: when the row stands as this ending left it, the announcement that
        never went out is made now (an announcement only says "read now": a spare one costs a read).
        """
        if isinstance(ending, Discard):
            if self.repository.discard_unstarted(correlation_id):
                logger.info("discarded the row of a start that failed", extra={"correlation_id": correlation_id})
                self.waker.notify(correlation_id)
                self._wake_durable_waiters(correlation_id, None)
                return Ended(None, None)
            current = self.repository.get(correlation_id)
            if current is None:
                self.waker.notify(correlation_id)
                self._wake_durable_waiters(correlation_id, None)
            return Ended(None, current)
        finished = self.repository.finish(correlation_id, ending, instance_id=instance_id)
        if finished is not None:
            logger.info("process finished", extra={"correlation_id": correlation_id, "status": finished.status})
            self.waker.notify(correlation_id)
            self._wake_durable_waiters(correlation_id, finished)
            self.metrics.process_finished(finished)
            return Ended(finished, finished)
        current = self.repository.get(correlation_id)
        if current is not None and ending.matches(current):
            self.waker.notify(correlation_id)
            self._wake_durable_waiters(correlation_id, current)
        return Ended(None, current)

    def complete(self, correlation_id: str, outcome: Outcome) -> ProcessRecord:
        """The last step of a process reports its outcome. A repeat of the same report is a success;
        another outcome of a finished process is a conflict."""
        ended = self._end(correlation_id, outcome)
        if ended.finished is not None:
            return ended.finished
        # Reported by the process's last step, signed with IAM: a machine, not a client.
        record = _visible(ended.current, correlation_id, caller=None)
        if outcome.matches(record):
            return record
        raise AlreadyFinished(
            f"process {correlation_id!r} already finished as {record.status.value}",
            details=[{"field": "status", "reason": f"the process is {record.status.value} with another outcome"}],
        )

    def cancel(self, correlation_id: str, *, reason: str | None, caller: Caller) -> ProcessRecord:
        """Delete the engine's instance, then finish the row as CANCELLED; whoever waits sees it.

        The engine goes first: if it cannot be reached the row stays PENDING (nothing is lost, the
        client may cancel again). A row without its instance (a start never confirmed, or one still
        under way) has it looked up by business key, deleted and recorded; one that appears only
        later is deleted by the start that is still under way, or else by the reconciler
        (:meth:`~waitroom.service.reconciler.Reconciler.run`). Cancelling a cancelled process again is a success.
        """
        record = self.read(correlation_id, caller=caller)
        if record.status is ProcessStatus.CANCELLED:
            return record
        if record.status.is_final:
            raise AlreadyFinished(
                f"process {correlation_id!r} already finished as {record.status.value}",
                details=[{"field": "correlationId", "reason": f"the process is {record.status.value}"}],
            )
        instance_id = record.camunda_instance_id
        if instance_id is not None:
            deleted = self.engine.delete(instance_id)
            logger.info("Camunda instance deleted" if deleted else "the Camunda instance had already ended")
        else:
            found = self.delete_instances_of(record)
            instance_id = found[0].id if found else None
        ended = self._end(
            correlation_id, Outcome.cancelled(reason or "cancelled by the client"), instance_id=instance_id
        )
        if ended.finished is not None:
            return ended.finished
        # The process finished while the engine was deleting it.
        finished = _visible(ended.current, correlation_id, caller)
        if finished.status is ProcessStatus.CANCELLED:
            return finished
        raise AlreadyFinished(
            f"process {correlation_id!r} finished as {finished.status.value} before it could be cancelled",
            details=[{"field": "correlationId", "reason": f"the process is {finished.status.value}"}],
        )

    def delete_instances_of(self, record: ProcessRecord) -> list[InstanceHistory]:
        """Delete every running engine instance started under ``record``'s id (its business key), for a
        row that has no instance recorded. Returns what the engine had under that key, as it was
        found (the row records the first)."""
        found = self.engine.find_by_business_key(record.correlation_id, process_key=record.process_key)
        for instance in found:
            if instance.state in RUNNING and self.engine.delete(instance.id):
                logger.info(
                    "deleted an instance the row did not record",
                    extra={"correlation_id": record.correlation_id, "camundaInstanceId": instance.id},
                )
        return found

    def fail_all_pending(self, *, code: str, reason: str) -> int:
        """End as ERROR every process PENDING when this begins (an operator's ``clearAll``), each
        through :meth:`_end` as any ending, so each one's waiters wake and each is counted. Newest
        first, page by page: a process started meanwhile is newer than the first page and is left
        alone. Returns how many this call ended."""
        outcome = Outcome.failed(error_value(reason, code=code))
        ended = 0
        for page in self.pages(ListQuery(limit=FAIL_ALL_PAGE, status=ProcessStatus.PENDING), caller=None):
            for record in page.records:
                if self._end(record.correlation_id, outcome).finished is not None:
                    ended += 1
        return ended

    # --- history and housekeeping --------------------------------------------------------------

    def record_step(self, event: StepEvent) -> bool:
        """Add a step to its process's history. False when Waitroom has no row for the process."""
        return self.repository.record_step(event)

    def delete(self, correlation_id: str) -> bool:
        """Forget a finished process and its steps (an operator's decision). A PENDING one is refused:
        its client would wait for a row that is gone; cancel or fail it first. False when unknown."""
        if self.repository.has_pending(correlation_id):
            raise ProcessPending(f"process {correlation_id!r} is PENDING: cancel it or fail it first")
        return self.repository.remove(correlation_id)

    def is_pending(self, correlation_id: str) -> bool:
        return self.repository.has_pending(correlation_id)

    def pending_count(self) -> int:
        return self.repository.pending_count()


def _start_failed(correlation_id: str) -> StartFailed:
    """What a waiter meets when the row it waits for is gone: its start failed and was discarded."""
    return StartFailed(
        f"the start of {correlation_id!r} failed while this request waited for it; starting it again is safe"
    )


def _visible(record: ProcessRecord | None, correlation_id: str, caller: Caller | None) -> ProcessRecord:
    """``record`` if ``caller`` may see it (None: a trusted operator, who sees every process).

    Another caller's process is "not found", never "forbidden": its existence is not told.
    """
    if record is None or (caller is not None and not caller.may_see(record.owner)):
        raise ProcessNotFound(f"no process with correlation id {correlation_id!r}")
    return record
