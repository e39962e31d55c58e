"""The store on every reachable backend: SQLite always, PostgreSQL always here, SQL Server with MSSQL_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.stores import StoreFactory
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings

#: SQL Server joins when MSSQL_URL names a database the tests may write to (see docs/TESTING.md).
BACKENDS = ["sqlite", "postgresql", *(["mssql"] if os.environ.get("MSSQL_URL") else [])]
#: MSSQL_REQUIRE_ENCRYPTION=true: the suite's SQL Server connections must be encrypted (DB_REQUIRE_ENCRYPTION),
#: as prod's are. Read at import: clean_environment removes the settings' own variables from each test.
MSSQL_REQUIRE_ENCRYPTION = os.environ.get("MSSQL_REQUIRE_ENCRYPTION", "").lower() == "true"


def store_settings(url: str, *, query_timeout_s: float = 10) -> Settings:
    encrypted = MSSQL_REQUIRE_ENCRYPTION and url.startswith("mssql")
    return Settings(database_url=url, db_require_encryption=encrypted, db_query_timeout_s=query_timeout_s)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the backend named by ``request.param``."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'waitroom.sqlite3'}"
    elif backend == "postgresql":
        url = request.getfixturevalue("pg_schema_url")
    else:
        url = os.environ["MSSQL_URL"]
    settings = store_settings(url)
    migrate(dialect_for(url, settings))
    if backend == "mssql":
        _empty_mssql(url, settings)
    return url


def _empty_mssql(url: str, settings: Settings) -> None:
    """SQL Server has no throw-away schema here: the suite empties the tables it uses."""
    connection = dialect_for(url, settings).connect()
    try:
        connection.cursor().execute("DELETE FROM dbo.process_store")
        connection.cursor().execute("DELETE FROM dbo.waiter_callback")
    finally:
        connection.close()


@pytest.fixture
def camunda() -> Iterator[CamundaStub]:
    """The Camunda stand-in of the API handler tests (modules with a real engine define their own)."""
    stub = CamundaStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def store_factory(database_url: str) -> Iterator[StoreFactory]:
    """New stores on the same database, each with a connection of its own (as separate Lambdas)."""
    stores: list[SqlStore] = []
    settings = store_settings(database_url, query_timeout_s=5)

    def make() -> SqlStore:
        store = SqlStore(dialect_for(database_url, settings))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> SqlStore:
    return store_factory()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the database runs once per backend."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", BACKENDS, indirect=True)
