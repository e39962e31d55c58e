"""Every T-SQL statement the SQL Server backend sends, parsed by sqlglot as T-SQL.

No SQL Server runs here, so this is what keeps the T-SQL honest between runs against a real one.
sqlglot is lenient (it accepts ``ON CONFLICT`` and rewrites ``RETURNING`` into ``OUTPUT``), so a
statement must also survive a round trip unchanged and contain nothing foreign to T-SQL.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import DEFAULT_MIGRATIONS_DIR
from waitroom.adapters.store.mssql import STATEMENTS, mssql_batches
from waitroom.domain.process import ListQuery, ProcessStatus
from waitroom.settings import Settings

FOREIGN_TO_TSQL = re.compile(r"(?<![@\w])(RETURNING|LIMIT|ON\s+CONFLICT|ILIKE|NOW\(\)|SERIAL)\b|::", re.IGNORECASE)


def as_tsql(statement: str) -> str:
    """pymssql's pyformat placeholders → T-SQL variables, as the server will see values there."""
    return re.sub(r"%\((\w+)\)s", r"@\1", statement).replace("%s", "?")


def normalized(sql: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\s*([(),])\s*", r"\1", sql)).strip().upper()


def composed_list_statements() -> dict[str, str]:
    """The list query as the store composes it: with no filter, and with every filter at once."""
    store = SqlStore(dialect_for("mssql://u:p@db.invalid:1433/waitroom", Settings()))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    everything = ListQuery(
        limit=10,
        status=ProcessStatus.DONE,
        process_key="onboard-user",
        started_after=moment,
        started_before=moment,
        after=(moment, "x"),
        owner="alice",
    )
    return {
        "list_page (no filter)": store.list_statement(ListQuery(limit=10))[0],
        "list_page (every filter)": store.list_statement(everything)[0],
    }


STORE_STATEMENTS = {
    **{
        field.name: getattr(STATEMENTS, field.name)
        for field in dataclasses.fields(STATEMENTS)
        if field.name not in {"list_page", "list_filters"}
    },
    **composed_list_statements(),
}


@pytest.mark.parametrize("name", sorted(STORE_STATEMENTS))
def test_store_statement_is_tsql(name: str) -> None:
    source = as_tsql(STORE_STATEMENTS[name])
    assert not FOREIGN_TO_TSQL.search(source), f"{name} uses syntax SQL Server does not have"
    parsed = sqlglot.parse_one(source, read="tsql")
    assert normalized(parsed.sql(dialect="tsql")) == normalized(source), f"{name} did not survive a T-SQL round trip"


def test_keys_are_compared_as_varchar_so_lookups_seek() -> None:
    for name, statement in STORE_STATEMENTS.items():
        if "correlation_id = " in statement:
            assert "correlation_id = CAST(%(correlation_id)s AS VARCHAR(64))" in statement, name


def test_the_locking_hints_are_where_the_design_puts_them() -> None:
    save = sqlglot.parse_one(as_tsql(STATEMENTS.save), read="tsql")
    hinted = [table for table in save.find_all(exp.Table) if table.args.get("hints")]
    assert [hint.sql(dialect="tsql") for table in hinted for hint in table.args["hints"]] == [
        "WITH (UPDLOCK, HOLDLOCK)"
    ], "only the existence check of save locks the key range"
    record_step = sqlglot.parse_one(as_tsql(STATEMENTS.record_step), read="tsql")
    hinted = [table for table in record_step.find_all(exp.Table) if table.args.get("hints")]
    assert [(table.name, hint.sql(dialect="tsql")) for table in hinted for hint in table.args["hints"]] == [
        ("process_event", "WITH (UPDLOCK, HOLDLOCK)")
    ], "a retried step's token check waits for an attempt still running, then sees its row"
    poll = sqlglot.parse_one(as_tsql(STATEMENTS.poll), read="tsql")
    table = poll.find(exp.Table)
    assert table is not None
    assert [hint.sql(dialect="tsql") for hint in table.args["hints"]] == ["WITH (READCOMMITTEDLOCK, ROWLOCK)"]
    finish = sqlglot.parse_one(as_tsql(STATEMENTS.finish), read="tsql")
    assert finish.args.get("returning") is not None, "finish returns the row with OUTPUT"
    assert "status = 'PENDING'" in STATEMENTS.finish


MIGRATIONS = sorted((DEFAULT_MIGRATIONS_DIR / "mssql").glob("*.sql"))


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.name)
def test_migration_batches_are_tsql(path: Path) -> None:
    for batch in mssql_batches(path.read_text(encoding="utf-8")):
        statements = sqlglot.parse(batch, read="tsql")
        assert statements and all(statement is not None for statement in statements)
        assert not FOREIGN_TO_TSQL.search(batch)


