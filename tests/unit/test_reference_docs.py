"""The reference in docs/ is generated from the code (scripts/generate_reference.py): the settings from
the pydantic model, the problem types from the HTTP error table, the routes from the OpenAPI document.
These tests regenerate it in memory and fail, naming the command that fixes it, when it has drifted."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from scripts.generate_reference import BEGIN, END, GENERATED, ROOT, expected_documents, spliced
from waitroom.entrypoints.http.problems import TITLES, problem_types
from waitroom.settings import Settings


@pytest.mark.parametrize("path", sorted(expected_documents()), ids=lambda path: path.name)
def test_the_committed_reference_is_what_the_code_generates(path: Path) -> None:
    committed, expected = path.read_text(encoding="utf-8"), expected_documents()[path]
    diff = "\n".join(difflib.unified_diff(committed.splitlines(), expected.splitlines(), lineterm="", n=0))
    assert committed == expected, f"{path.relative_to(ROOT)} differs from the code: run make reference\n{diff}"


def test_every_setting_has_a_description_for_the_reference() -> None:
    undescribed = [name.upper() for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == [], f"settings without a description= in settings.py: {undescribed}"


def test_every_problem_code_has_a_status_in_the_reference() -> None:
    listed = {kind.code: kind.status for kind in problem_types()}
    assert set(listed) == set(TITLES)
    assert listed["VALIDATION_ERROR"] == 400
    assert listed["ROUTE_NOT_FOUND"] == 404
    assert listed["CAMUNDA_NOT_FOUND"] == 502, "a subclass takes its parent's status"
    assert listed["INTERNAL_ERROR"] == 500


def test_a_drifted_table_is_replaced_and_the_prose_around_it_kept() -> None:
    def document(table: str) -> str:
        return f"# Title\n\nprose before\n\n{BEGIN}\n{table}\n{END}\n\nprose after\n"

    assert spliced(document("| stale |"), "| fresh |", "x.md") == document("| fresh |")


def test_a_document_without_its_markers_is_refused() -> None:
    with pytest.raises(SystemExit, match="exactly one"):
        spliced("# no markers\n", "| table |", "x.md")
    with pytest.raises(SystemExit, match="exactly one"):
        spliced(f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "| table |", "x.md")


def test_every_generated_document_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in GENERATED:
        assert f"]({name})" in readme, f"{name} is not linked from README.md"


def test_operations_describes_every_alarm_of_the_template_and_counts_them_right() -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    alarms = sorted(re.findall(r"^  (\w+):\n    Type: AWS::CloudWatch::Alarm$", template, re.MULTILINE))
    assert len(alarms) == template.count("AWS::CloudWatch::Alarm"), "every alarm of the template is found"
    guide = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    described = sorted(re.findall(r"^\| `(\w+Alarm)` \|", guide, re.MULTILINE))
    assert described == alarms, "docs/OPERATIONS.md's table of alarms differs from template.yaml's alarms"
    words = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    assert f"has {words.get(len(alarms), len(alarms))} alarms" in guide, "docs/OPERATIONS.md counts the alarms wrong"
