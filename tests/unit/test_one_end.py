"""Every way a process ends passes through one operation, ``ProcessService._end``: the only caller of
the repository's ending statements, and so the one place an end is announced (its waiters woken, the
lost answer of a retried statement made up for). This reads the code itself, so that a new caller of
an ending statement anywhere in the product fails here instead of announcing nothing in production."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from waitroom.service.ports import ProcessRepository

ROOT = Path(__file__).resolve().parents[2]
#: The product's code: the layer, the functions' composition roots and the local stack.
SOURCES = [ROOT / "shared" / "waitroom", ROOT / "functions", ROOT / "devstack"]
THE_ONE_END = "waitroom/service/processes.py:ProcessService._end"

#: Each method of the repository port, and whether it ends a PENDING row (a final status, or the row
#: deleted while its waiters may wait). A new port method must be placed here, and so be judged.
ENDING = {"finish", "discard_unstarted"}
NOT_ENDING = {
    "save",
    "get",
    "poll",
    "remove",  # refused for a PENDING row by ProcessService.delete
    "list_page",
    "pending_started_before",
    "cancelled_without_instance",
    "purge_finished",  # finished rows only
    "recent_durations_ms",
    "record_step",
    "steps",
    "attach_instance",
    "replace_unstarted",  # a finished row back to PENDING: a start, not an end
    "has_pending",
    "pending_count",
}


@dataclass(frozen=True)
class Call:
    where: str
    receiver: str
    method: str

    def __str__(self) -> str:
        return f"{self.where}: {self.receiver}.{self.method}(...)"


class _Calls(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[str] = []
        self.found: list[Call] = []

    def _enter(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _enter

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in ENDING:
            where = f"{self.module}:{'.'.join(self.scope) or '<module>'}"
            self.found.append(Call(where, ast.unparse(node.func.value), node.func.attr))
        self.generic_visit(node)


def calls_of_ending_names() -> Iterator[Call]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            visitor = _Calls(path.relative_to(ROOT / "shared" if source.parent.name == "shared" else ROOT).as_posix())
            visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
            yield from visitor.found


def is_the_service(receiver: str) -> bool:
    """``service.finish`` is the service's own finish, which goes through ``_end``; ``super()`` is an
    implementation of the port calling its parent (a test store or a benchmark's)."""
    return receiver.endswith("service") or receiver == "super()"


def test_every_method_of_the_repository_port_is_judged_ending_or_not() -> None:
    methods = {name for name, _ in inspect.getmembers(ProcessRepository, inspect.isfunction) if not name.startswith("_")}
    assert methods == ENDING | NOT_ENDING


def test_the_repositorys_ending_statements_are_run_by_the_one_end_alone() -> None:
    calls = list(calls_of_ending_names())
    of_the_repository = [call for call in calls if not is_the_service(call.receiver)]
    assert {call.method for call in of_the_repository} == ENDING, "the scan sees both ending statements"
    bypasses = [str(call) for call in of_the_repository if call.where != THE_ONE_END]
    assert bypasses == [], "an ending statement run outside ProcessService._end announces nothing"


def test_the_services_own_endings_go_through_the_one_end() -> None:
    # Inside the service an ending goes to _end, never to the public finish and its narrower answer.
    calls = list(calls_of_ending_names())
    inside = [str(call) for call in calls if call.where.startswith("waitroom/service/processes.py:ProcessService.")]
    assert inside == [
        "waitroom/service/processes.py:ProcessService._end: self.repository.discard_unstarted(...)",
        "waitroom/service/processes.py:ProcessService._end: self.repository.finish(...)",
    ]
