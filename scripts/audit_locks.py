"""Audit every lock for known vulnerabilities with pip-audit (PyPI's advisory data).

Usage: ``python scripts/audit_locks.py PATH_TO_PIP_AUDIT`` (``make audit``). Each lock (the project's
uv.lock, tools/sam and tools/scan) is exported with its hashes and audited without installing
anything. A known vulnerability fails the run. A package whose advisories could not be read (PyPI's
per-release data unreachable) fails it too when ``AUDIT_REQUIRED`` is set, as in the GitHub Actions
workflow; elsewhere it is reported, loudly, as not audited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCKED_PROJECTS = (".", "tools/sam", "tools/scan")


def export(project: str, destination: Path) -> None:
    subprocess.run(
        [
            *("uv", "export", "--frozen", "--quiet", "--project", project, "--all-groups", "--no-emit-project"),
            *("--no-emit-workspace", "--format", "requirements-txt", "--output-file", str(destination)),
        ],
        cwd=ROOT,
        check=True,
    )


def audit(pip_audit: str, requirements: Path) -> list[dict[str, Any]]:
    finished = subprocess.run(
        [
            pip_audit,
            "--disable-pip",
            "--require-hashes",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(finished.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"pip-audit failed ({finished.returncode}): {finished.stderr.strip()[-2000:]}") from None
    dependencies: list[dict[str, Any]] = report["dependencies"]
    return dependencies


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    vulnerable: list[str] = []
    unaudited: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for project in LOCKED_PROJECTS:
            requirements = Path(scratch) / f"{project.replace('/', '-')}.txt"
            export(project, requirements)
            dependencies = audit(argv[0], requirements)
            for dependency in dependencies:
                pinned = f"{dependency['name']} ({project})"
                if dependency.get("skip_reason"):
                    unaudited.append(pinned)
                for vulnerability in dependency.get("vulns") or []:
                    fixed = ", ".join(vulnerability["fix_versions"]) or "no fixed release"
                    vulnerable.append(f"{pinned} {dependency['version']}: {vulnerability['id']} (fixed in {fixed})")
            print(f"{project}: {len(dependencies)} locked distributions")
    for line in vulnerable:
        print(f"VULNERABLE {line}", file=sys.stderr)
    if unaudited:
        print(
            f"NOT AUDITED: PyPI's advisory data could not be read for {len(unaudited)} distributions", file=sys.stderr
        )
        if os.environ.get("AUDIT_REQUIRED"):
            return 1
    if vulnerable:
        print("run `make lock` to take the fixed releases (or pin one in pyproject.toml)", file=sys.stderr)
        return 1
    if not unaudited:
        print("no known vulnerabilities in any lock")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
