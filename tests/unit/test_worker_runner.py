"""The worker's loop and reporting rules, against a fake Camunda client (the real engine is in
tests/integration/test_worker.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from waitroom.camunda.client import CamundaNotFound, FetchTopic
from waitroom.errors import CamundaUnavailable
from waitroom.settings import Settings
from waitroom.store import SqlStore, dialect_for
from waitroom.worker.runner import Worker
from waitroom.worker.tasks import BusinessRejection, ExternalTask, Topic, TopicRegistry, WorkerResources


class FakeCamunda:
    """Hands out the queued tasks once, then nothing; records every report."""

    def __init__(self, tasks: Sequence[dict[str, Any]] = ()) -> None:
        self.queue = list(tasks)
        self.reports: list[tuple[str, str, dict[str, Any]]] = []
        self.fetches: list[dict[str, Any]] = []
        self.fail_fetch = False
        self.refuse_reports = False
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


REGISTRY = TopicRegistry.of(
    [
        Topic("t.succeed", succeed),
        Topic("t.reject", reject),
        Topic("t.explode", explode),
        Topic("t.slow", slow, lock_duration_ms=1000),
    ]
)


@pytest.fixture
def settings() -> Settings:
    return Settings(worker_task_budget_ms=0, worker_poll_ms=50, worker_max_retries=3, worker_retry_timeout_ms=1000)


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[Callable[[FakeCamunda, Settings], Worker]]:
    """Workers on the fake client; their handlers get a real (unused) SQLite store, closed afterwards."""
    stores: list[SqlStore] = []

    def make(camunda: FakeCamunda, settings: Settings) -> Worker:
        stores.append(SqlStore(dialect_for(f"sqlite:///{tmp_path / 'w.sqlite3'}", settings)))
        resources = WorkerResources(store=stores[-1], settings=settings, http=requests.Session())
        return Worker(
            camunda=camunda,  # type: ignore[arg-type]
            registry=REGISTRY,
            resources=resources,
            settings=settings,
            worker_id="w-1",
        )

    yield make
    for store in stores:
        store.close()


MakeWorker = Callable[[FakeCamunda, Settings], Worker]


def for_seconds(seconds: float) -> Any:
    """A Lambda's remaining time: ``seconds`` from now."""
    ends = time.monotonic() + seconds
    return lambda: int((ends - time.monotonic()) * 1000)


def test_each_outcome_is_reported_as_camunda_expects(settings: Settings, make_worker: MakeWorker) -> None:
    camunda = FakeCamunda(
        [
            locked("1", "t.succeed", name="ada"),
            locked("2", "t.reject"),
            locked("3", "t.explode"),
            locked("4", "t.explode", retries=1),
        ]
    )
    summary = make_worker(camunda, settings).run(for_seconds(0.5))

    assert (summary.fetched, summary.completed, summary.bpmn_errors, summary.failed) == (4, 1, 1, 2)
    reports = {task_id: (kind, details) for kind, task_id, details in camunda.reports}
    assert reports["1"] == (
        "complete",
        {"variables": {"seen": {"value": "ada", "type": "String"}, "count": {"value": 2, "type": "Integer"}}},
    )
    kind, details = reports["2"]
    assert kind == "bpmnError"
    assert (details["error_code"], details["error_message"]) == ("NOPE", "not this one")
    assert details["variables"] == {"why": {"value": "because", "type": "String"}}
    kind, details = reports["3"]
    assert kind == "failure"
    assert (details["retries"], details["retry_timeout_ms"]) == (2, 1000), "a first failure leaves max - 1"
    assert details["error_message"] == "ValueError: boom"
    assert "Traceback" in details["error_details"]
    assert (reports["4"][1]["retries"], reports["4"][1]["retry_timeout_ms"]) == (0, 4000), "the last try: incident"


@pytest.mark.parametrize(
    ("retries", "expected"),
    [(None, (2, 1000)), (2, (1, 2000)), (1, (0, 4000)), (0, (0, 4000)), (7, (6, 1000))],
)
def test_retries_count_down_and_the_wait_doubles(
    settings: Settings, make_worker: MakeWorker, retries: int | None, expected: tuple[int, int]
) -> None:
    assert make_worker(FakeCamunda(), settings).next_retry(retries) == expected


def test_the_retry_wait_is_capped(make_worker: MakeWorker) -> None:
    settings = Settings(worker_max_retries=10, worker_retry_timeout_ms=1000, worker_retry_timeout_max_ms=5000)
    assert make_worker(FakeCamunda(), settings).next_retry(1) == (0, 5000)


def test_a_refused_report_counts_as_lost(settings: Settings, make_worker: MakeWorker) -> None:
    camunda = FakeCamunda([locked("1", "t.succeed", name="x")])
    camunda.refuse_reports = True
    summary = make_worker(camunda, settings).run(for_seconds(0.3))
    assert (summary.completed, summary.lost) == (0, 1)


def test_camunda_down_is_counted_and_does_not_spin(settings: Settings, make_worker: MakeWorker) -> None:
    camunda = FakeCamunda()
    camunda.fail_fetch = True
    summary = make_worker(camunda, settings).run(for_seconds(0.5))
    assert summary.fetch_failures >= 1
    assert len(camunda.fetches) < 20, "a failed fetch pauses before the next"


def test_it_stops_fetching_when_only_the_task_budget_is_left(make_worker: MakeWorker) -> None:
    settings = Settings(worker_task_budget_ms=10_000, worker_poll_ms=50)
    camunda = FakeCamunda([locked("1", "t.succeed", name="x")])
    summary = make_worker(camunda, settings).run(for_seconds(5))
    assert camunda.fetches == []
    assert summary.fetched == 0


def test_the_long_poll_never_outlasts_the_invocation(make_worker: MakeWorker) -> None:
    settings = Settings(worker_task_budget_ms=200, worker_poll_ms=20_000)
    camunda = FakeCamunda()
    make_worker(camunda, settings).run(for_seconds(0.5))
    assert camunda.fetches
    assert all(fetch["timeout"] <= 300 for fetch in camunda.fetches)


def test_a_long_handler_has_its_lock_extended(settings: Settings, make_worker: MakeWorker) -> None:
    camunda = FakeCamunda([locked("1", "t.slow")])
    summary = make_worker(camunda, settings).run(for_seconds(0.2))
    assert summary.completed == 1
    extensions = [details for kind, _, details in camunda.reports if kind == "extendLock"]
    assert extensions, "a task that outlives a third of its lock gets the lock extended"
    assert all(details["new_duration_ms"] == 1000 for details in extensions)


def test_a_topic_cannot_have_two_handlers() -> None:
    with pytest.raises(ValueError, match="two handlers"):
        TopicRegistry.of([Topic("x", succeed), Topic("x", reject)])


def test_fetch_asks_for_every_topic_with_its_lock_and_variables() -> None:
    registry = TopicRegistry.of([Topic("a", succeed, variables=("userId",)), Topic("b", succeed, lock_duration_ms=5)])
    assert registry.fetch_topics(30_000) == [FetchTopic("a", 30_000, ("userId",)), FetchTopic("b", 5, None)]
