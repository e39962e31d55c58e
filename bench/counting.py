"""What a store does on its connections, counted from outside it: the store is given a dialect
(its public constructor's one argument) whose connections count the statements run on their cursors
and whether they are open."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from waitroom.adapters.store import DatabaseUrl, dialect_for
from waitroom.adapters.store.base import Dialect
from waitroom.settings import Settings

if TYPE_CHECKING:
    from waitroom.adapters.store.migrate import Migration


class Counts:
    """The statements a store's cursors ran while the clock was in ``window``, and its open connections."""

    def __init__(self) -> None:
        self.window = (0.0, 0.0)
        self.statements_in_window = 0
        self.open_connections = 0


class CountingCursor:
    """A DB-API cursor counting each ``execute`` (every operation of the store runs one statement per
    cursor; save is two: its insert, then its read)."""

    def __init__(self, cursor: Any, counts: Counts) -> None:
        self._cursor, self._counts = cursor, counts

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self._counts.window[0] <= time.monotonic() < self._counts.window[1]:
            self._counts.statements_in_window += 1
        return self._cursor.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection:
    """A DB-API connection whose cursors count their statements. Statements run on the connection
    itself (the PostgreSQL wake channel's LISTEN and pg_notify) are the channel's, not the store's,
    and are not counted."""

    def __init__(self, connection: Any, counts: Counts) -> None:
        self._connection, self._counts = connection, counts
        self._open = True
        counts.open_connections += 1

    def cursor(self, *args: Any, **kwargs: Any) -> CountingCursor:
        return CountingCursor(self._connection.cursor(*args, **kwargs), self._counts)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._counts.open_connections -= 1
        self._connection.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class CountingDialect(Dialect):
    """``dialect`` in everything, but that the store's connections count into ``counts``."""

    def __init__(self, dialect: Dialect, counts: Counts) -> None:
        self.dialect, self.counts = dialect, counts
        self.name, self.statements = dialect.name, dialect.statements
        self.url_source = dialect.url_source
        self.pushes_wake_ups = dialect.pushes_wake_ups
        self.purge_statement_rows = dialect.purge_statement_rows
        self.purge_step_rows = dialect.purge_step_rows

    @classmethod
    def from_url(cls, url_source: DatabaseUrl, settings: Settings) -> Self:
        return cls(dialect_for(url_source, settings), Counts())

    def connect(self) -> CountingConnection:
        return CountingConnection(self.dialect.connect(), self.counts)

    def connect_for_migrations(self, statement_timeout_s: float) -> Any:
        return self.dialect.connect_for_migrations(statement_timeout_s)

    def prepare_migrations(self, connection: Any) -> None:
        self.dialect.prepare_migrations(connection)

    def apply_migration(self, connection: Any, migration: Migration, *, record_only: bool = False) -> bool:
        return self.dialect.apply_migration(connection, migration, record_only=record_only)

    def is_disconnect(self, error: BaseException) -> bool:
        return self.dialect.is_disconnect(error)

    def is_unavailable(self, error: BaseException) -> bool:
        return self.dialect.is_unavailable(error)

    def is_duplicate_key(self, error: BaseException) -> bool:
        return self.dialect.is_duplicate_key(error)

    def is_conflict(self, error: BaseException) -> bool:
        return self.dialect.is_conflict(error)

    def driver_error(self) -> type[BaseException] | tuple[type[BaseException], ...]:
        return self.dialect.driver_error()

    def timestamp_param(self, value: datetime) -> Any:
        return self.dialect.timestamp_param(value)

    def to_datetime(self, value: Any) -> datetime:
        return self.dialect.to_datetime(value)
