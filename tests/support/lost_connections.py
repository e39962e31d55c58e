"""Killing a store's database connection at a chosen statement, for the tests that prove a dropped
connection loses nothing (tests/integration/test_lost_connections.py and its siblings).

PostgreSQL's connections are killed by the server (``pg_terminate_backend`` of the connection's
backend); SQLite's handle is closed under the store. "After" a statement means it committed and its
answer was then lost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.base import Dialect
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings

#: Kills a DB-API connection of the store (the real one, under the saboteur's wrapper).
Kill = Callable[[Any], None]
#: The backends these tests run on: the ones a connection can be killed on here.
BACKENDS = ["postgresql", "sqlite"]


class Saboteur:
    """Kills the store's connection at the n-th statement, before it runs or after it committed."""

    def __init__(self, kill: Kill) -> None:
        self.kill = kill
        self.count = 0
        self.at: int | None = None
        self.after = False
        self.killed = 0

    def arm(self, at: int, *, after: bool) -> None:
        """Kill at the ``at``-th statement from now."""
        self.count, self.at, self.after = 0, at, after

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
    """``dialect``, its every new connection's statements passing through ``saboteur``."""
    real_connect = dialect.connect
    dialect.connect = lambda: _Connection(real_connect(), saboteur)  # type: ignore[method-assign]
    return dialect


@pytest.fixture(params=BACKENDS)
def killable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Kill]:
    """A migrated database on each of :data:`BACKENDS`, and how to kill a connection to it (a
    fixture of every test module: tests/conftest.py lists this module among its plugins)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lost.sqlite3'}"

        def close_handle(connection: Any) -> None:
            connection.close()

        kill: Kill = close_handle
    else:
        url = request.getfixturevalue("pg_schema_url")
        admin_url = request.getfixturevalue("pg_server_url")

        def terminate(connection: Any) -> None:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))

        kill = terminate
    migrate(dialect_for(url, Settings(database_url=url)))
    return url, kill
