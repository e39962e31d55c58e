"""The Python client's options: durations in seconds or as a timedelta, the read and connect
timeouts each call sets, and the bounded retries (their rules, performed here without I/O)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from waitroom_client import FunctionUrls, Retry, SigV4, TransportError, Unavailable, Waitroom
from waitroom_client.cli import main as client_cli
from waitroom_client.durations import Duration, to_seconds
from waitroom_client.protocol import Answer, Calls, NoAnswer, Pause, Send, Steps

REFUSED = NoAnswer(connected=False, error=ConnectionRefusedError(111, "Connection refused"))
LOST = NoAnswer(connected=True, error=TimeoutError("read timed out"))


def process_answer(status: int = 200, **headers: str) -> Answer:
    body = {
        "correlationId": "c-1",
        "processKey": "onboard-user",
        "status": "DONE",
        "startedAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:01+00:00",
    }
    return Answer(status, headers, json.dumps(body).encode())


class Clock:
    """A clock that moves only by the pauses the steps ask for."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Trace:
    sends: list[Send] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    result: Any = None
    error: Exception | None = None


def perform(steps: Steps[Any], outcomes: Iterable[Answer | NoAnswer], clock: Clock) -> Trace:
    """Perform the steps: each Send gets the next outcome, each Pause moves the clock."""
    trace, pending = Trace(), iter(outcomes)
    outcome: Answer | NoAnswer | None = None
    while True:
        try:
            step = steps.send(outcome)
        except StopIteration as done:
            trace.result = done.value
            return trace
        except Exception as error:  # the trace carries it to the assertions
            trace.error = error
            return trace
        if isinstance(step, Pause):
            trace.pauses.append(step.seconds)
            clock.now += step.seconds
            outcome = None
        else:
            trace.sends.append(step)
            outcome = next(pending)


def calls(clock: Clock, **options: Any) -> Calls:
    return Calls("http://waitroom.test", token="t", clock=clock, rng=random.Random(3), **options)  # noqa: S311


def status_steps(client: Calls, wait: Duration | None = 0) -> Steps[Any]:
    return client._status("c-1", wait=wait, history=False)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30.0), (2.5, 2.5), (0, 0.0), (timedelta(minutes=1), 60.0), (timedelta(milliseconds=1500), 1.5)],
)
def test_a_duration_is_seconds_or_a_timedelta(value: Duration, seconds: float) -> None:
    assert to_seconds(value, "wait") == seconds


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "must not be negative"),
        (-0.001, "must not be negative"),
        (timedelta(seconds=-1), "must not be negative"),
        (math.nan, "must be a number of seconds, not NaN"),
        (math.inf, "must be a finite number"),
    ],
)
def test_a_negative_nan_or_endless_duration_is_refused_naming_the_parameter(value: Duration, reason: str) -> None:
    with pytest.raises(ValueError, match=rf"^read_timeout: {reason}"):
        to_seconds(value, "read_timeout")


@pytest.mark.parametrize("value", ["30", None, True, [30]])
def test_what_is_no_duration_is_a_type_error_naming_the_parameter(value: Any) -> None:
    with pytest.raises(TypeError, match=r"^wait: expected seconds"):
        to_seconds(value, "wait")


@pytest.mark.parametrize(
    ("build", "parameter"),
    [
        (lambda: Waitroom("http://127.0.0.1:1", connect_timeout=-1), "connect_timeout"),
        (lambda: Waitroom("http://127.0.0.1:1", read_timeout=math.nan), "read_timeout"),
        (lambda: Retry(base_s=-0.5), "base_s"),
        (lambda: Retry(cap_s=math.inf), "cap_s"),
        (lambda: Retry(connect_budget=timedelta(seconds=-1)), "connect_budget"),
        (lambda: Retry(attempts=0), "attempts"),
        (lambda: Retry(connect_attempts=0), "connect_attempts"),
        (lambda: FunctionUrls("http://a", "http://b", max_wait=-1), "max_wait"),
    ],
)
def test_every_option_refuses_a_bad_value_naming_itself(build: Callable[[], object], parameter: str) -> None:
    with pytest.raises(ValueError, match=rf"^{parameter}: "):
        build()


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.run("onboard-user", {}, wait=-1),
        lambda client: client.start("onboard-user", {}, wait=-1),
        lambda client: client.status("c-1", wait=-1),
    ],
    ids=["run", "start", "status"],
)
def test_a_bad_wait_is_refused_before_anything_is_sent(call: Callable[[Waitroom], object]) -> None:
    sent: list[Send] = []
    client = Waitroom("http://127.0.0.1:1", token="t")
    client._send = sent.append  # type: ignore[assignment,method-assign]
    with client, pytest.raises(ValueError, match=r"^wait: must not be negative"):
        call(client)
    assert sent == []


