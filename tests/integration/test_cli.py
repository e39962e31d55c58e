"""The operators' command line against real databases (SQLite, PostgreSQL) and the development engine."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymssql
import pytest

from devstack.stack import EXAMPLE_BPMN_DIR
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.errors import StoreUnavailable
from waitroom.domain.process import NewProcess, Outcome, ProcessStatus, StepEvent, StepOutcome
from waitroom.entrypoints.cli import _one_line, main, redact
from waitroom.entrypoints.http.schemas import ProcessView
from waitroom.settings import Settings
from waitroom_dev_engine.server import EngineServer

INSTALLED = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "waitroom"
COMMANDS = ["migrate", "deploy-bpmn", "status", "list", "purge", "fail-pending", "delete", "pending"]
NOW = datetime.now(UTC).replace(microsecond=0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def insert(url: str, rows: Iterable[tuple[str, ProcessStatus, datetime]], key: str = "onboard-user") -> None:
    """Rows as a long-lived installation holds them: ``(id, status, started_at)``, finished 1.5 s after."""
    dialect = dialect_for(url, Settings(database_url=url))
    marker = "?" if dialect.name == "sqlite" else "%s"
    values = []
    for correlation_id, status, started in rows:
        finished = dialect.timestamp_param(started + timedelta(milliseconds=1500))
        completed = None if status is ProcessStatus.PENDING else finished
        values.append((correlation_id, status.value, key, dialect.timestamp_param(started), finished, completed))
    connection = dialect.connect()
    try:
        cursor = connection.cursor()
        cursor.executemany(
            "INSERT INTO process_store (correlation_id, status, process_key, started_at, updated_at, completed_at) "
            f"VALUES ({', '.join([marker] * 6)})",
            values,
        )
        cursor.close()
    finally:
        connection.close()


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


class Terminal(io.StringIO):
    """Standard input typed by a person at a terminal."""

    def isatty(self) -> bool:
        return True


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: waitroom {command}")
    examples = out.split("examples:\n", 1)[1]
    assert f"  waitroom {command}" in examples


def test_the_installed_command_lists_its_commands() -> None:
    result = subprocess.run([INSTALLED, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout


def test_the_installed_command_reports_an_error_in_one_line(database_url: str) -> None:
    result = subprocess.run(
        [INSTALLED, "status", "ghost", "--database-url", database_url], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "waitroom status: no process with correlation id 'ghost'\n"


# --- migrate and where the database comes from -----------------------------------------------------


def test_migrate_on_a_migrated_database_changes_nothing(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    dialect = dialect_for(database_url, Settings(database_url=database_url))
    assert run(capsys, "migrate", "--database-url", database_url) == (0, f"{dialect.name}: already up to date\n", "")


def test_the_database_is_the_options_else_the_environments(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    insert(database_url, [("env-1", ProcessStatus.DONE, NOW)])
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, out, _ = run(capsys, "list", "--json")
    assert (code, [line["correlationId"] for line in json_lines(out)]) == (0, ["env-1"])

    # The option names the whole database: neither DB_HOST nor DB_SECRET_ARN may win over it or clash with it.
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_HOST", "production.example")
    monkeypatch.setenv("DB_NAME", "waitroom")
    monkeypatch.setenv("DB_USER", "waitroom")
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:production")
    code, out, err = run(capsys, "list", "--json", "--database-url", database_url)
    assert (code, err) == (0, "")
    assert [line["correlationId"] for line in json_lines(out)] == ["env-1"]


def test_a_bad_setting_is_named_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "list", "--database-url", "ftp://files.example/waitroom")
    assert (code, out) == (1, "")
    assert err == (
        "waitroom list: DATABASE_URL: unknown scheme 'ftp'; use sqlite:///path, mssql://... or postgresql://...\n"
    )
    monkeypatch.setenv("DB_PORT", "not-a-port")
    code, _, err = run(capsys, "purge")
    assert code == 1
    assert err.startswith("waitroom purge: invalid configuration: DB_PORT: ")
    assert err.count("\n") == 1


REPOSITORY = Path(__file__).resolve().parents[2]


def operator_runs(directory: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``waitroom ARGV`` as an operator runs it in ``directory``, with no database in the environment."""
    environment = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    environment = {name: value for name, value in environment.items() if not name.startswith("DB_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPOSITORY / "shared"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "waitroom.entrypoints.cli", *argv],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("command", [["list"], ["pending"], ["fail-pending", "--yes"], ["migrate"]], ids=" ".join)
def test_outside_the_checkout_with_no_database_given_it_says_what_to_set_and_creates_nothing(
    command: list[str], tmp_path: Path
) -> None:
    result = operator_runs(tmp_path, *command)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"waitroom {command[0]}: no database given: set DATABASE_URL ")
    assert "--database-url" in result.stderr
    assert str(tmp_path) in result.stderr, "it says where it looked"
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == [], "no .var/ and no empty database left behind"


def test_a_sqlite_database_is_read_only_once_it_is_there_and_migrated(tmp_path: Path) -> None:
    url = "sqlite:///.var/waitroom.sqlite3"
    missing = operator_runs(tmp_path, "list", "--database-url", url)
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"waitroom list: there is no SQLite database at {tmp_path}/.var/waitroom.sqlite3")
    assert not (tmp_path / ".var").exists()

    (tmp_path / ".var").mkdir()
    (tmp_path / ".var" / "waitroom.sqlite3").touch()  # an empty database, as an older waitroom left one
    empty = operator_runs(tmp_path, "pending", "--database-url", url)
    assert empty.returncode == 1
    assert "has no Waitroom tables: run waitroom migrate" in empty.stderr

    assert operator_runs(tmp_path, "migrate", "--database-url", url).returncode == 0
    # Where make run's file is, the command needs nothing more: the checkout's default.
    pending = operator_runs(tmp_path, "pending")
    assert (pending.returncode, pending.stdout, pending.stderr) == (0, "0 PENDING processes\n", "")


