"""An id whose start the reconciler proved never reached Camunda may be started again by its client,
through the service on every backend; a start that did create an instance is never repeated, and
the client reads the final state of its first start until it starts the id again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.lost_connections import Kill, Saboteur, sabotaged
from tests.support.services import reconciler_on, service_on
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.errors import CorrelationConflict
from waitroom.domain.process import START_FAILED, Caller, NewProcess, ProcessRecord, ProcessStatus, request_hash
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

VARIABLES = {"userId": "u-1"}
ALICE = Caller("alice")
#: A start that replaces a row with no wait: the insert (which finds the id taken), reading back the
#: row and who made it; the replacement, reading back the row and who made it; the instance's
#: attach, and the first poll of the wait.
START_AGAIN_STATEMENTS = 6


def unconfirmed(store: SqlStore, correlation_id: str) -> None:
    """What an unconfirmed start leaves when its request never reached Camunda: a PENDING row of
    alice's, with no instance."""
    store.save(NewProcess(correlation_id, "onboard-user", request_hash("onboard-user", VARIABLES), ALICE.subject))


def reconcile(store: SqlStore, camunda: CamundaStub) -> None:
    """A reconciler run once the rows are old enough to judge."""
    settings = Settings()
    later = datetime.now(UTC) + timedelta(seconds=settings.reconcile_min_age_s + 1)
    reconciler_on(store, CamundaClient(camunda.url), settings, now=later).run()


def service(store: SqlStore, camunda: CamundaStub) -> ProcessService:
    return service_on(store, Settings(poll_schedule="50"), camunda=CamundaClient(camunda.url, connect_timeout_s=2))


def start(service: ProcessService, correlation_id: str, caller: Caller = ALICE) -> ProcessRecord:
    return service.start(
        "onboard-user",
        correlation_id=correlation_id,
        variables=VARIABLES,
        caller=caller,
        wait_ms=0,
    )


def test_an_id_whose_start_never_reached_camunda_starts_again(store: SqlStore, camunda: CamundaStub) -> None:
    unconfirmed(store, "again-1")
    reconcile(store, camunda)
    processes = service(store, camunda)
    ended = processes.read("again-1", caller=ALICE)
    assert (ended.status, (ended.error or {}).get("code")) == (ProcessStatus.ERROR, START_FAILED), "it reads"
    assert ended.never_started
    record = start(processes, "again-1")
    assert record.status is ProcessStatus.PENDING
    (instance,) = camunda.starts_of("again-1")
    assert record.camunda_instance_id == instance["id"], "started, and its instance attached"
    assert start(processes, "again-1").camunda_instance_id == instance["id"], "a repeat joins the new start"
    assert len(camunda.starts_of("again-1")) == 1


def test_only_its_own_client_starts_it_again(store: SqlStore, camunda: CamundaStub) -> None:
    unconfirmed(store, "again-2")
    reconcile(store, camunda)
    processes = service(store, camunda)
    with pytest.raises(CorrelationConflict):
        start(processes, "again-2", caller=Caller("bob"))
    assert camunda.starts_of("again-2") == []
    assert processes.read("again-2", caller=ALICE).never_started, "alice still reads how her start ended"


def test_a_start_that_created_an_instance_is_never_repeated(store: SqlStore, camunda: CamundaStub) -> None:
    unconfirmed(store, "again-3")
    reconcile(store, camunda)
    store.attach_instance("again-3", "late-instance")  # a start whose answer came after the judgement
    processes = service(store, camunda)
    joined = start(processes, "again-3")
    assert (joined.status, joined.camunda_instance_id) == (ProcessStatus.ERROR, "late-instance")
    unconfirmed(store, "again-4")
    assert processes.fail_all_pending(code="FAILED_BY_OPERATOR", reason="reset") == 1
    assert start(processes, "again-4").status is ProcessStatus.ERROR, "another ending says nothing of Camunda"
    assert camunda.starts == []


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("statement", range(1, START_AGAIN_STATEMENTS + 1))
def test_a_start_again_survives_its_connection_killed_at_any_statement(
    killable_backend: tuple[str, Kill], camunda: CamundaStub, statement: int, after: bool
) -> None:
    url, kill = killable_backend
    saboteur = Saboteur(kill)
    store = SqlStore(sabotaged(dialect_for(url, Settings(database_url=url, db_query_timeout_s=5)), saboteur))
    try:
        unconfirmed(store, "again-5")
        reconcile(store, camunda)
        saboteur.arm(statement, after=after)
        record = start(service(store, camunda), "again-5")
        assert saboteur.killed == 1, "the connection was killed"
        assert record.status is ProcessStatus.PENDING
        (instance,) = camunda.starts_of("again-5")
        stored = store.get("again-5")
        assert stored is not None and stored.camunda_instance_id == instance["id"], "started once, attached"
    finally:
        store.close()
