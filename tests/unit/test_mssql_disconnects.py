"""SQL Server has no server here: its disconnect error numbers are proved on a connection stand-in
that fails as pymssql does, at each statement of a start, a completion and a worker step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymssql
import pytest

from waitroom.adapters.store import SqlStore
from waitroom.adapters.store.base import FixedUrl
from waitroom.adapters.store.mssql import MssqlDialect
from waitroom.domain.process import NewProcess, Outcome, StepEvent, StepOutcome

#: The numbers pymssql/FreeTDS and Azure SQL give a connection that is gone (mssql.py's list).
DISCONNECTS = [20004, 20006, 20009, 20017, 20047, 4060, 40197, 40501, 40613, 49918, 49919, 49920]
ROW = (
    "p-1",
    "PENDING",
    "onboard-user",
    None,
    None,
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00",
    None,
    None,
    "a" * 64,
    "alice",
)


class FakeServer:
    """Answers the store's statements; the n-th one raises the disconnect ``number`` instead."""

    def __init__(self, fail_at: int, number: int) -> None:
        self.fail_at, self.number = fail_at, number
        self.executed = 0
        self.connections = 0
        self.token: str | None = None

    def connect(self) -> Any:
        self.connections += 1
        return _Connection(self)


class _Connection:
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def cursor(self) -> _Cursor:
        return _Cursor(self.server)

    def close(self) -> None:
        pass


class _Cursor:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.rows: list[tuple[Any, ...]] = []
        self.rowcount = 1

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        self.server.executed += 1
        if self.server.executed == self.server.fail_at:
            raise pymssql.OperationalError((self.server.number, b"the connection is gone"))
        if "save_token" in params:
            self.server.token = self.server.token or params["save_token"]
        if "ps.save_token FROM" in sql:  # the row, then the token of the start that made it
            self.rows = [(*ROW, self.server.token)]
        elif "SELECT" in sql or "OUTPUT" in sql:
            self.rows = [ROW]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def close(self) -> None:
        pass


def store_on(server: FakeServer) -> SqlStore:
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    dialect.connect = server.connect  # type: ignore[method-assign]
    return SqlStore(dialect)


def start(store: SqlStore) -> None:
    store.save(NewProcess("p-1", "onboard-user", "a" * 64, "alice"))
    store.attach_instance("p-1", "i-1")


def completion(store: SqlStore) -> None:
    store.finish("p-1", Outcome.done({"ok": True}))


def last_step(store: SqlStore) -> None:
    """What the worker's last step of a process writes: its history, then the process's end."""
    assert store.record_step(StepEvent("p-1", "onboard-user.prepare-response", "Task_1", StepOutcome.COMPLETED, 5))
    store.finish("p-1", Outcome.done({"ok": True}))


#: Each operation, with how many statements it runs: the insert, the row with who made it, the
#: attach; the conditional finish; the step's insert and the finish.
OPERATIONS: dict[str, tuple[int, Callable[[SqlStore], None]]] = {
    "start": (3, start),
    "completion": (1, completion),
    "worker step": (2, last_step),
}


@pytest.mark.parametrize("number", DISCONNECTS)
def test_every_disconnect_number_is_a_lost_connection(number: int) -> None:
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    assert dialect.is_disconnect(pymssql.OperationalError((number, b"gone")))
    assert not dialect.is_disconnect(pymssql.OperationalError((2627, b"duplicate key")))


@pytest.mark.parametrize("number", [20006, 40613])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_operation_reconnects_and_retries_at_each_of_its_statements(operation: str, number: int) -> None:
    statements, run = OPERATIONS[operation]
    for fail_at in range(1, statements + 1):
        server = FakeServer(fail_at, number)
        run(store_on(server))
        assert server.connections == 2, f"{operation}: statement {fail_at} was retried on a new connection"
