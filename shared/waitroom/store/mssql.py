"""SQL Server, the production store, through pymssql (paramstyle ``pyformat``).

pymssql interpolates parameters on the client and sends a Python ``str`` as an ``N'...'`` literal.
Compared with a ``VARCHAR`` column, that literal would convert the *column* to NVARCHAR (data type
precedence) and, under a SQL collation, turn every key lookup into an index scan. Every key is
therefore cast to the column's type on the parameter side, which keeps the seeks.

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
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import pymssql

from waitroom.store.base import COLUMNS, Dialect, Statements

SELECT_LIST = ", ".join(f"ps.{column}" for column in COLUMNS)
OUTPUT_LIST = ", ".join(f"inserted.{column}" for column in COLUMNS)
ID = "CAST(%(correlation_id)s AS VARCHAR(64))"

STATEMENTS = Statements(
    save=(
        "INSERT INTO dbo.process_store (correlation_id, status, process_key, request_hash) "
        f"SELECT {ID}, 'PENDING', CAST(%(process_key)s AS VARCHAR(255)), CAST(%(request_hash)s AS CHAR(64)) "
        "WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) "
        f"WHERE correlation_id = {ID})"
    ),
    get=f"SELECT {SELECT_LIST} FROM dbo.process_store AS ps WHERE ps.correlation_id = {ID}",
    poll=(
        f"SELECT {SELECT_LIST} FROM dbo.process_store AS ps WITH (READCOMMITTEDLOCK, ROWLOCK) "
        f"WHERE ps.correlation_id = {ID}"
    ),
    remove=f"DELETE FROM dbo.process_store WHERE correlation_id = {ID}",
    list_all=(
        f"SELECT TOP (%(limit)s) {SELECT_LIST} FROM dbo.process_store AS ps "
        "ORDER BY ps.started_at DESC, ps.correlation_id DESC"
    ),
    list_by_status=(
        f"SELECT TOP (%(limit)s) {SELECT_LIST} FROM dbo.process_store AS ps "
        "WHERE ps.status = CAST(%(status)s AS VARCHAR(16)) "
        "ORDER BY ps.started_at DESC, ps.correlation_id DESC"
    ),
    attach_instance=(
        "UPDATE dbo.process_store SET camunda_instance_id = CAST(%(instance_id)s AS VARCHAR(64)) "
        f"WHERE correlation_id = {ID} AND camunda_instance_id IS NULL"
    ),
    discard_unstarted=(
        f"DELETE FROM dbo.process_store WHERE correlation_id = {ID} "
        "AND status = 'PENDING' AND camunda_instance_id IS NULL"
    ),
    finish=(
        "UPDATE dbo.process_store SET status = CAST(%(status)s AS VARCHAR(16)), "
        "payload_json = %(payload_json)s, error_json = %(error_json)s, "
        "updated_at = SYSUTCDATETIME(), completed_at = SYSUTCDATETIME() "
        f"OUTPUT {OUTPUT_LIST} "
        f"WHERE correlation_id = {ID} AND status = 'PENDING'"
    ),
    fail_all_pending=(
        "UPDATE dbo.process_store SET status = 'ERROR', error_json = %(error_json)s, "
        "updated_at = SYSUTCDATETIME(), completed_at = SYSUTCDATETIME() WHERE status = 'PENDING'"
    ),
    has_pending=(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM dbo.process_store "
        f"WHERE correlation_id = {ID} AND status = 'PENDING') THEN 1 ELSE 0 END"
    ),
    pending_count="SELECT COUNT_BIG(*) FROM dbo.process_store WHERE status = 'PENDING'",
)

# FreeTDS/db-lib message numbers of a connection that is gone (write/read failed, dead DBPROCESS).
_DISCONNECT_NUMBERS = frozenset({20004, 20006, 20009, 20017, 20047})
# Timeouts: the server is alive but did not answer within the configured time.
_TIMEOUT_NUMBERS = frozenset({20003})
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

    def __init__(self, url: str, *, connect_timeout_s: float, query_timeout_s: float) -> None:
        parts = urlsplit(url)
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError("an SQL Server URL needs a host and a database: mssql://user:pass@host:1433/db")
        self._connect_args: dict[str, Any] = {
            "server": parts.hostname,
            "port": str(parts.port or 1433),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "database": unquote(parts.path.strip("/")),
            # Whole seconds, at least one: pymssql treats 0 as "wait forever".
            "login_timeout": max(1, round(connect_timeout_s)),
            "timeout": max(1, round(query_timeout_s)),
            # Without an explicit TDS version FreeTDS negotiates down from an old default and a
            # silent server costs twice the login timeout, or minutes.
            "tds_version": "7.4",
            "autocommit": True,
            "use_datetime2": True,
            "appname": "waitroom",
        }

    def connect(self) -> Any:
        return pymssql.connect(**self._connect_args)

    def driver_error(self) -> type[BaseException]:
        return pymssql.Error

    def is_disconnect(self, error: BaseException) -> bool:
        if isinstance(error, pymssql.InterfaceError):
            return True
        return isinstance(error, pymssql.OperationalError) and _error_number(error) in _DISCONNECT_NUMBERS

    def is_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, pymssql.OperationalError) and _error_number(error) in _TIMEOUT_NUMBERS

    def is_duplicate_key(self, error: BaseException) -> bool:
        return isinstance(error, pymssql.IntegrityError) and _error_number(error) in _DUPLICATE_KEY_NUMBERS
