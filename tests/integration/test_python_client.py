"""The Python client (clients/python) against the local stack of ``make run``, over real HTTP: the
gateway routed from template.yaml, the functions in their own processes, the development engine
running examples/onboard-user/bpmn/onboard-user.bpmn, the worker, SQLite. No mocks."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from devstack.identity import ACCESS_KEY, SECRET_KEY
from devstack.stack import LocalSettings, LocalStack
from tests.support.dropping_proxy import DroppingProxy
from tests.support.stacks import run_stack
from waitroom_client import (
    AsyncWaitroom,
    Forbidden,
    FunctionUrls,
    InvalidRequest,
    NotFound,
    ProcessCancelled,
    ProcessFailed,
    ProcessStatus,
    Progress,
    Retry,
    SigV4,
    Unauthorized,
    Waitroom,
)
from waitroom_client.cli import main as client_cli

USER = {"userId": "user-123", "email": "user@example.com"}
EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"
#: Runs an example as a client-only install would: the server's and the local stack's packages,
#: though installed here, cannot be imported.
EXAMPLE_RUNNER = """
import importlib.abc, runpy, sys

class ServerPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"waitroom", "devstack", "tests", "functions"}:
            raise ImportError(f"{name}: not part of an install of the client")
        return None

sys.meta_path.insert(0, ServerPackages())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
#: A start waits at most this long (SYNC_TIMEOUT_MS), so that a 4-second process answers 202 first.
SYNC_TIMEOUT_MS = 2000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    environment = {
        "DATABASE_URL": None,
        "CAMUNDA_URL": None,
        "ONBOARDING_API_URL": None,
        "SYNC_TIMEOUT_MS": str(SYNC_TIMEOUT_MS),
        # The 35 s step must run within one worker invocation (75 s): the worker stops fetching
        # 40 s before its end, and a new invocation follows at once (every 30 s or when it ends).
        "WORKER_TASK_BUDGET_MS": "40000",
    }
    local = LocalSettings(
        data_dir=tmp_path_factory.mktemp("client-stack"), engine_port=0, concurrency=1, schedule_interval_s=30
    )
    with run_stack(local, environment) as running:
        yield running


@pytest.fixture
def client(stack: LocalStack) -> Iterator[Waitroom]:
    with Waitroom(stack.url, token=stack.identity.issue("client-tester"), retry=Retry(base_s=0.1)) as waitroom:
        yield waitroom


def signed_client(stack: LocalStack, base_url: str | None = None, **options: object) -> Waitroom:
    credentials = SigV4(ACCESS_KEY, SECRET_KEY, region="us-east-1")
    return Waitroom(base_url or stack.url, sigv4=credentials, **options)  # type: ignore[arg-type]


def instances_of(stack: LocalStack, business_key: str) -> list[dict[str, object]]:
    """Every Camunda process instance ever started under the business key (the engine's history)."""
    camunda = stack.environment["CAMUNDA_URL"]
    answer = requests.get(
        f"{camunda}/history/process-instance", params={"processInstanceBusinessKey": business_key}, timeout=10
    )
    answer.raise_for_status()
    found: list[dict[str, object]] = answer.json()
    return found


def test_run_returns_the_result_of_a_process_that_ends_in_time(client: Waitroom) -> None:
    process = client.run("onboard-user", USER, wait=timedelta(seconds=30))
    assert process.status is ProcessStatus.DONE
    assert process.data["success"] is True
    assert process.data["onboarding"]["userId"] == "user-123"
    assert process.duration_ms is not None


def test_run_follows_a_202_by_long_polling_the_status_until_the_result(client: Waitroom) -> None:
    seen: list[Progress] = []
    correlation_id = f"client-slow-{uuid.uuid4()}"
    process = client.run(
        "onboard-user",
        {**USER, "delayMs": 4000},
        correlation_id=correlation_id,
        wait=timedelta(seconds=40),
        on_progress=seen.append,
    )
    assert process.status is ProcessStatus.DONE
    assert process.correlation_id == correlation_id
    assert process.duration_ms is not None and process.duration_ms >= 4000
    # The first call could not see the end (the server waits 2 s): at least one status call followed it.
    assert [progress.status for progress in seen][:2] == [None, ProcessStatus.PENDING]
    assert all(progress.correlation_id == correlation_id for progress in seen)


def test_a_lost_answer_is_sent_again_and_joins_the_process_instead_of_starting_a_second(stack: LocalStack) -> None:
    correlation_id = f"client-lost-{uuid.uuid4()}"
    calls_before = stack.onboarding.calls if stack.onboarding else 0
    with (
        DroppingProxy(int(stack.url.rsplit(":", 1)[1]), drop_answers=1) as proxy,
        Waitroom(proxy.url, token=stack.identity.issue("client-tester"), retry=Retry(base_s=0.1)) as client,
    ):
        process = client.run("onboard-user", USER, correlation_id=correlation_id, wait=timedelta(seconds=30))
    assert proxy.dropped == 1, "the first answer was lost"
    assert proxy.connections >= 2, "so the start was sent again"
    assert process.status is ProcessStatus.DONE
    assert process.correlation_id == correlation_id
    assert len(instances_of(stack, correlation_id)) == 1, "one Camunda instance, not two"
    assert stack.onboarding is not None
    assert stack.onboarding.calls == calls_before + 1, "the onboarding service was called once"


