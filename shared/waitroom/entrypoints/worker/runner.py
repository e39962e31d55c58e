"""The worker: one invocation long-polls the engine's task queue and runs handlers until its time is up.

The worker Lambda runs on a schedule; each invocation keeps fetching and running tasks and returns
while it still has ``WORKER_TASK_BUDGET_MS`` left, so that the next invocation takes over and one
worker is always listening. Tasks run in a bounded thread pool; a lock keeper extends the locks of
the tasks still running, so that a long handler does not lose its task to another worker. The
listening invocation also watches the engine for what stops a process outside any handler of its
own (:mod:`waitroom.service.engine_watch`).

The engine is the :class:`~waitroom.service.ports.TaskQueue` port: nothing here knows which engine
(or which of its protocols) hands the tasks out.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Self

from aws_lambda_powertools.metrics import MetricUnit

from waitroom.domain.errors import CamundaRejected, InvalidRequest, WaitroomError
from waitroom.domain.process import Outcome, StepEvent, StepOutcome, dump_json
from waitroom.entrypoints.worker.tasks import (
    BusinessRejection,
    ProcessOutcome,
    TaskHandler,
    Topic,
    TopicRegistry,
    WorkerResources,
)
from waitroom.observability import emit, thread_log_keys, traced
from waitroom.service.engine_watch import EngineWatch, step_incident_outcome
from waitroom.service.ports import Task, TaskQueue
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

logger = logging.getLogger(__name__)

#: After the engine could not be reached, wait this long before asking again.
FETCH_FAILURE_PAUSE_S = 1.0
#: How often the lock keeper looks for locks due to be extended: often enough for a 1 s lock.
LOCK_KEEPER_TICK_S = 0.1


@dataclass
class WorkerSummary:
    fetched: int = 0
    completed: int = 0
    bpmn_errors: int = 0
    failed: int = 0
    #: Reports the engine refused because the task was gone or locked by another worker.
    lost: int = 0
    fetch_failures: int = 0
    #: Tasks still running when the invocation had to return.
    unfinished: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class BackgroundLoop:
    """A thread of its own that runs ``_loop`` while the ``with`` block runs; leaving the block sets
    ``_stopped`` and waits for the loop to see it."""

    def __init__(self, name: str) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _loop(self) -> None:
        raise NotImplementedError


class LockKeeper(BackgroundLoop):
    """Extends the lock of every task still running, a third of its lock duration before it lapses."""

    def __init__(self, tasks: TaskQueue) -> None:
        super().__init__("lock-keeper")
        self._tasks = tasks
        self._running: dict[str, tuple[int, float]] = {}
        self._guard = threading.Lock()

    def hold(self, task_id: str, lock_duration_ms: int) -> None:
        with self._guard:
            self._running[task_id] = (lock_duration_ms, time.monotonic() + lock_duration_ms / 1000)

    def release(self, task_id: str) -> None:
        with self._guard:
            self._running.pop(task_id, None)

    def _loop(self) -> None:
        while not self._stopped.wait(LOCK_KEEPER_TICK_S):
            now = time.monotonic()
            with self._guard:
                due = [
                    (task_id, duration)
                    for task_id, (duration, lapses_at) in self._running.items()
                    if lapses_at - now < duration / 1000 / 3
                ]
            for task_id, duration in due:
                try:
                    self._tasks.extend_lock(task_id, duration)
                except CamundaRejected as exc:
                    # The lock is gone for good (the task ended, or another worker holds it).
                    logger.warning("a task's lock is lost", extra={"taskId": task_id, "reason": exc.message})
                    self.release(task_id)
                    continue
                except WaitroomError as exc:
                    logger.warning("could not extend a task's lock; trying again", extra={"reason": exc.message})
                    continue
                with self._guard:
                    if task_id in self._running:
                        self._running[task_id] = (duration, time.monotonic() + duration / 1000)


class EngineWatcher(BackgroundLoop):
    """Runs the engine watch every ``ENGINE_WATCH_MS`` in a thread of its own while the listening
    invocation runs (see :mod:`waitroom.service.engine_watch`)."""

    def __init__(self, watch: EngineWatch, interval_ms: int) -> None:
        super().__init__("engine-watch")
        self._watch = watch
        self._interval_s = interval_ms / 1000

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                ended = self._watch.poll()
            except WaitroomError as exc:
                logger.warning(
                    "could not look at the engine's incidents and ends; trying again",
                    extra={"code": exc.code, "reason": exc.message},
                )
            except Exception:  # a defect must not end the watch: the next poll may succeed
                logger.exception("the engine watch failed")
            else:
                if ended:
                    emit("ProcessesEndedByEngineWatch", ended)
            self._stopped.wait(self._interval_s)


class Worker:
    def __init__(
        self,
        *,
        tasks: TaskQueue,
        service: ProcessService,
        registry: TopicRegistry,
        resources: WorkerResources,
        settings: Settings,
        engine_watch: EngineWatch | None = None,
    ) -> None:
        self.tasks = tasks
        self.service = service
        self.registry = registry
        self.resources = resources
        self.settings = settings
        self.engine_watch = engine_watch

    def run(self, remaining_ms: Callable[[], int], *, drain: bool = False) -> WorkerSummary:
        """Fetch and run tasks until only ``WORKER_TASK_BUDGET_MS`` of the invocation is left; when
        ``drain`` (a scale-out invocation, see dispatch.py), also return as soon as a fetch of up to
        ``WORKER_DRAIN_POLL_MS`` finds nothing while no task is running: the backlog is drained."""
        summary = WorkerSummary()
        capacity = self.settings.worker_max_tasks
        longest_poll_ms = self.settings.worker_drain_poll_ms if drain else self.settings.worker_poll_ms
        running: set[Future[str]] = set()
        # Not a `with` block: leaving it would wait for every thread, and a task that outlives the
        # invocation must not hold the invocation past its time.
        pool = ThreadPoolExecutor(capacity, "task")
        # The listening invocation watches the engine; the scale-out ones only drain the backlog.
        watching: AbstractContextManager[object] = nullcontext()
        if not drain and self.engine_watch is not None:
            watching = EngineWatcher(self.engine_watch, self.settings.engine_watch_ms)
        with watching, LockKeeper(self.tasks) as locks:
            while (poll_ms := min(longest_poll_ms, remaining_ms() - self.settings.worker_task_budget_ms)) > 0:
                if len(running) >= capacity:
                    done, running = wait(running, timeout=poll_ms / 1000, return_when=FIRST_COMPLETED)
                    self._count(done, summary)
                    continue
                fetched = self._fetch(capacity - len(running), poll_ms, summary)
                for task in fetched:
                    running.add(pool.submit(self._execute, task, locks))
                done = {future for future in running if future.done()}
                running -= done
                self._count(done, summary)
                if drain and not fetched and not running:
                    break
            # The tasks in hand get what is left of the invocation, less a second to return.
            done, unfinished = wait(running, timeout=max(0.0, remaining_ms() / 1000 - 1))
            self._count(done, summary)
        pool.shutdown(wait=not unfinished, cancel_futures=True)
        if unfinished:
            summary.unfinished += len(unfinished)
            logger.error("tasks outlived the invocation; their locks will lapse", extra={"tasks": len(unfinished)})
        logger.info("worker invocation finished", extra=summary.to_dict())
        return summary

    def _fetch(self, max_tasks: int, poll_ms: int, summary: WorkerSummary) -> list[Task]:
        try:
            locked = self.tasks.take(
                self.registry.fetch_topics(self.settings.worker_lock_duration_ms), max_tasks=max_tasks, wait_ms=poll_ms
            )
        except WaitroomError as exc:
            summary.fetch_failures += 1
            emit("WorkerFetchFailures", 1)
            logger.error("could not take tasks from the engine", extra={"code": exc.code, "reason": exc.message})
            time.sleep(min(FETCH_FAILURE_PAUSE_S, poll_ms / 1000))
            return []
        summary.fetched += len(locked)
        return locked

    @staticmethod
    def _count(done: set[Future[str]], summary: WorkerSummary) -> None:
        for future in done:
            error = future.exception()
            if error is not None:
                # A defect of the worker itself: the task's lock lapses and the engine hands it out again.
                logger.error("a task crashed the worker's reporting", exc_info=error)
                summary.lost += 1
                continue
            outcome = future.result()
            setattr(summary, outcome, getattr(summary, outcome) + 1)

    def _execute(self, task: Task, locks: LockKeeper) -> str:
        """Run one task's handler and report its outcome; returns the summary field to count it in."""
        topic = self.registry[task.topic]
        with (
            thread_log_keys(correlation_id=task.business_key, topic=task.topic, task_id=task.id),
            traced(f"## {task.topic}") as subsegment,
        ):
            if subsegment is not None and task.business_key:
                subsegment.put_annotation("correlationId", task.business_key)
            return self._run_task(task, topic, locks)

    def _run_task(self, task: Task, topic: Topic, locks: LockKeeper) -> str:
        locks.hold(task.id, topic.lock_duration_ms or self.settings.worker_lock_duration_ms)
        started = time.monotonic()
        try:
            report = self._decide(task, topic.handler)
            duration_ms = round((time.monotonic() - started) * 1000)
            if report.finish is not None:
                # The history first: whoever the finish wakes may ask for it at once.
                self._record(task, report, duration_ms)
                self.finish_process(task, report.finish)
                sent = self._send(report.send)
            else:
                # The history before the engine hears of the step: once it has, the next step may run
                # and be recorded at once, and the history would list them out of order.
                self._record(task, report, duration_ms)
                sent = self._send(report.send)
                if sent and report.incident:
                    self._end_in_incident(task, report)
            outcome = report.outcome if sent else "lost"
            logger.info("task finished", extra={"outcome": outcome, "durationMs": duration_ms})
            emit("TaskDuration", duration_ms, MetricUnit.Milliseconds, Topic=task.topic)
            if report.step is StepOutcome.FAILED:
                emit("TaskFailures", 1, Topic=task.topic)
            return outcome
        finally:
            locks.release(task.id)

    def _decide(self, task: Task, handler: TaskHandler) -> Report:
        """What to tell the engine. Whatever fails here (the handler, or turning its result into
        variables) becomes a failure report, never an exception that loses the task."""
        try:
            return self._completion(task, handler(task, self.resources) or {})
        except BusinessRejection as rejection:
            try:
                return self._bpmn_error(task, rejection)
            except InvalidRequest as error:
                return self._failure(task, error)
        except Exception as error:  # any handler failure goes to the engine, which retries the task
            return self._failure(task, error)

    def _completion(self, task: Task, output: Mapping[str, Any] | ProcessOutcome) -> Report:
        finish: ProcessOutcome | None = None
        variables: Mapping[str, Any] = {}
        if isinstance(output, ProcessOutcome):
            finish = output
            dump_json(finish.data)  # a result that cannot be stored fails the step, before anything is told
        else:
            # A result the engine cannot take fails the step, before anything is recorded or told.
            self.tasks.check_variables(output)
            variables = dict(output)
        return Report(
            "completed",
            StepOutcome.COMPLETED,
            lambda: self.tasks.complete(task.id, variables),
            finish=finish,
        )

    def finish_process(self, task: Task, outcome: ProcessOutcome) -> None:
        """End the task's process with its last step's outcome. A row already finished stays as it
        is: this step may be running a second time (a lapsed lock)."""
        if not task.business_key:
            logger.warning("the process instance has no business key, so no Waitroom row to finish")
            return
        ending = Outcome.done(outcome.data) if outcome.error is None else Outcome.failed(outcome.error, outcome.data)
        # The instance is recorded with the end: a row whose start was never confirmed has none yet.
        if self.service.finish(task.business_key, ending, instance_id=task.process_instance_id) is None:
            logger.info("process was already finished, or not started through Waitroom; left as it is")

    def _bpmn_error(self, task: Task, rejection: BusinessRejection) -> Report:
        logger.info("task rejected with a BPMN error", extra={"errorCode": rejection.code, "reason": rejection.message})
        self.tasks.check_variables(rejection.variables)
        return Report(
            "bpmn_errors",
            StepOutcome.BPMN_ERROR,
            lambda: self.tasks.throw_bpmn_error(
                task.id, code=rejection.code, message=rejection.message, variables=rejection.variables
            ),
            error={"code": rejection.code, "message": rejection.message},
        )

    def _failure(self, task: Task, error: Exception) -> Report:
        retries, retry_timeout_ms = self.next_retry(task.retries)
        message = f"{type(error).__name__}: {error}"
        logger.warning("task failed", extra={"reason": message, "retriesLeft": retries, "retryInMs": retry_timeout_ms})
        return Report(
            "failed",
            StepOutcome.FAILED,
            lambda: self.tasks.fail(
                task.id,
                message=message,
                details="".join(traceback.format_exception(error)),
                retries=retries,
                retry_in_ms=retry_timeout_ms,
            ),
            error={"message": message, "retriesLeft": retries},
            incident=retries == 0,
        )

    def next_retry(self, retries: int | None) -> tuple[int, int]:
        """The retries left after this failure, and how long the engine should wait before the next try.

        The engine hands out a task that never failed with ``retries`` None; the first failure sets
        ``WORKER_MAX_RETRIES - 1``. Zero makes an incident. The wait doubles with each attempt.
        """
        left = max(0, (self.settings.worker_max_retries if retries is None else retries) - 1)
        attempt = self.settings.worker_max_retries - left
        timeout = self.settings.worker_retry_timeout_ms * 2 ** max(0, attempt - 1)
        return left, min(timeout, self.settings.worker_retry_timeout_max_ms)

    @staticmethod
    def _send(send: Callable[[], None]) -> bool:
        """Tell the engine; False when it refused (the task is gone or another worker holds it) or was
        out of reach (the lock will lapse and the engine will hand the task out again)."""
        try:
            send()
        except CamundaRejected as exc:
            logger.warning("the engine refused the task's report", extra={"reason": exc.message})
            return False
        except WaitroomError as exc:
            logger.error("could not report the task's outcome", extra={"code": exc.code, "reason": exc.message})
            return False
        return True

    def _record(self, task: Task, report: Report, duration_ms: int) -> None:
        """The step goes into the process's history: every run of it, reported or not."""
        if not task.business_key:
            return
        try:
            self.service.record_step(
                StepEvent(
                    correlation_id=task.business_key,
                    topic=task.topic,
                    activity_id=task.activity_id,
                    outcome=report.step,
                    duration_ms=duration_ms,
                    error=report.error,
                )
            )
        except Exception:  # a history that misses a step must not keep the task from being reported
            logger.exception("could not record the step")

    def _end_in_incident(self, task: Task, report: Report) -> None:
        """A step that ended in an incident also ends the process for its client, who would
        otherwise wait for a result that cannot come."""
        if not task.business_key or report.error is None:
            return
        # The outcome the engine watch gives the same incident: whichever notices it first ends the row.
        outcome = step_incident_outcome(task.topic, report.error["message"])
        try:
            self.service.finish(task.business_key, outcome, instance_id=task.process_instance_id)
        except Exception:  # the task is reported already; the reconciler ends the process otherwise
            logger.exception("could not end the process of an incident")


@dataclass(frozen=True)
class Report:
    """A task's outcome, ready to be sent to the engine."""

    outcome: str
    """The summary field it counts in."""
    step: StepOutcome
    send: Callable[[], None]
    error: dict[str, Any] | None = None
    incident: bool = False
    #: The last step's outcome, for the process's row.
    finish: ProcessOutcome | None = None
