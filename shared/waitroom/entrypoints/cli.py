"""``waitroom``: the operators' command line.

Every command reads the settings the functions read (the environment); ``--database-url`` and
``--camunda-url`` win over them. A failure ends in one line on stderr and exit code 1, never a
traceback, and the passwords of URLs are masked wherever they are printed.

Given no database, a command uses the local stack's SQLite file, ``.var/waitroom.sqlite3`` in the
working directory (the checkout, where ``make run`` keeps it), and only if it is there: run anywhere
else, it says what to set instead of creating an empty database there. No command but ``migrate``
creates a SQLite file, and none reads one that has no tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from waitroom import bootstrap
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.metrics import Uncounted
from waitroom.adapters.store import database_url, dialect_for
from waitroom.adapters.store.migrate import (
    DEFAULT_MIGRATIONS_DIR,
    DEFAULT_STATEMENT_TIMEOUT_S,
    applied_versions,
    migrate,
)
from waitroom.adapters.store.sqlite import SqliteDialect
from waitroom.domain.errors import CamundaNotFound, ConfigurationError, ProcessNotFound, WaitroomError
from waitroom.domain.process import ListQuery, ProcessRecord, ProcessStatus, dump_json
from waitroom.entrypoints.http.schemas import ProcessView
from waitroom.observability import logger
from waitroom.service.retention import RetentionSummary, purge_expired
from waitroom.settings import DEFAULT_DATABASE_URL, Settings, load_settings

FAILED_BY_OPERATOR = "FAILED_BY_OPERATOR"
#: Exit code of a command that refused to act (fail-pending that nobody could confirm).
EXIT_REFUSED = 2
#: Exit code of ``pending ID`` for a process that is not PENDING (finished, or unknown).
EXIT_NOT_PENDING = 3

#: A password may hold "@" (up to the last one before the host) but not "/", where the path begins.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^/\s]*@")
_PARAM_PASSWORD = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)
_TABLE_ROW = "{:<36}  {:<20}  {:<9}  {:<19}  {:>12}"


def redact(text: str) -> str:
    """``text`` with the passwords of the URLs in it (``user:password@`` and ``password=``) masked."""
    return _PARAM_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The environment's settings, with the command line's options winning over them."""
    if getattr(args, "database_url", None):
        # The option names the whole database: DB_HOST or DB_SECRET_ARN in the environment must neither win nor clash.
        overrides |= {"database_url": args.database_url, "db_host": None, "db_secret_arn": None}
    if getattr(args, "camunda_url", None):
        # The option names the configured engine's API: Camunda 7's or Camunda 8's.
        engine = load_settings(**overrides).engine
        overrides["camunda8_url" if engine == "camunda8" else "camunda_url"] = args.camunda_url
    return load_settings(**overrides)


def _database_settings(args: argparse.Namespace, *, migrating: bool = False, **overrides: Any) -> Settings:
    """The settings of a command on the database, once the database is known to be there: a SQLite
    file is never created by a command that would then fail on its missing tables."""
    settings = _settings(args, **overrides)
    url = settings.resolved_database_url()
    if settings.db_secret_arn or not url.startswith("sqlite:"):
        return settings
    dialect = dialect_for(url, settings)
    if not isinstance(dialect, SqliteDialect) or dialect.path == ":memory:":
        return settings
    path = Path(dialect.path)
    if url == DEFAULT_DATABASE_URL and settings.database_url is None and not path.exists():
        create = "; or create one here with waitroom migrate --database-url sqlite:///.var/waitroom.sqlite3"
        raise ConfigurationError(
            "no database given: set DATABASE_URL (or DB_HOST with DB_NAME, DB_USER and DB_PASSWORD, or "
            "DB_SECRET_ARN) or pass --database-url; without them waitroom reads the local stack's "
            f".var/waitroom.sqlite3 in the working directory, and {Path.cwd()} has none (make run keeps it "
            f"in the checkout: run waitroom there){create if migrating else ''}"
        )
    if migrating:
        return settings
    if not path.exists():
        raise ConfigurationError(
            f"there is no SQLite database at {path.resolve()}: correct the path, or create it with "
            "waitroom migrate and the same database URL"
        )
    if not applied_versions(dialect):
        raise ConfigurationError(
            f"the SQLite database {path.resolve()} has no Waitroom tables: run waitroom migrate "
            "with the same database URL first"
        )
    return settings


