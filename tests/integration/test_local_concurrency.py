"""Concurrency that cannot starve completions: the local stack bounds each function by its
``ReservedConcurrentExecutions`` in template.yaml, as Lambda does, so the bound on starts and the
reservation for /complete are exercised here, not assumed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devstack.identity import LocalIdentity
from devstack.stack import LocalSettings, LocalStack
from devstack.template import load
from devstack.throttle import Throttle
from tests.conftest import REAL_CAMUNDA_URL
from tests.support.stacks import run_stack

START_SLOTS = 2


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    # SQLite in the test's folder; the development engine unless CAMUNDA_URL names a real Camunda.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if REAL_CAMUNDA_URL:
        monkeypatch.setenv("CAMUNDA_URL", REAL_CAMUNDA_URL)
    local = LocalSettings(
        data_dir=tmp_path,
        engine_port=0,
        concurrency=1,
        # No worker: the processes finish only through /complete, the path under test.
        schedules=False,
        parameter_overrides={"StartConcurrency": str(START_SLOTS)},
    )
    running = LocalStack(port=0, local=local).start()
    yield running
    running.stop()


def test_the_template_bounds_starts_and_reserves_completions_and_the_scheduled_functions() -> None:
    functions = load().functions
    assert functions["StartFunction"].reserved_concurrency == 40
    assert load(parameter_overrides={"StartConcurrency": "3"}).functions["StartFunction"].reserved_concurrency == 3
    assert functions["CompleteFunction"].reserved_concurrency == 10
    # The worker's: its listening invocation (two overlap each minute) and the dispatcher's scale-out.
    assert functions["WorkerFunction"].reserved_concurrency == 12
    assert (
        load(parameter_overrides={"WorkerReservedConcurrency": "2"}).functions["WorkerFunction"].reserved_concurrency
        == 2
    )
    assert functions["DispatcherFunction"].reserved_concurrency == 2
    assert functions["ReconcilerFunction"].reserved_concurrency == 2


def test_the_template_throttles_starts_at_the_route_below_their_reserved_concurrency() -> None:
    application = load()
    (route,) = [route for route in application.routes if route.route_key == "POST /api/process/start"]
    reserved = application.functions["StartFunction"].reserved_concurrency
    assert route.throttle is not None and reserved is not None
    assert route.throttle.burst < reserved, "a burst is answered 429 by API Gateway before Lambda throttles it"
    overridden = load(parameter_overrides={"StartThrottleBurst": "3", "StartThrottleRate": "2"}).route_for(
        "POST", "/api/process/start"
    )
    assert overridden is not None and overridden[0].throttle == Throttle(rate=2.0, burst=3)


def test_a_start_beyond_the_routes_burst_is_answered_429_and_starts_nothing(tmp_path: Path) -> None:
    local = LocalSettings(
        data_dir=tmp_path,
        engine_port=0,
        concurrency=1,
        schedules=False,
        # One start at once, and the next token a thousand seconds later: the second start finds none.
        parameter_overrides={"StartThrottleBurst": "1", "StartThrottleRate": "0.001"},
    )
    with run_stack(local, {"DATABASE_URL": None}) as running:
        assert start(running, "first", prefer="respond-async").status_code == 202
        refused = start(running, "second", prefer="respond-async")
        assert (refused.status_code, refused.json()) == (429, {"message": "Too Many Requests"})
        headers = {"Authorization": f"Bearer {running.identity.issue('waiter')}"}
        read = requests.get(f"{running.url}/api/process/status/second", headers=headers, timeout=10)
        assert read.status_code == 404, "nothing was started"


def start(stack: LocalStack, correlation_id: str, *, prefer: str = "wait=25") -> requests.Response:
    return requests.post(
        f"{stack.url}/api/process/start",
        json={"processKey": "onboard-user", "correlationId": correlation_id, "variables": {"userId": correlation_id}},
        headers={"Authorization": f"Bearer {stack.identity.issue('waiter')}", "Prefer": prefer},
        timeout=40,
    )


def wait_until_pending(stack: LocalStack, correlation_id: str) -> None:
    """Until the start has recorded its process (it is then inside its invocation, holding its slot)."""
    headers = {"Authorization": f"Bearer {stack.identity.issue('waiter')}"}
    for _ in range(200):
        answer = requests.get(f"{stack.url}/api/process/status/{correlation_id}", headers=headers, timeout=10)
        if answer.status_code == 202:
            return
        time.sleep(0.1)
    raise AssertionError(f"{correlation_id} was never recorded as PENDING")


def complete(stack: LocalStack, correlation_id: str) -> requests.Response:
    url = f"{stack.url}/api/process/complete"
    body = json.dumps({"correlationId": correlation_id, "status": "ok", "data": {"finishedBy": "complete"}}).encode()
    headers = LocalIdentity.sign("POST", url, body, {"Content-Type": "application/json"})
    return requests.post(url, data=body, headers=headers, timeout=30)


def test_with_every_start_slot_waiting_completions_still_run_and_the_waiters_get_their_200s(
    stack: LocalStack,
) -> None:
    ids = [f"slot-{n}" for n in range(START_SLOTS)]
    with ThreadPoolExecutor(START_SLOTS) as pool:
        waiters: list[Future[requests.Response]] = [pool.submit(start, stack, id_) for id_ in ids]
        for correlation_id in ids:
            wait_until_pending(stack, correlation_id)

        # Every start slot is taken by a waiting start: one more is throttled by Lambda, which API
        # Gateway answers 500 (the route's own throttle, below the slots, is what answers 429).
        refused = start(stack, "one-too-many")
        assert (refused.status_code, refused.json()) == (500, {"message": "Internal Server Error"})

        # /complete has concurrency of its own: it runs, and each waiter gets its process's result.
        for correlation_id in ids:
            completed = complete(stack, correlation_id)
            assert completed.status_code == 200, completed.text
        answers = [waiter.result() for waiter in waiters]

    for correlation_id, answer in zip(ids, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.json()["correlationId"] == correlation_id
        assert answer.json()["status"] == "DONE"
        assert answer.json()["data"] == {"finishedBy": "complete"}