@pytest.fixture
def silent_database() -> Iterator[int]:
    """A port that accepts connections and never answers, as a database behind a dead network hop."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize(
    "command", [["status", "s-1"], ["list"], ["purge"], ["fail-pending", "--yes"], ["migrate"]], ids=" ".join
)
def test_an_unreachable_database_fails_in_one_line_without_the_password(
    command: list[str],
    silent_database: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "1")
    url = f"postgresql://operator:s3cret-pw@127.0.0.1:{silent_database}/waitroom"
    code, out, err = run(capsys, *command, "--database-url", url)
    assert (code, out) == (1, "")
    assert err.startswith(f"waitroom {command[0]}: ")
    assert err.endswith("connection timeout expired\n")
    assert err.count("\n") == 1
    assert "s3cret" not in err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://operator:s3cret@db:5432/waitroom", "postgresql://operator:***@db:5432/waitroom"),
        ("mssql://sa:p@ss:w0rd@db/waitroom and more", "mssql://sa:***@db/waitroom and more"),
        (
            "postgresql://db/waitroom?user=x&password=s3cret&sslmode=require",
            "postgresql://db/waitroom?user=x&password=***&sslmode=require",
        ),
        ("postgresql://operator@db/waitroom", "postgresql://operator@db/waitroom"),
        ("http://camunda:8080/engine-rest/user@example", "http://camunda:8080/engine-rest/user@example"),
        ("sqlite:///.var/waitroom.sqlite3", "sqlite:///.var/waitroom.sqlite3"),
    ],
)
def test_printed_urls_never_show_a_password(text: str, shown: str) -> None:
    assert redact(text) == shown


# --- deploy-bpmn ---------------------------------------------------------------------------------------


@pytest.fixture
def engine_url(tmp_path: Path) -> Iterator[str]:
    server = EngineServer(tmp_path / "e.sqlite3")
    yield server.start()
    server.stop()


def test_deploy_bpmn_deploys_changed_files_only(
    engine_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "deploy-bpmn", str(EXAMPLE_BPMN_DIR), "--camunda-url", engine_url)
    assert code == 0
    assert out.startswith("deployed onboard-user version 1 (onboard-user:1:")
    assert out.count("\n") == 1

    monkeypatch.setenv("CAMUNDA_URL", engine_url)
    assert run(capsys, "deploy-bpmn", str(EXAMPLE_BPMN_DIR)) == (
        0,
        f"unchanged: every .bpmn file of {EXAMPLE_BPMN_DIR} is deployed already\n",
        "",
    )

    changed = tmp_path / "bpmn"
    changed.mkdir()
    shutil.copy(EXAMPLE_BPMN_DIR / "onboard-user.bpmn", changed)
    source = (changed / "onboard-user.bpmn").read_text()
    (changed / "onboard-user.bpmn").write_text(source.replace('name="Onboard user"', 'name="Onboard a user"', 1))
    code, out, _ = run(capsys, "deploy-bpmn", str(changed))
    assert code == 0
    assert out.startswith("deployed onboard-user version 2 (onboard-user:2:")


def test_deploy_bpmn_deploys_to_camunda_8_when_it_is_the_engine(
    engine_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE", "camunda8")
    camunda8_url = engine_url.removesuffix("/engine-rest") + "/v2"
    folder = EXAMPLE_BPMN_DIR.parent / "bpmn-camunda8"
    code, out, _ = run(capsys, "deploy-bpmn", str(folder), "--camunda-url", camunda8_url)
    assert code == 0
    assert re.fullmatch(r"deployed onboard-user version 1 \(\d+\)\n", out), out
    # Camunda 8 lists a definition deployed unchanged too, at the version it kept.
    monkeypatch.setenv("CAMUNDA8_URL", camunda8_url)
    code, out, _ = run(capsys, "deploy-bpmn", str(folder))
    assert (code, out.split(" (")[0]) == (0, "deployed onboard-user version 1")
    # Camunda 7's API at that address is not Camunda 8's: the error says where the engine is.
    code, _, err = run(capsys, "deploy-bpmn", str(folder), "--camunda-url", engine_url)
    assert code == 1
    assert err.startswith(f"waitroom deploy-bpmn: {engine_url} is not a Camunda 8 REST API"), err


def test_deploy_bpmn_of_a_folder_without_bpmn_fails(
    engine_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "deploy-bpmn", str(tmp_path), "--camunda-url", engine_url)
    assert (code, out) == (1, "")
    assert err == f"waitroom deploy-bpmn: FileNotFoundError: no .bpmn files in {tmp_path}\n"


def test_deploy_bpmn_to_an_unreachable_camunda_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        url = f"http://admin:s3cret@127.0.0.1:{closed.getsockname()[1]}/engine-rest"
        code, out, err = run(capsys, "deploy-bpmn", str(EXAMPLE_BPMN_DIR), "--camunda-url", url)
    assert (code, out) == (1, "")
    assert err.startswith("waitroom deploy-bpmn: Camunda cannot be reached")
    assert "Connection refused" in err
    assert "s3cret" not in err
    assert err.count("\n") == 1


# --- status --------------------------------------------------------------------------------------


def test_status_prints_the_process_as_the_api_shows_it(
    database_url: str, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.save(NewProcess("s-1", "onboard-user", "0" * 64))
    store.record_step(StepEvent("s-1", "onboard-user.validate-user-information", "Validate", StepOutcome.COMPLETED, 12))
    store.finish("s-1", Outcome.done({"userId": 7, "name": "Zoë"}))
    record = store.get("s-1")
    assert record is not None

    code, out, err = run(capsys, "status", "s-1", "--database-url", database_url)
    assert (code, err) == (0, "")
    assert json.loads(out) == ProcessView.of(record).to_json()
    assert "history" not in json.loads(out)

    code, out, _ = run(capsys, "status", "s-1", "--history", "--database-url", database_url)
    assert code == 0
    shown = json.loads(out)
    assert shown == ProcessView.of(record, steps=store.steps("s-1")).to_json()
    assert [step["topic"] for step in shown["history"]] == ["onboard-user.validate-user-information"]


def test_status_of_an_unknown_process_exits_1(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "status", "ghost", "--database-url", database_url) == (
        1,
        "",
        "waitroom status: no process with correlation id 'ghost'\n",
    )


# --- list ----------------------------------------------------------------------------------------


@pytest.fixture
def local_zone_not_utc() -> Iterator[None]:
    """This machine's zone is 5 hours behind UTC, so reading a zoneless time as local time shows."""
    # Its own patch, undone after the test: the test's monkeypatch also holds clean_environment's
    # changes, which an undo here would revert under the fixtures still to be torn down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "EST+05")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("local_zone_not_utc")
