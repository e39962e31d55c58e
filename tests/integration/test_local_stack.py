"""The whole flow on one machine, over real HTTP: the local gateway routed from template.yaml, the
functions in their own processes, the worker on its schedule, the development engine executing
examples/onboard-user/bpmn/onboard-user.bpmn, and the store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.identity import LocalIdentity
from devstack.stack import LocalSettings, LocalStack
from devstack.template import ROOT, load
from tests.conftest import REAL_CAMUNDA_URL, STACK_STORES
from tests.support.stacks import run_stack

USER = {"userId": "user-123", "email": "user@example.com"}


@contextmanager
def running_stack(tmp_path: Path, database_url: str | None, **environment: str) -> Iterator[LocalStack]:
    """The stack, with its environment patched until it stops (an empty value: unset)."""
    # no-such-process may be started (and is deployed nowhere): its start must meet a 404.
    defaults = {
        "DATABASE_URL": database_url or "",
        "CAMUNDA_URL": REAL_CAMUNDA_URL or "",
        "ALLOWED_PROCESS_KEYS": "onboard-user,no-such-process",
    }
    variables = {name: value or None for name, value in {**defaults, **environment}.items()}
    with run_stack(LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=2), variables) as running:
        yield running


@pytest.fixture(scope="module", params=STACK_STORES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("pg_module_schema_url")
    with running_stack(tmp_path_factory.mktemp("stack"), database_url) as running:
        yield running


def bearer(stack: LocalStack, subject: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.identity.issue(subject)}"}


def start(stack: LocalStack, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{stack.url}/api/process/start", json=body, headers={**bearer(stack), **headers}, timeout=40)


def status(stack: LocalStack, correlation_id: str, **headers: str) -> requests.Response:
    url = f"{stack.url}/api/process/status/{correlation_id}"
    return requests.get(url, headers={**bearer(stack), **headers}, timeout=40)


def test_onboard_user_answers_200_with_the_result_of_every_step(stack: LocalStack) -> None:
    response = start(stack, {"processKey": "onboard-user", "correlationId": "e2e-1", "variables": USER})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "DONE"
    data = body["data"]
    assert data["success"] is True
    assert data["validation"]["email"] == "user@example.com"
    assert data["backgroundCheck"]["status"] in {"clear", "review"}
    assert data["onboarding"]["accountId"].startswith("acct-")
    assert data["onboarding"]["userId"] == "user-123"


def test_a_slow_process_answers_202_then_its_status_turns_200(stack: LocalStack) -> None:
    began = time.monotonic()
    response = start(
        stack,
        {"processKey": "onboard-user", "correlationId": "e2e-slow", "variables": {**USER, "delayMs": 3000}},
        Prefer="wait=1",
    )
    elapsed = time.monotonic() - began
    # Held the second asked for, and answered before the process's 3 s ended (a 202, not its 200):
    # no upper bound on the time, which a busy machine stretches.
    assert response.status_code == 202, response.text
    assert elapsed >= 1.0
    # The local gateway says its host (Host, X-Forwarded-Proto), as API Gateway does: absolute links.
    assert response.headers["Location"] == f"{stack.url}/api/process/status/e2e-slow"
    assert response.json()["links"]["status"] == f"{stack.url}/api/process/status/e2e-slow"
    assert response.headers["Preference-Applied"] == "wait=1"

    assert status(stack, "e2e-slow").status_code == 202
    finished = status(stack, "e2e-slow", Prefer="wait=15")
    assert finished.status_code == 200
    assert finished.json()["data"]["success"] is True
    assert finished.json()["durationMs"] >= 3000


def test_an_invalid_user_takes_the_bpmn_error_path_and_ends_500_with_the_reason(stack: LocalStack) -> None:
    response = start(
        stack,
        {"processKey": "onboard-user", "correlationId": "e2e-invalid", "variables": {"userId": "u-9", "email": "nope"}},
    )
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "USER_REJECTED"
    assert "email is not a well-formed address" in error["message"]
    assert status(stack, "e2e-invalid").status_code == 500


def test_an_unknown_process_key_is_404_and_one_not_allowed_403(stack: LocalStack) -> None:
    response = start(stack, {"processKey": "no-such-process", "correlationId": "e2e-unknown"})
    assert response.status_code == 404
    assert response.json()["code"] == "PROCESS_DEFINITION_NOT_FOUND"
    refused = start(stack, {"processKey": "not-allowed", "correlationId": "e2e-refused"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "PROCESS_KEY_NOT_ALLOWED"


def test_the_gateway_routes_exactly_the_templates_routes(stack: LocalStack) -> None:
    routes = {route.route_key for route in load().routes}
    assert routes == {
        "POST /api/process/start",
        "GET /api/process/status/all",
        "GET /api/process/status/{correlationId}",
        "POST /api/process/complete",
        "POST /api/process/cancel",
        "GET /api/process/openapi.json",
        "GET /api/process/docs",
    }
    not_routed = requests.get(f"{stack.url}/api/process/nowhere", timeout=10)
    assert (not_routed.status_code, not_routed.json()) == (404, {"message": "Not Found"})
    wrong_method = requests.delete(f"{stack.url}/api/process/start", timeout=10)
    assert wrong_method.status_code == 404
    listed = requests.get(
        f"{stack.url}/api/process/status/all", params={"limit": "5"}, headers=bearer(stack), timeout=10
    )
    assert listed.status_code == 200
    assert len(listed.json()["items"]) <= 5


def test_a_cursor_is_taken_by_every_environment_of_the_stack(stack: LocalStack) -> None:
    # Both warm environments of the status function wait on slow processes, so the next page is
    # served by a new environment: it must know the key the first page's cursor was signed with.
    for index in range(3):
        started = start(stack, {"processKey": "onboard-user", "correlationId": f"page-{index}", "variables": USER})
        assert started.status_code == 200, started.text
    url = f"{stack.url}/api/process/status/all"
    first = requests.get(url, params={"limit": "1"}, headers=bearer(stack), timeout=10)
    cursor = first.json()["nextCursor"]
    pool = stack.pools["StatusFunction"]
    waits = []
    for index in range(pool.size):
        body = {"processKey": "onboard-user", "correlationId": f"hold-{index}", "variables": {**USER, "delayMs": 8000}}
        assert start(stack, body, Prefer="respond-async").status_code == 202
        waits.append(threading.Thread(target=status, args=(stack, f"hold-{index}"), kwargs={"Prefer": "wait=6"}))
    for wait in waits:
        wait.start()
    try:
        deadline = time.monotonic() + 30
        while len(pool.busy()) < pool.size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pool.busy()) == pool.size, "the status function's warm environments are busy"
        second = requests.get(url, params={"limit": "1", "cursor": cursor}, headers=bearer(stack), timeout=40)
    finally:
        for wait in waits:
            wait.join()
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["correlationId"] != first.json()["items"][0]["correlationId"]
    other = requests.get(url, params={"cursor": cursor}, headers=bearer(stack, "someone-else"), timeout=10)
    assert other.status_code == 400
    assert other.json()["errors"] == [{"field": "cursor", "reason": "not a cursor this API gave out for this query"}]


def test_a_worker_killed_mid_task_loses_its_lock_and_the_process_finishes_once(tmp_path: Path) -> None:
    with running_stack(tmp_path, None, WORKER_LOCK_DURATION_MS="2000") as stack:
        response = start(
            stack,
            {"processKey": "onboard-user", "correlationId": "e2e-crash", "variables": {**USER, "delayMs": 2500}},
            Prefer="respond-async",
        )
        assert response.status_code == 202
        camunda = stack.environment["CAMUNDA_URL"]
        first_worker = wait_for_lock(camunda, "e2e-crash", "onboard-user.run-background-check")

        stack.restart_schedules()  # the worker process dies with the task in its hands

        topic = "onboard-user.run-background-check"
        second_worker = wait_for_lock(camunda, "e2e-crash", topic, other_than=first_worker)
        assert second_worker != first_worker, "the lapsed task went to the new worker"
        finished = status(stack, "e2e-crash", Prefer="wait=20")
        assert finished.status_code == 200, finished.text
        assert finished.json()["data"]["success"] is True
        assert stack.onboarding is not None
        assert stack.onboarding.calls == 1, "the steps after the crash ran once"


def wait_for_lock(camunda: str, business_key: str, topic: str, other_than: str | None = None) -> str:
    """The worker id holding the lock of the process's task on ``topic`` (a different one, if asked)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        query = {"topicName": topic, "locked": "true"}
        tasks = requests.get(f"{camunda}/external-task", params=query, timeout=5).json()
        for task in tasks:
            if task.get("businessKey") == business_key and task.get("workerId") not in (None, other_than):
                return str(task["workerId"])
        time.sleep(0.1)
    raise AssertionError(f"no worker locked {topic} of {business_key} within 20 s")


