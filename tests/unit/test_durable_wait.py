"""The durable wait (``WAIT_MODE=durable``): the start route inside a Lambda durable function, run by
the durable execution SDK's own test runner (``DurableFunctionTestRunner``: the SDK's checkpoints,
suspensions, callbacks and replays, in process), on the service's fakes. The finish that wakes a
waiter is the service's one finish, whose callbacks go to the runner as boto3's would go to Lambda."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from tests.support.fakes import Fakes, service_on_fakes
from tests.support.lambdas import load_event, with_body, with_caller, with_headers
from waitroom.domain.process import Outcome, ProcessStatus
from waitroom.entrypoints.http.durable import DurableWait, durable_handler
from waitroom.entrypoints.http.resolver import create_resolver
from waitroom.entrypoints.http.routes import start_routes
from waitroom.settings import Settings

SETTINGS = Settings(sync_timeout_ms=20_000)
BODY = {"processKey": "onboard-user", "correlationId": "order-1", "variables": {"user": "u1"}}


class RunnerCallbacks:
    """The service's Callbacks port on the test runner: what boto3's
    ``send_durable_execution_callback_success`` does against Lambda."""

    max_message_bytes = 262_144

    def __init__(self, runner: DurableFunctionTestRunner) -> None:
        self.runner = runner
        self.sent: list[tuple[str, str]] = []
        self.closed: list[str] = []

    def send(self, callback_id: str, message: str) -> bool:
        self.sent.append((callback_id, message))
        try:
            self.runner.send_callback_success(callback_id, message.encode())
        except Exception:
            # The runner's own errors for a callback it no longer holds (Lambda: CallbackTimeoutException).
            self.closed.append(callback_id)
            return False
        return True


class Durable:
    def __init__(self, fakes: Fakes, runner: DurableFunctionTestRunner) -> None:
        self.fakes, self.runner = fakes, runner
        self.callbacks = RunnerCallbacks(runner)
        fakes.service.callbacks = self.callbacks

    def start(self, body: dict[str, Any] = BODY, *, name: str = "execution", **headers: str) -> str:
        event = with_headers(with_caller(with_body(load_event("start"), body), "alice"), **headers)
        return self.runner.run_async(input=json.dumps(event), execution_name=name, execution_timeout=120)

    def answer(self, arn: str) -> tuple[int, dict[str, str], Any]:
        result = self.runner.wait_for_result(arn, timeout=60)
        assert result.status.value == "SUCCEEDED", result.error
        assert isinstance(result.result, str)
        raw = json.loads(result.result)
        return raw["statusCode"], {k.lower(): v for k, v in raw["headers"].items()}, json.loads(raw["body"])

    def waiters_of(self, correlation_id: str, count: int) -> list[str]:
        """The callbacks recorded for the process once ``count`` of them are (real time: the runner
        runs the handler on its own threads)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = list(self.fakes.repository.waiters.get(correlation_id, []))
            if len(waiting) >= count:
                return waiting
            time.sleep(0.01)
        raise AssertionError(f"{count} waiters never recorded for {correlation_id}")


def handler_on(fakes: Fakes) -> Callable[[Any, Any], Any]:
    waiting = DurableWait(fakes.service)
    app = create_resolver(SETTINGS, start_routes(fakes.service, SETTINGS, waiting))
    return durable_handler(app, SETTINGS, waiting)


@contextmanager
def runner_of(fakes: Fakes) -> Iterator[DurableFunctionTestRunner]:
    # Real time: a callback's timeout must not pass before the finish a test makes.
    runner = DurableFunctionTestRunner(handler=handler_on(fakes), skip_time=False)
    try:
        yield runner
    finally:
        runner.close()  # type: ignore[no-untyped-call]  # the test kit (1.4.0) leaves it unannotated
        # The test kit's Scheduler.stop (1.4.0) stops its event loop's thread but leaves the loop
        # open, and its sockets would warn when collected.
        runner._scheduler._loop.close()


@pytest.fixture
def durable() -> Iterator[Durable]:
    fakes = service_on_fakes()
    with runner_of(fakes) as runner:
        yield Durable(fakes, runner)


def test_a_process_that_finishes_within_the_budget_is_answered_200(durable: Durable) -> None:
    arn = durable.start()
    [callback_id] = durable.waiters_of("order-1", 1)
    durable.fakes.service.finish("order-1", Outcome.done({"user": "u1", "ok": True}))
    status, _, body = durable.answer(arn)
    assert status == 200
    assert (body["status"], body["correlationId"], body["data"]) == ("DONE", "order-1", {"user": "u1", "ok": True})
    assert [sent for sent, _ in durable.callbacks.sent] == [callback_id]
    assert durable.fakes.engine.starts and len(durable.fakes.engine.starts) == 1, "a replay starts nothing again"
    assert durable.fakes.repository.waiters.get("order-1", []) == [], "the finish took its waiter"


def test_a_budget_that_runs_out_is_answered_202_from_the_row(durable: Durable) -> None:
    arn = durable.start(prefer="wait=1")
    status, headers, body = durable.answer(arn)
    assert status == 202
    assert body["status"] == "PENDING"
    assert headers["location"].endswith("/api/process/status/order-1")
    assert int(headers["retry-after"]) >= 1
    assert durable.callbacks.sent == []


