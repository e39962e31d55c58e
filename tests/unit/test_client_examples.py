"""The Python client's examples (clients/python/examples and the README's code) import only what an
install of the client has: the client, the standard library, and the client's declared dependencies
and extras, never the server (``waitroom``) or the local stack (``devstack``)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
EXAMPLES = sorted((CLIENT / "examples").glob("*.py"))
_CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def installable() -> frozenset[str]:
    """The top-level modules a client install provides: its own, and its dependencies' and extras'."""
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    names = set()
    for requirement in requirements:
        match = _REQUIREMENT_NAME.match(requirement)
        assert match, requirement
        # The distributions the client declares are imported under their own names.
        names.add(match.group().lower().replace("-", "_"))
    return frozenset({"waitroom_client", *names})


def foreign_imports(source: str, allowed: frozenset[str]) -> list[str]:
    """The modules ``source`` imports that neither the standard library nor ``allowed`` provides."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append("." * node.level + (node.module or ""))
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        found.extend(
            module
            for module in modules
            if module.split(".")[0] not in sys.stdlib_module_names and module.split(".")[0] not in allowed
        )
    return found


def readme_blocks() -> list[str]:
    return _CODE_BLOCK.findall((CLIENT / "README.md").read_text(encoding="utf-8"))


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 3
    assert len(readme_blocks()) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_an_example_imports_only_what_a_client_install_has(example: Path) -> None:
    assert foreign_imports(example.read_text(encoding="utf-8"), installable()) == []


@pytest.mark.parametrize("number", range(len(readme_blocks())))
def test_the_readmes_code_imports_only_what_a_client_install_has(number: int) -> None:
    assert foreign_imports(readme_blocks()[number], installable()) == []


def test_the_check_finds_the_server_the_local_stack_and_undeclared_packages() -> None:
    source = "\n".join(
        [
            "import json, devstack.identity",
            "from waitroom.settings import Settings",
            "from . import sibling",
            "import boto3",
            "from waitroom_client import Waitroom",
            "from waitroom_client.aio import AsyncWaitroom",
            "import httpx, botocore.auth, requests",
        ]
    )
    assert foreign_imports(source, installable()) == ["devstack.identity", "waitroom.settings", ".", "boto3"]
    assert installable() == {"waitroom_client", "requests", "botocore", "httpx"}
