"""The local stack itself, over real HTTP, on SQLite and on PostgreSQL: the gateway routes exactly the
template's routes, a cursor is taken by every environment of a function, and ``python -m devstack``
serves its curl and stops cleanly. What a process does end to end, on every engine protocol and wait
mode, is tests/integration/test_behaviour.py."""

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

#: A stack's start (a dozen functions' cold starts) counts in its first test's time; on a busy
#: machine it has taken two minutes.
pytestmark = pytest.mark.timeout(400)

USER = {"userId": "user-123", "email": "user@example.com"}


@contextmanager
def running_stack(tmp_path: Path, database_url: str | None, **environment: str) -> Iterator[LocalStack]:
    """The stack, with its environment patched until it stops (an empty value: unset)."""
    defaults = {"DATABASE_URL": database_url or "", "CAMUNDA_URL": REAL_CAMUNDA_URL or ""}
    variables = {name: value or None for name, value in {**defaults, **environment}.items()}
    with run_stack(LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=2), variables) as running:
        yield running


@pytest.fixture(scope="module", params=STACK_STORES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database_url = request.getfixturevalue("pg_module_schema_url") if request.param == "postgresql" else None
    with running_stack(tmp_path_factory.mktemp("stack"), database_url) as running:
        yield running


def bearer(stack: LocalStack, subject: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.identity.issue(subject)}"}


def start(stack: LocalStack, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{stack.url}/api/process/start", json=body, headers={**bearer(stack), **headers}, timeout=40)


def status(stack: LocalStack, correlation_id: str, **headers: str) -> requests.Response:
    url = f"{stack.url}/api/process/status/{correlation_id}"
    return requests.get(url, headers={**bearer(stack), **headers}, timeout=40)


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