def test_make_run_prints_the_curl_serves_it_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "PORT": "0",
        "LOCAL_ENGINE_PORT": "0",
        "LOCAL_DATA_DIR": str(tmp_path),
        "LOCAL_CONCURRENCY": "1",
    }
    for name in ("DATABASE_URL", "CAMUNDA_URL", "ONBOARDING_API_URL"):
        environment.pop(name, None)
    log = tmp_path / "devstack.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            banner = []
            for line in process.stdout:
                banner.append(line)
                if line.strip().startswith("-d '"):
                    break
            text = "".join(banner)
            assert "Waitroom is running" in text
            api = next(line.split()[1] for line in banner if line.strip().startswith("API"))
            assert f"curl -sS -X POST {api}/api/process/start" in text
            body = text.split("-d '", 1)[1].rsplit("'", 1)[0]
            token = LocalIdentity.in_directory(tmp_path).issue("make-run-user")
            answer = requests.post(
                f"{api}/api/process/start",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                timeout=40,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["success"] is True
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
    assert code == 0, f"exit code {code}; its log ends:\n{log.read_text()[-3000:]}"
    assert group_is_gone(process.pid, within_s=10), "nothing of the stack is left running"


def group_is_gone(group: int, *, within_s: float) -> bool:
    """Whether every process of the group has exited (multiprocessing's tracker leaves just after its parent)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
