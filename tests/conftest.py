"""Fixtures every test shares: a clean environment and the real servers.

PostgreSQL and Redis must be reachable (``WAITROOM_TEST_PG_URL``, default the local server). When it is not,
its tests are skipped with a loud notice, and under ``CI=true`` they fail instead: CI must never
pass by skipping. SQL Server is tested when ``MSSQL_URL`` names a database the tests may write to.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.postgres import fresh_schema
from waitroom import observability
from waitroom.settings import Settings

os.environ.update(
    {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "waitroom",
        "POWERTOOLS_METRICS_NAMESPACE": "Waitroom",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: CAMUNDA_URL names a real Camunda 7 (Camunda Run, as CI's real-servers job starts): the end-to-end
#: tests deploy the BPMN to it and run on it instead of the development engine. Read here, at import,
#: because clean_environment removes every setting from each test's environment.
REAL_CAMUNDA_URL = os.environ.get("CAMUNDA_URL") or None
#: CAMUNDA8_URL names a real Camunda 8 (its REST API's base, ending in /v2, as CI's Camunda 8 job starts
#: one): the behaviour suite's Camunda 8 variants deploy the BPMN to it and run on it.
REAL_CAMUNDA8_URL = os.environ.get("CAMUNDA8_URL") or None
#: The stores the end-to-end flow runs on. One real engine outlives each stack, and the runs on both
#: stores use the same business keys, which its reconciler would then find twice: there, SQLite only
#: (the store suite covers every backend on its own).
STACK_STORES = ["sqlite"] if REAL_CAMUNDA_URL else ["sqlite", "postgresql"]
SETTING_VARIABLES = [name.upper() for name in Settings.model_fields]
UNREACHABLE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell or from another test. The example process
    (``onboard-user``) may be started, as ``make run`` allows it: the product allows no key until a
    deployment names its own."""
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALLOWED_PROCESS_KEYS", "onboard-user")


def server_missing(name: str, reason: str) -> None:
    """Fail under CI, else skip, and remember it for the summary at the end of the run."""
    UNREACHABLE[name] = reason
    message = f"{name} is not reachable ({reason}); its tests did not run"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=40,
        help="cases schemathesis generates per API operation (make fuzz: 1000)",
    )


@pytest.fixture(scope="session")
def fuzz_examples(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--fuzz-examples"))


def pytest_report_header() -> list[str]:
    sql_server = (
        "MSSQL_URL set: the store suite runs on it" if os.environ.get("MSSQL_URL") else "not tested (set MSSQL_URL)"
    )
    camunda = f"the Camunda at {REAL_CAMUNDA_URL} (CAMUNDA_URL)" if REAL_CAMUNDA_URL else "the development engine"
    camunda8 = f"the Camunda 8 at {REAL_CAMUNDA8_URL} (CAMUNDA8_URL)" if REAL_CAMUNDA8_URL else "the development engine"
    return [
        f"waitroom backends: SQLite, PostgreSQL; SQL Server {sql_server}; Redis for the wake channel",
        f"waitroom end-to-end tests on {camunda}; their Camunda 8 variants on {camunda8}",
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, reason in UNREACHABLE.items():
        terminalreporter.write_sep("!", f"{name} WAS NOT REACHABLE: {reason}", red=True, bold=True)
        terminalreporter.write_line(f"the tests that need {name} were skipped; under CI=true they fail", red=True)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines the Powertools logger writes during the test, parsed."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    handler.setStream(previous)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server, checked once per run."""
    import psycopg  # noqa: PLC0415 -- only the runs that need it

    url = os.environ.get("WAITROOM_TEST_PG_URL", DEFAULT_PG_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        server_missing("PostgreSQL", f"{url}: {str(exc).strip().splitlines()[0]}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server, checked once per run (``WAITROOM_TEST_REDIS_URL``, default the local one)."""
    import redis  # noqa: PLC0415 -- only the runs that need it

    url = os.environ.get("WAITROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        server_missing("Redis", f"{url}: {exc}")
    return url


@pytest.fixture
def pg_schema_url(pg_server_url: str) -> Iterator[str]:
    with fresh_schema(pg_server_url, prefix="waitroom_test") as url:
        yield url


@pytest.fixture(scope="module")
def pg_module_schema_url(pg_server_url: str) -> Iterator[str]:
    """One schema for a whole module (the local stack runs once per module and backend)."""
    with fresh_schema(pg_server_url, prefix="waitroom_test") as url:
        yield url


pytest_plugins = ["tests.support.fake_task_queue", "tests.support.api", "tests.support.lost_connections"]