def test_errors_are_typed_and_carry_the_code(stack: LocalStack, client: Waitroom) -> None:
    with pytest.raises(ProcessFailed) as failed:
        client.run("onboard-user", {"userId": "u-9", "email": "nope"}, wait=timedelta(seconds=30))
    assert failed.value.code == "USER_REJECTED"
    assert failed.value.process.status is ProcessStatus.ERROR

    with pytest.raises(InvalidRequest) as invalid:
        client.start("onboard-user", {"1-not-a-name": 1})
    assert invalid.value.status == 400
    assert invalid.value.code == "VALIDATION_ERROR"
    assert any(error.field.startswith("variables") for error in invalid.value.errors)

    with pytest.raises(Forbidden) as forbidden:
        client.start("not-allowed", {})
    assert forbidden.value.code == "PROCESS_KEY_NOT_ALLOWED"

    with pytest.raises(NotFound) as missing:
        client.status(f"nobody-{uuid.uuid4()}")
    assert missing.value.code == "PROCESS_NOT_FOUND"

    with Waitroom(stack.url) as anonymous, pytest.raises(Unauthorized) as refused:
        anonymous.status("anything")
    assert refused.value.code == "UNAUTHORIZED"


def test_start_status_and_cancel(client: Waitroom) -> None:
    correlation_id = f"client-cancel-{uuid.uuid4()}"
    started = client.start("onboard-user", {**USER, "delayMs": 20000}, correlation_id=correlation_id, wait=timedelta(0))
    assert started.status is ProcessStatus.PENDING
    assert started.retry_after_s is not None and 1 <= started.retry_after_s <= 30
    assert client.status(correlation_id).status is ProcessStatus.PENDING

    cancelled = client.cancel(correlation_id, "the test withdrew it")
    assert cancelled.status is ProcessStatus.CANCELLED
    assert cancelled.error is not None and cancelled.error.message == "the test withdrew it"
    with pytest.raises(ProcessCancelled) as joined:
        client.run("onboard-user", {**USER, "delayMs": 20000}, correlation_id=correlation_id)
    assert joined.value.code == "CANCELLED"


def test_list_follows_every_page(stack: LocalStack) -> None:
    owner = f"lister-{uuid.uuid4()}"
    with Waitroom(stack.url, token=stack.identity.issue(owner)) as client:
        started = {
            client.start("onboard-user", USER, correlation_id=f"{owner}-{n}", wait=timedelta(0)).correlation_id
            for n in range(5)
        }
        listed = list(client.list(page_size=2))
    assert {process.correlation_id for process in listed} == started
    assert len(listed) == 5, "no process twice"
    assert [process.started_at for process in listed] == sorted(
        (process.started_at for process in listed), reverse=True
    )


def test_complete_is_signed_with_sigv4(stack: LocalStack, client: Waitroom) -> None:
    correlation_id = f"client-complete-{uuid.uuid4()}"
    client.start("onboard-user", {**USER, "delayMs": 20000}, correlation_id=correlation_id, wait=timedelta(0))
    with signed_client(stack) as worker:
        finished = worker.complete(correlation_id, data={"decidedBy": "the test"})
        again = worker.complete(correlation_id, data={"decidedBy": "the test"})
    assert finished.status is ProcessStatus.DONE
    assert finished.data == {"decidedBy": "the test"}
    assert again.status is ProcessStatus.DONE
    assert client.status(correlation_id).data == {"decidedBy": "the test"}


