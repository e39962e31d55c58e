"""Settings: one model, read from the environment, failing at cold start with the variable's name."""

from __future__ import annotations

import pytest

from waitroom.adapters.store import database_url, dialect_for
from waitroom.adapters.store.mssql import MssqlDialect
from waitroom.domain.errors import ConfigurationError
from waitroom.settings import DEFAULT_DATABASE_URL, Settings, load_settings


def test_defaults() -> None:
    settings = load_settings()
    assert settings.sync_timeout_ms == 25_000
    assert settings.port == 8080
    assert settings.poll_schedule.delays_ms == (50, 100, 250, 500, 1000)
    assert settings.resolved_database_url() == DEFAULT_DATABASE_URL


def test_no_process_key_may_be_started_until_a_deployment_names_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOWED_PROCESS_KEYS")  # tests/conftest.py allows the example's
    policy = load_settings().start_policy()
    assert policy.allowed_process_keys == frozenset()
    assert not policy.may_start("onboard-user")
    monkeypatch.setenv("ALLOWED_PROCESS_KEYS", "expense-claim, leave-request")
    assert load_settings().start_policy().may_start("leave-request")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_TIMEOUT_MS", "1500")
    monkeypatch.setenv("POLL_SCHEDULE", "20,40")
    monkeypatch.setenv("CAMUNDA_URL", "https://camunda.example.com/engine-rest")
    settings = load_settings()
    assert settings.sync_timeout_ms == 1500
    assert settings.poll_schedule.delays_ms == (20, 40)
    assert str(settings.camunda_url) == "https://camunda.example.com/engine-rest"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SYNC_TIMEOUT_MS", "-1"),
        ("SYNC_TIMEOUT_MS", "later"),
        ("PORT", "70000"),
        ("POLL_SCHEDULE", "fastest"),
        ("POLL_SCHEDULE", "50,-1"),
        ("CAMUNDA_URL", "not a url"),
        ("DB_QUERY_TIMEOUT_S", "-7.25"),
    ],
)
def test_a_bad_value_names_its_variable_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as failure:
        load_settings()
    assert variable in str(failure.value)
    assert value not in str(failure.value).replace(variable, "")


def test_the_seeds_db_variables_make_an_sql_server_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "sql.internal")
    monkeypatch.setenv("DB_NAME", "camunda_db")
    monkeypatch.setenv("DB_USER", "waitroom")
    monkeypatch.setenv("DB_PASSWORD", "p@ss:word/1")
    url = load_settings().resolved_database_url()
    assert url == "mssql://waitroom:p%40ss%3Aword%2F1@sql.internal:1433/camunda_db"


def test_db_host_without_its_companions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "sql.internal")
    with pytest.raises(ConfigurationError, match="DB_HOST needs DB_NAME and DB_USER"):
        load_settings()


def test_database_url_and_db_host_are_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("DB_HOST", "sql.internal")
    with pytest.raises(ConfigurationError, match="set one of DATABASE_URL, DB_HOST"):
        load_settings()


def test_secrets_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mssql://u:hunter2@h:1433/db")
    monkeypatch.setenv("CAMUNDA_USER", "demo")
    monkeypatch.setenv("CAMUNDA_PASSWORD", "hunter3")
    text = repr(load_settings())
    assert "hunter2" not in text and "hunter3" not in text


def test_database_url_comes_from_the_setting_when_no_secret_is_named() -> None:
    source = database_url(Settings(database_url="postgresql://h/db"))
    assert source() == "postgresql://h/db"
    assert not source.refresh(), "a fixed URL has nothing to fetch again"


def test_a_secret_beside_a_database_url_is_refused_not_silently_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    with pytest.raises(ConfigurationError, match="DATABASE_URL, DB_SECRET_ARN"):
        load_settings()


def test_in_lambda_a_missing_database_fails_the_cold_start_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "waitroom-dev-StartFunction")
    for name in ("DATABASE_URL", "DB_HOST", "DB_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="no database configured: set DB_SECRET_ARN") as refused:
        load_settings()
    assert "never Lambda" in str(refused.value)
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:db")
    assert load_settings().db_secret_arn == "arn:aws:secretsmanager:us-east-1:1:secret:db"


def test_outside_lambda_the_local_sqlite_file_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert load_settings().resolved_database_url() == DEFAULT_DATABASE_URL


def test_encrypted_sql_server_connections_are_required_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "mssql://waitroom:pw@sql.internal:1433/waitroom"
    plain = dialect_for(url, Settings(database_url=url))
    assert isinstance(plain, MssqlDialect)
    assert "encryption" not in plain.connect_args(), "FreeTDS's default stays as it is"
    monkeypatch.setenv("DB_REQUIRE_ENCRYPTION", "true")
    required = dialect_for(url, load_settings(database_url=url))
    assert isinstance(required, MssqlDialect)
    assert required.connect_args()["encryption"] == "require"


def test_the_reconciler_may_not_judge_a_start_that_can_still_be_under_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the default timeouts a start can be under way 2 * (2 * 10 + 5) + 2 * (2 * 3 + 10) = 82 s.
    assert Settings().start_under_way_max_s() == 82
    assert Settings().reconcile_min_age_s >= 82, "the default is allowed"
    monkeypatch.setenv("RECONCILE_MIN_AGE_S", "0")
    with pytest.raises(ConfigurationError, match="RECONCILE_MIN_AGE_S must be at least 82 s"):
        load_settings()
    monkeypatch.setenv("RECONCILE_MIN_AGE_S", "120")
    monkeypatch.setenv("CAMUNDA_READ_TIMEOUT_S", "60")
    with pytest.raises(ConfigurationError, match="RECONCILE_MIN_AGE_S must be at least 182 s"):
        load_settings()
    monkeypatch.setenv("RECONCILE_MIN_AGE_S", "182")
    assert load_settings().reconcile_min_age_s == 182
