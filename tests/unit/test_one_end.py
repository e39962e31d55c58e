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
    "add_waiter",
    "take_waiters",  # the durable waiters' callbacks, taken by the one end alone (see below)
    "drop_waiter",
}


@dataclass(frozen=True)
class Call:
    where: str
    receiver: str
    method: str

    def __str__(self) -> str:
        return f"{self.where}: {self.receiver}.{self.method}(...)"


def _calls_in(node: ast.AST, where: str) -> Iterator[Call]:
    """The calls of an ending name under ``node``, each with the class and function it is in."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _calls_in(child, f"{where}.{child.name}" if where else child.name)
            continue
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr in ENDING:
            yield Call(where or "<module>", ast.unparse(child.func.value), child.func.attr)
        yield from _calls_in(child, where)


def calls_of_ending_names() -> Iterator[Call]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            module = path.relative_to(ROOT / "shared" if source.parent.name == "shared" else ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for call in _calls_in(tree, ""):
                yield Call(f"{module}:{call.where}", call.receiver, call.method)


def is_the_service(receiver: str) -> bool:
    """``service.finish`` is the service's own finish, which goes through ``_end``; ``super()`` is an
    implementation of the port calling its parent (a test store or a benchmark's)."""
    return receiver.endswith("service") or receiver == "super()"


def test_every_method_of_the_repository_port_is_judged_ending_or_not() -> None:
    members = inspect.getmembers(ProcessRepository, inspect.isfunction)
    methods = {name for name, _ in members if not name.startswith("_")}
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


def test_the_durable_waiters_are_taken_by_the_one_end_alone() -> None:
    """The callbacks of durable waiters are sent by the one end (through ``_wake_durable_waiters``,
    which only ``_end`` calls): nothing else takes them, or a finish would find none to send."""
    takers, wakers = [], []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    for call in ast.walk(node):
                        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                            if call.func.attr == "take_waiters" and not is_the_service(ast.unparse(call.func.value)):
                                takers.append(f"{path.name}:{node.name}")
                            if call.func.attr == "_wake_durable_waiters":
                                wakers.append(f"{path.name}:{node.name}")
    assert takers == ["processes.py:_wake_durable_waiters"]
    assert set(wakers) == {"processes.py:_end"}
