"""The lifecycle end to end through the local stack on Camunda 7, on SQLite and PostgreSQL: a terminate
end event, starts the engine never confirmed, and the per-step history. Cancel, incidents, the
reconciler and the rest of what matters on every engine and wait mode are in test_behaviour.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from devstack.stack import LocalSettings, LocalStack
from tests.conftest import REAL_CAMUNDA_URL, STACK_STORES
from tests.support.pausing_proxy import PausingProxy
from tests.support.stacks import RECONCILE_SOON, run_stack
from tests.support.waiting import eventually
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.process import ProcessRecord
from waitroom.settings import Settings
from waitroom_dev_engine.server import EngineServer

#: A stack's start (a dozen functions' cold starts) counts in its first test's time; on a busy
#: machine it has taken two minutes.
pytestmark = pytest.mark.timeout(400)

FIXTURES = Path(__file__).parent / "bpmn"
USER = {"userId": "user-5", "email": "user5@example.com"}


@contextmanager
def running_stack(tmp_path: Path, database_url: str | None, **environment: str) -> Iterator[LocalStack]:
    """The stack, with its environment patched until it stops."""
    settings = LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=1, schedule_interval_s=0.5)
    variables: dict[str, str | None] = {**RECONCILE_SOON, "ALLOWED_PROCESS_KEYS": "*", **environment}
    variables["DATABASE_URL"] = database_url
    if REAL_CAMUNDA_URL:
        variables["CAMUNDA_URL"] = REAL_CAMUNDA_URL
    with run_stack(settings, variables) as running:
        yield running


@pytest.fixture(scope="module", params=STACK_STORES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    database_url = request.getfixturevalue("pg_module_schema_url") if request.param == "postgresql" else None
    with running_stack(tmp_path_factory.mktemp("stack"), database_url) as running:
        deploy_bpmn(CamundaClient(running.environment["CAMUNDA_URL"]), FIXTURES)
        yield running


def bearer(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.identity.issue('lifecycle-tester')}"}


def post(stack: LocalStack, path: str, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{stack.url}{path}", json=body, headers={**bearer(stack), **headers}, timeout=40)


def status(stack: LocalStack, correlation_id: str, **params: str) -> requests.Response:
    headers = {**bearer(stack), **({"Prefer": params.pop("prefer")} if "prefer" in params else {})}
    return requests.get(f"{stack.url}/api/process/status/{correlation_id}", params=params, headers=headers, timeout=40)


def status_becomes(stack: LocalStack, correlation_id: str, wanted: str) -> dict[str, Any]:
    body: dict[str, Any] = eventually(
        lambda: status(stack, correlation_id).json(),
        lambda body: body.get("status") == wanted,
        f"{correlation_id} becomes {wanted}",
    )
    return body


def test_a_process_ended_by_a_terminate_end_event_is_settled_as_an_error(stack: LocalStack) -> None:
    started = post(
        stack, "/api/process/start", {"processKey": "ends-early", "correlationId": "lc-ends"}, Prefer="wait=0"
    )
    assert started.status_code == 202
    body = status_becomes(stack, "lc-ends", "ERROR")
    assert body["error"]["code"] == "TERMINATED"
    assert body["error"]["activityId"] == "EndEvent_Terminated"


def test_the_history_lists_every_step_in_order(stack: LocalStack) -> None:
    done = post(
        stack, "/api/process/start", {"processKey": "onboard-user", "correlationId": "lc-steps", "variables": USER}
    )
    assert done.status_code == 200, done.text
    steps = status(stack, "lc-steps", history="true").json()["history"]
    assert [(step["topic"], step["outcome"]) for step in steps] == [
        ("onboard-user.validate-user-information", "COMPLETED"),
        ("onboard-user.run-background-check", "COMPLETED"),
        ("onboard-user.call-onboarding-api", "COMPLETED"),
        ("onboard-user.prepare-response", "COMPLETED"),
    ]
    rejected = post(
        stack,
        "/api/process/start",
        {"processKey": "onboard-user", "correlationId": "lc-rejected", "variables": {"userId": "u"}},
    )
    assert rejected.status_code == 500
    rejected_steps = status(stack, "lc-rejected", history="true").json()["history"]
    assert [(step["topic"], step["outcome"]) for step in rejected_steps] == [
        ("onboard-user.validate-user-information", "BPMN_ERROR"),
        ("onboard-user.reject-user", "COMPLETED"),
    ]
    assert rejected_steps[0]["error"]["code"] == "USER_REJECTED"


def test_starts_the_engine_never_confirmed_end_with_no_instance_running_and_their_instance_recorded(
    tmp_path: Path,
) -> None:
    # The engine stands still (SIGSTOP) while two starts wait for it: each answers that it is not
    # confirmed; the engine then runs again and creates both instances. The client cancels the
    # first; the second runs to its end.
    engine = EngineServer(tmp_path / "engine.sqlite3")
    engine_url = engine.start()
    camunda = CamundaClient(engine_url)
    with PausingProxy(int(urlsplit(engine_url).port or 0)) as proxy:
        proxied = urlsplit(engine_url)._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        # The reconciler judges neither row while this runs: what is tested is what the cancel and
        # the last step do (the reconciler's part is in tests/integration/test_reconciler.py).
        try:
            with running_stack(tmp_path / "stack", None, CAMUNDA_URL=proxied, RECONCILE_MIN_AGE_S="120") as stack:
                proxy.pause()
                answers: dict[str, requests.Response] = {}

                def start(correlation_id: str, delay_ms: int) -> None:
                    variables = {**USER, "delayMs": delay_ms}
                    body = {"processKey": "onboard-user", "correlationId": correlation_id, "variables": variables}
                    answers[correlation_id] = post(stack, "/api/process/start", body)

                starts = [
                    threading.Thread(target=start, args=(correlation_id, delay_ms))
                    for correlation_id, delay_ms in [("lc-hung", 12000), ("lc-hung-done", 0)]
                ]
                for thread in starts:
                    thread.start()
                for thread in starts:
                    thread.join(60)
                assert sorted(answers) == ["lc-hung", "lc-hung-done"]
                for answer in answers.values():
                    assert answer.status_code == 502 and "CAMUNDA_START_UNCONFIRMED" in answer.text, answer.text
                proxy.resume()
                instances = {correlation_id: instance_of(camunda, correlation_id) for correlation_id in answers}

                cancelled = post(stack, "/api/process/cancel", {"correlationId": "lc-hung"})
                assert cancelled.status_code == 200, cancelled.text
                assert cancelled.json()["status"] == "CANCELLED"
                history = camunda.get_historic_process_instance(instances["lc-hung"])
                assert history is not None and history["state"] == "EXTERNALLY_TERMINATED", "nothing runs on"

                status_becomes(stack, "lc-hung-done", "DONE")
                assert row_of(stack, "lc-hung-done").camunda_instance_id == instances["lc-hung-done"]
        finally:
            engine.stop()


def instance_of(camunda: CamundaClient, correlation_id: str) -> str:
    """The instance the engine created for a start it held, once it has."""
    found = eventually(
        lambda: camunda.find_historic_process_instances(business_key=correlation_id, process_key=None),
        bool,
        f"the held start of {correlation_id} reaches the engine",
    )
    return str(found[0]["id"])


def row_of(stack: LocalStack, correlation_id: str) -> ProcessRecord:
    database_url = stack.environment.get("DATABASE_URL") or stack.describe()["database"]
    store = SqlStore(dialect_for(database_url, Settings(database_url=database_url)))
    try:
        record = store.get(correlation_id)
    finally:
        store.close()
    assert record is not None
    return record
