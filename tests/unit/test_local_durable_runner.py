"""The local durable execution service (devstack/durable.py): what it bounds, what it tells the gateway."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from aws_durable_execution_sdk_python_testing import threads
from aws_durable_execution_sdk_python_testing.executor import Executor
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from aws_durable_execution_sdk_python_testing.web import server

from devstack.durable import RUNNER_BACKLOG, RUNNER_BOUND, DurableRunner, _Watch
from devstack.functions import ColdStartsThrottled
from devstack.http_server import LISTEN_BACKLOG
from devstack.lambda_api import invoke_waiting_for_cold_starts


def test_the_runner_invokes_handlers_on_as_many_threads_as_it_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own default is min(32, CPUs + 4): six invocations at once on two cores."""
    monkeypatch.setattr(threads, "default_max_workers", threads.default_max_workers)
    exec(RUNNER_BOUND.format(threads=40), {})  # noqa: S102 -- the runner's own first lines, ours
    executor = Executor(
        store=InMemoryExecutionStore(),
        scheduler=mock.Mock(),
        invoker=mock.Mock(),
        checkpoint_processor=mock.Mock(),
    )
    try:
        assert executor._invocation_pool.max_workers == 40
    finally:
        executor.shutdown()


def test_the_runner_listens_with_the_local_stack_s_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard library's backlog of 5 reset a fleet's checkpoint connections."""
    monkeypatch.setattr(server.WebServer, "request_queue_size", server.WebServer.request_queue_size)
    assert server.WebServer.request_queue_size == 5
    exec(RUNNER_BACKLOG, {})  # noqa: S102 -- the runner's own first lines, ours
    assert server.WebServer.request_queue_size == LISTEN_BACKLOG


def _runner() -> DurableRunner:
    """A runner's bookkeeping without its process (only what the local Lambda API calls is used)."""
    runner = DurableRunner.__new__(DurableRunner)
    runner.executions, runner.running, runner.suspended = 0, 0, set()
    runner._watches, runner._early, runner._guard = {}, {}, threading.Lock()
    return runner


def _event(arn: str) -> dict[str, Any]:
    return {"DurableExecutionArn": arn, "CheckpointToken": "t", "InitialExecutionState": {"Operations": []}}


def test_a_suspended_execution_counts_as_waiting_and_not_as_running() -> None:
    runner = _runner()
    runner.invocation_began(_event("a"))
    runner.invocation_began(_event("b"))
    assert runner.running == 2
    runner.invocation_returned(_event("a"), {"Status": "PENDING"})
    assert (runner.running, runner.suspended) == (1, {"a"})
    runner.invocation_began(_event("a"))
    assert (runner.running, runner.suspended) == (2, set())


def test_an_invocation_of_another_function_is_not_counted() -> None:
    runner = _runner()
    runner.invocation_began({"version": "2.0"})
    runner.invocation_returned({"version": "2.0"}, {"statusCode": 200})
    assert (runner.running, runner.suspended) == (0, set())


def test_an_end_returned_before_the_gateway_knew_the_execution_is_kept_for_it() -> None:
    runner = _runner()
    runner.invocation_began(_event("a"))
    runner.invocation_returned(_event("a"), {"Status": "SUCCEEDED", "Result": "{}"})
    assert runner._early["a"][1] is True


def test_a_suspension_wakes_the_gateway_but_is_not_taken_for_an_end() -> None:
    runner = _runner()
    watch = runner._watches.setdefault("a", _Watch())
    runner.invocation_began(_event("a"))
    runner.invocation_returned(_event("a"), {"Status": "PENDING"})
    assert watch.returned.is_set() and not watch.ended
    runner.invocation_began(_event("a"))
    runner.invocation_returned(_event("a"), {"Status": "SUCCEEDED"})
    assert watch.ended


class _Starting:
    """A pool whose cold starts are all taken ``busy`` times before one is free."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls = 0

    def invoke(self, event: Any) -> Any:
        self.calls += 1
        if self.calls <= self.busy:
            raise ColdStartsThrottled("starting already")
        return {"Status": "PENDING", "event": event}


def test_a_handler_invocation_waits_for_a_cold_start_slot_instead_of_being_throttled() -> None:
    pool = _Starting(busy=2)
    assert invoke_waiting_for_cold_starts(pool, {"n": 1}) == {"Status": "PENDING", "event": {"n": 1}}  # type: ignore[arg-type]
    assert pool.calls == 3


def test_a_handler_invocation_waits_for_a_cold_start_slot_no_longer_than_told() -> None:
    with pytest.raises(ColdStartsThrottled):
        invoke_waiting_for_cold_starts(_Starting(busy=10**9), {}, within_s=0)  # type: ignore[arg-type]
