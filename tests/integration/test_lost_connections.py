"""A start whose database connection is killed at any of its statements is invisible to the client
while the database is up: the statement is retried on a new connection, and a retried insert that
had committed the first time recognises its own row, so the process is started exactly once.

PostgreSQL's connections are killed by the server (``pg_terminate_backend``); SQLite's handle is
closed under the store. "After" a statement means it committed and its answer was then lost."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.services import service_on
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.base import Dialect
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.process import Caller, NewProcess, ProcessStatus
from waitroom.settings import Settings

#: A start with no wait: the insert, reading back who made the row, the row, the instance's
#: attach, and the first poll of the wait.
START_STATEMENTS = 5


class Saboteur:
    """Kills the store's connection at the n-th statement, before it runs or after it committed."""

    def __init__(self, kill: Any) -> None:
        self.kill = kill
        self.count = 0
        self.at: int | None = None
        self.after = False
        self.killed = 0

    def execute(self, connection: Any, cursor: Any, sql: str, params: Any) -> Any:
        self.count += 1
        if self.count != self.at:
            return cursor.execute(sql, params)
        self.killed += 1
        if not self.after:
            self.kill(connection)
            return cursor.execute(sql, params)
        cursor.execute(sql, params)
        self.kill(connection)
        # The statement committed; the driver learns of the lost connection before its answer is read.
        return cursor.execute("SELECT 1")


class _Cursor:
    def __init__(self, connection: Any, cursor: Any, saboteur: Saboteur) -> None:
        self._connection, self._cursor, self._saboteur = connection, cursor, saboteur

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._saboteur.execute(self._connection, self._cursor, sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _Connection:
    def __init__(self, connection: Any, saboteur: Saboteur) -> None:
        self._connection, self._saboteur = connection, saboteur

    def cursor(self) -> _Cursor:
        return _Cursor(self._connection, self._connection.cursor(), self._saboteur)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def sabotaged(dialect: Dialect, saboteur: Saboteur) -> Dialect:
    real_connect = dialect.connect
    dialect.connect = lambda: _Connection(real_connect(), saboteur)  # type: ignore[method-assign]
    return dialect


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, Any]:
    """A migrated database and how to kill a connection to it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lost.sqlite3'}"

        def close_handle(connection: Any) -> None:
            connection.close()

        kill = close_handle
    else:
        url = request.getfixturevalue("pg_schema_url")
        admin_url = request.getfixturevalue("pg_server_url")

        def terminate(connection: Any) -> None:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))

        kill = terminate
    migrate(dialect_for(url, Settings(database_url=url)))
    return url, kill


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("statement", range(1, START_STATEMENTS + 1))
def test_a_start_survives_its_connection_killed_at_any_statement(
    backend: tuple[str, Any], camunda: CamundaStub, statement: int, after: bool
) -> None:
    url, kill = backend
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
            max_wait_ms=0,
            remaining_ms=None,
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
