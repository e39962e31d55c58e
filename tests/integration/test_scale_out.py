"""Scale-out on the local stack, the real path: the dispatcher function on its schedule reads the
development engine's backlog and starts worker invocations through the local Lambda API (boto3, as
in AWS), several worker environments run at once, and a worker killed mid-task during scale-out
loses nothing: every process still ends exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack.stack import WORKER_FUNCTION, LocalSettings, LocalStack
from tests.support.stacks import run_stack

#: Two threads a worker and a one-second onboarding call: the listening worker alone cannot keep up
#: with a burst, so the backlog grows and the dispatcher must start more.
pytestmark = pytest.mark.timeout(400)  # a local stack on a busy machine takes a while to start

SCALE_OUT = {
    "WORKER_MAX_TASKS": "2",
    "WORKER_MAX_INVOCATIONS": "4",
    "DISPATCH_INTERVAL_MS": "300",
    "WORKER_LOCK_DURATION_MS": "3000",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalSettings(
        data_dir=tmp_path_factory.mktemp("scale-out"),
        engine_port=0,
        concurrency=2,
        worker_concurrency=5,
        onboarding_delay_ms=1000,
    )
    with run_stack(local, SCALE_OUT) as running:
        yield running


def start_burst(stack: LocalStack, prefix: str, count: int) -> list[str]:
    token = stack.identity.issue("scale-out")
    ids = [f"{prefix}-{index}" for index in range(count)]

    def start(correlation_id: str) -> int:
        response = requests.post(
            f"{stack.url}/api/process/start",
            json={
                "processKey": "onboard-user",
                "correlationId": correlation_id,
                "variables": {"userId": correlation_id, "email": "user@example.com"},
            },
            headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"},
            timeout=120,
        )
        return response.status_code

    # Two at a time, the start function's warm environments: the burst is in the worker's backlog,
    # not in cold starts of the start function on a busy machine.
    with ThreadPoolExecutor(2) as pool:
        assert set(pool.map(start, ids)) <= {200, 202}
    return ids


def final_statuses(stack: LocalStack, ids: list[str], *, within_s: float) -> dict[str, str]:
    token = stack.identity.issue("scale-out")
    finished: dict[str, str] = {}
    deadline = time.monotonic() + within_s
    while len(finished) < len(ids) and time.monotonic() < deadline:
        for correlation_id in ids:
            if correlation_id in finished:
                continue
            body = requests.get(
                f"{stack.url}/api/process/status/{correlation_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).json()
            if body.get("status") in {"DONE", "ERROR", "CANCELLED"}:
                finished[correlation_id] = body["status"]
        time.sleep(0.5)
    return finished


def assert_each_ended_once(stack: LocalStack, ids: list[str], prefix: str) -> None:
    finished = final_statuses(stack, ids, within_s=120)
    assert finished == dict.fromkeys(ids, "DONE")
    camunda = stack.environment["CAMUNDA_URL"]
    history = requests.get(
        f"{camunda}/history/process-instance", params={"processInstanceBusinessKeyLike": f"{prefix}-%"}, timeout=30
    ).json()
    assert Counter(instance["businessKey"] for instance in history) == dict.fromkeys(ids, 1)
    assert all(instance["state"] == "COMPLETED" for instance in history)
    assert stack.onboarding is not None
    accounts = Counter(
        account["userId"] for account in stack.onboarding.accounts.values() if account["userId"].startswith(prefix)
    )
    assert accounts == dict.fromkeys(ids, 1), "one onboarding account per process"


def test_a_burst_is_drained_by_invocations_the_dispatcher_starts(stack: LocalStack) -> None:
    assert stack.lambda_api is not None
    worker = stack.pool_of(WORKER_FUNCTION)
    assert worker is not None
    ids = start_burst(stack, "burst", 24)

    assert_each_ended_once(stack, ids, "burst")
    assert stack.lambda_api.started >= 1, "the dispatcher started worker invocations"
    assert worker.peak_busy >= 2, "several worker environments ran at once"
    assert worker.peak_busy <= 5, "never more than the worker's concurrency"


def test_a_worker_killed_mid_task_during_scale_out_loses_nothing(stack: LocalStack) -> None:
    assert stack.lambda_api is not None
    worker = stack.pool_of(WORKER_FUNCTION)
    assert worker is not None
    # The invocations the previous burst started return once a fetch finds nothing; until then they
    # would take this burst's tasks, and the dispatcher would see no backlog to scale out for.
    deadline = time.monotonic() + 60
    while len(worker.busy()) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(worker.busy()) <= 1, "only the listening worker runs before the burst"
    started_before = stack.lambda_api.started
    ids = start_burst(stack, "killed", 16)

    deadline = time.monotonic() + 60
    while (stack.lambda_api.started == started_before or len(worker.busy()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    busy = worker.busy()
    assert len(busy) >= 2, "scale-out began"
    victim = busy[-1].process.pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)  # whatever it holds, its locks lapse and another worker takes them

    assert_each_ended_once(stack, ids, "killed")