def test_the_console_command_runs_a_process_with_a_progress_line(stack: LocalStack) -> None:
    out, err = io.StringIO(), io.StringIO()
    token = stack.identity.issue("cli-user")
    code = client_cli(
        [
            "--url",
            stack.url,
            "--token",
            token,
            "run",
            "onboard-user",
            "--var",
            "userId=u1",
            "--var",
            "email=u1@example.com",
            "--json-var",
            "delayMs=2500",
            "--wait",
            "60",
        ],
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    answer = json.loads(out.getvalue())
    assert answer["status"] == "DONE"
    assert answer["data"]["onboarding"]["userId"] == "u1"
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("onboard-user ") and "starting" in lines[0]
    assert any("PENDING" in line for line in lines), "a line while it waited"

    installed = Path(sys.executable).parent / "waitroom-client"
    usage = subprocess.run([installed, "run", "--help"], capture_output=True, text=True, check=False, timeout=30)
    assert usage.returncode == 0, usage.stderr
    assert "--wait" in usage.stdout


def test_a_wait_of_35_s_through_the_function_url(stack: LocalStack) -> None:
    """Beyond API Gateway's 30 s: one call, answered 200 after the process's 35 s."""
    urls = FunctionUrls(start=f"{stack.url}/lambda-url/StartFunction", status=f"{stack.url}/lambda-url/StatusFunction")
    correlation_id = f"client-long-{uuid.uuid4()}"
    # The step runs in a worker environment started now, during the test, as the dispatcher or a
    # timed-out invocation may start one at any time: it must see the stack's WORKER_TASK_BUDGET_MS.
    stack.restart_schedules()
    began = datetime.now(UTC)
    with signed_client(stack, function_urls=urls, retry=Retry(attempts=1)) as client:
        process = client.start(
            "onboard-user", {**USER, "delayMs": 35000}, correlation_id=correlation_id, wait=timedelta(seconds=90)
        )
        assert process.status is ProcessStatus.DONE, "answered by the one call, without a 202"
        assert process.duration_ms is not None and process.duration_ms >= 35000
        assert datetime.now(UTC) - began >= timedelta(seconds=35)
        read = client.status(correlation_id, history=True)
        assert read.status is ProcessStatus.DONE
        checks = [step for step in read.history or () if step.topic.endswith(".run-background-check")]
        assert [step.outcome for step in checks] == ["COMPLETED"], read.history
        assert checks[0].duration_ms >= 35000, "the step ran its 35 s: the worker's task budget allowed it"

    # The owner is the IAM principal that signed the start: a token's subject does not see it.
    with Waitroom(stack.url, token=stack.identity.issue("client-tester")) as other, pytest.raises(NotFound):
        other.status(correlation_id)
    # The Function URL takes SigV4 for the service "lambda" only.
    unsigned = requests.get(f"{urls.status}/api/process/status/{correlation_id}", timeout=10)
    assert unsigned.status_code == 403
    with signed_client(stack, base_url=urls.status) as wrong_service, pytest.raises(Forbidden):
        wrong_service.complete(correlation_id, data={})


def test_the_async_client_runs_lists_and_completes_signed(stack: LocalStack) -> None:
    owner = f"async-{uuid.uuid4()}"
    credentials = SigV4(ACCESS_KEY, SECRET_KEY, region="us-east-1")

    async def main() -> tuple[list[ProcessStatus], set[str], ProcessStatus, ProcessStatus]:
        async with (
            AsyncWaitroom(stack.url, token=stack.identity.issue(owner), retry=Retry(base_s=0.1)) as client,
            AsyncWaitroom(stack.url, sigv4=credentials) as worker,
        ):
            runs = await asyncio.gather(
                *(client.run("onboard-user", USER, correlation_id=f"{owner}-{n}", wait=30) for n in range(3))
            )
            pending = await client.start("onboard-user", {**USER, "delayMs": 20000}, wait=0)
            completed = await worker.complete(pending.correlation_id, data={"decidedBy": "the async test"})
            listed = {process.correlation_id async for process in client.list(page_size=2)}
            read = await client.status(pending.correlation_id, wait=timedelta(seconds=1))
            return [process.status for process in runs], listed, completed.status, read.status

    statuses, listed, completed, read = asyncio.run(main())
    assert statuses == [ProcessStatus.DONE] * 3
    assert {f"{owner}-{n}" for n in range(3)} <= listed
    assert len(listed) == 4
    assert (completed, read) == (ProcessStatus.DONE, ProcessStatus.DONE)


def run_example(stack: LocalStack, name: str, *arguments: str) -> dict[str, object]:
    """Runs clients/python/examples/``name`` against the stack; returns the JSON line it prints."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(EXAMPLES.parent / "src"),
        "WAITROOM_URL": stack.url,
        "WAITROOM_TOKEN": stack.identity.issue("example-runner"),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    ran = subprocess.run(
        [sys.executable, "-c", EXAMPLE_RUNNER, str(EXAMPLES / name), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=90,
    )
    assert ran.returncode == 0, ran.stderr
    *_, last = ran.stdout.splitlines()
    answer: dict[str, object] = json.loads(last)
    return answer


def test_the_examples_run_from_a_client_only_install(stack: LocalStack, client: Waitroom) -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == [
        "complete_as_worker.py",
        "long_wait.py",
        "run_concurrently.py",
        "run_process.py",
    ], "every example is run here"
    assert run_example(stack, "run_process.py")["status"] == "DONE"
    assert run_example(stack, "run_concurrently.py", "2")["status"] == "DONE"

    pending = client.start("onboard-user", {**USER, "delayMs": 20000}, wait=0)
    completed = run_example(stack, "complete_as_worker.py", pending.correlation_id)
    assert completed == {
        "correlationId": pending.correlation_id,
        "status": "DONE",
        "data": {"decidedBy": "complete_as_worker.py"},
    }
    assert client.status(pending.correlation_id).status is ProcessStatus.DONE

    urls = (f"{stack.url}/lambda-url/StartFunction/", f"{stack.url}/lambda-url/StatusFunction/")
    assert run_example(stack, "long_wait.py", *urls)["status"] == "DONE"
