"""An in-memory engine's task queue (the port :class:`~waitroom.service.ports.TaskQueue`) for the
worker's and the dispatcher's unit tests: it hands out queued tasks and records every report. The
worker meets the real development engine through the Camunda 7 adapter in tests/integration."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.support.fakes import FakeClock, FakeEngine, ScriptedWaker, service_on_fakes
from waitroom.domain.errors import CamundaNoAnswer, CamundaNotFound, CamundaUnavailable, InvalidRequest
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import (
    BusinessRejection,
    ProcessOutcome,
    Topic,
    TopicRegistry,
    WorkerResources,
)
from waitroom.service.engine_watch import EngineWatch
from waitroom.service.ports import Task, TopicRequest
from waitroom.settings import Settings

#: A report as the fake records it: its kind, the task's id, and what came with it.
Report = tuple[str, str, dict[str, Any]]


class FakeTaskQueue:
    """Hands out the queued tasks of the topics asked for, once; records every report. Its backlog is
    what is queued, topic by topic."""

    def __init__(self, tasks: Sequence[Task] = ()) -> None:
        self.queue = list(tasks)
        self.reports: list[Report] = []
        self.takes: list[dict[str, Any]] = []
        #: Taking tasks, and reading the backlog, fail as an engine out of reach does.
        self.down = False
        #: Reports are refused as for a task that is gone.
        self.refuse_reports = False
        #: How many extensions still fail as an engine that did not answer.
        self.extend_failures = 0
        #: What :meth:`busy_workers` answers.
        self.busy = 0
        self._guard = threading.Lock()

    def take(self, topics: Sequence[TopicRequest], *, max_tasks: int, wait_ms: int) -> list[Task]:
        self.takes.append({"max_tasks": max_tasks, "wait_ms": wait_ms, "topics": list(topics)})
        if self.down:
            raise CamundaUnavailable("the engine cannot be reached")
        asked = {topic.topic for topic in topics}
        with self._guard:
            handed = [task for task in self.queue if task.topic in asked][:max_tasks]
            self.queue = [task for task in self.queue if task not in handed]
        if not handed:
            time.sleep(0.01)  # a short long-poll: the loop must not spin
        return handed

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        for name, value in variables.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidRequest(f"variable {name!r} cannot be sent to the engine: {exc}") from None

    def _record(self, kind: str, task_id: str, **details: Any) -> None:
        if self.refuse_reports:
            raise CamundaNotFound(f"task {task_id} does not exist")
        with self._guard:
            self.reports.append((kind, task_id, details))

    def complete(self, task_id: str, variables: Mapping[str, Any]) -> None:
        self._record("complete", task_id, variables=dict(variables))

    def fail(self, task_id: str, *, message: str, details: str | None, retries: int, retry_in_ms: int) -> None:
        self._record("failure", task_id, message=message, details=details, retries=retries, retry_in_ms=retry_in_ms)

    def throw_bpmn_error(self, task_id: str, *, code: str, message: str, variables: Mapping[str, Any]) -> None:
        self._record("bpmnError", task_id, code=code, message=message, variables=dict(variables))

    def extend_lock(self, task_id: str, duration_ms: int) -> None:
        if self.extend_failures:
            self.extend_failures -= 1
            raise CamundaNoAnswer("the engine's gateway answered 502")
        self._record("extendLock", task_id, duration_ms=duration_ms)

    def backlog(self, topic: str) -> int:
        if self.down:
            raise CamundaUnavailable("the engine cannot be reached")
        return sum(1 for task in self.queue if task.topic == topic)

    def busy_workers(self) -> int:
        return self.busy

    def kinds(self) -> list[tuple[str, str]]:
        """Each report's kind and task, in the order they came."""
        return [(kind, task_id) for kind, task_id, _ in self.reports]


def task(task_id: str, topic: str, retries: int | None = None, **variables: Any) -> Task:
    """A task of process ``bk-<task_id>`` as the engine hands it out."""
    return Task(task_id, topic, f"bk-{task_id}", "pi-1", "Task_1", retries, variables)


def succeed(task: Task, _: WorkerResources) -> Mapping[str, Any]:
    return {"seen": task.variables["name"], "count": 2}


def reject(task: Task, _: WorkerResources) -> Mapping[str, Any]:
    raise BusinessRejection("NOPE", "not this one", variables={"why": "because"})


def explode(task: Task, _: WorkerResources) -> Mapping[str, Any]:
    raise ValueError("boom")


def slow(task: Task, _: WorkerResources) -> Mapping[str, Any]:
    time.sleep(1.3)
    return {}


def not_a_number(task: Task, _: WorkerResources) -> Mapping[str, Any]:
    return {"score": float("nan")}


def last_step(task: Task, _: WorkerResources) -> ProcessOutcome:
    return ProcessOutcome(data={"done": task.variables["name"]})


REGISTRY = TopicRegistry.of(
    [
        Topic("t.succeed", succeed),
        Topic("t.reject", reject),
        Topic("t.explode", explode),
        Topic("t.slow", slow, lock_duration_ms=1000),
        Topic("t.nan", not_a_number),
        Topic("t.last", last_step),
    ]
)


def for_seconds(seconds: float) -> Callable[[], int]:
    """A Lambda's remaining time: ``seconds`` from now."""
    ends = time.monotonic() + seconds
    return lambda: int((ends - time.monotonic()) * 1000)


def worker_on_fakes(
    tasks: FakeTaskQueue,
    settings: Settings,
    *,
    make_waker: Callable[[FakeClock], ScriptedWaker] = ScriptedWaker,
    engine: FakeEngine | None = None,
    watch_engine: bool = False,
) -> Worker:
    """A worker as ``build_worker`` composes one, on ``tasks`` and the service's in-memory fakes
    (tests/support/fakes.py), serving :data:`REGISTRY`; with ``watch_engine``, the listening
    invocation watches ``engine``."""
    fakes = service_on_fakes(engine=engine, make_waker=make_waker)
    watch = EngineWatch(
        service=fakes.service, engine=fakes.engine, lookback=timedelta(minutes=5), now=fakes.repository.now
    )
    return Worker(
        tasks=tasks,
        service=fakes.service,
        registry=REGISTRY,
        resources=WorkerResources(settings=settings, http=requests.Session()),
        settings=settings,
        engine_watch=watch if watch_engine else None,
    )


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    """Workers on a fake task queue and an in-memory service; their HTTP sessions closed afterwards."""
    workers: list[Worker] = []

    def make(tasks: FakeTaskQueue, settings: Settings, **options: Any) -> Worker:
        workers.append(worker_on_fakes(tasks, settings, **options))
        return workers[-1]

    yield make
    for worker in workers:
        worker.resources.http.close()
