"""A worker step whose database connection is killed at any of its statements loses nothing: the
step's history row is written once (a retried insert finds the row its first attempt committed, by
the step's token) and the process ends once, with the last step's result."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.fake_task_queue import REGISTRY, FakeTaskQueue, for_seconds, task
from tests.support.lost_connections import Kill, Saboteur, sabotaged
from tests.support.services import worker_on
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.process import NewProcess, ProcessStatus, StepEvent, StepOutcome
from waitroom.service.ports import Task
from waitroom.settings import Settings

#: A process of two steps as the worker runs it: the first step's history row; the last step's
#: history row, then the conditional finish of the process.
WORKER_STEP_STATEMENTS = 3


def sabotaged_store(url: str, saboteur: Saboteur) -> SqlStore:
    return SqlStore(sabotaged(dialect_for(url, Settings(database_url=url, db_query_timeout_s=5)), saboteur))


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_step_is_recorded_once_when_its_connection_is_killed(killable_backend: tuple[str, Kill], after: bool) -> None:
    url, kill = killable_backend
    saboteur = Saboteur(kill)
    store = sabotaged_store(url, saboteur)
    try:
        store.save(NewProcess("lost-s", "onboard-user", "0" * 64))
        saboteur.arm(1, after=after)
        step = StepEvent("lost-s", "onboard-user.run-background-check", "Task_1", StepOutcome.COMPLETED, 7)
        assert store.record_step(step), "the step is recorded, on a new connection"
        assert saboteur.killed == 1, "the connection was killed"
        assert [(s.topic, s.token) for s in store.steps("lost-s")] == [(step.topic, step.token)], "once"
    finally:
        store.close()


def lost_w_task(task_id: str, topic: str) -> Task:
    """A task of the process ``lost-w`` as the engine hands it out."""
    return replace(task(task_id, topic, name="ada"), business_key="lost-w")


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("statement", range(1, WORKER_STEP_STATEMENTS + 1))
def test_a_worker_step_survives_its_connection_killed_at_any_statement(
    killable_backend: tuple[str, Kill], statement: int, after: bool
) -> None:
    url, kill = killable_backend
    saboteur = Saboteur(kill)
    store = sabotaged_store(url, saboteur)
    settings = Settings(database_url=url, worker_task_budget_ms=0, worker_poll_ms=50)
    tasks = FakeTaskQueue()
    worker = worker_on(store, settings, tasks=tasks, registry=REGISTRY, watch_engine=False)
    try:
        store.save(NewProcess("lost-w", "t", "0" * 64))
        saboteur.arm(statement, after=after)
        for taken in [lost_w_task("1", "t.succeed"), lost_w_task("2", "t.last")]:
            tasks.queue.append(taken)
            summary = worker.run(for_seconds(0.3))
            assert (summary.completed, summary.lost) == (1, 0), "the step was reported to the engine"
        assert saboteur.killed == 1, "the connection was killed"
        steps = store.steps("lost-w")
        assert [(recorded.topic, recorded.outcome) for recorded in steps] == [
            ("t.succeed", StepOutcome.COMPLETED),
            ("t.last", StepOutcome.COMPLETED),
        ], "each step is in the history once"
        assert tasks.kinds() == [("complete", "1"), ("complete", "2")]
        record = store.get("lost-w")
        assert record is not None
        assert (record.status, record.payload) == (ProcessStatus.DONE, {"done": "ada"}), "ended by its last step"
        assert record.completed_at is not None
    finally:
        store.close()
