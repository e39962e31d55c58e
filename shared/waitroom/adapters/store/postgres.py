"""PostgreSQL through psycopg 3: the networked server every test run here talks to.

Payloads are kept as ``TEXT``, not ``jsonb``: jsonb reorders keys and rewrites numbers, and the
store promises to hand back exactly the JSON it was given.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from waitroom.adapters.store.base import COLUMN_LIST, DatabaseUrl, Dialect, Statements
from waitroom.adapters.store.migrate import Migration
from waitroom.settings import Settings

_SELECT_ONE = f"SELECT {COLUMN_LIST} FROM process_store WHERE correlation_id = %(correlation_id)s"

STATEMENTS = Statements(
    save=(
        "INSERT INTO process_store (correlation_id, status, process_key, request_hash, owner, save_token) "
        "VALUES (%(correlation_id)s, 'PENDING', %(process_key)s, %(request_hash)s, %(owner)s, %(save_token)s) "
        "ON CONFLICT (correlation_id) DO NOTHING"
    ),
    saved=f"SELECT {COLUMN_LIST}, save_token FROM process_store WHERE correlation_id = %(correlation_id)s",
    get=_SELECT_ONE,
    # READ COMMITTED (the default) already shows a poll the newest committed row.
    poll=_SELECT_ONE,
    remove="DELETE FROM process_store WHERE correlation_id = %(correlation_id)s",
    list_page=(
        f"SELECT {COLUMN_LIST} FROM process_store {{where}} "
        "ORDER BY started_at DESC, correlation_id DESC LIMIT %(limit)s"
    ),
    list_filters={
        "status": "status = %(status)s",
        "process_key": "process_key = %(process_key)s",
        "owner": "owner = %(owner)s",
        "started_after": "started_at >= %(started_after)s",
        "started_before": "started_at < %(started_before)s",
        "after": (
            "(started_at < %(after_started_at)s "
            "OR (started_at = %(after_started_at)s AND correlation_id < %(after_id)s))"
        ),
    },
    pending_started_before=(
        f"SELECT {COLUMN_LIST} FROM process_store WHERE status = 'PENDING' AND started_at < %(cutoff)s "
        "ORDER BY started_at, correlation_id LIMIT %(limit)s"
    ),
    cancelled_without_instance=(
        f"SELECT {COLUMN_LIST} FROM process_store WHERE status = 'CANCELLED' AND camunda_instance_id IS NULL "
        "AND started_at >= %(started_after)s AND started_at < %(started_before)s "
        "ORDER BY started_at, correlation_id LIMIT %(limit)s"
    ),
    purge_finished=(
        "DELETE FROM process_store WHERE correlation_id IN (SELECT correlation_id FROM process_store "
        "WHERE status IN ('DONE', 'ERROR', 'CANCELLED') AND updated_at < %(cutoff)s "
        "ORDER BY updated_at LIMIT %(batch)s)"
    ),
    recent_durations=(
        "SELECT EXTRACT(EPOCH FROM completed_at - started_at) * 1000 FROM process_store "
        "WHERE process_key = %(process_key)s AND status = 'DONE' ORDER BY started_at DESC LIMIT %(limit)s"
    ),
    record_step=(
        "INSERT INTO process_event (correlation_id, topic, activity_id, outcome, duration_ms, error_json, "
        "step_token) "
        # The id and the token are used twice; the casts give both uses one type (else: "inconsistent
        # types deduced").
        "SELECT CAST(%(correlation_id)s AS VARCHAR(64)), %(topic)s, %(activity_id)s, %(outcome)s, "
        "%(duration_ms)s, %(error_json)s, CAST(%(step_token)s AS CHAR(32)) "
        "WHERE EXISTS (SELECT 1 FROM process_store WHERE correlation_id = %(correlation_id)s) "
        "AND NOT EXISTS (SELECT 1 FROM process_event WHERE correlation_id = %(correlation_id)s "
        "AND step_token = CAST(%(step_token)s AS CHAR(32)))"
    ),
    step_recorded=(
        "SELECT EXISTS (SELECT 1 FROM process_event WHERE correlation_id = %(correlation_id)s "
        "AND step_token = CAST(%(step_token)s AS CHAR(32)))"
    ),
    steps=(
        "SELECT topic, activity_id, outcome, duration_ms, error_json, occurred_at, step_token FROM process_event "
        "WHERE correlation_id = %(correlation_id)s ORDER BY event_id"
    ),
    attach_instance=(
        "UPDATE process_store SET camunda_instance_id = %(instance_id)s "
        "WHERE correlation_id = %(correlation_id)s AND camunda_instance_id IS NULL"
    ),
    discard_unstarted=(
        "DELETE FROM process_store WHERE correlation_id = %(correlation_id)s "
        "AND status = 'PENDING' AND camunda_instance_id IS NULL"
    ),
    replace_unstarted=(
        "UPDATE process_store SET status = 'PENDING', process_key = %(process_key)s, "
        "request_hash = %(request_hash)s, owner = %(owner)s, save_token = %(save_token)s, payload_json = NULL, "
        "error_json = NULL, started_at = clock_timestamp(), updated_at = clock_timestamp(), completed_at = NULL "
        "WHERE correlation_id = %(correlation_id)s AND status = 'ERROR' AND camunda_instance_id IS NULL "
        "AND updated_at = %(ended_at)s"
    ),
    # A racing second UPDATE waits for the first one's row lock, then re-checks the WHERE clause
    # against the committed row (EvalPlanQual) and changes nothing.
    finish=(
        "UPDATE process_store SET status = %(status)s, payload_json = %(payload_json)s, "
        "error_json = %(error_json)s, camunda_instance_id = COALESCE(camunda_instance_id, %(instance_id)s), "
        "updated_at = clock_timestamp(), completed_at = clock_timestamp() "
        f"WHERE correlation_id = %(correlation_id)s AND status = 'PENDING' RETURNING {COLUMN_LIST}"
    ),
    has_pending=(
        "SELECT EXISTS (SELECT 1 FROM process_store WHERE correlation_id = %(correlation_id)s AND status = 'PENDING')"
    ),
    pending_count="SELECT count(*) FROM process_store WHERE status = 'PENDING'",
    add_waiter=(
        "INSERT INTO waiter_callback (correlation_id, callback_id) VALUES (%(correlation_id)s, %(callback_id)s)"
    ),
    take_waiters="DELETE FROM waiter_callback WHERE correlation_id = %(correlation_id)s RETURNING callback_id",
    drop_waiter=(
        "DELETE FROM waiter_callback WHERE correlation_id = %(correlation_id)s AND callback_id = %(callback_id)s"
    ),
)


class PostgresDialect(Dialect):
    name = "postgresql"
    statements = STATEMENTS
    url_source: DatabaseUrl
    pushes_wake_ups = True

    def __init__(self, url_source: DatabaseUrl, *, connect_timeout_s: float, query_timeout_s: float) -> None:
        self.url_source = url_source
        self.connect_timeout_s = connect_timeout_s
        self.query_timeout_s = query_timeout_s

    @classmethod
    def from_url(cls, url_source: DatabaseUrl, settings: Settings) -> PostgresDialect:
        return cls(
            url_source, connect_timeout_s=settings.db_connect_timeout_s, query_timeout_s=settings.db_query_timeout_s
        )

    def connect(self) -> Any:
        return self._connect(self.query_timeout_s)

    def connect_for_migrations(self, statement_timeout_s: float) -> Any:
        return self._connect(statement_timeout_s)

    def _connect(self, statement_timeout_s: float) -> Any:
        url = self.url_source()
        # Keep the URL's own options (a search_path, say) and add ours after them.
        url_options = conninfo_to_dict(url).get("options") or ""
        options = f"{url_options} -c statement_timeout={round(statement_timeout_s * 1000)} -c TimeZone=UTC"
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout_s)),
            options=options.strip(),
            application_name="waitroom",
        )

    def driver_error(self) -> type[BaseException]:
        return psycopg.Error

    def is_disconnect(self, error: BaseException) -> bool:
        if isinstance(error, psycopg.InterfaceError):
            return True
        return isinstance(error, psycopg.OperationalError) and not self.is_unavailable(error)

    def is_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, (pg_errors.QueryCanceled, pg_errors.LockNotAvailable, pg_errors.CannotConnectNow))

    def is_duplicate_key(self, error: BaseException) -> bool:
        return isinstance(error, pg_errors.UniqueViolation)

    def prepare_migrations(self, connection: Any) -> None:
        with connection.transaction():
            self._lock_and_create_record_table(connection)

    def apply_migration(self, connection: Any, migration: Migration, *, record_only: bool = False) -> bool:
        with connection.transaction():
            self._lock_and_create_record_table(connection)
            row = connection.execute(
                "SELECT 1 FROM waitroom_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if row:
                return False
            if not record_only:
                connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO waitroom_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        return True

    @staticmethod
    def _lock_and_create_record_table(connection: Any) -> None:
        # Serialises migrators; released at commit.
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('waitroom.migrate'))")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS waitroom_migrations (version INTEGER PRIMARY KEY, "
            "name VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )


DIALECT = PostgresDialect
