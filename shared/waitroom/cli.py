"""``waitroom``: the operators' command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from waitroom.errors import WaitroomError
from waitroom.settings import load_settings
from waitroom.store import database_url, dialect_for
from waitroom.store.migrate import DEFAULT_MIGRATIONS_DIR, migrate


def _migrate(args: argparse.Namespace) -> int:
    settings = load_settings(**({"database_url": args.database_url} if args.database_url else {}))
    dialect = dialect_for(database_url(settings), settings)
    applied = migrate(dialect, Path(args.dir))
    if applied:
        for migration in applied:
            print(f"applied {migration.version:03d} {migration.name}")
    else:
        print(f"{dialect.name}: already up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waitroom", description="Operate a Waitroom installation.")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate_parser = commands.add_parser(
        "migrate",
        help="apply the database migrations (safe to run twice)",
        description="Apply every migration of migrations/<dialect>/ not yet recorded in waitroom_migrations.",
    )
    migrate_parser.add_argument(
        "--database-url",
        help="the database (default: DATABASE_URL, DB_*, DB_SECRET_ARN or the local SQLite file)",
    )
    migrate_parser.add_argument("--dir", default=str(DEFAULT_MIGRATIONS_DIR), help="the migrations folder")
    migrate_parser.set_defaults(run=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except WaitroomError as exc:
        print(f"waitroom {args.command}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
