"""SQLite: the embedded store for running locally and for fast tests (stdlib ``sqlite3``)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from waitroom.adapters.store.base import COLUMN_LIST, DatabaseUrl, Dialect, Statements, as_utc
from waitroom.adapters.store.migrate import Migration
from waitroom.settings import Settings

#: SQLite keeps time as ISO-8601 text; this is UTC with milliseconds, like DATETIME2(3).
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

STATEMENTS = Statements(
    save=(
        "INSERT INTO process_store (correlation_id, status, process_key, request_hash, owner, save_token) "
        "VALUES (:correlation_id, 'PENDING', :process_key, :request_hash, :owner, :save_token) "
        "ON CONFLICT (correlation_id) DO NOTHING"
    ),
    saved=f"SELECT {COLUMN_LIST}, save_token FROM process_store WHERE correlation_id = :correlation_id",
    get=f"SELECT {COLUMN_LIST} FROM process_store WHERE correlation_id = :correlation_id",
    poll=f"SELECT {COLUMN_LIST} FROM process_store WHERE correlation_id = :correlation_id",
    remove="DELETE FROM process_store WHERE correlation_id = :correlation_id",
    list_page=(
        f"SELECT {COLUMN_LIST} FROM process_store {{where}} ORDER BY started_at DESC, correlation_id DESC LIMIT :limit"
    ),
    list_filters={
        "status": "status = :status",
        "process_key": "process_key = :process_key",
        "owner": "owner = :owner",
        "started_after": "started_at >= :started_after",
        "started_before": "started_at < :started_before",
        "after": "(started_at < :after_started_at OR (started_at = :after_started_at AND correlation_id < :after_id))",
    },
    pending_started_before=(
        f"SELECT {COLUMN_LIST} FROM process_store WHERE status = 'PENDING' AND started_at < :cutoff "
        "ORDER BY started_at, correlation_id LIMIT :limit"
    ),
    cancelled_without_instance=(
        f"SELECT {COLUMN_LIST} FROM process_store WHERE status = 'CANCELLED' AND camunda_instance_id IS NULL "
        "AND started_at >= :started_after AND started_at < :started_before "
        "ORDER BY started_at, correlation_id LIMIT :limit"
    ),
    purge_finished=(
        "DELETE FROM process_store WHERE correlation_id IN (SELECT correlation_id FROM process_store "
        "WHERE status IN ('DONE', 'ERROR', 'CANCELLED') AND updated_at < :cutoff LIMIT :batch)"
    ),
    recent_durations=(
        "SELECT (julianday(completed_at) - julianday(started_at)) * 86400000.0 FROM process_store "
        "WHERE process_key = :process_key AND status = 'DONE' ORDER BY started_at DESC LIMIT :limit"
    ),
    record_step=(
        "INSERT INTO process_event (correlation_id, topic, activity_id, outcome, duration_ms, error_json, "
        "step_token) "
        "SELECT :correlation_id, :topic, :activity_id, :outcome, :duration_ms, :error_json, :step_token "
        "WHERE EXISTS (SELECT 1 FROM process_store WHERE correlation_id = :correlation_id) "
        "AND NOT EXISTS (SELECT 1 FROM process_event WHERE correlation_id = :correlation_id "
        "AND step_token = :step_token)"
    ),
    step_recorded=(
        "SELECT EXISTS (SELECT 1 FROM process_event WHERE correlation_id = :correlation_id "
        "AND step_token = :step_token)"
    ),
    steps=(
        "SELECT topic, activity_id, outcome, duration_ms, error_json, occurred_at, step_token FROM process_event "
        "WHERE correlation_id = :correlation_id ORDER BY event_id"
    ),
    attach_instance=(
        "UPDATE process_store SET camunda_instance_id = :instance_id "
        "WHERE correlation_id = :correlation_id AND camunda_instance_id IS NULL"
    ),
    discard_unstarted=(
        "DELETE FROM process_store WHERE correlation_id = :correlation_id "
        "AND status = 'PENDING' AND camunda_instance_id IS NULL"
    ),
    replace_unstarted=(
        "UPDATE process_store SET status = 'PENDING', process_key = :process_key, request_hash = :request_hash, "
        "owner = :owner, save_token = :save_token, payload_json = NULL, error_json = NULL, "
        f"started_at = {NOW}, updated_at = {NOW}, completed_at = NULL "
        "WHERE correlation_id = :correlation_id AND status = 'ERROR' AND camunda_instance_id IS NULL "
        "AND updated_at = :ended_at"
    ),
    finish=(
        "UPDATE process_store SET status = :status, payload_json = :payload_json, error_json = :error_json, "
        f"camunda_instance_id = COALESCE(camunda_instance_id, :instance_id), updated_at = {NOW}, "
        f"completed_at = {NOW} "
        f"WHERE correlation_id = :correlation_id AND status = 'PENDING' RETURNING {COLUMN_LIST}"
    ),
    has_pending=(
        "SELECT EXISTS (SELECT 1 FROM process_store WHERE correlation_id = :correlation_id AND status = 'PENDING')"
    ),
    pending_count="SELECT COUNT(*) FROM process_store WHERE status = 'PENDING'",
    add_waiter="INSERT INTO waiter_callback (correlation_id, callback_id) VALUES (:correlation_id, :callback_id)",
    take_waiters="DELETE FROM waiter_callback WHERE correlation_id = :correlation_id RETURNING callback_id",
    drop_waiter="DELETE FROM waiter_callback WHERE correlation_id = :correlation_id AND callback_id = :callback_id",
)


class SqliteDialect(Dialect):
    name = "sqlite"
    statements = STATEMENTS

    def __init__(self, path: str, *, busy_timeout_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s

    @classmethod
    def from_url(cls, url_source: DatabaseUrl, settings: Settings) -> SqliteDialect:
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
        rest = url_source().split("://", 1)[1]
        path = rest[1:] if rest.startswith("/") else rest
        return cls(path or ":memory:", busy_timeout_s=settings.db_query_timeout_s)

    def connect(self) -> sqlite3.Connection:
        return self._connect(self.busy_timeout_s)

    def connect_for_migrations(self, statement_timeout_s: float) -> sqlite3.Connection:
        return self._connect(statement_timeout_s)

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        # WAL lets the waiting readers of other processes read while a completion writes.
        self._use_wal(connection)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        # Turning a new file to WAL needs it alone, and SQLite answers "locked" at once instead of
        # waiting through the busy timeout: connections opening a new file together take turns here.
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    connection.close()
                    raise
                time.sleep(0.01)

    def timestamp_param(self, value: datetime) -> str:
        """The stored text form, so that text comparison is time comparison."""
        return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def driver_error(self) -> type[BaseException]:
        return sqlite3.Error

    def is_disconnect(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error)

    def is_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and (
            "locked" in str(error) or "unable to open" in str(error)
        )

    def is_duplicate_key(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError)

    def prepare_migrations(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS waitroom_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )

    def apply_migration(
        self, connection: sqlite3.Connection, migration: Migration, *, record_only: bool = False
    ) -> bool:
        # BEGIN IMMEDIATE takes the database's write lock: a second migrator waits here.
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute(
                "SELECT 1 FROM waitroom_migrations WHERE version = ?", (migration.version,)
            ).fetchone():
                connection.execute("ROLLBACK")
                return False
            if not record_only:
                for statement in sqlite_statements(migration.sql):
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO waitroom_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
            connection.execute("COMMIT")
        except BaseException:
            # The migration's own error, not the rollback's on a connection that broke.
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        return True


def sqlite_statements(script: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit our open transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()):
        raise ValueError("the migration ends with an unterminated statement")


DIALECT = SqliteDialect
