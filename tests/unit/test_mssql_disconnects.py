"""SQL Server has no server here: its error numbers are proved on a connection stand-in that fails as
pymssql does (a lost connection, a deadlock victim, a lock timeout), at each statement of a start, a
completion and a worker step; and its migrations' and retention's statements on stand-ins as well."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pymssql
import pytest

from waitroom.adapters.store import SqlStore
from waitroom.adapters.store.base import CONFLICT_RETRIES, FixedUrl
from waitroom.adapters.store.migrate import discover
from waitroom.adapters.store.mssql import STATEMENTS, MssqlDialect, _error_number, mssql_batches
from waitroom.domain.errors import StoreUnavailable
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


# --- lock conflicts: a deadlock victim or a lock timeout runs again on the same connection ------------

#: pymssql's shape of SQL Server's deadlock victim (1205) and lock timeout (1222) errors.
CONFLICTS = {
    1205: b"Transaction (Process ID 57) was deadlocked on lock resources with another process and has been "
    b"chosen as the deadlock victim. Rerun the transaction.DB-Lib error message 20018, severity 13:\n"
    b"General SQL Server error: Check messages from the SQL Server\n",
    1222: b"Lock request time out period exceeded.DB-Lib error message 20018, severity 16:\n"
    b"General SQL Server error: Check messages from the SQL Server\n",
}


class ConflictingServer(FakeServer):
    """Its statements numbered ``fail_at`` raise the conflict ``number`` (as pymssql raises it)."""

    def __init__(self, fail_at: set[int], number: int) -> None:
        super().__init__(0, number)
        self.failing = fail_at

    def connect(self) -> Any:
        self.connections += 1
        return _ConflictingConnection(self)


class _ConflictingConnection(_Connection):
    def cursor(self) -> _Cursor:
        server = self.server
        assert isinstance(server, ConflictingServer)
        cursor = _Cursor(server)
        execute = cursor.execute

        def conflicting(sql: str, params: dict[str, Any]) -> None:
            if server.executed + 1 in server.failing:
                server.executed += 1
                raise pymssql.OperationalError((server.number, CONFLICTS[server.number]))
            execute(sql, params)

        cursor.execute = conflicting  # type: ignore[method-assign]
        return cursor


@pytest.mark.parametrize("number", sorted(CONFLICTS))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_statement_that_lost_a_lock_conflict_runs_again_on_the_same_connection(operation: str, number: int) -> None:
    statements, run = OPERATIONS[operation]
    for fail_at in range(1, statements + 1):
        server = ConflictingServer({fail_at}, number)
        run(store_on(server))
        assert server.connections == 1, f"{operation}: statement {fail_at} ran again on its connection"
        assert server.executed == statements + 1


def test_a_statement_chosen_as_victim_again_and_again_is_unavailable_and_keeps_its_connection() -> None:
    server = ConflictingServer(set(range(1, 1 + 1 + CONFLICT_RETRIES)), 1205)
    store = store_on(server)
    with pytest.raises(StoreUnavailable, match="deadlock victim or a lock timeout") as raised:
        completion(store)
    assert _error_number(raised.value.__cause__) == 1205  # type: ignore[arg-type]
    assert server.executed == 1 + CONFLICT_RETRIES
    completion(store)
    assert server.connections == 1, "the connection was sound all along"


# --- each connection counts rows, whatever the server's default options --------------------------------


class _RecordingConnection:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.closed = False

    def cursor(self) -> Any:
        connection = self

        class Cursor:
            def execute(self, sql: str, params: Any = None) -> None:
                connection.statements.append(sql)

            def close(self) -> None:
                pass

        return Cursor()

    def close(self) -> None:
        self.closed = True


def test_every_connection_turns_row_counts_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a server whose ``user options`` include NOCOUNT, pymssql's rowcount is -1: retention would
    stop after one batch, and a step would never be seen as inserted."""
    opened: list[_RecordingConnection] = []

    def connect(**kwargs: Any) -> _RecordingConnection:
        opened.append(_RecordingConnection())
        return opened[-1]

    monkeypatch.setattr(pymssql, "connect", connect)
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    dialect.connect()
    dialect.connect_for_migrations(600)
    assert [connection.statements for connection in opened] == [["SET NOCOUNT OFF"], ["SET NOCOUNT OFF"]]


