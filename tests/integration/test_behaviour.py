"""The behaviours that matter, end to end over HTTP, on every engine protocol and wait mode: the local
stack (the gateway routed from template.yaml, the functions in their own processes, the worker on its
schedule) runs examples/onboard-user on the development engine (or the real engine CAMUNDA_URL or
CAMUNDA8_URL names) in each variant:

* ``camunda7-classic`` on SQLite and PostgreSQL, ``camunda8-classic`` and the durable wait mode on
  both engines (the start function under dex-local-runner) on SQLite: the store suite covers every
  backend on its own, and each stack costs a stack's start;
* with CAMUNDA_URL set only the Camunda 7 variants run (on that engine), with CAMUNDA8_URL only the
  Camunda 8 ones; with both, both.

Each behaviour is written once and runs on every variant; what it reads in the engine itself goes
through tests/support/engines.py. Every wait is bounded by attempts, and no test asserts how long
something took beyond the lower bound a wait grants.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from devstack.stack import LocalSettings, LocalStack
from tests.conftest import REAL_CAMUNDA8_URL, REAL_CAMUNDA_URL
from tests.support.engines import EngineProbe, probe_of
from tests.support.onboarding import ScriptedOnboarding
from tests.support.stacks import RECONCILE_SOON, run_stack
from tests.support.waiting import eventually
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.process import NewProcess, ProcessRecord
from waitroom.service.ports import InstanceHistory
from waitroom.settings import Settings

#: A stack's start (a dozen functions' cold starts) counts in its first test's time; on a busy
#: machine it has taken two minutes.
pytestmark = pytest.mark.timeout(400)


@dataclass(frozen=True)
class Variant:
    engine: str  # camunda7 | camunda8: the protocol the functions speak (ENGINE)
    wait_mode: str  # classic | durable (WAIT_MODE)
    store: str  # sqlite | postgresql

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.wait_mode}-{self.store}"


EVERY_VARIANT = [
    Variant("camunda7", "classic", "sqlite"),
    Variant("camunda7", "classic", "postgresql"),
    Variant("camunda8", "classic", "sqlite"),
    Variant("camunda7", "durable", "sqlite"),
    Variant("camunda8", "durable", "sqlite"),
]
#: With a real engine named, only its protocol's variants run, on it.
REAL_ENGINES = {"camunda7": REAL_CAMUNDA_URL, "camunda8": REAL_CAMUNDA8_URL}
ENGINES = {engine for engine, url in REAL_ENGINES.items() if url} or set(REAL_ENGINES)
VARIANTS = [variant for variant in EVERY_VARIANT if variant.engine in ENGINES]

USER = {"userId": "user-123", "email": "user@example.com"}
ONBOARDING_TOPIC = "onboard-user.call-onboarding-api"
BACKGROUND_CHECK_TOPIC = "onboard-user.run-background-check"
#: A step that keeps failing runs twice before its incident (on Camunda 7; a Camunda 8 job has its BPMN's
#: retries), 200 ms apart.
WORKER_MAX_RETRIES = 2
#: A killed worker's lock lapses within seconds (the living worker extends its locks while it works).
WORKER_LOCK_DURATION_MS = 3000


@dataclass
class Deployment:
    """A running variant: its stack, its engine's probe, the onboarding stand-in its step calls."""

    variant: Variant
    stack: LocalStack
    probe: EngineProbe
    onboarding: ScriptedOnboarding
    database_url: str
    #: In every correlation id of this stack: one real engine outlives the stacks of every variant
    #: that runs on it, and its reconciler must find only its own instances there.
    tag: str

    def id(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def headers(self, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.identity.issue('behaviour-tester')}", **more}

    def start(self, body: dict[str, Any], **headers: str) -> requests.Response:
        url = f"{self.stack.url}/api/process/start"
        return requests.post(url, json=body, headers=self.headers(**headers), timeout=60)

    def status(self, correlation_id: str, *, history: bool = False, **headers: str) -> requests.Response:
        url = f"{self.stack.url}/api/process/status/{correlation_id}"
        params = {"history": "true"} if history else {}
        return requests.get(url, params=params, headers=self.headers(**headers), timeout=60)

    def cancel(self, correlation_id: str, reason: str | None = None) -> requests.Response:
        body = {"correlationId": correlation_id, **({"reason": reason} if reason else {})}
        url = f"{self.stack.url}/api/process/cancel"
        return requests.post(url, json=body, headers=self.headers(), timeout=60)

    def row(self, correlation_id: str) -> ProcessRecord | None:
        store = SqlStore(dialect_for(self.database_url, Settings(database_url=self.database_url)))
        try:
            return store.get(correlation_id)
        finally:
            store.close()

    def plant(self, process: NewProcess) -> None:
        store = SqlStore(dialect_for(self.database_url, Settings(database_url=self.database_url)))
        try:
            store.save(process)
        finally:
            store.close()


@pytest.fixture(scope="module", params=VARIANTS, ids=[variant.id for variant in VARIANTS])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    variant: Variant = request.param
    database_url = request.getfixturevalue("pg_module_schema_url") if variant.store == "postgresql" else None
    onboarding = ScriptedOnboarding()
    onboarding.start()
    environment: dict[str, str | None] = {
        "ENGINE": variant.engine,
        "WAIT_MODE": variant.wait_mode,
        "DATABASE_URL": database_url,
        "CAMUNDA_URL": REAL_CAMUNDA_URL if variant.engine == "camunda7" else None,
        "CAMUNDA8_URL": REAL_CAMUNDA8_URL if variant.engine == "camunda8" else None,
        "ONBOARDING_API_URL": onboarding.url,
        # no-such-process may be started (and is deployed nowhere): its start must meet a 404.
        "ALLOWED_PROCESS_KEYS": "onboard-user,no-such-process",
        "WORKER_LOCK_DURATION_MS": str(WORKER_LOCK_DURATION_MS),
        "WORKER_MAX_RETRIES": str(WORKER_MAX_RETRIES),
        "WORKER_RETRY_TIMEOUT_MS": "200",
        **RECONCILE_SOON,
    }
    local = LocalSettings(
        data_dir=tmp_path_factory.mktemp(variant.id), engine_port=0, concurrency=2, schedule_interval_s=1
    )
    try:
        with run_stack(local, environment) as stack:
            probe = probe_of(stack, variant.engine)
            running = Deployment(
                variant, stack, probe, onboarding, stack.environment["DATABASE_URL"], secrets.token_hex(3)
            )
            # The reconciler's rows, planted first: it judges them only once they are old enough.
            plant_for_the_reconciler(running)
            try:
                yield running
            finally:
                probe.close()
    finally:
        onboarding.stop()


def status_becomes(deployment: Deployment, correlation_id: str, wanted: str) -> dict[str, Any]:
    body: dict[str, Any] = eventually(
        lambda: deployment.status(correlation_id).json(),
        lambda body: body.get("status") == wanted,
        f"{correlation_id} becomes {wanted}",
    )
    return body


def the_instance(deployment: Deployment, correlation_id: str, state: str | None = None) -> InstanceHistory:
    """The one instance the engine has for the process (in ``state``, if given): a real Camunda 8's
    searches read its secondary storage, which its exporter fills a moment later."""
    [instance] = eventually(
        lambda: deployment.probe.instances(correlation_id),
        lambda found: len(found) == 1 and state in (None, found[0].state),
        f"one instance of {correlation_id}" + (f" in state {state}" if state else ""),
    )
    return instance


def in_background(call: Callable[[], requests.Response]) -> tuple[threading.Thread, list[requests.Response]]:
    answers: list[requests.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


# --- start → 200 ----------------------------------------------------------------------------------


def test_a_start_answers_200_with_the_result_of_every_step(deployment: Deployment) -> None:
    assert deployment.stack.describe()["wait_mode"] == deployment.variant.wait_mode
    durable = deployment.stack.durable
    executions = durable.executions if durable is not None else 0
    correlation_id = deployment.id("done")
    response = deployment.start({"processKey": "onboard-user", "correlationId": correlation_id, "variables": USER})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "DONE"
    data = body["data"]
    assert data["success"] is True
    assert data["validation"]["email"] == "user@example.com"
    assert data["backgroundCheck"]["status"] in {"clear", "review"}
    assert data["onboarding"]["accountId"].startswith("acct-")
    assert data["onboarding"]["userId"] == "user-123"
    if durable is not None:
        assert durable.executions == executions + 1, "the start ran as a durable execution"
    instance = the_instance(deployment, correlation_id, "COMPLETED")
    row = deployment.row(correlation_id)
    assert row is not None and row.camunda_instance_id == instance.id


def test_a_rejected_user_takes_the_bpmn_error_path_and_ends_500_with_the_reason(deployment: Deployment) -> None:
    correlation_id = deployment.id("invalid")
    rejected = {"userId": "u-9", "email": "nope"}
    response = deployment.start({"processKey": "onboard-user", "correlationId": correlation_id, "variables": rejected})
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "USER_REJECTED"
    assert "email is not a well-formed address" in error["message"]
    assert deployment.status(correlation_id).status_code == 500


def test_the_same_mistakes_get_the_same_problems(deployment: Deployment) -> None:
    unknown = deployment.start({"processKey": "no-such-process", "correlationId": deployment.id("unknown")})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["code"] == "PROCESS_DEFINITION_NOT_FOUND"
    refused = deployment.start({"processKey": "not-allowed", "correlationId": deployment.id("refused")})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "PROCESS_KEY_NOT_ALLOWED"


# --- 202 → status ---------------------------------------------------------------------------------


def test_a_slow_process_answers_202_then_its_status_turns_200(deployment: Deployment) -> None:
    correlation_id = deployment.id("slow")
    body = {"processKey": "onboard-user", "correlationId": correlation_id, "variables": {**USER, "delayMs": 3000}}
    began = time.monotonic()
    response = deployment.start(body, Prefer="wait=1")
    # Held the second asked for (a lower bound, which no load breaks), then 202 before the 3 s process.
    assert response.status_code == 202, response.text
    assert time.monotonic() - began >= 1.0
    # The local gateway says its host (Host, X-Forwarded-Proto), as API Gateway does: absolute links.
    location = f"{deployment.stack.url}/api/process/status/{correlation_id}"
    assert response.headers["Location"] == location
    assert response.json()["links"]["status"] == location
    assert response.headers["Preference-Applied"] == "wait=1"
    assert int(response.headers["Retry-After"]) >= 1

    finished = eventually(
        lambda: deployment.status(correlation_id, Prefer="wait=15"),
        lambda answer: answer.status_code != 202,
        "the status turns final",
    )
    assert finished.status_code == 200, finished.text
    assert finished.json()["data"]["success"] is True
    assert finished.json()["durationMs"] >= 3000


# --- join -----------------------------------------------------------------------------------------


def test_a_second_start_with_the_same_id_joins_the_first_and_both_get_its_result(deployment: Deployment) -> None:
    correlation_id = deployment.id("join")
    body = {"processKey": "onboard-user", "correlationId": correlation_id, "variables": {**USER, "delayMs": 2000}}
    first, answers = in_background(lambda: deployment.start(body, Prefer="wait=20"))
    status_becomes(deployment, correlation_id, "PENDING")
    second = deployment.start(body, Prefer="wait=20")
    first.join()
    [first_answer] = answers
    assert (first_answer.status_code, second.status_code) == (200, 200), (first_answer.text, second.text)
    assert first_answer.json()["data"] == second.json()["data"]
    the_instance(deployment, correlation_id)  # one for both starts


# --- cancel ---------------------------------------------------------------------------------------


def test_a_cancel_reaches_the_client_waiting_on_the_start_and_ends_the_instance(deployment: Deployment) -> None:
    correlation_id = deployment.id("cancel")
    body = {"processKey": "onboard-user", "correlationId": correlation_id, "variables": {**USER, "delayMs": 8000}}
    waiting, answers = in_background(lambda: deployment.start(body, Prefer="wait=20"))
    status_becomes(deployment, correlation_id, "PENDING")
    cancelled = deployment.cancel(correlation_id, "changed my mind")
    waiting.join()

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["error"] == {"code": "CANCELLED", "message": "changed my mind"}
    [answer] = answers
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELLED", "the waiting start answered with the cancellation"
    assert deployment.cancel(correlation_id).status_code == 200, "a second cancel is answered alike"
    the_instance(deployment, correlation_id, "EXTERNALLY_TERMINATED")


# --- incident -------------------------------------------------------------------------------------


def test_a_step_failing_for_good_ends_in_an_incident_that_reaches_the_waiting_client(deployment: Deployment) -> None:
    correlation_id = deployment.id("incident")
    user = {"userId": f"refused-{deployment.tag}", "email": "refused@example.com"}
    deployment.onboarding.refused.add(user["userId"])
    response = deployment.start({"processKey": "onboard-user", "correlationId": correlation_id, "variables": user})
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "INCIDENT"
    assert ONBOARDING_TOPIC in error["message"]
    attempts = deployment.probe.failing_attempts(WORKER_MAX_RETRIES)
    assert deployment.onboarding.calls_for[user["userId"]] == attempts
    steps = deployment.status(correlation_id, history=True).json()["history"]
    assert [step["outcome"] for step in steps if step["topic"] == ONBOARDING_TOPIC] == ["FAILED"] * attempts
    instance = the_instance(deployment, correlation_id)
    eventually(
        lambda: deployment.probe.incident_activities(instance.id),
        lambda activities: activities == ["Task_CallOnboardingApi"],
        "the engine shows the incident",
    )


# --- reconciler -----------------------------------------------------------------------------------


def plant_for_the_reconciler(deployment: Deployment) -> None:
    """What start functions that died leave: a row whose start never reached the engine, and a row
    whose instance the engine created before the function could record it."""
    owner = "behaviour-tester"
    deployment.plant(NewProcess(deployment.id("never-started"), "onboard-user", "0" * 64, owner=owner))
    orphan = deployment.id("orphan")
    deployment.plant(NewProcess(orphan, "onboard-user", "0" * 64, owner=owner))
    deployment.probe.start_unrecorded(orphan, {"userId": "orphan", "email": "orphan@example.com"})


def test_the_reconciler_settles_what_dead_start_functions_left(deployment: Deployment) -> None:
    never = status_becomes(deployment, deployment.id("never-started"), "ERROR")
    assert never["error"]["code"] == "START_FAILED"
    orphan = deployment.id("orphan")
    done = status_becomes(deployment, orphan, "DONE")
    assert done["data"]["userId"] == "orphan"
    instance = the_instance(deployment, orphan)
    row = deployment.row(orphan)
    assert row is not None and row.camunda_instance_id == instance.id


# --- worker crash ---------------------------------------------------------------------------------


def test_a_worker_killed_mid_task_loses_its_lock_and_the_process_finishes_once(deployment: Deployment) -> None:
    correlation_id = deployment.id("crash")
    user = {"userId": f"crash-{deployment.tag}", "email": "crash@example.com"}
    body = {"processKey": "onboard-user", "correlationId": correlation_id, "variables": {**user, "delayMs": 2500}}
    assert deployment.start(body, Prefer="respond-async").status_code == 202
    first_worker = eventually(
        lambda: deployment.probe.lock_holder(correlation_id, BACKGROUND_CHECK_TOPIC),
        lambda holder: holder is not None,
        "a worker holds the background check",
    )

    deployment.stack.restart_schedules()  # the worker process dies with the task in its hands

    eventually(
        lambda: deployment.probe.lock_holder(correlation_id, BACKGROUND_CHECK_TOPIC),
        lambda holder: holder not in (None, first_worker),
        "the lapsed task went to the new worker",
    )
    finished = eventually(
        lambda: deployment.status(correlation_id, Prefer="wait=15"),
        lambda answer: answer.status_code != 202,
        "the process ends",
    )
    assert finished.status_code == 200, finished.text
    assert finished.json()["data"]["success"] is True
    assert deployment.onboarding.calls_for[user["userId"]] == 1, "the steps after the crash ran once"