def test_migration_001_is_the_seeds_table_verbatim() -> None:
    seed = """CREATE TABLE dbo.process_store (
  correlation_id VARCHAR(64) NOT NULL PRIMARY KEY,
  status         VARCHAR(16) NOT NULL,   -- PENDING | DONE | ERROR (| CANCELLED, added later)
  payload_json   NVARCHAR(MAX) NULL,
  error_json     NVARCHAR(MAX) NULL,
  started_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),
  updated_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME());
CREATE INDEX IX_ProcessStore_Status ON dbo.process_store(status);
CREATE INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store(updated_at);
"""
    assert MIGRATIONS[0].name == "001_create_process_store.sql"
    assert MIGRATIONS[0].read_text(encoding="utf-8") == seed


OPERATIONS_GUIDE = Path(__file__).parents[2] / "docs" / "OPERATIONS.md"
GUIDE_QUERIES = re.findall(r"```sql\n(.*?)```", OPERATIONS_GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def migrated_columns() -> dict[str, set[str]]:
    """Each table the SQL Server migrations create, with every column they give it."""
    columns: dict[str, set[str]] = {}
    for path in MIGRATIONS:
        for batch in mssql_batches(path.read_text(encoding="utf-8")):
            for statement in sqlglot.parse(batch, read="tsql"):
                assert statement is not None
                for definition in statement.find_all(exp.ColumnDef):
                    table = statement.find(exp.Table)
                    assert table is not None
                    columns.setdefault(table.name, set()).add(definition.name)
    return columns


def test_the_operations_guide_has_queries() -> None:
    assert len(GUIDE_QUERIES) >= 5


@pytest.mark.parametrize("query", GUIDE_QUERIES, ids=lambda query: " ".join(query.split())[:60])
def test_operations_guide_query_is_tsql_on_the_migrated_schema(query: str) -> None:
    assert not FOREIGN_TO_TSQL.search(query)
    parsed = sqlglot.parse_one(query, read="tsql")
    schema = migrated_columns()
    tables = {table.name for table in parsed.find_all(exp.Table)}
    assert tables and tables <= set(schema), f"unknown tables {tables - set(schema)}"
    known = set().union(*(schema[table] for table in tables))
    aliases = {alias.alias for alias in parsed.find_all(exp.Alias)}
    referenced = {column.name for column in parsed.find_all(exp.Column)} - aliases
    assert referenced <= known, f"columns not in {sorted(tables)}: {sorted(referenced - known)}"


#: The columns that hold ids, process keys, owners and tokens: compared byte for byte on every backend.
EXACT_COLUMNS = {
    "process_store": {"correlation_id", "process_key", "owner", "request_hash", "save_token"},
    "process_event": {"correlation_id", "step_token"},
    "waiter_callback": {"correlation_id", "callback_id"},
}


def migrated_statements() -> list[tuple[str, exp.Expr]]:
    return [
        (path.name, statement)
        for path in MIGRATIONS
        for batch in mssql_batches(path.read_text(encoding="utf-8"))
        for statement in sqlglot.parse(batch, read="tsql")
        if statement is not None
    ]


def final_columns() -> dict[tuple[str, str], tuple[str, str]]:
    """Each column of the migrated schema, ``(table, column)``, with its type and collation after the
    last migration (an ``ALTER COLUMN`` replaces both)."""
    columns: dict[tuple[str, str], tuple[str, str]] = {}
    for _, statement in migrated_statements():
        table = statement.find(exp.Table)
        if table is None:  # DECLARE, EXEC
            continue
        for definition in statement.find_all(exp.ColumnDef):
            collate = definition.find(exp.CollateColumnConstraint)
            kind = definition.args["kind"].sql(dialect="tsql")
            # A column constraint prints as ``COLLATE name``; an ALTER COLUMN's collation as the name.
            named = "" if collate is None else collate.sql(dialect="tsql").removeprefix("COLLATE ")
            columns[(table.name, definition.name)] = (kind, named)
        for altered in statement.find_all(exp.AlterColumn):
            collation = altered.args.get("collate")
            columns[(table.name, altered.name)] = (
                altered.args["dtype"].sql(dialect="tsql"),
                "" if collation is None else collation.sql(dialect="tsql"),
            )
    return columns


def test_every_id_key_owner_and_token_column_ends_with_a_binary_collation() -> None:
    """The server's default collation is case-insensitive (SQL_Latin1_General_CP1_CI_AS): ``Order-1``
    and ``order-1`` would be one process, and owners differing by case would share one list."""
    columns = final_columns()
    for table, names in EXACT_COLUMNS.items():
        for name in names:
            kind, collation = columns[(table, name)]
            assert collation == "Latin1_General_100_BIN2", f"{table}.{name} is {kind} {collation or '(default)'}"
    assert columns[("process_store", "owner")][0] == "NVARCHAR(255)", "the owner is any Unicode text"
    assert columns[("process_store", "correlation_id")][0] == "VARCHAR(64)"


def test_the_collation_migration_drops_and_makes_again_every_index_and_key_of_the_tables() -> None:
    """SQL Server refuses to change the collation of a column an index, a key or statistics refer to."""
    path = DEFAULT_MIGRATIONS_DIR / "mssql" / "007_exact_keys.sql"
    text = path.read_text(encoding="utf-8")
    before = [statement for name, statement in migrated_statements() if name < path.name]
    indexes = {
        index.name
        for statement in before
        if isinstance(statement, exp.Create) and statement.kind == "INDEX"
        for index in [statement.this]
    }
    assert len(indexes) == 7
    for index in sorted(indexes):
        assert re.search(rf"DROP INDEX {index} ON", text), f"{index} is not dropped"
        assert re.search(rf"CREATE INDEX {index} ON", text), f"{index} is not made again"
    assert "DROP CONSTRAINT FK_ProcessEvent_ProcessStore" in text
    assert "ADD CONSTRAINT FK_ProcessEvent_ProcessStore" in text and "ON DELETE CASCADE" in text
    assert "sys.key_constraints" in text and "PRIMARY KEY CLUSTERED (correlation_id)" in text
    assert "sys.stats" in text, "statistics the server made on the columns are dropped too"


def test_no_value_is_cast_to_a_type_that_cannot_hold_it() -> None:
    """A cast truncates silently: the owner is NVARCHAR(255), as its column, and the values cast to
    VARCHAR are of the domain's ASCII form only (ids, process keys, statuses, hashes, tokens)."""
    for name, statement in STORE_STATEMENTS.items():
        assert "%(owner)s AS VARCHAR" not in statement, name
        if "%(owner)s" in statement:
            assert "CAST(%(owner)s AS NVARCHAR(255))" in statement, name
    owner_filter = STATEMENTS.list_filters["owner"]
    assert "DATALENGTH(ps.owner)" in owner_filter, "equality ignores trailing blanks: the lengths must agree too"
