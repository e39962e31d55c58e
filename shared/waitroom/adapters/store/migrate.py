"""Applies the numbered plain-SQL migrations of ``waitroom/migrations/<dialect>/`` and records them.

The migrations are package data: an installed ``waitroom`` (``pip install``) migrates as a checkout does.

Each migration runs in one transaction together with its record, under a lock that serialises
concurrent migrators, and is skipped when already recorded: running ``migrate`` twice, or twice at
once, is safe. The record table is ``waitroom_migrations`` (named for us, since the database may be
shared with other applications).
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


def migrate(dialect: Dialect, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not yet recorded. Returns those applied by this call."""
    try:
        connection = dialect.connect()
    except dialect.driver_error() as exc:
        raise StoreUnavailable(f"cannot connect to the {dialect.name} database to migrate it") from exc
    try:
        applied = []
        for migration in discover(dialect.name, directory):
            if dialect.apply_migration(connection, migration):
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
