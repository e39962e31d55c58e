"""The durable wait mode on one machine (``WAIT_MODE=durable make run``): the start function runs
under the durable execution SDK's local runner (dex-local-runner) behind the local gateway, and the
worker's (or cancel's) finish sends its callback through boto3 to that runner, as it would to Lambda;
on SQLite and on PostgreSQL, as the classic mode's suite."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.stack import LocalSettings, LocalStack
from tests.conftest import STACK_STORES
from tests.support.stacks import run_stack

USER = {"userId": "user-123", "email": "user@example.com"}


@pytest.fixture(scope="module", params=STACK_STORES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database_url = request.getfixturevalue("pg_module_schema_url") if request.param == "postgresql" else None
    environment = {
        "WAIT_MODE": "durable",
        "DATABASE_URL": database_url,
        "CAMUNDA_URL": None,
        # no-such-process may be started (and is deployed nowhere): its start must meet a 404.
        "ALLOWED_PROCESS_KEYS": "onboard-user,no-such-process",
    }
    local = LocalSettings(data_dir=tmp_path_factory.mktemp("durable"), engine_port=0, concurrency=2)
    with run_stack(local, environment) as running:
        yield running


def headers(stack: LocalStack, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.identity.issue('tester')}", **more}


def test_the_stack_runs_the_durable_wait_mode(stack: LocalStack) -> None:
    assert stack.describe()["wait_mode"] == "durable"
    assert stack.durable is not None


def test_a_durable_start_answers_200_with_the_result(stack: LocalStack) -> None:
    assert stack.durable is not None
    executions = stack.durable.executions
    body = {"processKey": "onboard-user", "correlationId": "durable-1", "variables": USER}
    response = requests.post(f"{stack.url}/api/process/start", json=body, headers=headers(stack), timeout=40)
    assert response.status_code == 200, response.text
    assert stack.durable.executions == executions + 1, "the start ran as a durable execution"
    assert response.json()["status"] == "DONE"
    assert response.json()["data"]["onboarding"]["userId"] == "user-123"


def test_a_durable_start_answers_202_when_its_budget_runs_out_then_its_status_turns_200(stack: LocalStack) -> None:
    body = {"processKey": "onboard-user", "correlationId": "durable-slow", "variables": {**USER, "delayMs": 3000}}
    began = time.monotonic()
    response = requests.post(
        f"{stack.url}/api/process/start", json=body, headers=headers(stack, Prefer="wait=1"), timeout=40
    )
    assert response.status_code == 202, response.text
    assert time.monotonic() - began >= 1.0, "the callback's timeout is the budget"
    assert response.headers["Location"] == f"{stack.url}/api/process/status/durable-slow"
    finished = requests.get(response.headers["Location"], headers=headers(stack, Prefer="wait=15"), timeout=40)
    assert finished.status_code == 200, finished.text
    assert finished.json()["durationMs"] >= 3000


def test_a_start_that_finishes_while_it_waits_is_woken_by_the_finishs_callback(stack: LocalStack) -> None:
    """A process of 2 s under a budget of 20 s: answered 200 well before the callback's timeout, so
    the finish's callback (not the timeout) woke it."""
    body = {"processKey": "onboard-user", "correlationId": "durable-woken", "variables": {**USER, "delayMs": 2000}}
    began = time.monotonic()
    response = requests.post(
        f"{stack.url}/api/process/start", json=body, headers=headers(stack, Prefer="wait=20"), timeout=40
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - began < 19, "woken by the callback, not by its timeout"


def test_a_join_and_its_first_start_are_both_answered_200(stack: LocalStack) -> None:
    body = {"processKey": "onboard-user", "correlationId": "durable-join", "variables": {**USER, "delayMs": 2000}}
    answers: list[requests.Response] = []

    def start() -> None:
        answers.append(
            requests.post(
                f"{stack.url}/api/process/start", json=body, headers=headers(stack, Prefer="wait=20"), timeout=40
            )
        )

    first = threading.Thread(target=start)
    first.start()
    time.sleep(0.5)
    start()
    first.join()
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert answers[0].json()["data"] == answers[1].json()["data"]


def test_a_cancel_wakes_its_durable_waiter(stack: LocalStack) -> None:
    body = {"processKey": "onboard-user", "correlationId": "durable-cancel", "variables": {**USER, "delayMs": 10_000}}
    answers: list[requests.Response] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            requests.post(
                f"{stack.url}/api/process/start", json=body, headers=headers(stack, Prefer="wait=20"), timeout=40
            )
        )
    )
    began = time.monotonic()
    waiting.start()
    time.sleep(1.0)
    cancelled = requests.post(
        f"{stack.url}/api/process/cancel",
        json={"correlationId": "durable-cancel", "reason": "changed my mind"},
        headers=headers(stack),
        timeout=40,
    )
    assert cancelled.status_code == 200, cancelled.text
    waiting.join()
    [answer] = answers
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELLED"
    assert time.monotonic() - began < 19, "woken by the cancel's callback, not by its timeout"


def test_a_process_that_ends_in_error_is_answered_500_with_the_reason(stack: LocalStack) -> None:
    body = {
        "processKey": "onboard-user",
        "correlationId": "durable-invalid",
        "variables": {"userId": "u-9", "email": "nope"},
    }
    response = requests.post(f"{stack.url}/api/process/start", json=body, headers=headers(stack), timeout=40)
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "USER_REJECTED"


def test_the_same_mistakes_get_the_same_problems_through_the_durable_steps(stack: LocalStack) -> None:
    unknown = {"processKey": "no-such-process", "correlationId": "durable-unknown"}
    response = requests.post(f"{stack.url}/api/process/start", json=unknown, headers=headers(stack), timeout=40)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "PROCESS_DEFINITION_NOT_FOUND"
    refused = {"processKey": "not-allowed", "correlationId": "durable-refused"}
    response = requests.post(f"{stack.url}/api/process/start", json=refused, headers=headers(stack), timeout=40)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "PROCESS_KEY_NOT_ALLOWED"


def test_an_incident_wakes_the_durable_waiter_within_seconds(tmp_path: Path) -> None:
    """The onboarding service is unreachable: the step fails for good, an incident ends the process
    (the worker's finish), and its callback answers the waiting start 500 long before its timeout."""
    environment = {
        "WAIT_MODE": "durable",
        "DATABASE_URL": None,
        "CAMUNDA_URL": None,
        "ALLOWED_PROCESS_KEYS": "onboard-user",
        "ONBOARDING_API_URL": "http://127.0.0.1:9",
        "WORKER_MAX_RETRIES": "2",
        "WORKER_RETRY_TIMEOUT_MS": "200",
    }
    local = LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=1)
    with run_stack(local, environment) as stack:
        body = {"processKey": "onboard-user", "correlationId": "durable-incident", "variables": USER}
        began = time.monotonic()
        response = requests.post(f"{stack.url}/api/process/start", json=body, headers=headers(stack), timeout=40)
        elapsed = time.monotonic() - began
        assert response.status_code == 500, response.text
        assert response.json()["error"]["code"] == "INCIDENT"
        assert elapsed < 10, f"the client learnt of the incident after {elapsed:.1f} s, not at its timeout"
