"""The migrate command on every backend: applies once, records, is safe to run twice or twice at once."""

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
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import DEFAULT_MIGRATIONS_DIR, Migration, applied_versions, discover, migrate
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
