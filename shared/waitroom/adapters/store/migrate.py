"""Applies the numbered plain-SQL migrations of ``waitroom/migrations/<dialect>/`` and records them.

The migrations are package data: an installed ``waitroom`` (``pip install``) migrates as a checkout does.

Each migration runs in one transaction together with its record, under a lock that serialises
concurrent migrators, and is skipped when already recorded: running ``migrate`` twice, or twice at
once, is safe. The record table is ``waitroom_migrations`` (named for us, since the database may be
shared with other applications); it is created in a transaction of its own, so a first migration
that fails leaves it there. A database whose schema predates the record (the seed's table) is
*baselined*: the migrations up to a version are recorded without being run.

Migrations run on a connection of their own whose statements may take ``statement_timeout_s`` (an
index built on a populated table takes longer than the store's statements may).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from waitroom.adapters.store.base import Dialect
from waitroom.domain.errors import StoreUnavailable

#: The migrations the package carries (``shared/waitroom/migrations/`` in the repository).
DEFAULT_MIGRATIONS_DIR = Path(str(files("waitroom").joinpath("migrations")))

_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")


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


#: How long one migration statement may run, and a migrator wait for another's lock, by default.
DEFAULT_STATEMENT_TIMEOUT_S = 3600.0


def migrate(
    dialect: Dialect,
    directory: Path = DEFAULT_MIGRATIONS_DIR,
    *,
    baseline: int | None = None,
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
) -> list[Migration]:
    """Apply every migration not yet recorded; with ``baseline``, record those up to that version as
    applied without running them. Returns the migrations this call applied or recorded."""
    migrations = discover(dialect.name, directory)
    if baseline is not None and baseline not in {migration.version for migration in migrations}:
        raise ValueError(f"--baseline {baseline:03d}: no such migration in {directory / dialect.name}")
    try:
        connection = dialect.connect_for_migrations(statement_timeout_s)
    except dialect.driver_error() as exc:
        raise StoreUnavailable(f"cannot connect to the {dialect.name} database to migrate it") from exc
    try:
        dialect.prepare_migrations(connection)
        applied = []
        for migration in migrations:
            record_only = baseline is not None and migration.version <= baseline
            if dialect.apply_migration(connection, migration, record_only=record_only):
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