def test_list_shows_a_table_newest_first_and_filters(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = NOW - timedelta(hours=1)
    insert(database_url, [("p-1", ProcessStatus.DONE, base + timedelta(minutes=1))])
    insert(database_url, [("p-2", ProcessStatus.PENDING, base + timedelta(minutes=2))])
    insert(database_url, [("p-3", ProcessStatus.ERROR, base + timedelta(minutes=3))], key="other-process")
    insert(database_url, [("p-4", ProcessStatus.DONE, base + timedelta(minutes=4))])

    code, out, err = run(capsys, "list", "--database-url", database_url)
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["CORRELATION", "ID", "PROCESS", "KEY", "STATUS", "STARTED", "(UTC)", "DURATION"]
    started_p4 = (base + timedelta(minutes=4)).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[0].split() == ["p-4", "onboard-user", "DONE", *started_p4.split(), "1.500", "s"]
    started_p2 = (base + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[2].split() == ["p-2", "onboard-user", "PENDING", *started_p2.split()], "no duration while PENDING"
    assert [row.split()[0] for row in rows] == ["p-4", "p-3", "p-2", "p-1"]

    def listed(*options: str) -> list[object]:
        code, out, _ = run(capsys, "list", "--json", "--database-url", database_url, *options)
        assert code == 0
        return [line["correlationId"] for line in json_lines(out)]

    assert listed("--status", "DONE") == ["p-4", "p-1"]
    assert listed("--process-key", "other-process") == ["p-3"]
    after, before = base + timedelta(minutes=2), base + timedelta(minutes=4)
    window = ("--started-after", after.isoformat(), "--started-before", before.isoformat())
    assert listed(*window) == ["p-3", "p-2"], "after is inclusive, before exclusive"
    zoneless = ("--started-after", after.replace(tzinfo=None).isoformat())
    assert listed(*zoneless) == ["p-4", "p-3", "p-2"], "a time without a zone is UTC"


def test_list_json_lines_are_the_apis_items(
    database_url: str, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.save(NewProcess("j-1", "onboard-user", "0" * 64))
    store.finish("j-1", Outcome.failed({"code": "BOOM", "message": "it broke"}))
    record = store.get("j-1")
    assert record is not None
    code, out, _ = run(capsys, "list", "--json", "--database-url", database_url)
    assert (code, json_lines(out)) == (0, [ProcessView.of(record).to_json()])


def test_list_all_follows_the_pages_to_the_end(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Some rows share a start time: the keyset's correlation id must keep them from repeating or vanishing.
    rows = [(f"l-{index:02d}", ProcessStatus.DONE, NOW - timedelta(seconds=index // 3)) for index in range(23)]
    insert(database_url, rows)
    newest_first = [row[0] for row in sorted(rows, key=lambda row: (row[2], row[0]), reverse=True)]

    code, out, err = run(capsys, "list", "--limit", "5", "--json", "--database-url", database_url)
    assert code == 0
    assert [line["correlationId"] for line in json_lines(out)] == newest_first[:5]
    assert err == "the newest 5 are shown; --all lists every one\n"

    code, out, err = run(capsys, "list", "--all", "--limit", "5", "--json", "--database-url", database_url)
    assert code == 0
    assert [line["correlationId"] for line in json_lines(out)] == newest_first
    assert err.splitlines() == [f"page {page}: {min(5 * page, 23)} processes" for page in range(1, 6)]

    code, out, _ = run(capsys, "list", "--all", "--limit", "5", "--database-url", database_url)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["CORRELATION", *newest_first]


def test_list_all_stops_quietly_when_its_reader_leaves(database_url: str) -> None:
    insert(database_url, [(f"b-{index:04d}", ProcessStatus.DONE, NOW) for index in range(3000)])
    # 3000 JSON lines are far more than a pipe holds: the command is still writing when the reader leaves.
    command: list[str | Path] = [INSTALLED, "list", "--all", "--json", "--limit", "500", "--database-url", database_url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        assert json.loads(process.stdout.readline())["correlationId"] == "b-2999"
        process.stdout.close()
        err = process.stderr.read()
    assert process.returncode == 1
    assert all(line.startswith("page ") for line in err.splitlines()), err


# --- purge ---------------------------------------------------------------------------------------


def test_purge_deletes_old_finished_processes_in_batches_with_progress(
    database_url: str, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    old = NOW - timedelta(days=40)
    insert(database_url, [(f"old-{index}", ProcessStatus.DONE, old) for index in range(3210)])
    insert(database_url, [("old-pending", ProcessStatus.PENDING, old), ("recent", ProcessStatus.DONE, NOW)])

    code, out, err = run(capsys, "purge", "--older-than-days", "30", "--batch", "500", "--database-url", database_url)
    assert code == 0
    assert err.splitlines() == [f"batch {batch}: {min(500 * batch, 3210)} deleted so far" for batch in range(1, 8)]
    assert out == "deleted 3210 finished processes older than 30 days in 7 batches\n"
    assert store.get("old-0") is None
    assert store.get("old-pending") is not None, "PENDING processes are never purged"
    assert store.get("recent") is not None


def test_purge_keeps_processes_younger_than_retention_days(
    database_url: str, store: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    insert(database_url, [("forty-days", ProcessStatus.DONE, NOW - timedelta(days=40))])
    monkeypatch.setenv("RETENTION_DAYS", "45")
    code, out, err = run(capsys, "purge", "--database-url", database_url)
    assert (code, out, err) == (
        0,
        "deleted 0 finished processes older than 45 days in 1 batches\n",
        "batch 1: 0 deleted so far\n",
    )
    assert store.get("forty-days") is not None
    monkeypatch.delenv("RETENTION_DAYS")
    code, out, _ = run(capsys, "purge", "--database-url", database_url)
    assert (code, out) == (0, "deleted 1 finished processes older than 30 days in 1 batches\n")
    assert store.get("forty-days") is None


# --- fail-pending --------------------------------------------------------------------------------


@pytest.fixture
def three_pending(database_url: str) -> str:
    insert(database_url, [(f"f-{index}", ProcessStatus.PENDING, NOW) for index in range(3)])
    insert(database_url, [("f-done", ProcessStatus.DONE, NOW)])
    return database_url


def assert_failed_by_operator(store: SqlStore, reason: str) -> None:
    for index in range(3):
        record = store.get(f"f-{index}")
        assert record is not None
        assert (record.status, record.error) == (ProcessStatus.ERROR, {"code": "FAILED_BY_OPERATOR", "message": reason})
        assert record.completed_at is not None
    done = store.get("f-done")
    assert done is not None
    assert (done.status, done.error) == (ProcessStatus.DONE, None)


def test_fail_pending_with_yes_fails_every_pending_process(
    three_pending: str, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "fail-pending", "--yes", "--reason", "Camunda was reset", "--database-url", three_pending
    )
    assert (code, out, err) == (0, "3 PENDING processes failed with FAILED_BY_OPERATOR\n", "")
    assert_failed_by_operator(store, "Camunda was reset")
    assert run(capsys, "fail-pending", "--yes", "--database-url", three_pending) == (
        0,
        "no PENDING processes: nothing to do\n",
        "",
    )


def test_fail_pending_refuses_without_yes_when_nobody_can_confirm(
    three_pending: str, store: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # a script's stdin: its "y" is no person's answer
    code, out, err = run(capsys, "fail-pending", "--database-url", three_pending)
    assert (code, out) == (2, "")
    assert "refusing to fail 3 PENDING processes" in err
    assert "--yes" in err
    assert store.pending_count() == 3


@pytest.mark.parametrize("typed", ["y\n", "yes\n", "n\n", "\n", ""])
def test_fail_pending_asks_a_person_showing_the_count(
    typed: str,
    three_pending: str,
    store: SqlStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    confirmed = typed.strip() in {"y", "yes"}
    code, _, err = run(capsys, "fail-pending", "--database-url", three_pending)
    assert code == (0 if confirmed else 1)
    assert err.startswith(f"Fail all 3 PENDING processes of {three_pending}? [y/N] ")
    if confirmed:
        assert_failed_by_operator(store, "failed by an operator")
    else:
        assert err.endswith("nothing changed\n")
        assert store.pending_count() == 3


def test_fail_pending_interrupted_at_the_question_changes_nothing(
    three_pending: str, store: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", interrupted)
    code, out, _ = run(capsys, "fail-pending", "--database-url", three_pending)
    assert (code, out) == (130, "")
    assert store.pending_count() == 3


# --- delete and pending ---------------------------------------------------------------------------


def test_pending_counts_and_tells_of_one_process(three_pending: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pending", "--database-url", three_pending) == (0, "3 PENDING processes\n", "")
    assert run(capsys, "pending", "f-1", "--database-url", three_pending) == (0, "f-1 is PENDING\n", "")
    assert run(capsys, "pending", "f-done", "--database-url", three_pending) == (3, "f-done is not PENDING\n", "")
    assert run(capsys, "pending", "nobody", "--database-url", three_pending) == (3, "nobody is not PENDING\n", "")


def test_delete_removes_a_finished_process_and_refuses_a_pending_one(
    three_pending: str, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "delete", "f-done", "--database-url", three_pending) == (0, "deleted f-done and its steps\n", "")
    assert store.get("f-done") is None
    code, out, err = run(capsys, "delete", "f-0", "--database-url", three_pending)
    assert (code, out) == (1, "")
    assert err == "waitroom delete: process 'f-0' is PENDING: cancel it or fail it first\n"
    assert store.get("f-0") is not None, "a PENDING process's client still waits for it"
    code, _, err = run(capsys, "delete", "f-done", "--database-url", three_pending)
    assert (code, err) == (1, "waitroom delete: no process with correlation id 'f-done'\n")


def test_deploy_bpmn_to_something_that_is_not_camunda_says_where_the_engine_is(
    engine_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # As make run's own API on Camunda Run's default port answers: 404 to /deployment/create.
    not_camunda = engine_url.replace("/engine-rest", "/api/process")
    code, out, err = run(capsys, "deploy-bpmn", str(EXAMPLE_BPMN_DIR), "--camunda-url", not_camunda)
    assert (code, out) == (1, "")
    assert err.startswith(f"waitroom deploy-bpmn: {not_camunda} is not a Camunda 7 REST API")
    assert "http://127.0.0.1:8081/engine-rest (LOCAL_ENGINE_PORT)" in err
    assert err.count("\n") == 1


def test_a_sql_server_error_is_one_decoded_line_not_a_byte_string() -> None:
    # pymssql's error as it raises it on a refused login: the server's message as bytes, with FreeTDS's trailer.
    refused = pymssql.OperationalError(
        18456,
        b"Login failed for user 'waitroom'.DB-Lib error message 20018, severity 14:\n"
        b"General SQL Server error: Check messages from the SQL Server\n"
        b"DB-Lib error message 20002, severity 9:\nAdaptive Server connection failed (sql.internal)\n",
    )
    store_error = StoreUnavailable("the database cannot be reached")
    store_error.__cause__ = refused
    assert _one_line(store_error) == (
        "the database cannot be reached: SQL Server error 18456: Login failed for user 'waitroom'.; "
        "Adaptive Server connection failed (sql.internal)"
    )
