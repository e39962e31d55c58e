"""Every environment is built from a lock, and what ships is what was locked: the layer check's
arithmetic, the workflow's pins, and the split between the project's lock and the tools' own."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from scripts.check_layer import differences, layer_set, runtime_pins

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_check_names_each_difference_and_allows_only_what_the_runtime_provides() -> None:
    locked = {"pydantic": "2.14.4", "redis": "8.2.0", "botocore": "1.40.0", "boto3": "1.40.0"}
    assert differences(locked, {"pydantic": "2.14.4", "redis": "8.2.0"}) == []
    assert differences(locked, {"pydantic": "2.13.5", "redis": "8.2.0"}) == [
        "pydantic: the layer has 2.13.5, the lock 2.14.4"
    ]
    assert differences(locked, {"pydantic": "2.14.4"}) == ["redis==8.2.0 is locked but not in the layer"]
    assert differences(locked, {"pydantic": "2.14.4", "redis": "8.2.0", "six": "1.17.0"}) == [
        "six==1.17.0 is in the layer but not locked"
    ]


def test_the_layer_check_reads_distributions_by_their_normalised_names(tmp_path: Path) -> None:
    (tmp_path / "typing_extensions-4.16.0.dist-info").mkdir()
    (tmp_path / "PyJWT-2.10.1.dist-info").mkdir()
    (tmp_path / "waitroom").mkdir()
    assert layer_set(tmp_path) == {"typing-extensions": "4.16.0", "pyjwt": "2.10.1"}


def test_the_lock_s_markers_are_read_for_lambda_s_runtime() -> None:
    exported = """psycopg-binary==3.3.9 ; implementation_name != 'pypy' \\
    --hash=sha256:0000
tzdata==2026.6 ; sys_platform == 'win32' \\
    --hash=sha256:1111
pydantic==2.14.4 \\
    --hash=sha256:2222
"""
    assert runtime_pins(exported) == {"psycopg-binary": "3.3.9", "pydantic": "2.14.4"}


def test_every_action_in_the_workflows_is_pinned_by_commit() -> None:
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        for uses in re.findall(r"uses:\s*(\S+)(.*)", workflow.read_text(encoding="utf-8")):
            reference, comment = uses
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", reference), f"{workflow.name}: {reference}"
            assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{workflow.name}: {reference} names no version"


def test_the_tools_are_locked_apart_from_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    development = " ".join(project["dependency-groups"]["dev"])
    for tool in ("aws-sam-cli", "cfn-lint", "checkov", "pip-audit"):
        assert tool not in development, f"{tool} belongs in tools/, not in the project's lock"
    for folder in ("tools/sam", "tools/scan"):
        assert (ROOT / folder / "uv.lock").is_file(), f"{folder} has no lock"
    assert (ROOT / "uv.lock").is_file()
    uv_pin = (ROOT / "tools" / "uv" / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^uv==[\d.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}", uv_pin, re.MULTILINE)


def test_every_engine_image_of_the_real_servers_job_is_a_release_that_renovate_reads() -> None:
    """The engine images are not services' literal images, which the github-actions manager reads:
    renovate.json's custom manager must match each, and each names a release (no `latest`)."""
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    images = re.findall(r"engine-image:\s*(\S+)", workflow)
    # Camunda Run 7.24, Operaton, CIB seven (real-servers' matrix) and Camunda 8.8 (camunda8-server).
    assert [image.split(":")[0] for image in images] == [
        "camunda/camunda-bpm-platform",
        "operaton/operaton",
        "cibseven/cibseven",
        "camunda/camunda",
    ], images
    renovate = json.loads((ROOT / "renovate.json").read_text(encoding="utf-8"))
    assert "custom.regex" in renovate["enabledManagers"]
    (manager,) = renovate["customManagers"]
    assert re.fullmatch(manager["managerFilePatterns"][0].strip("/"), ".github/workflows/ci.yml")
    # Renovate's regex syntax names groups (?<name>...), Python's (?P<name>...).
    pattern = re.compile(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", manager["matchStrings"][0]))
    for image in images:
        found = pattern.fullmatch(f"engine-image: {image}")
        assert found is not None, f"renovate.json does not read {image}"
        assert re.search(r"\d+\.\d+\.\d+$", found["currentValue"]), f"{image} names no release"
