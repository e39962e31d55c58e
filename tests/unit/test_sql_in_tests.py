"""Every SQL statement the tests send themselves uses the parameter style of the driver that runs it:
sqlite3's ``?`` and ``:name``, psycopg's and pymssql's ``%s`` and ``%(name)s``. pymssql leaves a ``?``
in the text, so a fixture written for SQLite fails on SQL Server, which no machine of ours runs: the
statements are found in the tests' source, with the backends each can run on, and checked here.

A statement runs on a backend when it is written under a condition on the backend's name (``if
store.dialect.name == "mssql"``, ``... if backend == "sqlite" else ...``, a dict keyed by backend
names), or, without one, in a test or fixture that takes a store of every backend.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot

TESTS = Path(__file__).resolve().parents[1]
BACKENDS = frozenset({"sqlite", "postgresql", "mssql"})
STYLES = {"sqlite": {"qmark", "named"}, "postgresql": {"format", "pyformat"}, "mssql": {"format", "pyformat"}}
#: The fixtures that run a test once per backend (tests/integration/conftest.py), and those built on them.
EVERY_BACKEND = frozenset({"store", "store_factory", "database_url", "aged_store"})


@dataclass(frozen=True)
class Statement:
    where: str
    sql: str
    backends: frozenset[str]


def placeholder_styles(sql: str) -> set[str]:
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)  # string literals hold no placeholders
    styles = set()
    if "?" in text:
        styles.add("qmark")
    if re.search(r"(?<![:\w]):[A-Za-z_]\w*", text):
        styles.add("named")
    if "%s" in text:
        styles.add("format")
    if re.search(r"%\(\w+\)s", text):
        styles.add("pyformat")
    return styles


def _backend_condition(test: ast.expr) -> frozenset[str] | None:
    """The backends for which ``test`` is true, when it compares a name with a backend's name."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.comparators[0], ast.Constant):
        value = test.comparators[0].value
        if value in BACKENDS:
            if isinstance(test.ops[0], ast.Eq):
                return frozenset({value})
            if isinstance(test.ops[0], ast.NotEq):
                return BACKENDS - {value}
    return None


def _texts(node: ast.expr, backends: frozenset[str]) -> Iterator[tuple[str, frozenset[str]]]:
    """The SQL texts an expression can be, each with the backends it is sent to; nothing for a text
    not written out here (a variable, a store's own statement)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value, backends
    elif isinstance(node, ast.JoinedStr):
        parts = [part.value if isinstance(part, ast.Constant) else "0" for part in node.values]
        yield "".join(str(part) for part in parts), backends
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for left, left_backends in _texts(node.left, backends):
            for right, right_backends in _texts(node.right, left_backends):
                yield left + right, right_backends
    elif isinstance(node, ast.IfExp):
        condition = _backend_condition(node.test)
        if condition is None:
            yield from _texts(node.body, backends)
            yield from _texts(node.orelse, backends)
        else:
            yield from _texts(node.body, backends & condition)
            yield from _texts(node.orelse, backends - condition)


def statements_in(source: str, where: str) -> list[Statement]:
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found = []

    def backends_of(node: ast.AST) -> frozenset[str] | None:
        backends: frozenset[str] | None = None
        child, parent = node, parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.If) and (condition := _backend_condition(parent.test)) is not None:
                branch = condition if child in parent.body else BACKENDS - condition
                backends = branch if backends is None else backends & branch
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and backends is None:
                arguments = {argument.arg for argument in parent.args.args}
                if arguments & EVERY_BACKEND:
                    backends = BACKENDS
            child, parent = parent, parents.get(parent)
        return backends

    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "executemany"}
            and node.args
        ):
            backends = backends_of(node)
            for sql, sent_to in _texts(node.args[0], backends or BACKENDS):
                # Where nothing says which backends run the call, only a text chosen by backend is checked.
                if sent_to and (backends is not None or sent_to != BACKENDS):
                    found.append(Statement(f"{where}:{node.lineno}", sql, sent_to))
        elif (
            isinstance(node, ast.Dict)
            and node.keys
            and all(isinstance(key, ast.Constant) and key.value in BACKENDS for key in node.keys)
        ):
            for key, value in zip(node.keys, node.values, strict=True):
                assert isinstance(key, ast.Constant) and isinstance(key.value, str)
                for sql, sent_to in _texts(value, frozenset({key.value})):
                    found.append(Statement(f"{where}:{value.lineno}", sql, sent_to))
    return found


STATEMENTS = [
    statement
    for path in sorted(TESTS.rglob("*.py"))
    for statement in statements_in(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS.parent)))
]


def test_the_tests_statements_are_found() -> None:
    assert len(STATEMENTS) >= 8
    assert any("mssql" in statement.backends for statement in STATEMENTS)


@pytest.mark.parametrize("statement", STATEMENTS, ids=lambda statement: statement.where)
def test_a_statement_uses_the_parameter_style_of_every_backend_it_runs_on(statement: Statement) -> None:
    styles = placeholder_styles(statement.sql)
    for backend in sorted(statement.backends):
        assert styles <= STYLES[backend], f"{statement.where}: {sorted(styles)} on {backend}: {statement.sql}"


@pytest.mark.parametrize(
    "statement", [s for s in STATEMENTS if s.backends == {"mssql"}], ids=lambda statement: statement.where
)
def test_a_statement_for_sql_server_alone_is_tsql(statement: Statement) -> None:
    sql = re.sub(r"%\((\w+)\)s", r"@\1", statement.sql).replace("%s", "@p")
    assert sqlglot.parse(sql, read="tsql")


def test_a_fixture_written_for_sqlite_and_sent_to_sql_server_too_is_found() -> None:
    """The shape of the fixture this file was written for: SQLite's ``?`` in the branch that every
    backend but PostgreSQL takes."""
    source = """
def aged(store):
    if store.dialect.name == "postgresql":
        store.execute("INSERT INTO t SELECT %s", (1,))
    else:
        store.executemany("INSERT INTO t VALUES (?, ?)", [])
"""
    statements = statements_in(source, "example")
    wrong = [
        (statement.sql, backend)
        for statement in statements
        for backend in statement.backends
        if not placeholder_styles(statement.sql) <= STYLES[backend]
    ]
    assert wrong == [("INSERT INTO t VALUES (?, ?)", "mssql")]
