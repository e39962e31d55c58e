"""Applies the numbered plain-SQL migrations of ``migrations/<dialect>/`` and records them.

Each migration runs in one transaction together with its record, under a lock that serialises
concurrent migrators, and is skipped when already recorded: running ``migrate`` twice, or twice at
once, is safe. The record table is ``waitroom_migrations`` (named for us, since the database may be
shared with other applications).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waitroom.errors import StoreUnavailable
from waitroom.store.base import Dialect

#: ``migrations/`` at the top of the repository.
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"

_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")
_GO_LINE = re.compile(r"^\s*GO\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(dialect_name: str, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    folder = directory / dialect_name
    if not folder.is_dir():
        raise FileNotFoundError(f"no migrations for {dialect_name} in {folder}")
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: migration files are named NNN_snake_case_name.sql")
        migrations.append(Migration(int(match["version"]), match["name"], path))
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {folder}")
    return migrations


def migrate(dialect: Dialect, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not yet recorded. Returns those applied by this call."""
    runner = _RUNNERS[dialect.name]
    try:
        connection = dialect.connect()
    except dialect.driver_error() as exc:
        raise StoreUnavailable(f"cannot connect to the {dialect.name} database to migrate it") from exc
    try:
        applied = []
        for migration in discover(dialect.name, directory):
            if runner(connection, migration):
                applied.append(migration)
        return applied
    finally:
        connection.close()


def applied_versions(dialect: Dialect) -> set[int]:
    connection = dialect.connect()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT version FROM waitroom_migrations")
        except dialect.driver_error():
            return set()
        return {int(row[0]) for row in cursor.fetchall()}
    finally:
        connection.close()


# --- one runner per dialect: apply one migration if it is not recorded; True when applied ----------


def _run_sqlite(connection: sqlite3.Connection, migration: Migration) -> bool:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS waitroom_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )
    # BEGIN IMMEDIATE takes the database's write lock: a second migrator waits here.
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("SELECT 1 FROM waitroom_migrations WHERE version = ?", (migration.version,)).fetchone():
            connection.execute("ROLLBACK")
            return False
        for statement in _sqlite_statements(migration.sql):
            connection.execute(statement)
        connection.execute(
            "INSERT INTO waitroom_migrations (version, name) VALUES (?, ?)",
            (migration.version, migration.name),
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return True


def _sqlite_statements(script: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit our open transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()):
        raise ValueError("the migration ends with an unterminated statement")


def _run_postgres(connection: Any, migration: Migration) -> bool:
    with connection.transaction():
        # Serialises migrators; released at commit.
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('waitroom.migrate'))")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS waitroom_migrations (version INTEGER PRIMARY KEY, "
            "name VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = connection.execute(
            "SELECT 1 FROM waitroom_migrations WHERE version = %s", (migration.version,)
        ).fetchone()
        if row:
            return False
        connection.execute(migration.sql)
        connection.execute(
            "INSERT INTO waitroom_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
    return True


def _run_mssql(connection: Any, migration: Migration) -> bool:
    connection.autocommit(False)
    cursor = connection.cursor()
    try:
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
        cursor.execute("SELECT 1 FROM dbo.waitroom_migrations WHERE version = %s", (migration.version,))
        if cursor.fetchone():
            connection.rollback()
            return False
        for batch in mssql_batches(migration.sql):
            cursor.execute(batch)
        cursor.execute(
            "INSERT INTO dbo.waitroom_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.autocommit(True)
    return True


def mssql_batches(script: str) -> list[str]:
    """T-SQL batches: ``GO`` is sqlcmd's separator, not T-SQL, so the client splits on it."""
    return [batch.strip() for batch in _GO_LINE.split(script) if batch.strip()]


_RUNNERS: dict[str, Callable[[Any, Migration], bool]] = {
    "sqlite": _run_sqlite,
    "postgresql": _run_postgres,
    "mssql": _run_mssql,
}