def test_respond_async_answers_202_without_a_callback(durable: Durable) -> None:
    status, headers, _ = durable.answer(durable.start(prefer="respond-async"))
    assert status == 202 and "location" in headers
    assert durable.fakes.repository.waiters == {}


def test_a_finish_between_the_save_and_the_recording_is_not_missed(durable: Durable) -> None:
    """The finish lands after the row is saved and before the waiter records its callback: it takes
    no callback, and the waiter's read after recording sees the row final and answers at once."""
    repository = durable.fakes.repository
    record = repository.add_waiter

    def finish_first(correlation_id: str, callback_id: str) -> None:
        durable.fakes.service.finish(correlation_id, Outcome.done({"early": True}))
        record(correlation_id, callback_id)

    repository.add_waiter = finish_first  # type: ignore[method-assign]  # the race, placed exactly
    status, _, body = durable.answer(durable.start())
    assert status == 200 and body["data"] == {"early": True}
    assert durable.callbacks.sent == [], "the finish found no waiter to send"
    assert repository.waiters.get("order-1", []) == [], "the waiter forgot its callback"


def test_a_join_has_its_own_callback_and_both_are_woken(durable: Durable) -> None:
    first = durable.start(name="first")
    durable.waiters_of("order-1", 1)
    second = durable.start(name="second")
    waiting = durable.waiters_of("order-1", 2)
    assert len(set(waiting)) == 2
    durable.fakes.service.finish("order-1", Outcome.done({"n": 1}))
    answers = [durable.answer(first), durable.answer(second)]
    assert [(status, body["data"]) for status, _, body in answers] == [(200, {"n": 1}), (200, {"n": 1})]
    assert sorted(sent for sent, _ in durable.callbacks.sent) == sorted(waiting)
    assert len(durable.fakes.engine.starts) == 1, "the join started nothing"


def test_a_result_larger_than_a_callback_carries_is_read_from_the_row(durable: Durable) -> None:
    arn = durable.start()
    durable.waiters_of("order-1", 1)
    large = {"blob": "x" * 300_000}
    durable.fakes.service.finish("order-1", Outcome.done(large))
    [(_, message)] = durable.callbacks.sent
    assert message == "{}", "the callback carries nothing; the waiter reads the row"
    status, _, body = durable.answer(arn)
    assert status == 200 and body["data"] == large


def test_a_start_cancelled_meanwhile_is_answered_as_the_classic_mode_answers(durable: Durable) -> None:
    arn = durable.start()
    durable.waiters_of("order-1", 1)
    durable.fakes.service.finish("order-1", Outcome.cancelled("client gave up"))
    status, _, body = durable.answer(arn)
    assert (status, body["status"]) == (200, ProcessStatus.CANCELLED.value)


def test_the_same_mistake_gets_the_same_problem(durable: Durable) -> None:
    durable.fakes.service.start_policy = type(durable.fakes.service.start_policy)(frozenset({"other"}))
    status, headers, body = durable.answer(durable.start())
    assert status == 403
    assert headers["content-type"] == "application/problem+json"
    assert body["code"] == "PROCESS_KEY_NOT_ALLOWED"
    assert durable.fakes.engine.starts == []


def test_a_finish_after_the_waiter_timed_out_meets_a_closed_callback_and_is_no_error(durable: Durable) -> None:
    arn = durable.start(prefer="wait=1")
    status, _, _ = durable.answer(arn)
    assert status == 202
    [callback_id] = durable.fakes.repository.waiters["order-1"]
    finished = durable.fakes.service.finish("order-1", Outcome.done(1))
    assert finished is not None and finished.status is ProcessStatus.DONE
    assert [sent for sent, _ in durable.callbacks.sent] == [callback_id]
    assert durable.callbacks.closed == [callback_id], "the runner refused it: the execution had ended"


def test_the_sdks_checkpoint_poll_is_set_from_the_setting_and_still_named_as_waitroom_sets_it() -> None:
    """The SDK's constant is private: a release that renames it must fail here, not silently bring
    back its 100 ms per invocation."""
    from aws_durable_execution_sdk_python import state as sdk_state  # noqa: PLC0415 -- the SDK's module under test

    from waitroom.entrypoints.http.durable import SDK_STOP_POLL_NAME, set_checkpoint_poll  # noqa: PLC0415

    assert isinstance(getattr(sdk_state, SDK_STOP_POLL_NAME), float)
    before = getattr(sdk_state, SDK_STOP_POLL_NAME)
    try:
        set_checkpoint_poll(0.007)
        assert getattr(sdk_state, SDK_STOP_POLL_NAME) == 0.007
        settings = Settings(database_url="sqlite:///:memory:", durable_checkpoint_poll_ms=3)
        durable_handler(create_resolver(settings), settings, DurableWait(service_on_fakes().service))
        assert getattr(sdk_state, SDK_STOP_POLL_NAME) == 0.003
    finally:
        set_checkpoint_poll(before)
