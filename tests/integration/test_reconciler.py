"""The reconciler's rules against the development engine executing real BPMN, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.stack import EXAMPLE_BPMN_DIR
from tests.support.services import reconciler_on, service_on
from tests.support.stores import StoreFactory
from waitroom.adapters.camunda.client import CamundaClient, FetchTopic
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.store import SqlStore
from waitroom.domain.process import Caller, NewProcess, ProcessStatus
from waitroom.service.reconciler import Reconciler
from waitroom.settings import Settings
from waitroom_dev_engine.server import EngineServer

FIXTURES = Path(__file__).parent / "bpmn"
ALICE = Caller("alice")


@pytest.fixture
def camunda(tmp_path: Path) -> Iterator[CamundaClient]:
    server = EngineServer(tmp_path / "engine.sqlite3")
    client = CamundaClient(server.start())
    deploy_bpmn(client, EXAMPLE_BPMN_DIR)
    deploy_bpmn(client, FIXTURES)
    yield client
    server.stop()


def reconciler_for(
    store: SqlStore, camunda: CamundaClient, *, now: datetime | None = None, **settings: object
) -> Reconciler:
    configured = Settings(**settings)  # type: ignore[arg-type]
    # The test's rows are new: the reconciler runs as if RECONCILE_MIN_AGE_S had passed since.
    later = now or datetime.now(UTC) + timedelta(seconds=configured.reconcile_min_age_s + 1)
    return reconciler_on(store, camunda, configured, now=later)


def started(store: SqlStore, camunda: CamundaClient, correlation_id: str, key: str = "onboard-user") -> str:
    """A process started as Waitroom starts one: its row, its instance, the instance attached."""
    store.save(NewProcess(correlation_id, key, "0" * 64))
    instance = camunda.start_process(key, business_key=correlation_id, variables={})
    store.attach_instance(correlation_id, str(instance["id"]))
    return str(instance["id"])


def error_of(store: SqlStore, correlation_id: str) -> tuple[ProcessStatus, str]:
    record = store.get(correlation_id)
    assert record is not None
    return record.status, (record.error or {}).get("code", "")


def test_an_instance_that_ended_through_a_terminate_end_event_ends_the_row_in_error(
    store: SqlStore, camunda: CamundaClient
) -> None:
    instance = started(store, camunda, "r-terminated", key="ends-early")
    history = camunda.get_historic_process_instance(instance)
    assert history is not None
    assert history["state"] == "COMPLETED"
    summary = reconciler_for(store, camunda).run()
    assert (summary.examined, summary.failed) == (1, 1)
    assert error_of(store, "r-terminated") == (ProcessStatus.ERROR, "TERMINATED")
    record = store.get("r-terminated")
    assert record is not None and record.error is not None
    assert record.error["activityId"] == "EndEvent_Terminated"


def _step_of(camunda: CamundaClient, business_key: str) -> str:
    topic = FetchTopic("ends-plainly.step", 10_000)
    tasks = camunda.fetch_and_lock(worker_id="t", topics=[topic], max_tasks=10, async_response_timeout_ms=500)
    return next(str(task["id"]) for task in tasks if task["businessKey"] == business_key)


def test_an_instance_that_ended_at_a_none_end_event_ends_the_row_done_with_its_variables(
    store: SqlStore, camunda: CamundaClient
) -> None:
    store.save(NewProcess("r-plain", "ends-plainly", "0" * 64))
    instance = camunda.start_process(
        "ends-plainly", business_key="r-plain", variables={"amount": {"value": 120, "type": "Integer"}}
    )
    store.attach_instance("r-plain", str(instance["id"]))
    approved: dict[str, dict[str, object]] = {
        "approved": {"value": True, "type": "Boolean"},
        "note": {"value": '{"by": "ada"}', "type": "Json"},
    }
    camunda.complete_task(_step_of(camunda, "r-plain"), worker_id="t", variables=approved)

    summary = reconciler_for(store, camunda).run()

    assert (summary.examined, summary.done) == (1, 1)
    record = store.get("r-plain")
    assert record is not None
    assert (record.status, record.error) == (ProcessStatus.DONE, None)
    assert record.payload == {"amount": 120, "approved": True, "note": {"by": "ada"}}


def test_an_instance_ended_by_an_uncaught_bpmn_error_ends_the_row_in_error(
    store: SqlStore, camunda: CamundaClient
) -> None:
    started(store, camunda, "r-uncaught", key="ends-plainly")
    camunda.report_bpmn_error(
        _step_of(camunda, "r-uncaught"), worker_id="t", error_code="NOPE", error_message="no", variables=None
    )
    summary = reconciler_for(store, camunda).run()
    assert summary.failed == 1
    assert error_of(store, "r-uncaught") == (ProcessStatus.ERROR, "ENDED_WITHOUT_RESULT")
    record = store.get("r-uncaught")
    assert record is not None and record.error is not None
    assert (record.error["activityId"], record.error["activityType"]) == ("Task_Step", "serviceTask")


def test_an_instance_deleted_in_camunda_ends_the_row_cancelled(store: SqlStore, camunda: CamundaClient) -> None:
    instance = started(store, camunda, "r-deleted")
    assert camunda.delete_process_instance(instance)
    summary = reconciler_for(store, camunda).run()
    assert summary.cancelled == 1
    record = store.get("r-deleted")
    assert record is not None
    assert record.status is ProcessStatus.CANCELLED
    assert record.error is not None
    assert "deleted in Camunda" in record.error["message"]


def test_an_open_incident_ends_the_row_in_error_with_its_message(store: SqlStore, camunda: CamundaClient) -> None:
    started(store, camunda, "r-incident")
    topic = FetchTopic("onboard-user.validate-user-information", 10_000)
    tasks = [
        task
        for task in camunda.fetch_and_lock(worker_id="t", topics=[topic], max_tasks=10, async_response_timeout_ms=500)
        if task["businessKey"] == "r-incident"
    ]
    camunda.report_failure(
        tasks[0]["id"], worker_id="t", error_message="directory down", error_details=None, retries=0, retry_timeout_ms=0
    )
    summary = reconciler_for(store, camunda).run()
    assert summary.failed == 1
    record = store.get("r-incident")
    assert record is not None and record.error is not None
    assert record.error["code"] == "INCIDENT"
    assert "directory down" in record.error["message"]


def test_an_unconfirmed_start_that_did_start_gets_its_instance_attached(
    store: SqlStore, camunda: CamundaClient
) -> None:
    store.save(NewProcess("r-unconfirmed", "onboard-user", "0" * 64))
    instance = camunda.start_process("onboard-user", business_key="r-unconfirmed", variables={})
    summary = reconciler_for(store, camunda).run()
    assert summary.attached == 1
    record = store.get("r-unconfirmed")
    assert record is not None
    assert (record.status, record.camunda_instance_id) == (ProcessStatus.PENDING, instance["id"])


def test_an_unconfirmed_start_that_never_started_ends_in_error(store: SqlStore, camunda: CamundaClient) -> None:
    store.save(NewProcess("r-never", "onboard-user", "0" * 64))
    reconciler_for(store, camunda).run()
    assert error_of(store, "r-never") == (ProcessStatus.ERROR, "START_FAILED")


def test_a_process_pending_past_max_process_age_times_out_and_its_instance_ends(
    store: SqlStore, camunda: CamundaClient
) -> None:
    instance = started(store, camunda, "r-old")
    reconciler_for(store, camunda, now=datetime.now(UTC) + timedelta(hours=2), max_process_age="PT1H").run()
    assert error_of(store, "r-old") == (ProcessStatus.ERROR, "TIMED_OUT")
    history = camunda.get_historic_process_instance(instance)
    assert history is not None
    assert history["state"] == "EXTERNALLY_TERMINATED", "nothing runs on for a process nobody waits for"


def test_a_healthy_running_process_and_a_young_one_are_left_alone(store: SqlStore, camunda: CamundaClient) -> None:
    started(store, camunda, "r-healthy")
    summary = reconciler_for(store, camunda).run()
    assert (summary.examined, summary.untouched) == (1, 1)
    young = reconciler_on(store, camunda, Settings()).run()
    assert young.examined == 0, "a row younger than RECONCILE_MIN_AGE_S may still be starting"
    assert error_of(store, "r-healthy") == (ProcessStatus.PENDING, "")


def test_camunda_out_of_reach_defers_and_changes_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.save(NewProcess("r-later", "onboard-user", "0" * 64))
    store.attach_instance("r-later", "some-instance")
    down = CamundaClient("http://127.0.0.1:9/engine-rest", connect_timeout_s=0.5)
    summary = reconciler_for(store, down).run()
    assert summary.deferred == 1
    assert error_of(store, "r-later") == (ProcessStatus.PENDING, "")


# --- a CANCELLED row never has a running instance -----------------------------------------------


def unconfirmed(store: SqlStore, correlation_id: str) -> None:
    """What a start that got no answer leaves: a PENDING row of alice's with no instance."""
    store.save(NewProcess(correlation_id, "onboard-user", "0" * 64, owner=ALICE.subject))


