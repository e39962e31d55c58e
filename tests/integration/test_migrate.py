"""The migrate command on every backend: applies once, records, is safe to run twice or twice at once;
baselines a database the seed made; runs under a statement timeout of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from devstack.template import ROOT
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import DEFAULT_MIGRATIONS_DIR, Migration, applied_versions, discover, migrate
from waitroom.adapters.store.sqlite import sqlite_statements
from waitroom.domain.process import NewProcess, ProcessStatus
from waitroom.entrypoints.cli import main
from waitroom.settings import Settings


def test_a_migrated_database_has_every_migration_recorded(database_url: str) -> None:
    # The fixture migrated it already; a second run changes nothing.
    dialect = dialect_for(database_url, Settings(database_url=database_url))
    expected = {migration.version for migration in discover(dialect.name)}
    assert applied_versions(dialect) == expected
    assert migrate(dialect) == []
    assert applied_versions(dialect) == expected


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_migrators_apply_each_migration_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    # Migrators queue for the migration lock, within their statement timeout; statements that long
    # ask the reconciler to wait as long for a start (Settings.start_under_way_max_s).
    settings = Settings(database_url=url, db_query_timeout_s=30, reconcile_min_age_s=180)
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(dialect_for(url, settings)))
        except BaseException as exc:  # collected, and the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sorted(migration.version for result in results for migration in result)
    assert applied == sorted(migration.version for migration in discover(dialect_for(url, settings).name))


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "migrations" / "sqlite"
    folder.mkdir(parents=True)
    for source in sorted((DEFAULT_MIGRATIONS_DIR / "sqlite").glob("*.sql")):
        (folder / source.name).write_text(source.read_text())
    (folder / "900_broken.sql").write_text("CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;\n")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    dialect = dialect_for(url, Settings(database_url=url))
    with pytest.raises(Exception, match="syntax error"):
        migrate(dialect, tmp_path / "migrations")
    assert 900 not in applied_versions(dialect)
    connection = dialect.connect()
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert "half_done" not in tables, "the failed migration's first statement was rolled back"
    assert "process_store" in tables, "the migrations before it stay applied"


def test_migration_files_are_numbered_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "sqlite"
    folder.mkdir()
    (folder / "1_bad name.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNN_snake_case_name"):
        discover("sqlite", tmp_path)


def test_cli_migrate_reports_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert "applied 001 create_process_store" in capsys.readouterr().out
    assert main(["migrate", "--database-url", url]) == 0
    assert "already up to date" in capsys.readouterr().out


def seed_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database as the seed left it: its process_store table (migration 001's text) with a row, and
    no record of any migration."""
    url = f"sqlite:///{tmp_path / 'seed.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    dialect = dialect_for(url, Settings(database_url=url))
    seed = discover(dialect.name)[0]
    connection = dialect.connect()
    try:
        cursor = connection.cursor()
        for statement in sqlite_statements(seed.sql) if backend == "sqlite" else [seed.sql]:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO process_store (correlation_id, status) VALUES "
            + ("(?, ?)" if backend == "sqlite" else "(%s, %s)"),
            ("seed-1", "DONE"),
        )
        cursor.close()
    finally:
        connection.close()
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_seeds_table_is_baselined_and_the_later_migrations_apply(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = seed_database(backend, request, tmp_path)
    dialect = dialect_for(url, Settings(database_url=url))
    with pytest.raises(Exception, match="already exists"):
        migrate(dialect)
    connection = dialect.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM waitroom_migrations")
        assert cursor.fetchone()[0] == 0, "001 failed on the existing table; the record table stays, empty"
    finally:
        connection.close()
    assert main(["migrate", "--database-url", url, "--baseline", "1"]) == 0
    out = capsys.readouterr().out
    assert "recorded 001 create_process_store" in out
    assert "applied 002 process_metadata" in out
    assert applied_versions(dialect) == {migration.version for migration in discover(dialect.name)}
    store = SqlStore(dialect)
    try:
        seeded = store.get("seed-1")
        assert seeded is not None and seeded.status is ProcessStatus.DONE, "the seed's rows stay"
        _, created = store.save(NewProcess("after-1", "onboard-user", "0" * 64, owner="alice"))
        assert created
    finally:
        store.close()
    assert main(["migrate", "--database-url", url, "--baseline", "1"]) == 0
    assert "already up to date" in capsys.readouterr().out, "a second baseline changes nothing"


def test_a_baseline_names_a_migration_that_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert main(["migrate", "--database-url", url, "--baseline", "999"]) == 1
    assert "--baseline 999: no such migration" in capsys.readouterr().err


def test_migrations_run_under_their_own_statement_timeout_not_the_stores(
    pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index built on a populated table outlasts the store's statement timeout (DB_QUERY_TIMEOUT_S)."""
    folder = tmp_path / "migrations" / "postgresql"
    folder.mkdir(parents=True)
    for source in sorted((DEFAULT_MIGRATIONS_DIR / "postgresql").glob("*.sql")):
        (folder / source.name).write_text(source.read_text())
    (folder / "900_slow_index_build.sql").write_text("SELECT pg_sleep(1.5);\n")
    monkeypatch.setenv("DB_QUERY_TIMEOUT_S", "1")
    assert main(["migrate", "--database-url", pg_schema_url, "--dir", str(tmp_path / "migrations")]) == 0
    assert "applied 900 slow_index_build" in capsys.readouterr().out
    (folder / "901_slower_index_build.sql").write_text("SELECT pg_sleep(1.5);\n")
    command = ["migrate", "--database-url", pg_schema_url, "--dir", str(tmp_path / "migrations")]
    assert main([*command, "--statement-timeout", "1"]) == 1
    assert "statement timeout" in capsys.readouterr().err, "--statement-timeout bounds a migration's statements"


def uv() -> str:
    """The project's uv (make venv puts it in .venv-uv; UV names another)."""
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".venv-uv" / "bin" / "uv")
    assert Path(found).exists(), f"no uv at {found}: run make venv, or set UV to uv's path"
    return found


def test_an_installed_package_migrates_with_the_migrations_it_carries(tmp_path: Path) -> None:
    # The package as pip installs it: a wheel built from the project's files alone, unpacked away
    # from the checkout, imported first, and run from a folder of no checkout.
    source = tmp_path / "source"
    (source / "shared").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "shared" / "waitroom", source / "shared" / "waitroom")
    build = [uv(), "build", "--wheel", "--offline", "--no-sources", "--python", sys.executable]
    subprocess.run([*build, "--out-dir", str(tmp_path / "dist"), str(source)], capture_output=True, check=True)
    [wheel] = (tmp_path / "dist").glob("waitroom-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    database = tmp_path / "elsewhere" / "waitroom.sqlite3"
    database.parent.mkdir()
    script = (
        "import sys, waitroom; from waitroom.entrypoints.cli import main; "
        "print(waitroom.__file__); sys.exit(main(['migrate', '--database-url', sys.argv[1]]))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{database}"],
        cwd=database.parent,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == str(tmp_path / "site" / "waitroom" / "__init__.py"), "the installed package, not the checkout"
    assert lines[1:] == [f"applied {m.version:03d} {m.name}" for m in discover("sqlite", DEFAULT_MIGRATIONS_DIR)]
