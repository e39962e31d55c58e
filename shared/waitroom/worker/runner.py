"""The external-task worker: one invocation long-polls Camunda and runs handlers until its time is up.

The worker Lambda runs on a schedule; each invocation keeps fetching and running tasks and returns
while it still has ``WORKER_TASK_BUDGET_MS`` left, so that the next invocation takes over and one
worker is always listening. Tasks run in a bounded thread pool; a lock keeper extends the locks of
the tasks still running, so that a long handler does not lose its task to another worker.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from waitroom.camunda.client import CamundaClient
from waitroom.camunda.variables import to_typed_variables
from waitroom.errors import CamundaRejected, WaitroomError
from waitroom.observability import logger, metrics
from waitroom.settings import Settings
from waitroom.worker.tasks import BusinessRejection, ExternalTask, TopicRegistry, WorkerResources

#: After Camunda could not be reached, wait this long before asking again.
FETCH_FAILURE_PAUSE_S = 1.0


@dataclass
class WorkerSummary:
    fetched: int = 0
    completed: int = 0
    bpmn_errors: int = 0
    failed: int = 0
    #: Reports Camunda refused because the task was gone or locked by another worker.
    lost: int = 0
    fetch_failures: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class LockKeeper:
    """Extends the lock of every task still running, a third of its lock duration before it lapses."""

    def __init__(self, camunda: CamundaClient, worker_id: str) -> None:
        self._camunda = camunda
        self._worker_id = worker_id
        self._running: dict[str, tuple[int, float]] = {}
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lock-keeper", daemon=True)

    def __enter__(self) -> LockKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join()

    def hold(self, task_id: str, lock_duration_ms: int) -> None:
        with self._guard:
            self._running[task_id] = (lock_duration_ms, time.monotonic() + lock_duration_ms / 1000)

    def release(self, task_id: str) -> None:
        with self._guard:
            self._running.pop(task_id, None)

    def _keep(self) -> None:
        while not self._stopped.wait(0.5):
            now = time.monotonic()
            with self._guard:
                due = [
                    (task_id, duration)
                    for task_id, (duration, lapses_at) in self._running.items()
                    if lapses_at - now < duration / 1000 / 3
                ]
            for task_id, duration in due:
                try:
                    self._camunda.extend_lock(task_id, worker_id=self._worker_id, new_duration_ms=duration)
                except WaitroomError as exc:
                    logger.warning("could not extend a task's lock", extra={"taskId": task_id, "reason": exc.message})
                    self.release(task_id)
                    continue
                with self._guard:
                    if task_id in self._running:
                        self._running[task_id] = (duration, time.monotonic() + duration / 1000)


class Worker:
    def __init__(
        self,
        *,
        camunda: CamundaClient,
        registry: TopicRegistry,
        resources: WorkerResources,
        settings: Settings,
        worker_id: str,
    ) -> None:
        self.camunda = camunda
        self.registry = registry
        self.resources = resources
        self.settings = settings
        self.worker_id = worker_id

    def run(self, remaining_ms: Callable[[], int]) -> WorkerSummary:
        """Fetch and run tasks until only ``WORKER_TASK_BUDGET_MS`` of the invocation is left."""
        summary = WorkerSummary()
        capacity = self.settings.worker_max_tasks
        running: set[Future[str]] = set()
        with LockKeeper(self.camunda, self.worker_id) as locks, ThreadPoolExecutor(capacity, "task") as pool:
            while (
                poll_ms := min(self.settings.worker_poll_ms, remaining_ms() - self.settings.worker_task_budget_ms)
            ) > 0:
                if len(running) >= capacity:
                    done, running = wait(running, timeout=poll_ms / 1000, return_when=FIRST_COMPLETED)
                    self._count(done, summary)
                    continue
                for task in self._fetch(capacity - len(running), poll_ms, summary):
                    running.add(pool.submit(self._execute, task, locks))
                done = {future for future in running if future.done()}
                running -= done
                self._count(done, summary)
            done, _ = wait(running)
            self._count(done, summary)
        logger.info("worker invocation finished", extra=summary.to_dict())
        for outcome, count in summary.to_dict().items():
            metrics.add_metric(name=f"Worker_{outcome}", unit=MetricUnit.Count, value=count)
        return summary

    def _fetch(self, max_tasks: int, poll_ms: int, summary: WorkerSummary) -> list[ExternalTask]:
        try:
            locked = self.camunda.fetch_and_lock(
                worker_id=self.worker_id,
                topics=self.registry.fetch_topics(self.settings.worker_lock_duration_ms),
                max_tasks=max_tasks,
                async_response_timeout_ms=poll_ms,
            )
        except WaitroomError as exc:
            summary.fetch_failures += 1
            logger.error("fetchAndLock failed", extra={"code": exc.code, "reason": exc.message})
            time.sleep(min(FETCH_FAILURE_PAUSE_S, poll_ms / 1000))
            return []
        summary.fetched += len(locked)
        return [ExternalTask.from_camunda(task) for task in locked]

    @staticmethod
    def _count(done: set[Future[str]], summary: WorkerSummary) -> None:
        for future in done:
            outcome = future.result()
            setattr(summary, outcome, getattr(summary, outcome) + 1)

    def _execute(self, task: ExternalTask, locks: LockKeeper) -> str:
        """Run one task's handler and report its outcome; returns the summary field to count it in."""
        topic = self.registry[task.topic]
        logger.thread_safe_append_keys(correlation_id=task.business_key, topic=task.topic, task_id=task.id)
        locks.hold(task.id, topic.lock_duration_ms or self.settings.worker_lock_duration_ms)
        started = time.monotonic()
        try:
            try:
                output = topic.handler(task, self.resources)
            except BusinessRejection as rejection:
                outcome = self._report_bpmn_error(task, rejection)
            except Exception as exc:  # any handler failure goes to Camunda, which retries the task
                outcome = self._report_failure(task, exc)
            else:
                outcome = self._report_completion(task, output or {})
            logger.info(
                "task finished", extra={"outcome": outcome, "durationMs": round((time.monotonic() - started) * 1000)}
            )
            return outcome
        finally:
            locks.release(task.id)
            logger.thread_safe_clear_keys()

    def _report_completion(self, task: ExternalTask, output: Mapping[str, Any]) -> str:
        variables = to_typed_variables(output, string_max_chars=self.settings.camunda_string_max_chars)
        return self._report(
            task,
            "completed",
            lambda: self.camunda.complete_task(task.id, worker_id=self.worker_id, variables=variables),
        )

    def _report_bpmn_error(self, task: ExternalTask, rejection: BusinessRejection) -> str:
        logger.info("task rejected with a BPMN error", extra={"errorCode": rejection.code, "reason": rejection.message})
        variables = to_typed_variables(rejection.variables, string_max_chars=self.settings.camunda_string_max_chars)
        return self._report(
            task,
            "bpmn_errors",
            lambda: self.camunda.report_bpmn_error(
                task.id,
                worker_id=self.worker_id,
                error_code=rejection.code,
                error_message=rejection.message,
                variables=variables,
            ),
        )

    def _report_failure(self, task: ExternalTask, error: Exception) -> str:
        retries, retry_timeout_ms = self.next_retry(task.retries)
        logger.warning(
            "task failed",
            extra={"reason": f"{type(error).__name__}: {error}", "retriesLeft": retries, "retryInMs": retry_timeout_ms},
        )
        return self._report(
            task,
            "failed",
            lambda: self.camunda.report_failure(
                task.id,
                worker_id=self.worker_id,
                error_message=f"{type(error).__name__}: {error}",
                error_details="".join(traceback.format_exception(error)),
                retries=retries,
                retry_timeout_ms=retry_timeout_ms,
            ),
        )

    def next_retry(self, retries: int | None) -> tuple[int, int]:
        """The retries left after this failure, and how long Camunda should wait before the next try.

        Camunda hands out a task that never failed with ``retries`` null; the first failure sets
        ``WORKER_MAX_RETRIES - 1``. Zero makes an incident. The wait doubles with each attempt.
        """
        left = max(0, (self.settings.worker_max_retries if retries is None else retries) - 1)
        attempt = self.settings.worker_max_retries - left
        timeout = self.settings.worker_retry_timeout_ms * 2 ** max(0, attempt - 1)
        return left, min(timeout, self.settings.worker_retry_timeout_max_ms)

    def _report(self, task: ExternalTask, outcome: str, send: Callable[[], None]) -> str:
        try:
            send()
        except CamundaRejected as exc:
            # 404: completed or deleted meanwhile; 400: the lock lapsed and another worker holds it.
            logger.warning("Camunda refused the task's report", extra={"reason": exc.message})
            return "lost"
        except WaitroomError as exc:
            # The lock will lapse and Camunda will hand the task out again.
            logger.error("could not report the task's outcome", extra={"code": exc.code, "reason": exc.message})
            return "lost"
        return outcome
