"""What Waitroom does: start a process and wait for it, read it, finish it. No HTTP in here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from waitroom.camunda.client import CamundaClient, CamundaNoAnswer, CamundaNotFound
from waitroom.camunda.variables import VariableError, to_typed_variables
from waitroom.domain import (
    Caller,
    ListQuery,
    NewProcess,
    ProcessRecord,
    ProcessStatus,
    StepEvent,
    dump_json,
    request_hash,
)
from waitroom.errors import (
    AlreadyFinished,
    CamundaStartUnconfirmed,
    CorrelationConflict,
    InvalidRequest,
    ProcessDefinitionNotFound,
    ProcessKeyNotAllowed,
    ProcessNotFound,
    StartFailed,
    WaitroomError,
)
from waitroom.observability import emit
from waitroom.schemas import CancelRequest, CompleteRequest, StartRequest
from waitroom.settings import Settings
from waitroom.store import ProcessStore
from waitroom.waiting import PollSchedule, plan_from_history, wait_budget_ms, wait_for_final
from waitroom.wake import Polling, WakeChannel

logger = logging.getLogger(__name__)

#: How long a schedule learnt from a key's history is used before the history is read again.
LEARNT_FOR_S = 60.0


class ProcessService:
    def __init__(
        self,
        *,
        store: ProcessStore,
        camunda: CamundaClient,
        settings: Settings,
        wake: WakeChannel | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.camunda = camunda
        self.settings = settings
        self.wake: WakeChannel = wake or Polling()
        self.clock = clock
        self._learnt: dict[str, tuple[float, PollSchedule | None]] = {}

    # --- start ---------------------------------------------------------------------------------

    def deadline(
        self, *, max_wait_ms: int | None, remaining_ms: int | None, long_wait_max_ms: int | None = None
    ) -> float:
        """When a wait that begins now must end, on :attr:`clock` (see :func:`wait_budget_ms`)."""
        budget_ms = wait_budget_ms(
            sync_timeout_ms=self.settings.sync_timeout_ms,
            safety_margin_ms=self.settings.wait_safety_margin_ms,
            preferred_wait_ms=max_wait_ms,
            remaining_ms=remaining_ms,
            long_wait_max_ms=long_wait_max_ms,
        )
        return self.clock() + budget_ms / 1000

    def start(
        self,
        request: StartRequest,
        *,
        caller: Caller,
        max_wait_ms: int | None,
        remaining_ms: int | None,
        long_wait_max_ms: int | None = None,
    ) -> ProcessRecord:
        """Start the process (or join the one already started under this id) and wait for it to
        finish, as long as the wait budget allows. Returns the row as it stands then."""
        deadline = self.deadline(max_wait_ms=max_wait_ms, remaining_ms=remaining_ms, long_wait_max_ms=long_wait_max_ms)
        if not self.settings.may_start(request.process_key):
            raise ProcessKeyNotAllowed(
                f"process key {request.process_key!r} may not be started through Waitroom",
                details=[{"field": "processKey", "reason": "not one of ALLOWED_PROCESS_KEYS"}],
            )
        try:
            typed_variables = to_typed_variables(
                request.variables, string_max_chars=self.settings.camunda_string_max_chars
            )
        except VariableError as exc:
            raise InvalidRequest(
                f"variable {exc.name!r} cannot be sent to Camunda: {exc.reason}",
                details=[{"field": f"variables.{exc.name}", "reason": exc.reason}],
            ) from None
        new = NewProcess(
            correlation_id=request.correlation_id,
            process_key=request.process_key,
            request_hash=request_hash(request.process_key, request.variables),
            owner=caller.subject,
        )
        record, created = self.store.save(new)
        if created:
            self._start_in_camunda(new, typed_variables)
        else:
            self._ensure_same_request(record, new, caller)
            logger.info("joined a process started before", extra={"status": record.status.value})
        finished = self.wait(request.correlation_id, process_key=request.process_key, deadline=deadline)
        if created and finished.status is ProcessStatus.CANCELLED and finished.camunda_instance_id is not None:
            self._end_instance_cancelled_while_starting(finished.camunda_instance_id)
        return finished

    def _end_instance_cancelled_while_starting(self, instance_id: str) -> None:
        """A cancel that came between the row's insert and the instance's attach found no instance to
        delete: this start deletes it. (Had the cancel seen it, this finds it ended.)"""
        try:
            if self.camunda.delete_process_instance(instance_id):
                logger.info("deleted the instance of a process cancelled while it started")
        except WaitroomError:
            logger.warning(
                "could not delete the instance of a process cancelled while it started",
                extra={"camundaInstanceId": instance_id},
                exc_info=True,
            )

    def _ensure_same_request(self, record: ProcessRecord, new: NewProcess, caller: Caller) -> None:
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

    def _start_in_camunda(self, new: NewProcess, typed_variables: dict[str, dict[str, Any]]) -> None:
        try:
            instance = self.camunda.start_process(
                new.process_key, business_key=new.correlation_id, variables=typed_variables
            )
        except CamundaNoAnswer as exc:
            instance = self._instance_started_without_answer(new, exc)
        except CamundaNotFound as exc:
            self._discard_unstarted(new.correlation_id)
            raise ProcessDefinitionNotFound(
                f"no process definition with key {new.process_key!r} is deployed in Camunda",
                details=[{"field": "processKey", "reason": "unknown to Camunda"}],
            ) from exc
        except WaitroomError:
            self._discard_unstarted(new.correlation_id)
            raise
        self.store.attach_instance(new.correlation_id, str(instance["id"]))
        logger.info("process started", extra={"camundaInstanceId": instance["id"]})
        emit("ProcessesStarted", 1, ProcessKey=new.process_key)

    def _instance_started_without_answer(self, new: NewProcess, no_answer: CamundaNoAnswer) -> dict[str, Any]:
        """The start got no answer, so the instance may exist: look for it by its business key.

        Not found now proves nothing (the start may still be on its way), so the row stays PENDING
        and the reconciler settles it later: it attaches the instance, or marks the row ERROR.
        """
        try:
            found = self.camunda.find_historic_process_instances(
                business_key=new.correlation_id, process_key=new.process_key
            )
        except WaitroomError:
            found = []
        if len(found) == 1:
            logger.info("an unconfirmed start did start; attaching its instance")
            return found[0]
        raise CamundaStartUnconfirmed(
            f"Camunda did not confirm the start of {new.correlation_id!r}; it may be running. "
            "Read its status: Waitroom settles an unconfirmed start within a few minutes",
            details=no_answer.details,
        ) from no_answer

    def _discard_unstarted(self, correlation_id: str) -> None:
        """Forget a row whose start certainly failed, so that starting it again is a fresh start."""
        try:
            self.store.discard_unstarted(correlation_id)
        except WaitroomError:
            logger.exception("could not discard the row of a process that never started")

    # --- read ----------------------------------------------------------------------------------

    def wait(self, correlation_id: str, *, process_key: str | None, deadline: float) -> ProcessRecord:
        """Read the row until it is final or ``deadline`` passes, woken early by the wake channel.

        The subscription comes before the first read: a finish after it is announced, a finish
        before it is seen by that read.
        """
        with self.wake.subscribe(correlation_id) as subscription:
            record = wait_for_final(
                lambda: self.store.poll(correlation_id),
                deadline=deadline,
                schedule=self.schedule_for(process_key),
                clock=self.clock,
                pause=subscription.wait,
            )
        if record is None:
            raise StartFailed(
                f"the start of {correlation_id!r} failed while this request waited for it; starting it again is safe"
            )
        return record

    def schedule_for(self, process_key: str | None) -> PollSchedule:
        """The pauses between reads: a steady fallback when finishes are announced, else the poll
        schedule; an ``adaptive`` one is learnt per key from its recent durations (for a minute)."""
        if self.wake.pushes:
            return PollSchedule("push-fallback", (self.settings.push_fallback_poll_ms,))
        schedule = self.settings.poll_schedule
        if not schedule.adaptive or process_key is None or not self.settings.adaptive_history:
            return schedule
        expires_at, learnt = self._learnt.get(process_key, (0.0, None))
        if self.clock() >= expires_at:
            history = self.store.recent_durations_ms(process_key, limit=self.settings.adaptive_history)
            learnt = plan_from_history(history)
            self._learnt[process_key] = (self.clock() + LEARNT_FOR_S, learnt)
        return learnt or schedule

    def get(self, correlation_id: str, *, caller: Caller | None) -> ProcessRecord:
        """The process, if ``caller`` may see it (None: a trusted operator, who sees every process).

        Another caller's process is "not found", never "forbidden": its existence is not told.
        """
        record = self.store.get(correlation_id)
        if record is None or (caller is not None and not caller.may_see(record.owner)):
            raise ProcessNotFound(f"no process with correlation id {correlation_id!r}")
        return record

    def status(
        self,
        correlation_id: str,
        *,
        caller: Caller,
        max_wait_ms: int | None,
        remaining_ms: int | None,
        long_wait_max_ms: int | None = None,
    ) -> ProcessRecord:
        """The process; a client that asked to wait (``max_wait_ms``) waits for it like a start does."""
        record = self.get(correlation_id, caller=caller)
        if record.status.is_final or not max_wait_ms:
            return record
        deadline = self.deadline(max_wait_ms=max_wait_ms, remaining_ms=remaining_ms, long_wait_max_ms=long_wait_max_ms)
        return self.wait(correlation_id, process_key=record.process_key, deadline=deadline)

    def list_page(self, query: ListQuery, *, caller: Caller | None) -> tuple[list[ProcessRecord], ProcessRecord | None]:
        """A page of processes, and the row the next page starts after (None on the last page).

        A caller without the admin scope sees only their own processes.
        """
        if caller is not None and not caller.admin:
            query = replace(query, owner=caller.subject)
        rows = self.store.list_page(replace(query, limit=query.limit + 1))
        page = rows[: query.limit]
        return page, page[-1] if len(rows) > query.limit else None

    def steps(self, correlation_id: str, *, caller: Caller | None) -> list[StepEvent]:
        self.get(correlation_id, caller=caller)
        return self.store.steps(correlation_id)

    # --- cancel --------------------------------------------------------------------------------

    def cancel(self, request: CancelRequest, *, caller: Caller) -> ProcessRecord:
        """Delete the Camunda instance, then finish the row as CANCELLED; whoever waits sees it.

        Camunda goes first: if it cannot be reached the row stays PENDING (nothing is lost, the
        client may cancel again). Cancelling a cancelled process again is a success.
        """
        record = self.get(request.correlation_id, caller=caller)
        if record.status is ProcessStatus.CANCELLED:
            return record
        if record.status.is_final:
            raise AlreadyFinished(
                f"process {request.correlation_id!r} already finished as {record.status.value}",
                details=[{"field": "correlationId", "reason": f"the process is {record.status.value}"}],
            )
        if record.camunda_instance_id is not None:
            deleted = self.camunda.delete_process_instance(record.camunda_instance_id)
            logger.info("Camunda instance deleted" if deleted else "the Camunda instance had already ended")
        reason = request.reason or "cancelled by the client"
        cancelled = self.store.cancel(request.correlation_id, dump_json({"code": "CANCELLED", "message": reason}))
        if cancelled is not None:
            return cancelled
        # The process finished while Camunda was deleting it.
        finished = self.get(request.correlation_id, caller=caller)
        if finished.status is ProcessStatus.CANCELLED:
            return finished
        raise AlreadyFinished(
            f"process {request.correlation_id!r} finished as {finished.status.value} before it could be cancelled",
            details=[{"field": "correlationId", "reason": f"the process is {finished.status.value}"}],
        )

    # --- finish --------------------------------------------------------------------------------

    def complete(self, request: CompleteRequest) -> ProcessRecord:
        """Finish a process as its last step reports. A repeat of the same report is a success."""
        payload_json = None if request.data is None else dump_json(request.data)
        if request.status == "ok":
            finished = self.store.complete(request.correlation_id, payload_json)
            wanted, error = ProcessStatus.DONE, None
        else:
            error = normalize_error(request.error)
            finished = self.store.fail(request.correlation_id, dump_json(error), payload_json)
            wanted = ProcessStatus.ERROR
        if finished is not None:
            logger.info("process finished", extra={"status": finished.status.value})
            return finished
        # The last step of a process reports here, signed with IAM: a machine, not a client.
        record = self.get(request.correlation_id, caller=None)
        if record.status is wanted and record.payload == request.data and record.error == error:
            return record
        raise AlreadyFinished(
            f"process {request.correlation_id!r} already finished as {record.status.value}",
            details=[{"field": "status", "reason": f"the process is {record.status.value} with another outcome"}],
        )


def normalize_error(error: str | dict[str, Any] | None) -> dict[str, Any]:
    """A reported error as an object with at least a ``message``."""
    if error is None:
        return {"message": "the process reported an error"}
    if isinstance(error, str):
        return {"message": error}
    return error