# --- migrations ------------------------------------------------------------------------------------------


class _MigrationConnection:
    """A connection that breaks at the statement containing ``breaks_at``: that statement raises a
    lost connection, and so does everything after it (the rollback too)."""

    def __init__(self, breaks_at: str) -> None:
        self.breaks_at = breaks_at
        self.broken = False
        self.statements: list[str] = []

    def autocommit(self, on: bool) -> None:
        self._check()

    def _check(self) -> None:
        if self.broken:
            raise pymssql.OperationalError((20047, b"DBPROCESS is dead or not enabled"))

    def cursor(self) -> Any:
        connection = self

        class Cursor:
            def execute(self, sql: str, params: Any = None) -> None:
                connection._check()
                connection.statements.append(sql)
                if connection.breaks_at in sql:
                    connection.broken = True
                    raise pymssql.OperationalError((20006, b"Write to the server failed"))

            def fetchone(self) -> None:
                return None

        return Cursor()

    def commit(self) -> None:
        self._check()

    def rollback(self) -> None:
        self._check()


def test_a_migration_that_loses_its_connection_reports_its_own_error() -> None:
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    migration = discover("mssql")[-1]
    connection = _MigrationConnection(breaks_at=mssql_batches(migration.sql)[0][:40])
    with pytest.raises(pymssql.OperationalError) as raised:
        dialect.apply_migration(connection, migration)
    assert _error_number(raised.value) == 20006, "the error is the migration's, not the failed rollback's"


def test_a_baseline_records_a_migration_without_running_it() -> None:
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    migration = discover("mssql")[0]
    connection = _MigrationConnection(breaks_at="never sent")
    assert dialect.apply_migration(connection, migration, record_only=True)
    assert not any("CREATE TABLE dbo.process_store" in statement for statement in connection.statements)
    assert "INSERT INTO dbo.waitroom_migrations" in connection.statements[-1]


# --- retention: no statement holds locks enough to escalate to a table lock ----------------------------


class _RetentionServer:
    """A table of ``processes`` finished rows with ``steps_each`` steps each, deleted as SQL Server would."""

    def __init__(self, processes: int, steps_each: int) -> None:
        self.processes, self.steps = processes, processes * steps_each
        self.deletes: list[tuple[str, int]] = []

    def connect(self) -> Any:
        server = self

        class Cursor:
            rowcount = -1

            def execute(self, sql: str, params: dict[str, Any]) -> None:
                if sql == STATEMENTS.purge_finished_steps:
                    self.rowcount = min(params["steps"], server.steps)
                    server.steps -= self.rowcount
                    server.deletes.append(("steps", self.rowcount))
                else:
                    assert sql == STATEMENTS.purge_finished
                    self.rowcount = min(params["batch"], server.processes)
                    server.processes -= self.rowcount
                    server.deletes.append(("processes", self.rowcount))

            def close(self) -> None:
                pass

        class Connection:
            def cursor(self) -> Cursor:
                return Cursor()

            def close(self) -> None:
                pass

        return Connection()


def test_retention_deletes_steps_first_and_no_statement_deletes_more_than_a_few_thousand_rows() -> None:
    server = _RetentionServer(processes=2_500, steps_each=6)
    dialect = MssqlDialect(FixedUrl("mssql://u:p@db.example:1433/waitroom"), connect_timeout_s=1, query_timeout_s=1)
    dialect.connect = server.connect  # type: ignore[method-assign]
    store = SqlStore(dialect)
    cutoff = datetime(2026, 1, 1, tzinfo=UTC)
    assert store.purge_finished(updated_before=cutoff, batch=100_000) == 2_500, "the whole batch asked for"
    assert (server.processes, server.steps) == (0, 0)
    assert max(rows for _, rows in server.deletes) <= 4_000, "below SQL Server's escalation at 5,000 locks"
    # Each batch of processes goes only once its steps are gone: the cascade then deletes nothing.
    kinds = [kind for kind, _ in server.deletes]
    assert kinds.count("processes") == 3
    for index, kind in enumerate(kinds):
        if kind == "processes":
            assert kinds[index - 1] == "steps" and server.deletes[index - 1][1] < 4_000
