"""The secrets from Secrets Manager (moto): the database credentials against the real PostgreSQL server,
Camunda's credentials, the cursor key."""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from waitroom.adapters.camunda.client import CamundaClient, Credentials
from waitroom.adapters.secrets import cursor_key
from waitroom.adapters.store import SecretUrl, open_store
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.errors import CamundaRejected, ConfigurationError
from waitroom.domain.process import NewProcess
from waitroom.settings import Settings
from waitroom_dev_engine.server import EngineServer


@pytest.fixture
def secrets_manager() -> Iterator[Any]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def database(pg_server_url: str) -> Iterator[str]:
    """A database of its own (an RDS secret names a database, not a schema), dropped afterwards."""
    name = f"waitroom_secret_{random.token_hex(4)}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(pg_server_url)._replace(path=f"/{name}"))
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def rds_secret(url: str, *, port: int | None = None) -> str:
    parts = urlsplit(url)
    return json.dumps(
        {
            "engine": "postgres",
            "host": parts.hostname,
            "port": port or parts.port or 5432,
            "username": parts.username,
            "password": "p@ss/word:1",
            "dbname": parts.path.strip("/"),
        }
    )


def test_the_store_works_with_the_secrets_credentials(secrets_manager: Any, database: str) -> None:
    arn = secrets_manager.create_secret(Name="waitroom/db", SecretString=rds_secret(database))["ARN"]
    assert SecretUrl(arn)().startswith("postgresql://postgres:p%40ss%2Fword%3A1@127.0.0.1:")
    store = open_store(Settings(db_secret_arn=arn))
    try:
        migrate(store.dialect)
        store.save(NewProcess("s-1", "onboard-user", "0" * 64))
        assert store.get("s-1") is not None
    finally:
        store.close()


def test_a_rotated_secret_reaches_the_next_connection(secrets_manager: Any, database: str) -> None:
    # The cached secret names a port where nothing listens; the rotated one names the real server.
    arn = secrets_manager.create_secret(Name="waitroom/db", SecretString=rds_secret(database, port=1))["ARN"]
    store = open_store(Settings(db_secret_arn=arn, db_connect_timeout_s=1))
    secrets_manager.put_secret_value(SecretId=arn, SecretString=rds_secret(database))
    try:
        migrate(open_store(Settings(database_url=database)).dialect)
        assert store.pending_count() == 0, "after a failed login the store fetched the secret again"
    finally:
        store.close()


def test_an_rds_managed_master_secret_takes_the_server_from_the_settings(secrets_manager: Any, database: str) -> None:
    # RDS's ManageMasterUserPassword secret: the credentials and nothing else.
    parts = urlsplit(database)
    credentials = json.dumps({"username": parts.username, "password": "p@ss/word:1", "engine": "postgres"})
    arn = secrets_manager.create_secret(Name="waitroom/master", SecretString=credentials)["ARN"]
    settings = Settings(db_secret_arn=arn, db_host=parts.hostname, db_port=parts.port, db_name=parts.path.strip("/"))
    store = open_store(settings)
    try:
        migrate(store.dialect)
        store.save(NewProcess("m-1", "onboard-user", "0" * 64))
        assert store.get("m-1") is not None
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="DB_HOST"):
        SecretUrl(arn)()


def test_a_secret_without_credentials_names_the_setting(secrets_manager: Any) -> None:
    arn = secrets_manager.create_secret(Name="waitroom/bad", SecretString=json.dumps({"host": "h"}))["ARN"]
    with pytest.raises(ConfigurationError, match="DB_SECRET_ARN"):
        SecretUrl(arn)()


def test_camunda_credentials_come_from_their_secret_and_follow_a_rotation(secrets_manager: Any, tmp_path: Path) -> None:
    engine = EngineServer(tmp_path / "engine.sqlite3", username="waitroom", password="new-password")
    url = engine.start()
    try:
        arn = secrets_manager.create_secret(
            Name="waitroom/camunda", SecretString=json.dumps({"username": "waitroom", "password": "old-password"})
        )["ARN"]
        client = CamundaClient.from_settings(Settings(camunda_url=url, camunda_secret_arn=arn))
        client.credentials.fetch()  # the old password is in the cache, as in an environment that ran a while
        secrets_manager.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": "waitroom", "password": "new-password"})
        )
        assert client.list_incidents() == [], "after a 401 the client fetched the rotated secret"
        wrong = CamundaClient(url, credentials=Credentials(basic=("waitroom", "wrong")))
        with pytest.raises(CamundaRejected, match=r"\(401\)"):
            wrong.list_incidents()
    finally:
        engine.stop()


def test_a_camunda_secret_without_credentials_names_the_setting(secrets_manager: Any) -> None:
    arn = secrets_manager.create_secret(Name="waitroom/camunda-bad", SecretString=json.dumps({"user": "x"}))["ARN"]
    # The secret is read at the first call to Camunda, not when the client is built: a function (or a
    # command) that never calls Camunda never reads it.
    client = CamundaClient.from_settings(Settings(camunda_secret_arn=arn))
    with pytest.raises(ConfigurationError, match="CAMUNDA_SECRET_ARN"):
        client.list_incidents()


def test_the_cursor_key_is_the_text_of_its_secret(secrets_manager: Any) -> None:
    # As the template's generated secret holds it: plain text, no JSON.
    text = random.token_urlsafe(48)
    arn = secrets_manager.create_secret(Name="waitroom/cursor-key", SecretString=text)["ARN"]
    settings = Settings(cursor_key_secret_arn=arn, aws_lambda_function_name="status", database_url="sqlite:///x.db")
    assert cursor_key(settings) == text.encode()


@pytest.mark.parametrize("text", ["short", ""])
def test_a_cursor_key_secret_too_short_names_the_setting(secrets_manager: Any, text: str) -> None:
    kwargs: dict[str, Any] = {"SecretString": text} if text else {"SecretBinary": b"\x00" * 64}
    arn = secrets_manager.create_secret(Name="waitroom/cursor-key-bad", **kwargs)["ARN"]
    with pytest.raises(ConfigurationError, match="CURSOR_KEY_SECRET_ARN"):
        cursor_key(Settings(cursor_key_secret_arn=arn))
