"""The worker against the development engine executing the real examples/onboard-user/bpmn/onboard-user.bpmn."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from onboard_user.handlers import prepare_response
from onboard_user.onboarding_api import OnboardingApi

from devstack.stack import EXAMPLE_BPMN_DIR
from tests.support.processes import process_xml
from tests.support.services import DEMO_HANDLERS, worker_on
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.camunda.variables import to_typed_variables
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.process import NewProcess, ProcessStatus, request_hash
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import Task
from waitroom.settings import Settings
from waitroom_dev_engine.server import EngineServer

USER: dict[str, object] = {"userId": "user-7", "email": "user7@example.com"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    server = EngineServer(tmp_path / "engine.sqlite3")
    url = server.start()
    deploy_bpmn(CamundaClient(url), EXAMPLE_BPMN_DIR)
    yield url
    server.stop()


@pytest.fixture
def onboarding() -> Iterator[OnboardingApi]:
    api = OnboardingApi().start()
    yield api
    api.stop()


@pytest.fixture
def worker_for(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Worker]]:
    """A worker on the engine, with a store of its own, closed after the test; ``onboarding_api_url``
    is the example's own setting, read from the environment."""
    workers: list[Worker] = []

    def make(*, onboarding_api_url: str | None = None, **settings: object) -> Worker:
        if onboarding_api_url is not None:
            monkeypatch.setenv("ONBOARDING_API_URL", onboarding_api_url)
        workers.append(_worker(engine, tmp_path, **settings))
        return workers[-1]

    yield make
    for worker in workers:
        worker.service.repository.close()  # type: ignore[attr-defined]  # the SqlStore worker_on was given


def _worker(engine: str, tmp_path: Path, **settings: object) -> Worker:
    configured = Settings(
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        camunda_url=engine,
        worker_task_budget_ms=0,
        worker_poll_ms=200,
        **{"worker_handler_modules": DEMO_HANDLERS, **settings},  # type: ignore[arg-type]
    )
    dialect = dialect_for(configured.resolved_database_url(), configured)
    migrate(dialect)
    return worker_on(SqlStore(dialect), configured, camunda=CamundaClient(engine))


def start(camunda: CamundaClient, worker: Worker, correlation_id: str, variables: dict[str, object]) -> str:
    worker.service.repository.save(NewProcess(correlation_id, "onboard-user", request_hash("onboard-user", variables)))
    instance = camunda.start_process(
        "onboard-user", business_key=correlation_id, variables=to_typed_variables(variables)
    )
    return str(instance["id"])


def run_until(worker: Worker, done: Callable[[], object], seconds: float) -> None:
    """Invoke the worker, half a second at a time, until ``done()`` or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        worker.run(remaining_time(min(deadline, time.monotonic() + 0.5)))


def remaining_time(ends: float) -> Callable[[], int]:
    """A Lambda context's ``get_remaining_time_in_millis`` for an invocation that ends at ``ends``."""
    return lambda: int(max(0.0, ends - time.monotonic()) * 1000)


def test_the_worker_runs_onboard_user_to_the_end(
    engine: str, worker_for: Callable[..., Worker], onboarding: OnboardingApi
) -> None:
    worker = worker_for(onboarding_api_url=onboarding.url)
    camunda = CamundaClient(engine)
    instance = start(camunda, worker, "w-1", USER)
    store = worker.service.repository
    run_until(worker, lambda: (record := store.get("w-1")) is not None and record.status.is_final, 15)

    record = store.get("w-1")
    assert record is not None and record.status is ProcessStatus.DONE
    assert record.payload["onboarding"]["userId"] == "user-7"
    assert record.payload["backgroundCheck"]["rule"].startswith("demo")
    history = camunda.get_historic_process_instance(instance)
    assert history is not None and history["state"] == "COMPLETED"
    assert onboarding.calls == 1


