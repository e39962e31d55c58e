"""The dispatcher's arithmetic, and the decisions of one tick on an in-memory task queue (the real
path, with the development engine and the local Lambda API, is tests/integration/test_scale_out.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.fake_task_queue import FakeTaskQueue, task
from tests.support.services import DEMO_HANDLERS
from waitroom.adapters.lambda_invoke import LambdaInvoker
from waitroom.domain.errors import ConfigurationError
from waitroom.entrypoints.worker.dispatch import Dispatcher, DispatchSummary, is_drain
from waitroom.entrypoints.worker.plugins import load_registry
from waitroom.service.scale_out import invocations_needed, invocations_to_start, tasks_per_second
from waitroom.settings import Settings

#: The topics of the response step and of the demo's handlers.
REGISTRY = load_registry(Settings(worker_handler_modules=DEMO_HANDLERS))


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        ((0, 16, 1, 0, 10), 0),  # nothing waits: the listening worker is enough
        ((1, 16, 1, 0, 10), 1),  # one task waits: every thread of the workers running is taken
        ((16, 16, 1, 0, 10), 1),
        ((17, 16, 1, 0, 10), 2),
        ((40, 16, 1, 1, 10), 2),  # one started a moment ago will take 16 of the 40
        ((40, 16, 1, 3, 10), 0),  # enough are starting already
        ((1000, 16, 1, 0, 10), 9),  # the bound, the listening invocation included
        ((1000, 16, 10, 0, 10), 0),  # at the bound
        ((1000, 16, 12, 0, 10), 0),  # over it (the minute's overlap): never negative
        ((5, 16, 1, 0, 1), 0),  # a bound of 1 turns scale-out off
        ((5, 0, 1, 0, 10), 0),
    ],
)
def test_invocations_to_start(figures: tuple[int, int, int, int, int], expected: int) -> None:
    backlog, threads, busy, starting, bound = figures
    assert invocations_to_start(backlog=backlog, threads=threads, busy=busy, starting=starting, bound=bound) == expected


def test_capacity_arithmetic() -> None:
    assert tasks_per_second(threads=16, task_s=0.25) == 64
    # 20 processes a second of 4 steps, 100 ms on average in the worker: 8 tasks in flight.
    assert invocations_needed(arrivals_per_s=20, tasks_per_process=4, task_s=0.1, threads=16) == 1
    assert invocations_needed(arrivals_per_s=20, tasks_per_process=4, task_s=0.1, threads=4) == 2
    assert invocations_needed(arrivals_per_s=200, tasks_per_process=4, task_s=0.25, threads=16) == 13
    assert invocations_needed(arrivals_per_s=0, tasks_per_process=4, task_s=0.25, threads=16) == 1
    with pytest.raises(ValueError, match="some time"):
        tasks_per_second(threads=16, task_s=0)


def waiting(backlog: Mapping[str, int], *, busy: int = 0) -> FakeTaskQueue:
    """A task queue holding ``backlog`` unlocked tasks of each topic, and ``busy`` workers holding locks."""
    tasks = FakeTaskQueue([task(f"{topic}-{n}", topic) for topic, count in backlog.items() for n in range(count)])
    tasks.busy = busy
    return tasks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def dispatcher_for(tasks: FakeTaskQueue, invoked: list[Mapping[str, Any]], clock: Clock, **settings: Any) -> Dispatcher:
    return Dispatcher(
        tasks=tasks,
        registry=REGISTRY,
        settings=Settings(**{"worker_max_tasks": 4, "worker_max_invocations": 5, **settings}),
        invoke=invoked.append,
        clock=clock,
        sleep=lambda _: None,
    )


def test_a_tick_starts_what_the_backlog_of_every_topic_needs_and_remembers_them_as_starting() -> None:
    topics = [topic.name for topic in REGISTRY]
    tasks = waiting({topics[0]: 5, topics[2]: 4}, busy=1)
    invoked: list[Mapping[str, Any]] = []
    clock = Clock()
    dispatcher = dispatcher_for(tasks, invoked, clock, worker_startup_ms=5000)
    summary = DispatchSummary()

    assert dispatcher.tick(summary) == 3  # 9 tasks, 4 threads each
    assert all(is_drain(event) for event in invoked)
    assert summary.backlog_max == 9
    clock.now += 1  # they have not fetched yet: the same backlog starts nothing more
    assert dispatcher.tick(summary) == 0
    clock.now += 5  # past the startup time and still no lock held by them: start again, to the bound
    assert dispatcher.tick(summary) == 3
    tasks.busy = 5
    clock.now += 10
    assert dispatcher.tick(summary) == 0, "five invocations hold locks: the bound"
    assert summary.started == len(invoked) == 6


def test_a_tick_that_cannot_read_the_backlog_starts_nothing() -> None:
    invoked: list[Mapping[str, Any]] = []
    tasks = FakeTaskQueue()
    tasks.down = True
    dispatcher = dispatcher_for(tasks, invoked, Clock())
    summary = DispatchSummary()
    assert dispatcher.tick(summary) == 0
    assert (summary.read_failures, invoked) == (1, [])


def test_a_failed_invoke_is_counted_and_stops_the_tick() -> None:
    topic = next(iter(REGISTRY)).name
    calls = []

    def refuse(event: Mapping[str, Any]) -> None:
        calls.append(event)
        raise RuntimeError("TooManyRequestsException")

    dispatcher = dispatcher_for(waiting({topic: 100}), [], Clock())
    dispatcher.invoke = refuse
    summary = DispatchSummary()
    assert dispatcher.tick(summary) == 0
    assert (summary.invoke_failures, len(calls)) == (1, 1)


def test_the_dispatcher_ticks_while_its_invocation_has_time() -> None:
    remaining = iter([10_000, 7_000, 4_000, 2_900])
    dispatcher = dispatcher_for(FakeTaskQueue(), [], Clock(), dispatch_interval_ms=2000)
    summary = dispatcher.run(lambda: next(remaining))
    assert summary.ticks == 3


def test_only_the_dispatchers_event_drains() -> None:
    assert is_drain({"drain": True})
    assert not is_drain({"detail-type": "Scheduled Event", "source": "aws.events"})


def test_a_dispatcher_without_a_worker_to_start_fails_at_its_cold_start() -> None:
    with pytest.raises(ConfigurationError, match="WORKER_FUNCTION_NAME"):
        LambdaInvoker(None)