def _database_label(settings: Settings) -> str:
    """The database as an operator may see it: the secret's ARN, or the URL without its password."""
    if settings.db_secret_arn:
        return f"the database of secret {settings.db_secret_arn}"
    return redact(settings.resolved_database_url())


# --- commands --------------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    settings = _database_settings(args, migrating=True)
    dialect = dialect_for(database_url(settings), settings)
    applied = migrate(
        dialect,
        args.dir,
        baseline=args.baseline,
        statement_timeout_s=args.statement_timeout,
    )
    if applied:
        for migration in applied:
            done = "recorded" if args.baseline is not None and migration.version <= args.baseline else "applied"
            print(f"{done} {migration.version:03d} {migration.name}")
    else:
        print(f"{dialect.name}: already up to date")
    return 0


def _deploy_bpmn(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.engine == "camunda8":
        return _deploy_bpmn_camunda8(settings, args.folder)
    camunda = CamundaClient.from_settings(settings)
    with camunda.session:
        try:
            deployment = deploy_bpmn(camunda, args.folder)
        except CamundaNotFound:
            # The default URL's port is Camunda Run's, and make run's own API listens there too.
            raise ConfigurationError(
                f"{settings.camunda_url} is not a Camunda 7 REST API (POST /deployment/create is 404 there): "
                "give --camunda-url or CAMUNDA_URL; with make run the development engine is at "
                "http://127.0.0.1:8081/engine-rest (LOCAL_ENGINE_PORT)"
            ) from None
    # Camunda lists only the definitions this deployment created: none when no file changed.
    created = (deployment.get("deployedProcessDefinitions") or {}).values()
    for definition in sorted(created, key=lambda definition: str(definition["key"])):
        print(f"deployed {definition['key']} version {definition['version']} ({definition['id']})")
    if not created:
        print(f"unchanged: every .bpmn file of {args.folder} is deployed already")
    return 0


def _deploy_bpmn_camunda8(settings: Settings, folder: Path) -> int:
    from waitroom.adapters.camunda8.client import Camunda8Client  # noqa: PLC0415 -- Camunda 8 only
    from waitroom.adapters.camunda8.deployment import deploy_bpmn as deploy_bpmn8  # noqa: PLC0415

    camunda = Camunda8Client.from_settings(settings)
    try:
        definitions = deploy_bpmn8(camunda, folder)
    except CamundaNotFound:
        raise ConfigurationError(
            f"{settings.camunda8_url} is not a Camunda 8 REST API (POST /deployments is 404 there): give "
            "--camunda-url or CAMUNDA8_URL; with make run the development engine is at http://127.0.0.1:8081/v2"
        ) from None
    finally:
        camunda.close()
    for definition in sorted(definitions, key=lambda definition: str(definition["processDefinitionId"])):
        print(
            f"deployed {definition['processDefinitionId']} version {definition['processDefinitionVersion']} "
            f"({definition['processDefinitionKey']})"
        )
    return 0


@contextlib.contextmanager
def _application(settings: Settings) -> Iterator[bootstrap.Application]:
    """The service a command works through, as the functions build it, less the metrics (they belong to
    Lambda's logs, not a terminal); its connections closed after."""
    with contextlib.closing(bootstrap.application(settings, metrics=Uncounted())) as built:
        yield built


def _status(args: argparse.Namespace) -> int:
    with _application(_database_settings(args)) as built:
        state = built.service.status(args.correlation_id, caller=None, history=args.history)
    print(json.dumps(ProcessView.of(state.record, steps=state.steps).to_json(), indent=2, ensure_ascii=False))
    return 0


def _table_row(record: ProcessRecord) -> str:
    duration = "" if record.duration_ms is None else f"{record.duration_ms / 1000:.3f} s"
    started = record.started_at.strftime("%Y-%m-%d %H:%M:%S")
    return _TABLE_ROW.format(record.correlation_id, record.process_key or "-", record.status, started, duration)


def _list(args: argparse.Namespace) -> int:
    query = ListQuery(
        limit=args.limit,
        status=args.status,
        process_key=args.process_key,
        started_after=args.started_after,
        started_before=args.started_before,
    )
    listed = 0
    with _application(_database_settings(args)) as built:
        for number, page in enumerate(built.service.pages(query, caller=None), start=1):
            if number == 1 and not args.json:
                print(_TABLE_ROW.format("CORRELATION ID", "PROCESS KEY", "STATUS", "STARTED (UTC)", "DURATION"))
            for record in page.records:
                print(dump_json(ProcessView.of(record).to_json()) if args.json else _table_row(record))
            listed += len(page.records)
            if not args.all:
                if page.last is not None:
                    print(f"the newest {listed} are shown; --all lists every one", file=sys.stderr)
                break
            print(f"page {number}: {listed} processes", file=sys.stderr, flush=True)
    return 0


def _purge(args: argparse.Namespace) -> int:
    options = {"retention_days": args.older_than_days, "retention_batch": args.batch}
    settings = _database_settings(args, **{name: value for name, value in options.items() if value is not None})

    def progress(totals: RetentionSummary) -> None:
        print(f"batch {totals.batches}: {totals.deleted} deleted so far", file=sys.stderr, flush=True)

    with contextlib.closing(bootstrap.repository(settings)) as repository:
        # Unlike the scheduled function, an operator's run has no deadline: it goes on to the end.
        summary = purge_expired(
            repository,
            settings.retention_policy(),
            remaining_ms=lambda: sys.maxsize,
            now=bootstrap.utc_now,
            on_batch=progress,
        )
    print(
        f"deleted {summary.deleted} finished processes older than {settings.retention_days} days "
        f"in {summary.batches} batches"
    )
    return 0


def _confirmed(question: str) -> bool:
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        return input().strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def _fail_pending(args: argparse.Namespace) -> int:
    settings = _database_settings(args)
    with _application(settings) as built:
        count = built.service.pending_count()
        if count == 0:
            print("no PENDING processes: nothing to do")
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                print(
                    f"waitroom fail-pending: refusing to fail {count} PENDING processes unconfirmed "
                    "(stdin is not a terminal): pass --yes",
                    file=sys.stderr,
                )
                return EXIT_REFUSED
            if not _confirmed(f"Fail all {count} PENDING processes of {_database_label(settings)}?"):
                print("nothing changed", file=sys.stderr)
                return 1
        # Waiters on those processes wake at once, as they would for a finish in a function.
        failed = built.service.fail_all_pending(code=FAILED_BY_OPERATOR, reason=args.reason)
    print(f"{failed} PENDING processes failed with {FAILED_BY_OPERATOR}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _application(_database_settings(args)) as built:
        if not built.service.delete(args.correlation_id):
            raise ProcessNotFound(f"no process with correlation id {args.correlation_id!r}")
    print(f"deleted {args.correlation_id} and its steps")
    return 0


def _pending(args: argparse.Namespace) -> int:
    with _application(_database_settings(args)) as built:
        if args.correlation_id is None:
            print(f"{built.service.pending_count()} PENDING processes")
            return 0
        pending = built.service.is_pending(args.correlation_id)
    print(f"{args.correlation_id} is {'' if pending else 'not '}PENDING")
    return 0 if pending else EXIT_NOT_PENDING


# --- the parser ------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def _timestamp(text: str) -> datetime:
    """An ISO 8601 time; UTC when it names no zone, as the API reads it."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2025-01-31T09:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database-url",
        metavar="URL",
        help="the database (default: DATABASE_URL, DB_HOST/DB_NAME/DB_USER/DB_PASSWORD, DB_SECRET_ARN, "
        "else make run's .var/waitroom.sqlite3 in the working directory, if it is there)",
    )
    camunda = argparse.ArgumentParser(add_help=False)
    camunda.add_argument("--camunda-url", metavar="URL", help="Camunda's REST API (default: CAMUNDA_URL)")

    parser = argparse.ArgumentParser(
        prog="waitroom",
        description="Operate a Waitroom installation: its database and its Camunda.",
        epilog="Settings come from the environment, as for the functions (DATABASE_URL or DB_*, DB_SECRET_ARN, "
        "CAMUNDA_URL, RETENTION_DAYS, ...).\nRun 'waitroom COMMAND --help' for the options and examples of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        run: Callable[[argparse.Namespace], int],
        summary: str,
        description: str,
        examples: str,
        *parents: argparse.ArgumentParser,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=description,
            epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=list(parents),
        )
        sub.set_defaults(run=run)
        return sub

    migrate_parser = command(
        "migrate",
        _migrate,
        "apply the database migrations (safe to run twice)",
        "Apply every migration of the package's migrations/<dialect>/ not yet recorded in waitroom_migrations. "
        "Some rebuild the table's indexes, which blocks the service meanwhile: run it in a maintenance window. "
        "A database "
        "that holds the seed's process_store table already is baselined once with --baseline 1.",
        """
        waitroom migrate
        waitroom migrate --database-url postgresql://waitroom@db.internal:5432/waitroom
        waitroom migrate --baseline 1   # the seed's table exists: record 001, apply the rest
        """,
        database,
    )
    migrate_parser.add_argument(
        "--dir", type=Path, default=DEFAULT_MIGRATIONS_DIR, help="the migrations folder (default: the package's)"
    )
    migrate_parser.add_argument(
        "--baseline",
        type=_positive_int,
        metavar="VERSION",
        help="record the migrations up to VERSION as applied without running them (their schema is there)",
    )
    migrate_parser.add_argument(
        "--statement-timeout",
        type=_positive_int,
        default=round(DEFAULT_STATEMENT_TIMEOUT_S),
        metavar="SECONDS",
        help="longest statement of a migration, not DB_QUERY_TIMEOUT_S: an index built on a populated table "
        f"takes longer (default: {round(DEFAULT_STATEMENT_TIMEOUT_S)})",
    )

    deploy_parser = command(
        "deploy-bpmn",
        _deploy_bpmn,
        "deploy a folder's BPMN processes to Camunda (changed files only)",
        "Deploy every .bpmn file of FOLDER (your processes) to Camunda in one deployment; Camunda keeps the "
        "files that did not change as they are. Prints each process definition deployed, with its version, "
        "or 'unchanged'. Deploys to the engine ENGINE names: Camunda 7 (CAMUNDA_URL) or Camunda 8 (CAMUNDA8_URL, "
        "which lists every definition of the deployment, changed or not).",
        """
        waitroom deploy-bpmn ./bpmn
        waitroom deploy-bpmn examples/onboard-user/bpmn --camunda-url http://camunda.internal:8080/engine-rest
        ENGINE=camunda8 waitroom deploy-bpmn examples/onboard-user/bpmn-camunda8
        """,
        camunda,
    )
    deploy_parser.add_argument("folder", type=Path, metavar="FOLDER", help="the folder of the .bpmn files to deploy")

    status_parser = command(
        "status",
        _status,
        "show one process as the API shows it",
        "Print one process as JSON, in the shape of GET /api/process/status/{correlationId}. "
        "Exit code 1 when no process has that correlation id.",
        """
        waitroom status user-123
        waitroom status user-123 --history
        """,
        database,
    )
    status_parser.add_argument("correlation_id", metavar="CORRELATION_ID")
    status_parser.add_argument("--history", action="store_true", help="include the steps the worker ran, in order")

    list_parser = command(
        "list",
        _list,
        "list processes, newest first",
        "List processes, newest first: a table, or JSON lines (one process a line, in the API's shape). "
        "Shows one page unless --all follows the pages to the end (progress on stderr).",
        """
        waitroom list
        waitroom list --status PENDING --started-before 2025-01-31T00:00:00Z
        waitroom list --process-key onboard-user --all --json > processes.jsonl
        """,
        database,
    )
    list_parser.add_argument("--status", type=ProcessStatus, choices=list(ProcessStatus))
    list_parser.add_argument("--process-key", metavar="KEY")
    list_parser.add_argument(
        "--started-after", type=_timestamp, metavar="TIME", help="inclusive; ISO 8601, UTC when no zone is given"
    )
    list_parser.add_argument("--started-before", type=_timestamp, metavar="TIME", help="exclusive")
    list_parser.add_argument(
        "--limit", type=_positive_int, default=50, metavar="N", help="processes a page (default: 50)"
    )
    list_parser.add_argument("--all", action="store_true", help="follow the pages to the last one")
    list_parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")

    purge_parser = command(
        "purge",
        _purge,
        "delete old finished processes now (the retention job)",
        "Delete the finished processes (DONE, ERROR, CANCELLED) last changed more than N days ago, with their "
        "steps, a batch at a time, as the scheduled retention function does. PENDING processes are never deleted.",
        """
        waitroom purge
        waitroom purge --older-than-days 90 --batch 500
        """,
        database,
    )
    purge_parser.add_argument(
        "--older-than-days", type=_positive_int, metavar="N", help="default: RETENTION_DAYS, else 30"
    )
    purge_parser.add_argument(
        "--batch",
        type=_positive_int,
        metavar="N",
        help="rows one statement deletes (default: RETENTION_BATCH, else 1000)",
    )

    fail_parser = command(
        "fail-pending",
        _fail_pending,
        "end every PENDING process as ERROR (clearAll)",
        f"Turn every PENDING process into ERROR with code {FAILED_BY_OPERATOR} and the reason given; clients "
        "waiting on them get that error. Asks for confirmation, showing how many, unless --yes; without a "
        f"terminal to ask on and without --yes it refuses (exit code {EXIT_REFUSED}).",
        """
        waitroom fail-pending --reason "Camunda was restored from a backup"
        waitroom fail-pending --yes --reason "maintenance window"
        """,
        database,
    )
    fail_parser.add_argument("--reason", default="failed by an operator", help="the error message the processes get")
    fail_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    delete_parser = command(
        "delete",
        _delete,
        "delete one finished process and its steps",
        "Delete one finished process (DONE, ERROR or CANCELLED) and its steps now, without waiting for "
        "retention. A PENDING process is refused: its client still waits for it; cancel or fail it first. "
        "Exit code 1 when no process has that correlation id.",
        """
        waitroom delete user-123
        """,
        database,
    )
    delete_parser.add_argument("correlation_id", metavar="CORRELATION_ID")

    pending_parser = command(
        "pending",
        _pending,
        "count the PENDING processes, or tell whether one is PENDING",
        "Without an id: print how many processes are PENDING. With one: say whether that process is PENDING; "
        f"the exit code is 0 when it is and {EXIT_NOT_PENDING} when it is not (finished, or unknown).",
        """
        waitroom pending
        waitroom pending user-123 && echo "still running"
        """,
        database,
    )
    pending_parser.add_argument("correlation_id", metavar="CORRELATION_ID", nargs="?")
    return parser


# --- running a command -----------------------------------------------------------------------------


@contextlib.contextmanager
def _logs_on_stderr() -> Iterator[None]:
    """The functions' JSON logs (INFO and up, to stdout) would mix with this command's output: while it runs,
    only warnings are logged, and to stderr."""
    handler = cast("logging.StreamHandler[Any]", logger.registered_handler)  # observability's logger writes to one
    level = logger.log_level
    previous = handler.setStream(sys.stderr)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        if previous is not None:
            handler.setStream(previous)


def _one_line(error: Exception) -> str:
    """What went wrong, on one line: a domain error's message and the cause it names (the driver's own
    words say why a database was out of reach); any other error's type and first line."""
    if isinstance(error, WaitroomError):
        cause = error.__cause__
        return error.message if cause is None else f"{error.message}: {_first_line(cause)}"
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = _driver_text(error) or str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _driver_text(error: BaseException) -> str:
    """pymssql's errors carry ``(number, b"message DB-Lib error message …")``: the number and the
    server's own message, decoded, without FreeTDS's trailer; "" for any other error."""
    args = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], tuple) else error.args
    if len(args) != 2 or not isinstance(args[0], int) or not isinstance(args[1], bytes):
        return ""
    text = _DB_LIB_MARKER.sub("\n", args[1].decode("utf-8", errors="replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(_DB_LIB_NOISE)]
    return f"SQL Server error {args[0]}: {'; '.join(dict.fromkeys(lines)) or 'no message'}"


_DB_LIB_MARKER = re.compile(r"\s*DB-Lib error message \d+, severity \d+:\s*")
_DB_LIB_NOISE = "General SQL Server error: Check messages from the SQL Server"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _logs_on_stderr():
            code = int(args.run(args))
            # A reader that left (`waitroom list --all | head`) shows here, where it is handled, not at exit.
            sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Stop quietly, and keep the interpreter's own last flush from failing on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an operator gets one line, never a traceback
        print(f"waitroom {args.command}: {redact(_one_line(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
