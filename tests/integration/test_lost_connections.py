"""A start whose database connection is killed at any of its statements is invisible to the client
while the database is up: the statement is retried on a new connection, and a retried insert that
had committed the first time recognises its own row, so the process is started exactly once.

PostgreSQL's connections are killed by the server (``pg_terminate_backend``); SQLite's handle is
closed under the store. "After" a statement means it committed and its answer was then lost."""

from __future__ import annotations

import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.lost_connections import Kill, Saboteur, sabotaged
from tests.support.services import service_on
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.process import Caller, NewProcess, ProcessStatus
from waitroom.settings import Settings

#: A start with no wait: the insert, reading back the row and who made it, the instance's attach,
#: and the first poll of the wait.
START_STATEMENTS = 4


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("statement", range(1, START_STATEMENTS + 1))
def test_a_start_survives_its_connection_killed_at_any_statement(
    killable_backend: tuple[str, Kill], camunda: CamundaStub, statement: int, after: bool
) -> None:
    url, kill = killable_backend
    saboteur = Saboteur(kill)
    settings = Settings(database_url=url, poll_schedule="50", db_query_timeout_s=5)
    store = SqlStore(sabotaged(dialect_for(url, settings), saboteur))
    try:
        service = service_on(store, settings, camunda=CamundaClient(camunda.url, connect_timeout_s=2))
        saboteur.at, saboteur.after = statement, after
        record = service.start(
            "onboard-user",
            correlation_id="lost-1",
            variables={"userId": "u-1"},
            caller=Caller("alice"),
            wait_ms=0,
        )
        assert saboteur.killed == 1, "the connection was killed"
        assert record.status is ProcessStatus.PENDING
        assert len(camunda.starts_of("lost-1")) == 1, "the process was started, once"
        stored = store.get("lost-1")
        assert stored is not None and stored.camunda_instance_id is not None, "its instance is attached"
        _, created = store.save(NewProcess("lost-1", "onboard-user", stored.request_hash or "", "alice"))
        assert not created, "another start of the id still joins it"
    finally:
        store.close()
