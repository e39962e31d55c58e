"""The development engine is a distribution of its own (dev-engine/): neither its package, its tests
nor its scripts import anything of Waitroom, so ``pip install ./dev-engine`` and ``cd dev-engine && pytest``
work without it. The package is also held to this by an import contract (pyproject.toml); this
covers its tests and scripts, which are no package the contract can name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ENGINE = ROOT / "dev-engine"
WAITROOM_PACKAGES = frozenset({"waitroom", "waitroom_client", "devstack", "tests", "functions", "scripts", "bench"})


def imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names.add(node.module.split(".")[0])
    return names


def test_the_reader_sees_plain_nested_and_from_imports(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import os.path\nfrom waitroom.domain import x\ndef f():\n    import devstack\nfrom . import y\n")
    assert imported_packages(source) == {"os", "waitroom", "devstack"}


def test_no_file_of_the_engine_its_tests_or_its_scripts_imports_waitroom() -> None:
    sources = sorted(DEV_ENGINE.rglob("*.py"))
    assert len(sources) > 30, "the engine's modules and tests are where this test looks"
    found = {
        f"{source.relative_to(ROOT)}: {sorted(imported_packages(source) & WAITROOM_PACKAGES)}"
        for source in sources
        if imported_packages(source) & WAITROOM_PACKAGES
    }
    assert found == set()
