"""SQL Server, the production store, through pymssql (paramstyle ``pyformat``).

pymssql interpolates parameters on the client: the statement reaches the server as text, with each
value escaped into it, and a Python ``str`` as an ``N'...'`` literal. Compared with a ``VARCHAR``
column, that literal would convert the *column* to NVARCHAR (data type precedence) and, under a SQL
collation, turn every key lookup into an index scan. Every key is therefore cast to the column's type
on the parameter side, which keeps the seeks. A cast truncates silently and turns characters outside
the code page into ``?``: only values of the domain's form reach it (``NewProcess`` refuses others,
and the store answers a lookup of another id itself), and the owner, any Unicode, is ``NVARCHAR``.

The id, key, owner and token columns have a binary collation (``migrations/mssql/007``): they compare
byte for byte, as on PostgreSQL and SQLite. Equality on SQL Server ignores trailing blanks whatever
the collation, so the owner filter also compares lengths (``DATALENGTH``); ids and keys hold no blanks.

Each connection starts with ``SET NOCOUNT OFF``: under a server or login whose default options
include NOCOUNT, pymssql would read every row count as -1 (retention would stop after one batch).

``finish`` and ``fail_all_pending`` return rows with ``OUTPUT`` without ``INTO``, which SQL Server
refuses on a table with an enabled trigger (error 334): ``dbo.process_store`` must have none.

Locking, statement by statement (all statements run in autocommit, one transaction each):

* ``save`` is ``INSERT … SELECT … WHERE NOT EXISTS`` with ``UPDLOCK, HOLDLOCK`` on the existence
  check. Under plain READ COMMITTED two first starts of one id could both see "absent" and the
  second would fail on the primary key; ``HOLDLOCK`` (serializable) takes a key-range lock on the
  absent key and ``UPDLOCK`` makes it exclusive among checkers, so the second start waits for the
  first to commit and then sees its row. The primary key stays the last word (2627 is caught).
* ``poll`` reads ``WITH (READCOMMITTEDLOCK, ROWLOCK)``. Databases running READ_COMMITTED_SNAPSHOT
  (Azure SQL's default) would hand a poll the last committed version, PENDING, while a completion
  is committing, and the waiter would sleep a whole interval for nothing. READCOMMITTEDLOCK makes
  the poll wait the few milliseconds for that commit instead; ROWLOCK keeps the shared lock on one
  row, so polls never take page locks that would block completions of neighbouring rows.
* ``finish`` is one conditional ``UPDATE … WHERE status = 'PENDING'``. The first completion's
  exclusive row lock makes a racing one wait; SQL Server then re-evaluates the predicate against
  the committed row (DML qualifies rows with locks even under row versioning), finds it finished
  and changes nothing. ``OUTPUT inserted.*`` returns the finished row in the same round trip.
* ``record_step`` is ``INSERT … SELECT … WHERE NOT EXISTS`` a row of the process with the step's
  token, with ``UPDLOCK, HOLDLOCK`` on that check for the reason ``save`` has them: an attempt
  retried on a new connection while the server still runs the first one waits for it, then sees its
  row. The range locked is one process's few steps (``IX_ProcessEvent_CorrelationId``).
* A deadlock victim (1205) or a lock timeout (1222) was rolled back by the server: the store runs the
  statement again on the same connection (every statement is safe to repeat).
* Retention deletes the steps of the processes it is about to delete first, at most
  ``purge_step_rows`` a statement, then at most ``purge_statement_rows`` processes a statement: one
  statement's locks stay below the 5,000 on one table or index at which SQL Server escalates them to
  a table lock, which would hold up every start and completion.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pymssql

from waitroom.adapters.store.base import COLUMNS, DatabaseUrl, Dialect, Statements, as_utc
from waitroom.adapters.store.migrate import Migration
from waitroom.domain.errors import ConfigurationError
from waitroom.settings import Settings

logger = logging.getLogger(__name__)

SELECT_LIST = ", ".join(f"ps.{column}" for column in COLUMNS)
OUTPUT_LIST = ", ".join(f"inserted.{column}" for column in COLUMNS)
ID = "CAST(%(correlation_id)s AS VARCHAR(64))"
CALLBACK_ID = "CAST(%(callback_id)s AS VARCHAR(1024))"
OWNER = "CAST(%(owner)s AS NVARCHAR(255))"
#: The finished rows retention deletes next, oldest first.
EXPIRED = (
    "SELECT TOP (%(batch)s) correlation_id FROM dbo.process_store "
    "WHERE status IN ('DONE', 'ERROR', 'CANCELLED') AND updated_at < %(cutoff)s ORDER BY updated_at"
)
#: The step's token, typed as its column, as ID is.
STEP_RUN = "CAST(%(step_token)s AS CHAR(32))"

STATEMENTS = Statements(
    save=(
        "INSERT INTO dbo.process_store (correlation_id, status, process_key, request_hash, owner, save_token) "
        f"SELECT {ID}, 'PENDING', CAST(%(process_key)s AS VARCHAR(255)), CAST(%(request_hash)s AS CHAR(64)), "
        f"{OWNER}, CAST(%(save_token)s AS CHAR(32)) "
        "WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) "
        f"WHERE correlation_id = {ID})"
    ),
    saved=f"SELECT {SELECT_LIST}, ps.save_token FROM dbo.process_store AS ps WHERE ps.correlation_id = {ID}",
    get=f"SELECT {SELECT_LIST} FROM dbo.process_store AS ps WHERE ps.correlation_id = {ID}",
    poll=(
        f"SELECT {SELECT_LIST} FROM dbo.process_store AS ps WITH (READCOMMITTEDLOCK, ROWLOCK) "
        f"WHERE ps.correlation_id = {ID}"
    ),
    remove=f"DELETE FROM dbo.process_store WHERE correlation_id = {ID}",
    list_page=(
        f"SELECT TOP (%(limit)s) {SELECT_LIST} FROM dbo.process_store AS ps {{where}} "
        "ORDER BY ps.started_at DESC, ps.correlation_id DESC"
    ),
    list_filters={
        "status": "ps.status = CAST(%(status)s AS VARCHAR(16))",
        "process_key": "ps.process_key = CAST(%(process_key)s AS VARCHAR(255))",
        "owner": f"ps.owner = {OWNER} AND DATALENGTH(ps.owner) = DATALENGTH({OWNER})",
        "started_after": "ps.started_at >= %(started_after)s",
        "started_before": "ps.started_at < %(started_before)s",
        "after": (
            "(ps.started_at < %(after_started_at)s OR (ps.started_at = %(after_started_at)s "
            "AND ps.correlation_id < CAST(%(after_id)s AS VARCHAR(64))))"
        ),
    },
    pending_started_before=(
        f"SELECT TOP (%(limit)s) {SELECT_LIST} FROM dbo.process_store AS ps "
        "WHERE ps.status = 'PENDING' AND ps.started_at < %(cutoff)s ORDER BY ps.started_at, ps.correlation_id"
    ),
    cancelled_without_instance=(
        f"SELECT TOP (%(limit)s) {SELECT_LIST} FROM dbo.process_store AS ps "
        "WHERE ps.status = 'CANCELLED' AND ps.camunda_instance_id IS NULL "
        "AND ps.started_at >= %(started_after)s AND ps.started_at < %(started_before)s "
        "ORDER BY ps.started_at, ps.correlation_id"
    ),
    # Small batches, oldest first, keep each delete's locks few and short, so completions are never
    # held up long. (Equivalent to DELETE TOP (n), which cannot say which rows go first.)
    purge_finished=f"DELETE FROM dbo.process_store WHERE correlation_id IN ({EXPIRED})",
    purge_finished_steps=(
        "DELETE FROM dbo.process_event WHERE event_id IN (SELECT TOP (%(steps)s) event_id FROM dbo.process_event "
        f"WHERE correlation_id IN ({EXPIRED}))"
    ),
    recent_durations=(
        "SELECT TOP (%(limit)s) DATEDIFF_BIG(MILLISECOND, CAST(ps.started_at AS DATETIME2), "
        "CAST(ps.completed_at AS DATETIME2)) "
        "FROM dbo.process_store AS ps WHERE ps.process_key = CAST(%(process_key)s AS VARCHAR(255)) "
        "AND ps.status = 'DONE' ORDER BY ps.started_at DESC"
    ),
    record_step=(
        "INSERT INTO dbo.process_event (correlation_id, topic, activity_id, outcome, duration_ms, error_json, "
        "step_token) "
        f"SELECT {ID}, CAST(%(topic)s AS VARCHAR(255)), CAST(%(activity_id)s AS VARCHAR(255)), "
        f"CAST(%(outcome)s AS VARCHAR(16)), %(duration_ms)s, %(error_json)s, {STEP_RUN} "
        f"WHERE EXISTS (SELECT 1 FROM dbo.process_store WHERE correlation_id = {ID}) "
        "AND NOT EXISTS (SELECT 1 FROM dbo.process_event WITH (UPDLOCK, HOLDLOCK) "
        f"WHERE correlation_id = {ID} AND step_token = {STEP_RUN})"
    ),
    step_recorded=(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM dbo.process_event "
        f"WHERE correlation_id = {ID} AND step_token = {STEP_RUN}) THEN 1 ELSE 0 END"
    ),
    steps=(
        "SELECT topic, activity_id, outcome, duration_ms, error_json, occurred_at, step_token "
        f"FROM dbo.process_event WHERE correlation_id = {ID} ORDER BY event_id"
    ),
    attach_instance=(
        "UPDATE dbo.process_store SET camunda_instance_id = CAST(%(instance_id)s AS VARCHAR(64)) "
        f"WHERE correlation_id = {ID} AND camunda_instance_id IS NULL"
    ),
    discard_unstarted=(
        f"DELETE FROM dbo.process_store WHERE correlation_id = {ID} "
        "AND status = 'PENDING' AND camunda_instance_id IS NULL"
    ),
    replace_unstarted=(
        "UPDATE dbo.process_store SET status = 'PENDING', process_key = CAST(%(process_key)s AS VARCHAR(255)), "
        f"request_hash = CAST(%(request_hash)s AS CHAR(64)), owner = {OWNER}, "
        "save_token = CAST(%(save_token)s AS CHAR(32)), payload_json = NULL, error_json = NULL, "
        "started_at = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME(), completed_at = NULL "
        f"WHERE correlation_id = {ID} AND status = 'ERROR' AND camunda_instance_id IS NULL "
        "AND updated_at = %(ended_at)s"
    ),
    finish=(
        "UPDATE dbo.process_store SET status = CAST(%(status)s AS VARCHAR(16)), "
        "payload_json = %(payload_json)s, error_json = %(error_json)s, "
        "camunda_instance_id = COALESCE(camunda_instance_id, CAST(%(instance_id)s AS VARCHAR(64))), "
        "updated_at = SYSUTCDATETIME(), completed_at = SYSUTCDATETIME() "
        f"OUTPUT {OUTPUT_LIST} "
        f"WHERE correlation_id = {ID} AND status = 'PENDING'"
    ),
    has_pending=(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM dbo.process_store "
        f"WHERE correlation_id = {ID} AND status = 'PENDING') THEN 1 ELSE 0 END"
    ),
    pending_count="SELECT COUNT_BIG(*) FROM dbo.process_store WHERE status = 'PENDING'",
    add_waiter=(f"INSERT INTO dbo.waiter_callback (correlation_id, callback_id) VALUES ({ID}, {CALLBACK_ID})"),
    take_waiters=f"DELETE dbo.waiter_callback OUTPUT deleted.callback_id WHERE correlation_id = {ID}",
    drop_waiter=f"DELETE FROM dbo.waiter_callback WHERE correlation_id = {ID} AND callback_id = {CALLBACK_ID}",
)

# A connection that is gone: FreeTDS/db-lib (write/read failed, dead DBPROCESS), and the transient
# errors after which Azure SQL asks for a new connection (failover, reconfiguration, throttling).
_DISCONNECT_NUMBERS = frozenset({20004, 20006, 20009, 20017, 20047, 4060, 40197, 40501, 40613, 49918, 49919, 49920})
# The server is there but did not answer in time (our timeout): the connection may be mid-answer.
_TIMEOUT_NUMBERS = frozenset({20003})
# A deadlock victim and a lock timeout: the server rolled the statement back, the connection is sound.
_CONFLICT_NUMBERS = frozenset({1205, 1222})
# Primary key and unique index violations.
_DUPLICATE_KEY_NUMBERS = frozenset({2627, 2601})


def _error_number(error: BaseException) -> int | None:
    number = getattr(error, "number", None)
    if isinstance(number, int):
        return number
    if error.args and isinstance(error.args[0], tuple) and error.args[0] and isinstance(error.args[0][0], int):
        return error.args[0][0]
    return None


class MssqlDialect(Dialect):
    name = "mssql"
    statements = STATEMENTS
    url_source: DatabaseUrl
    purge_statement_rows = 1000

    def __init__(
        self,
        url_source: DatabaseUrl,
        *,
        connect_timeout_s: float,
        query_timeout_s: float,
        require_encryption: bool = False,
    ) -> None:
        self.url_source = url_source
        self.connect_timeout_s = connect_timeout_s
        self.query_timeout_s = query_timeout_s
        self.require_encryption = require_encryption
        self.connect_args()  # a malformed URL fails now, at cold start

    @classmethod
    def from_url(cls, url_source: DatabaseUrl, settings: Settings) -> MssqlDialect:
        return cls(
            url_source,
            connect_timeout_s=settings.db_connect_timeout_s,
            query_timeout_s=settings.db_query_timeout_s,
            require_encryption=settings.db_require_encryption,
        )

    def connect_args(self) -> dict[str, Any]:
        parts = urlsplit(self.url_source())
        if not parts.hostname or not parts.path.strip("/"):
            raise ConfigurationError("DATABASE_URL: an SQL Server URL is mssql://user:pass@host:1433/database")
        return {
            "server": parts.hostname,
            "port": str(parts.port or 1433),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "database": unquote(parts.path.strip("/")),
            # Whole seconds, at least one: pymssql treats 0 as "wait forever".
            "login_timeout": max(1, round(self.connect_timeout_s)),
            "timeout": max(1, round(self.query_timeout_s)),
            # Without an explicit TDS version FreeTDS negotiates down from an old default and a
            # silent server costs twice the login timeout, or minutes.
            "tds_version": "7.4",
            "autocommit": True,
            "use_datetime2": True,
            "appname": "waitroom",
            # FreeTDS's "require" refuses a server that will not encrypt the connection (TLS); without
            # it FreeTDS's default applies, which accepts a server that does not.
            **({"encryption": "require"} if self.require_encryption else {}),
        }

    def connect(self) -> Any:
        return self._prepared(pymssql.connect(**self.connect_args()))

    def connect_for_migrations(self, statement_timeout_s: float) -> Any:
        return self._prepared(pymssql.connect(**{**self.connect_args(), "timeout": max(1, round(statement_timeout_s))}))

    @staticmethod
    def _prepared(connection: Any) -> Any:
        """The connection with row counts on, whatever the server's and the login's default options."""
        try:
            cursor = connection.cursor()
            cursor.execute("SET NOCOUNT OFF")
            cursor.close()
        except BaseException:
            with contextlib.suppress(pymssql.Error):
                connection.close()
            raise
        return connection

    def timestamp_param(self, value: datetime) -> datetime:
        """DATETIME2 holds no zone: the store's times are UTC, so the parameter is naive UTC."""
        return as_utc(value).replace(tzinfo=None)

    def driver_error(self) -> type[BaseException]:
        return pymssql.Error

    def is_disconnect(self, error: BaseException) -> bool:
        if isinstance(error, pymssql.InterfaceError):
            return True
        return isinstance(error, pymssql.OperationalError) and _error_number(error) in _DISCONNECT_NUMBERS

    def is_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, pymssql.OperationalError) and _error_number(error) in _TIMEOUT_NUMBERS

    def is_conflict(self, error: BaseException) -> bool:
        return isinstance(error, pymssql.OperationalError) and _error_number(error) in _CONFLICT_NUMBERS

    def is_duplicate_key(self, error: BaseException) -> bool:
        return isinstance(error, pymssql.IntegrityError) and _error_number(error) in _DUPLICATE_KEY_NUMBERS

    def prepare_migrations(self, connection: Any) -> None:
        self._in_transaction(connection, self._lock_and_create_record_table)

    def apply_migration(self, connection: Any, migration: Migration, *, record_only: bool = False) -> bool:
        def apply(cursor: Any) -> bool:
            self._lock_and_create_record_table(cursor)
            cursor.execute("SELECT 1 FROM dbo.waitroom_migrations WHERE version = %s", (migration.version,))
            if cursor.fetchone():
                return False
            if not record_only:
                for batch in mssql_batches(migration.sql):
                    cursor.execute(batch)
            cursor.execute(
                "INSERT INTO dbo.waitroom_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            return True

        return self._in_transaction(connection, apply)

    @staticmethod
    def _lock_and_create_record_table(cursor: Any) -> None:
        # Serialises migrators; released at commit or rollback.
        # sp_getapplock reports a timeout in its return code, not as an error: THROW turns it into one.
        cursor.execute(
            "DECLARE @granted INT; "
            "EXEC @granted = sp_getapplock @Resource = 'waitroom.migrate', @LockMode = 'Exclusive', "
            "@LockOwner = 'Transaction', @LockTimeout = 60000; "
            "IF @granted < 0 THROW 50001, 'another migrate holds the migration lock', 1;"
        )
        cursor.execute(
            "IF OBJECT_ID(N'dbo.waitroom_migrations', N'U') IS NULL "
            "CREATE TABLE dbo.waitroom_migrations (version INT NOT NULL PRIMARY KEY, "
            "name VARCHAR(255) NOT NULL, applied_at DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME())"
        )

    @staticmethod
    def _in_transaction[T](connection: Any, work: Callable[[Any], T]) -> T:
        """``work`` in one transaction, committed when it returns and rolled back when it raises. The
        error raised is ``work``'s own: on a connection that broke, the rollback fails too, and its
        error would say nothing of why the migration failed."""
        connection.autocommit(False)
        try:
            result = work(connection.cursor())
            connection.commit()
            return result
        except BaseException:
            try:
                connection.rollback()
            except pymssql.Error:
                logger.warning("the rollback of a failed migration failed too", exc_info=True)
            raise
        finally:
            with contextlib.suppress(pymssql.Error):
                connection.autocommit(True)


_GO_LINE = re.compile(r"^\s*GO\s*$", re.IGNORECASE | re.MULTILINE)


def mssql_batches(script: str) -> list[str]:
    """T-SQL batches: ``GO`` is sqlcmd's separator, not T-SQL, so the client splits on it."""
    return [batch.strip() for batch in _GO_LINE.split(script) if batch.strip()]


DIALECT = MssqlDialect
