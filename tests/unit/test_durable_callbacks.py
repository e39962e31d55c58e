"""The one finish sends every durable waiter's callback once (``ProcessService._wake_durable_waiters``),
on fakes; and the boto3 adapter of the Callbacks port against botocore's Stubber (Lambda's own
answers: a closed callback is no error, any other refusal is a callback not sent)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.fakes import Fakes, service_on_fakes
from waitroom.adapters import callbacks as callbacks_adapter
from waitroom.adapters.callbacks import LambdaCallbacks
from waitroom.domain.errors import CallbackNotSent, CamundaUnavailable
from waitroom.domain.process import Caller, Outcome, ProcessStatus, record_from_json


class RecordedCallbacks:
    max_message_bytes = 1000

    def __init__(self, *, closed: frozenset[str] = frozenset(), failing: frozenset[str] = frozenset()) -> None:
        self.closed, self.failing = closed, failing
        self.sent: list[tuple[str, str]] = []

    def send(self, callback_id: str, message: str) -> bool:
        if callback_id in self.failing:
            raise CallbackNotSent("unreachable")
        self.sent.append((callback_id, message))
        return callback_id not in self.closed


def started(callbacks: RecordedCallbacks) -> Fakes:
    fakes = service_on_fakes()
    fakes.service.callbacks = callbacks
    fakes.service.begin("onboard-user", correlation_id="order-1", variables={}, caller=Caller("alice"))
    return fakes


def test_the_finish_sends_the_process_to_every_waiter_once() -> None:
    callbacks = RecordedCallbacks()
    fakes = started(callbacks)
    fakes.service.await_callback("order-1", "cb-1")
    fakes.service.await_callback("order-1", "cb-2")
    fakes.service.finish("order-1", Outcome.done({"ok": True}))
    assert [callback for callback, _ in callbacks.sent] == ["cb-1", "cb-2"]
    record = record_from_json(json.loads(callbacks.sent[0][1])["record"])
    assert (record.status, record.payload) == (ProcessStatus.DONE, {"ok": True})
    # A repeated report of the same outcome announces again, but each callback was sent once.
    fakes.service.complete("order-1", Outcome.done({"ok": True}))
    assert len(callbacks.sent) == 2


def test_a_closed_callback_or_one_not_sent_loses_nothing() -> None:
    callbacks = RecordedCallbacks(closed=frozenset({"cb-closed"}), failing=frozenset({"cb-down"}))
    fakes = started(callbacks)
    for callback in ("cb-closed", "cb-down", "cb-open"):
        fakes.service.await_callback("order-1", callback)
    finished = fakes.service.finish("order-1", Outcome.done(1))
    assert finished is not None and finished.status is ProcessStatus.DONE, "the finish answers all the same"
    assert [callback for callback, _ in callbacks.sent] == ["cb-closed", "cb-open"]
    assert fakes.service.current("order-1").status is ProcessStatus.DONE, "the row stays the truth"


def test_a_result_too_large_for_a_callback_is_left_in_the_row() -> None:
    callbacks = RecordedCallbacks()
    fakes = started(callbacks)
    fakes.service.await_callback("order-1", "cb-1")
    fakes.service.finish("order-1", Outcome.done("x" * 2000))
    assert callbacks.sent == [("cb-1", "{}")]


def test_a_discarded_start_tells_its_waiters_to_read_the_row() -> None:
    callbacks = RecordedCallbacks()
    fakes = service_on_fakes()
    fakes.service.callbacks = callbacks
    fakes.engine.fail_start = CamundaUnavailable("down")
    # A join that recorded its callback while the first start was reaching Camunda.
    fakes.repository.add_waiter("order-1", "cb-join")
    with pytest.raises(CamundaUnavailable):
        fakes.service.begin("onboard-user", correlation_id="order-1", variables={}, caller=Caller("alice"))
    assert fakes.repository.get("order-1") is None, "the start certainly failed: its row is discarded"
    assert callbacks.sent == [("cb-join", "{}")], "the waiter reads the row, finds it gone: StartFailed"


def test_a_waiter_that_records_after_the_finish_sees_it_final_and_forgets_its_callback() -> None:
    callbacks = RecordedCallbacks()
    fakes = started(callbacks)
    fakes.service.finish("order-1", Outcome.done(1))
    assert fakes.service.await_callback("order-1", "cb-late").status is ProcessStatus.DONE
    assert fakes.repository.waiters.get("order-1", []) == []
    assert callbacks.sent == []


def test_without_the_durable_mode_the_finish_takes_no_waiters() -> None:
    fakes = service_on_fakes()
    fakes.service.begin("onboard-user", correlation_id="order-1", variables={}, caller=Caller("alice"))
    fakes.repository.add_waiter("order-1", "cb-1")
    fakes.service.finish("order-1", Outcome.done(1))
    assert fakes.repository.waiters == {"order-1": ["cb-1"]}


@pytest.fixture
def lambda_api() -> Stubber:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return Stubber(client)


def test_the_adapter_sends_the_message_as_the_callbacks_result(lambda_api: Stubber) -> None:
    lambda_api.add_response(
        "send_durable_execution_callback_success", {}, {"CallbackId": "Y2I=", "Result": b'{"record":1}'}
    )
    with lambda_api:
        assert LambdaCallbacks(lambda_api.client).send("Y2I=", '{"record":1}') is True
    lambda_api.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["CallbackTimeoutException", "ResourceNotFoundException"])
def test_a_closed_callback_is_not_an_error(lambda_api: Stubber, code: str) -> None:
    lambda_api.add_client_error(
        "send_durable_execution_callback_success", service_error_code=code, http_status_code=400
    )
    with lambda_api:
        assert LambdaCallbacks(lambda_api.client).send("Y2I=", "{}") is False


@pytest.mark.parametrize("code", ["TooManyRequestsException", "ServiceException", "AccessDeniedException"])
def test_any_other_refusal_is_a_callback_not_sent(lambda_api: Stubber, code: str) -> None:
    lambda_api.add_client_error(
        "send_durable_execution_callback_success", service_error_code=code, http_status_code=500
    )
    with lambda_api, pytest.raises(CallbackNotSent):
        LambdaCallbacks(lambda_api.client).send("Y2I=", "{}")


def test_the_adapter_makes_its_client_at_the_first_callback_once_for_every_thread(
    lambda_api: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    release = threading.Event()

    def lambda_client() -> object:
        # Holds the first maker until every thread has asked, so that they race for the client.
        release.wait(timeout=5)
        made.append(lambda_api.client)
        return lambda_api.client

    monkeypatch.setattr(callbacks_adapter, "lambda_client", lambda_client)
    callbacks = LambdaCallbacks()
    assert made == [], "a cold start makes no client"
    for _ in range(4):
        lambda_api.add_response("send_durable_execution_callback_success", {})
    with lambda_api, ThreadPoolExecutor(max_workers=4) as pool:
        sent = [pool.submit(callbacks.send, f"cb-{index}", "{}") for index in range(4)]
        release.set()
        assert [future.result(timeout=10) for future in sent] == [True] * 4
    assert made == [lambda_api.client], "one client for all the threads"
