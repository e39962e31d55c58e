"""A fake Camunda for the worker's unit tests (and its metrics test): it hands out queued tasks
and records every report. The worker meets the real development engine in tests/integration."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import worker_on
from waitroom.adapters.camunda.client import FetchTopic
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.errors import CamundaNoAnswer, CamundaNotFound, CamundaUnavailable
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import (
    BusinessRejection,
    ExternalTask,
    ProcessOutcome,
    Topic,
    TopicRegistry,
    WorkerResources,
)
from waitroom.service.ports import Waker
from waitroom.settings import Settings


class FakeCamunda:
    """Hands out the queued tasks once, then nothing; records every report."""

    def __init__(self, tasks: Sequence[dict[str, Any]] = ()) -> None:
        self.queue = list(tasks)
        self.reports: list[tuple[str, str, dict[str, Any]]] = []
        self.fetches: list[dict[str, Any]] = []
        self.fail_fetch = False
        self.refuse_reports = False
        self.extend_failures = 0
        self.guard = threading.Lock()

    def fetch_and_lock(
        self, *, worker_id: str, topics: Sequence[FetchTopic], max_tasks: int, async_response_timeout_ms: int
    ) -> list[dict[str, Any]]:
        self.fetches.append({"max_tasks": max_tasks, "timeout": async_response_timeout_ms, "topics": topics})
        if self.fail_fetch:
            raise CamundaUnavailable("down")
        handed, self.queue = self.queue[:max_tasks], self.queue[max_tasks:]
        if not handed:
            time.sleep(0.01)
        return handed

    def _record(self, kind: str, task_id: str, **details: Any) -> None:
        if self.refuse_reports:
            raise CamundaNotFound("External task with id x does not exist")
        with self.guard:
            self.reports.append((kind, task_id, details))

    def complete_task(self, task_id: str, *, worker_id: str, variables: Mapping[str, Any] | None = None) -> None:
        self._record("complete", task_id, variables=dict(variables or {}))

    def report_failure(self, task_id: str, **details: Any) -> None:
        self._record("failure", task_id, **details)

    def report_bpmn_error(self, task_id: str, **details: Any) -> None:
        self._record("bpmnError", task_id, **details)

    def extend_lock(self, task_id: str, *, worker_id: str, new_duration_ms: int) -> None:
        if self.extend_failures:
            self.extend_failures -= 1
            raise CamundaNoAnswer("Camunda's gateway answered 502")
        self._record("extendLock", task_id, new_duration_ms=new_duration_ms)


def locked(task_id: str, topic: str, retries: int | None = None, **variables: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "topicName": topic,
        "businessKey": f"bk-{task_id}",
        "processInstanceId": "pi-1",
        "activityId": "Task_1",
        "retries": retries,
        "variables": {name: {"value": value, "type": "String"} for name, value in variables.items()},
    }


def succeed(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
    return {"seen": task.variables["name"], "count": 2}


def reject(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
    raise BusinessRejection("NOPE", "not this one", variables={"why": "because"})


def explode(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
    raise ValueError("boom")


def slow(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
    time.sleep(1.3)
    return {}


def not_a_number(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
    return {"score": float("nan")}


def last_step(task: ExternalTask, _: WorkerResources) -> ProcessOutcome:
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


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Workers on the fake client; their handlers get a real (unused) SQLite store, closed afterwards."""
    stores: list[SqlStore] = []

    def make(camunda: FakeCamunda, settings: Settings, waker: Waker | None = None) -> Worker:
        dialect = dialect_for(f"sqlite:///{tmp_path / 'w.sqlite3'}", settings)
        migrate(dialect)
        stores.append(SqlStore(dialect))
        return worker_on(
            camunda,  # type: ignore[arg-type]
            stores[-1],
            settings,
            registry=REGISTRY,
            waker=waker,
            worker_id="w-1",
            # The fake client serves external tasks only: tests/unit/test_engine_watch.py has the watch.
            watch_engine=False,
        )

    yield make
    for store in stores:
        store.close()