@pytest.mark.parametrize(
    ("wait", "prefer", "read_timeout_s"),
    [
        (30, "wait=25", 25 + 15.0),  # through API Gateway one call waits 25 s at most
        (timedelta(seconds=3), "wait=3", 3 + 15.0),
        (2.9, "wait=2", 2 + 15.0),
        (0, "respond-async", 15.0),
        (None, None, 25 + 15.0),  # the server's own limit
    ],
)
def test_the_read_timeout_is_the_wait_asked_for_plus_the_read_timeout(
    wait: Duration | None, prefer: str | None, read_timeout_s: float
) -> None:
    clock = Clock()
    trace = perform(status_steps(calls(clock, connect_timeout=2), wait), [process_answer()], clock)
    [send] = trace.sends
    assert send.headers.get("Prefer") == prefer
    assert (send.connect_timeout_s, send.read_timeout_s) == (2.0, read_timeout_s)


def test_the_read_timeout_is_configurable_and_a_function_url_waits_longer() -> None:
    clock = Clock()
    urls = FunctionUrls("http://start.test", "http://status.test", max_wait=timedelta(minutes=5))
    client = calls(clock, read_timeout=timedelta(seconds=4), function_urls=urls, sigv4=SigV4("AKID", "secret"))
    trace = perform(status_steps(client, 90), [process_answer()], clock)
    [send] = trace.sends
    assert send.headers["Prefer"] == "wait=90"
    assert send.read_timeout_s == 90 + 4.0
    assert send.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_a_refused_connection_is_tried_connect_attempts_times_with_back_off() -> None:
    clock = Clock()
    client = calls(clock, retry=Retry(connect_attempts=4, base_s=0.5, cap_s=30, connect_budget=60))
    trace = perform(status_steps(client), [REFUSED] * 4, clock)
    assert isinstance(trace.error, TransportError)
    assert "no connection after 4 attempts" in str(trace.error)
    assert trace.error.__cause__ is REFUSED.error
    assert len(trace.sends) == 4
    bounds = [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)]
    assert len(trace.pauses) == 3
    assert all(low <= pause <= high for pause, (low, high) in zip(trace.pauses, bounds, strict=True))


def test_refused_connections_stop_at_the_connect_budget() -> None:
    clock = Clock()
    client = calls(clock, retry=Retry(connect_attempts=100, base_s=1, cap_s=1, connect_budget=timedelta(seconds=5)))
    trace = perform(status_steps(client), [REFUSED] * 100, clock)
    assert isinstance(trace.error, TransportError)
    assert sum(trace.pauses) <= 5, "no attempt begins after the budget"
    assert 5 <= len(trace.sends) < 100, "pauses of at most 1 s: five attempts or more fit in 5 s"


def test_by_default_a_refused_connection_fails_after_three_tries_and_about_a_second() -> None:
    clock = Clock()
    trace = perform(status_steps(calls(clock)), [REFUSED] * 3, clock)
    assert isinstance(trace.error, TransportError)
    assert len(trace.sends) == 3
    assert sum(trace.pauses) <= 1.5


def test_a_connection_made_again_resets_the_refusals_and_lost_answers_count_as_attempts() -> None:
    clock = Clock()
    client = calls(clock, retry=Retry(attempts=3, connect_attempts=2, base_s=0.1))
    trace = perform(status_steps(client), [REFUSED, LOST, REFUSED, LOST, process_answer()], clock)
    assert trace.error is None
    assert trace.result.correlation_id == "c-1"
    assert (len(trace.sends), len(trace.pauses)) == (5, 4)

    trace = perform(status_steps(client), [LOST, LOST, LOST], clock)
    assert isinstance(trace.error, TransportError)
    assert "no answer after 3 attempts" in str(trace.error)


def test_a_503_is_sent_again_after_its_retry_after_and_raised_after_every_attempt() -> None:
    clock = Clock()
    client = calls(clock, retry=Retry(attempts=3, jitter=0.2))
    busy = Answer(503, {"Retry-After": "2"}, b'{"status": 503, "code": "CAMUNDA_UNAVAILABLE", "title": "busy"}')
    steps = client._start("onboard-user", {}, correlation_id="c-1", wait=0, fetch_variables=None)
    trace = perform(steps, [busy] * 3, clock)
    assert isinstance(trace.error, Unavailable)
    assert trace.error.code == "CAMUNDA_UNAVAILABLE"
    assert len(trace.sends) == 3
    assert all(2.0 <= pause <= 2.4 for pause in trace.pauses), "Retry-After, stretched by at most the jitter"
    assert {send.content for send in trace.sends} == {trace.sends[0].content}, "the same start each time"


def test_run_takes_its_wait_in_seconds() -> None:
    clock = Clock()
    steps = calls(clock)._run("onboard-user", {}, correlation_id="c-1", wait=30, on_progress=None)
    trace = perform(steps, [process_answer()], clock)
    assert trace.error is None
    assert trace.result.status == "DONE"
    assert trace.sends[0].headers["Prefer"] == "wait=25"


@pytest.mark.parametrize(("wait", "reason"), [("-1", "--wait: must not be negative"), ("soon", "not a number")])
def test_the_console_command_refuses_a_bad_wait_as_bad_usage(
    wait: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        client_cli(["status", "c-1", "--wait", wait])
    assert exited.value.code == 2
    assert reason in capsys.readouterr().err
