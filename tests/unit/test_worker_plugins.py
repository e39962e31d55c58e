"""The worker's topics: the built-in response step, and the handler modules of the teams' packages,
named by WORKER_HANDLER_MODULES or by entry points of the group ``waitroom.handlers``. The modules here
are real files on a real ``sys.path``, and the entry points a real installed distribution's metadata."""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from waitroom.domain.errors import ConfigurationError
from waitroom.entrypoints.worker.plugins import ENTRY_POINT_GROUP, load_registry
from waitroom.entrypoints.worker.respond import respond
from waitroom.entrypoints.worker.tasks import ProcessOutcome, Task, WorkerResources
from waitroom.service.ports import TopicRequest
from waitroom.settings import Settings


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path``; the modules imported from it are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def handler_module(site: Path, name: str, *topics: str, body: str | None = None) -> None:
    """A module ``name`` in ``site`` whose TOPICS serve ``topics`` (or whose source is ``body``)."""
    source = body or textwrap.dedent(
        f"""
        from waitroom.entrypoints.worker.tasks import Topic

        def handle(task, resources):
            return {{"handledBy": {name!r}}}

        TOPICS = tuple(Topic(topic, handle) for topic in {list(topics)!r})
        """
    )
    (site / f"{name}.py").write_text(source)


def distribution(site: Path, name: str, **entry_points: str) -> None:
    """An installed distribution's metadata, declaring ``entry_points`` in the group waitroom.handlers."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


@pytest.fixture
def resources() -> Iterator[WorkerResources]:
    with requests.Session() as http:
        yield WorkerResources(settings=Settings(), http=http)


def served(settings: Settings) -> list[str]:
    return [topic.name for topic in load_registry(settings)]


def test_alone_the_worker_serves_the_response_step_fetching_the_tasks_own_variables() -> None:
    registry = load_registry(Settings(response_topic="respond-here"))
    assert [topic.name for topic in registry] == ["respond-here"]
    assert registry.fetch_topics(30_000) == [TopicRequest("respond-here", 30_000, None, local_variables=True)]


def test_the_response_step_ends_the_process_with_the_variables_it_received(resources: WorkerResources) -> None:
    task = Task("t", "waitroom-respond", "claim-1", "i-1", "Task_Respond", None, {"total": 12, "ok": True})
    assert respond(task, resources) == ProcessOutcome(data={"total": 12, "ok": True})


def test_the_modules_of_the_setting_are_served_in_order(site: Path, resources: WorkerResources) -> None:
    handler_module(site, "expenses_handlers", "expense.submit", "expense.approve")
    handler_module(site, "travel_handlers", "travel.book")
    settings = Settings(worker_handler_modules=" expenses_handlers , travel_handlers ")
    assert served(settings) == ["waitroom-respond", "expense.submit", "expense.approve", "travel.book"]
    task = Task("t", "travel.book", None, None, None, None, {})
    assert load_registry(settings)["travel.book"].handler(task, resources) == {"handledBy": "travel_handlers"}


def test_a_topic_two_modules_claim_fails_the_cold_start_naming_both(site: Path) -> None:
    handler_module(site, "team_a_handlers", "shared.step")
    handler_module(site, "team_b_handlers", "other.step", "shared.step")
    with pytest.raises(ConfigurationError) as refused:
        load_registry(Settings(worker_handler_modules="team_a_handlers,team_b_handlers"))
    assert refused.value.message == (
        "topic 'shared.step' is claimed by two handlers: module team_a_handlers (WORKER_HANDLER_MODULES) and "
        "module team_b_handlers (WORKER_HANDLER_MODULES); each topic must have one handler"
    )


def test_a_module_claiming_the_response_topic_is_refused(site: Path) -> None:
    handler_module(site, "greedy_handlers", "waitroom-respond")
    with pytest.raises(ConfigurationError, match=r"the built-in response step \(RESPONSE_TOPIC\) and module greedy"):
        load_registry(Settings(worker_handler_modules="greedy_handlers"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("VALUE = 1\n", "module broken_handlers has no TOPICS"),
        ("TOPICS = ['expense.submit']\n", "TOPICS holds str, not Topic"),
        ("TOPICS = 'expense.submit'\n", "TOPICS is not a sequence of Topic"),
        ("import no_such_dependency\n", "ModuleNotFoundError: No module named 'no_such_dependency'"),
    ],
)
def test_a_module_that_cannot_serve_fails_the_cold_start_naming_it(site: Path, body: str, reason: str) -> None:
    handler_module(site, "broken_handlers", body=body)
    with pytest.raises(ConfigurationError) as refused:
        load_registry(Settings(worker_handler_modules="broken_handlers"))
    assert "broken_handlers" in refused.value.message
    assert reason in refused.value.message


def test_an_unknown_module_is_named() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("WORKER_HANDLER_MODULES names 'no_such_team.handlers'")):
        load_registry(Settings(worker_handler_modules="no_such_team.handlers"))


def test_the_entry_points_of_installed_packages_are_served(site: Path) -> None:
    handler_module(site, "payroll_handlers", "payroll.run")
    handler_module(site, "audit_handlers", "audit.check")
    distribution(site, "payroll", payroll="payroll_handlers", audit="audit_handlers:TOPICS")
    assert served(Settings()) == ["waitroom-respond", "audit.check", "payroll.run"]


def test_a_module_named_by_the_setting_and_an_entry_point_is_served_once(site: Path) -> None:
    handler_module(site, "payroll_handlers", "payroll.run")
    distribution(site, "payroll", payroll="payroll_handlers")
    assert served(Settings(worker_handler_modules="payroll_handlers")) == ["waitroom-respond", "payroll.run"]


def test_an_entry_point_claiming_a_topic_of_a_module_is_refused_naming_both(site: Path) -> None:
    handler_module(site, "payroll_handlers", "payroll.run")
    handler_module(site, "copycat_handlers", "payroll.run")
    distribution(site, "copycat", copycat="copycat_handlers")
    with pytest.raises(ConfigurationError) as refused:
        load_registry(Settings(worker_handler_modules="payroll_handlers"))
    assert refused.value.message == (
        "topic 'payroll.run' is claimed by two handlers: module payroll_handlers (WORKER_HANDLER_MODULES) and "
        "entry point copycat = copycat_handlers (group waitroom.handlers); each topic must have one handler"
    )