def test_a_step_that_keeps_failing_ends_in_an_incident_after_its_retries(
    engine: str, worker_for: Callable[..., Worker]
) -> None:
    worker = worker_for(onboarding_api_url="http://127.0.0.1:9", worker_retry_timeout_ms=50, worker_max_retries=3)
    camunda = CamundaClient(engine)
    instance = start(camunda, worker, "w-2", USER)
    run_until(worker, lambda: camunda.list_incidents(process_instance_id=instance), 20)

    (incident,) = camunda.list_incidents(process_instance_id=instance)
    assert incident["incidentType"] == "failedExternalTask"
    reason = "OnboardingServiceError: the onboarding service could not be reached: connection refused"
    assert incident["incidentMessage"] == reason
    history = camunda.get_historic_process_instance(instance)
    assert history is not None and history["state"] == "ACTIVE", "the instance waits on its incident"
    # What the client reads, the process's error and its steps, names the failure, not the address.
    store = worker.service.repository
    record = store.get("w-2")
    assert record is not None and record.status is ProcessStatus.ERROR
    assert record.error is not None and record.error["message"].endswith(reason)
    failures = [step.error for step in store.steps("w-2") if step.error]
    assert len(failures) == 3, "one for each attempt"
    for shown in [record.error, *failures]:
        assert "127.0.0.1" not in json.dumps(shown) and "HTTPConnectionPool" not in json.dumps(shown)


def test_prepare_response_run_twice_leaves_the_first_result(worker_for: Callable[..., Worker]) -> None:
    """A lapsed lock hands the last step out again: the second run must not change the finished row."""
    worker = worker_for()
    store = worker.service.repository
    store.save(NewProcess("w-3", "onboard-user", "0" * 64))
    first = Task("t-1", "onboard-user.prepare-response", "w-3", "pi", "Task", None, {**USER, "onboarding": 1})
    again = Task("t-1", "onboard-user.prepare-response", "w-3", "pi", "Task", None, {**USER, "onboarding": 2})
    worker.finish_process(first, prepare_response(first, worker.resources))
    worker.finish_process(again, prepare_response(again, worker.resources))
    record = store.get("w-3")
    assert record is not None
    assert record.payload["onboarding"] == 1


PLUGIN = """
from waitroom.entrypoints.worker.tasks import Topic

ATTEMPTS = []


def reserve(task, resources):
    ATTEMPTS.append(task.retries)
    if len(ATTEMPTS) == 1:
        raise RuntimeError("the booking service is busy")
    return {"reservation": f"R-{task.variables['nights']}"}


TOPICS = (Topic("travel.reserve", reserve, variables=("nights",)),)
"""


def test_a_plugin_module_runs_with_the_demo_s_retries_and_history_and_the_response_step_ends_the_process(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "travel_handlers.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "travel_handlers", raising=False)
    bpmn = tmp_path / "bpmn"
    bpmn.mkdir()
    (bpmn / "travel.bpmn").write_text(process_xml("travel", ("travel.reserve", "waitroom-respond")))
    deploy_bpmn(CamundaClient(engine), bpmn)
    worker = _worker(engine, tmp_path, worker_handler_modules="travel_handlers", worker_retry_timeout_ms=0)
    try:
        worker.service.repository.save(NewProcess("trip-1", "travel", request_hash("travel", {"nights": 3})))
        CamundaClient(engine).start_process(
            "travel", business_key="trip-1", variables=to_typed_variables({"nights": 3})
        )
        store = worker.service.repository
        run_until(worker, lambda: (record := store.get("trip-1")) is not None and record.status.is_final, 15)

        record = store.get("trip-1")
        assert record is not None and record.status is ProcessStatus.DONE
        assert record.payload == {"nights": 3, "reservation": "R-3"}
        assert sys.modules["travel_handlers"].ATTEMPTS == [None, 2], "failed once, retried by Camunda as the demo's"
        steps = [(step.topic, step.outcome.value) for step in store.steps("trip-1")]
        assert steps == [
            ("travel.reserve", "FAILED"),
            ("travel.reserve", "COMPLETED"),
            ("waitroom-respond", "COMPLETED"),
        ]
    finally:
        worker.service.repository.close()  # type: ignore[attr-defined]  # the SqlStore worker_on was given
        sys.modules.pop("travel_handlers", None)
