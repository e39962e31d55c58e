"""Every relative link of the documentation (README.md, CHANGELOG.md, docs/*.md) leads to a file that
exists, and every #anchor to a heading of the document it names, as GitHub renders the anchors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def test_anchors_are_made_as_github_makes_them() -> None:
    assert anchor("Waits longer than 30 s: the Function URLs") == "waits-longer-than-30-s-the-function-urls"
    assert anchor("`GET /api/process/status/{correlationId}`") == "get-apiprocessstatuscorrelationid"
    assert anchor("Starting again after `START_FAILED`") == "starting-again-after-start_failed"
    assert anchor("API Gateway's own answers") == "api-gateways-own-answers"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in links(document):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not this test's to check
        path_part, _, fragment = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert broken == [], f"{document.relative_to(ROOT)}: {broken}"


def user_documentation() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def test_the_local_servers_of_the_examples_are_those_events_env_json_gives_the_functions() -> None:
    environment = json.loads((ROOT / "events" / "env.json").read_text(encoding="utf-8"))["Parameters"]
    password = re.match(r"mssql://sa:([^@]+)@", environment["DATABASE_URL"])
    camunda_port = re.search(r":(\d+)/engine-rest", environment["CAMUNDA_URL"])
    assert password and camunda_port
    text = user_documentation()
    passwords = set(re.findall(r"mssql://sa:([^@$]+)@", text)) | set(re.findall(r"MSSQL_SA_PASSWORD='([^']+)'", text))
    assert passwords == {password.group(1)}, f"SQL Server's sa password differs between the documents: {passwords}"
    ports = set(re.findall(r"-p (\d+):8080 camunda/", text))
    ports |= set(re.findall(r"127\.0\.0\.1:(\d+)/engine-rest", text)) - {"8080", "8081"}  # the default, the dev engine
    assert ports == {camunda_port.group(1)}, f"Camunda's port in Docker differs between the documents: {ports}"


def test_every_client_command_says_which_api_it_calls() -> None:
    for command in re.findall(
        r"^.*waitroom-client (?:run|status|cancel|list)\b.*$", user_documentation(), re.MULTILINE
    ):
        assert "WAITROOM_URL=" in command or "--url" in command, f"no WAITROOM_URL or --url: {command}"