def state_of(camunda: CamundaClient, instance_id: str) -> str:
    history = camunda.get_historic_process_instance(instance_id)
    assert history is not None
    return str(history["state"])


def test_a_cancel_deletes_the_instance_of_an_unconfirmed_start(store: SqlStore, camunda: CamundaClient) -> None:
    unconfirmed(store, "r-cancel-found")
    instance = str(camunda.start_process("onboard-user", business_key="r-cancel-found", variables={})["id"])
    cancelled = service_on(store, camunda=camunda).cancel("r-cancel-found", reason=None, caller=ALICE)
    assert (cancelled.status, cancelled.camunda_instance_id) == (ProcessStatus.CANCELLED, instance)
    assert state_of(camunda, instance) == "EXTERNALLY_TERMINATED"


def test_the_instance_of_a_process_cancelled_before_its_start_arrived_is_deleted(
    store: SqlStore, camunda: CamundaClient
) -> None:
    unconfirmed(store, "r-cancel-late")
    service_on(store, camunda=camunda).cancel("r-cancel-late", reason=None, caller=ALICE)
    instance = str(camunda.start_process("onboard-user", business_key="r-cancel-late", variables={})["id"])
    summary = reconciler_for(store, camunda).run()
    assert (summary.examined, summary.deleted) == (0, 1)
    assert state_of(camunda, instance) == "EXTERNALLY_TERMINATED"
    record = store.get("r-cancel-late")
    assert record is not None and (record.status, record.camunda_instance_id) == (ProcessStatus.CANCELLED, instance)
    assert reconciler_for(store, camunda).run().deleted == 0
