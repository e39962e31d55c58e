"""The worker's loop and reporting rules, on an in-memory task queue and service (the real engine, through
the Camunda 7 adapter, is in tests/integration/test_worker.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest

from tests.support.fake_task_queue import FakeTaskQueue, for_seconds, reject, succeed, task
from tests.support.fakes import FakeEngine, ScriptedWaker
from waitroom.domain.process import NewProcess
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import BusinessRejection, Topic, TopicRegistry
from waitroom.service.ports import Incident, TopicRequest
from waitroom.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(worker_task_budget_ms=0, worker_poll_ms=50, worker_max_retries=3, worker_retry_timeout_ms=1000)


MakeWorker = Callable[..., Worker]


def test_each_outcome_is_reported_to_the_engine(settings: Settings, make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue(
        [
            task("1", "t.succeed", name="ada"),
            task("2", "t.reject"),
            task("3", "t.explode"),
            task("4", "t.explode", retries=1),
        ]
    )
    summary = make_worker(tasks, settings).run(for_seconds(0.5))

    assert (summary.fetched, summary.completed, summary.bpmn_errors, summary.failed) == (4, 1, 1, 2)
    reports = {task_id: (kind, details) for kind, task_id, details in tasks.reports}
    assert reports["1"] == ("complete", {"variables": {"seen": "ada", "count": 2}})
    kind, details = reports["2"]
    assert kind == "bpmnError"
    assert details == {"code": "NOPE", "message": "not this one", "variables": {"why": "because"}}
    kind, details = reports["3"]
    assert kind == "failure"
    assert (details["retries"], details["retry_in_ms"]) == (2, 1000), "a first failure leaves max - 1"
    assert details["message"] == "ValueError: boom"
    assert "Traceback" in details["details"]
    assert (reports["4"][1]["retries"], reports["4"][1]["retry_in_ms"]) == (0, 4000), "the last try: incident"


@pytest.mark.parametrize(
    ("retries", "expected"),
    [(None, (2, 1000)), (2, (1, 2000)), (1, (0, 4000)), (0, (0, 4000)), (7, (6, 1000))],
)
def test_retries_count_down_and_the_wait_doubles(
    settings: Settings, make_worker: MakeWorker, retries: int | None, expected: tuple[int, int]
) -> None:
    assert make_worker(FakeTaskQueue(), settings).next_retry(retries) == expected


def test_the_retry_wait_is_capped(make_worker: MakeWorker) -> None:
    settings = Settings(worker_max_retries=10, worker_retry_timeout_ms=1000, worker_retry_timeout_max_ms=5000)
    assert make_worker(FakeTaskQueue(), settings).next_retry(1) == (0, 5000)


def test_a_refused_report_counts_as_lost(settings: Settings, make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue([task("1", "t.succeed", name="x")])
    tasks.refuse_reports = True
    summary = make_worker(tasks, settings).run(for_seconds(0.3))
    assert (summary.completed, summary.lost) == (0, 1)


def test_an_engine_out_of_reach_is_counted_and_does_not_spin(settings: Settings, make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue()
    tasks.down = True
    summary = make_worker(tasks, settings).run(for_seconds(0.5))
    assert summary.fetch_failures >= 1
    assert len(tasks.takes) < 20, "a failed take pauses before the next"


def test_it_stops_fetching_when_only_the_task_budget_is_left(make_worker: MakeWorker) -> None:
    settings = Settings(worker_task_budget_ms=10_000, worker_poll_ms=50)
    tasks = FakeTaskQueue([task("1", "t.succeed", name="x")])
    summary = make_worker(tasks, settings).run(for_seconds(5))
    assert tasks.takes == []
    assert summary.fetched == 0


def test_the_long_poll_never_outlasts_the_invocation(make_worker: MakeWorker) -> None:
    settings = Settings(worker_task_budget_ms=200, worker_poll_ms=20_000)
    tasks = FakeTaskQueue()
    make_worker(tasks, settings).run(for_seconds(0.5))
    assert tasks.takes
    assert all(take["wait_ms"] <= 300 for take in tasks.takes)


def test_a_long_handler_has_its_lock_extended(make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue([task("1", "t.slow")])
    settings = Settings(worker_task_budget_ms=2_000, worker_poll_ms=50)
    summary = make_worker(tasks, settings).run(for_seconds(2.5))
    assert summary.completed == 1
    extensions = [details for kind, _, details in tasks.reports if kind == "extendLock"]
    assert extensions, "a task that outlives a third of its lock gets the lock extended"
    assert all(details["duration_ms"] == 1000 for details in extensions)


def test_a_task_that_outlives_the_invocation_is_left_to_its_lock(make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue([task("1", "t.slow")])
    worker = make_worker(tasks, Settings(worker_task_budget_ms=0, worker_poll_ms=50))
    began = time.monotonic()
    summary = worker.run(for_seconds(0.3))
    assert time.monotonic() - began < 1.2, "the invocation returns in time, not when the task is done"
    assert (summary.unfinished, summary.completed) == (1, 0)
    worker.service.repository.save(NewProcess("bk-1", "t", "0" * 64))
    deadline = time.monotonic() + 5
    while not worker.service.repository.steps("bk-1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [kind for kind, _ in tasks.kinds() if kind == "complete"] == ["complete"], "it still reports, late"


def test_a_result_the_engine_cannot_take_is_reported_as_a_failure(make_worker: MakeWorker, settings: Settings) -> None:
    tasks = FakeTaskQueue([task("1", "t.nan"), task("2", "t.succeed", name="fine")])
    worker = make_worker(tasks, settings)
    worker.service.repository.save(NewProcess("bk-1", "t", "0" * 64))
    summary = worker.run(for_seconds(0.5))
    assert (summary.failed, summary.completed, summary.lost) == (1, 1, 0)
    kind, _, failure = next(report for report in tasks.reports if report[1] == "1")
    assert kind == "failure"
    assert failure["message"].startswith("InvalidRequest: variable 'score' cannot be sent to the engine")
    (step,) = worker.service.repository.steps("bk-1")
    assert step.outcome.value == "FAILED", "the step is recorded as the failure it was reported as"


def test_a_rejection_whose_variables_the_engine_cannot_take_is_reported_as_a_failure(
    make_worker: MakeWorker, settings: Settings
) -> None:
    def reject_with_nan(_task: object, _resources: object) -> dict[str, object]:
        raise BusinessRejection("NOPE", "no", variables={"score": float("nan")})

    tasks = FakeTaskQueue([task("1", "t.reject-nan")])
    worker = make_worker(tasks, settings)
    worker.registry = TopicRegistry.of([Topic("t.reject-nan", reject_with_nan)])
    summary = worker.run(for_seconds(0.3))
    assert (summary.failed, summary.bpmn_errors) == (1, 0)
    assert tasks.kinds() == [("failure", "1")]


def test_a_transient_extend_failure_keeps_the_lock_kept(make_worker: MakeWorker) -> None:
    tasks = FakeTaskQueue([task("1", "t.slow")])
    tasks.extend_failures = 1
    make_worker(tasks, Settings(worker_task_budget_ms=2_000, worker_poll_ms=50)).run(for_seconds(2.5))
    extensions = [task_id for kind, task_id in tasks.kinds() if kind == "extendLock"]
    assert extensions, "after a failed extend the keeper tries again"


def test_the_last_steps_history_is_written_before_its_finish_is_announced(
    make_worker: MakeWorker, settings: Settings
) -> None:
    seen_at_finish: list[list[str]] = []

    class Announcing(ScriptedWaker):
        """Notes, when a finish is announced, the steps a woken client would read."""

        def notify(self, correlation_id: str) -> None:
            seen_at_finish.append([step.topic for step in store.steps(correlation_id)])

    tasks = FakeTaskQueue([task("1", "t.last", name="ada")])
    worker = make_worker(tasks, settings, make_waker=Announcing)
    store = worker.service.repository
    store.save(NewProcess("bk-1", "t", "0" * 64))
    summary = worker.run(for_seconds(0.3))
    assert summary.completed == 1
    assert seen_at_finish == [["t.last"]], "a woken client reading the history sees the last step"
    record = store.get("bk-1")
    assert record is not None
    assert record.payload == {"done": "ada"}
    assert tasks.reports == [("complete", "1", {"variables": {}})]


def test_the_end_a_step_reports_records_the_instance_of_a_start_never_confirmed(
    make_worker: MakeWorker, settings: Settings
) -> None:
    # The start got no answer, so its row has no instance; the instance ran all the same.
    tasks = FakeTaskQueue([task("1", "t.last", name="ada"), task("2", "t.explode", retries=1)])
    worker = make_worker(tasks, settings)
    store = worker.service.repository
    for correlation_id in ["bk-1", "bk-2"]:
        store.save(NewProcess(correlation_id, "t", "0" * 64))
    worker.run(for_seconds(0.3))
    ended = [store.get(correlation_id) for correlation_id in ["bk-1", "bk-2"]]
    assert [(row.status.value, row.camunda_instance_id) for row in ended if row is not None] == [
        ("DONE", "pi-1"),
        ("ERROR", "pi-1"),
    ], "the last step's outcome, and the incident of a step out of retries"


def test_a_topic_cannot_have_two_handlers() -> None:
    with pytest.raises(ValueError, match="two handlers"):
        TopicRegistry.of([Topic("x", succeed), Topic("x", reject)])


def test_fetch_asks_for_every_topic_with_its_lock_and_variables(make_worker: MakeWorker) -> None:
    registry = TopicRegistry.of([Topic("a", succeed, variables=("userId",)), Topic("b", succeed, lock_duration_ms=5)])
    expected = [TopicRequest("a", 30_000, ("userId",)), TopicRequest("b", 5, None)]
    assert registry.fetch_topics(30_000) == expected
    tasks = FakeTaskQueue()
    worker = make_worker(tasks, Settings(worker_task_budget_ms=0, worker_poll_ms=50, worker_lock_duration_ms=30_000))
    worker.registry = registry
    worker.run(for_seconds(0.2))
    assert tasks.takes and all(take["topics"] == expected for take in tasks.takes)


def test_a_step_is_in_the_history_before_the_engine_hears_of_it(make_worker: MakeWorker, settings: Settings) -> None:
    """Once the engine has a step's report it may hand out the next step at once; were the step
    recorded after reporting, the next one's record could come first and the history be out of order."""
    seen_at_report: list[list[str]] = []

    class Watching(FakeTaskQueue):
        def complete(self, task_id: str, variables: Mapping[str, Any]) -> None:
            seen_at_report.append([step.topic for step in store.steps(f"bk-{task_id}")])
            super().complete(task_id, variables)

        def fail(self, task_id: str, **report: Any) -> None:
            seen_at_report.append([step.topic for step in store.steps(f"bk-{task_id}")])
            super().fail(task_id, **report)

    tasks = Watching([task("1", "t.succeed", name="ada"), task("2", "t.explode")])
    worker = make_worker(tasks, settings)
    store = worker.service.repository
    store.save(NewProcess("bk-1", "t", "0" * 64))
    store.save(NewProcess("bk-2", "t", "0" * 64))
    summary = worker.run(for_seconds(0.5))
    assert (summary.completed, summary.failed) == (1, 1)
    assert sorted(seen_at_report) == [["t.explode"], ["t.succeed"]]


class CountedEngine(FakeEngine):
    """Counts the engine watch's polls: each reads the incidents once."""

    polls: int = 0

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        self.polls += 1
        return super().incidents_raised_after(moment, limit=limit)


def test_only_the_listening_invocation_watches_the_engine(make_worker: MakeWorker) -> None:
    engine = CountedEngine()
    settings = Settings(worker_task_budget_ms=0, worker_poll_ms=50, engine_watch_ms=50)
    worker = make_worker(FakeTaskQueue(), settings, engine=engine, watch_engine=True)
    worker.run(for_seconds(0.5), drain=True)
    assert engine.polls == 0, "a scale-out invocation drains the backlog only"
    worker.run(for_seconds(0.5))
    assert engine.polls >= 2
