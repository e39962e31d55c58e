"""The machine a run measured, read at run time: the figures mean little without it."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any


def describe(*, postgres_version: str | None, redis_version: str | None) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": _os_name(),
        "kernel": platform.release(),
        "postgresql": postgres_version,
        "redis": redis_version,
        # Others' work on a shared machine moves every figure: the run says how busy it was.
        "load_average_at_start": load_average(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def code_version(root: Path) -> dict[str, Any]:
    """The commit measured, and how many files differed from it (work in progress is measured too)."""
    git = shutil.which("git")
    if git is None:
        return {}

    def run(*arguments: str) -> str:
        # git with fixed arguments, in the repository.
        return subprocess.run(  # noqa: S603
            [git, *arguments], cwd=root, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": run("rev-parse", "--short", "HEAD"),
        "changed_files": len(run("status", "--porcelain", "--untracked-files=no").splitlines()),
    }


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_gb() -> float | None:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _os_name() -> str:
    os_release = Path("/etc/os-release")
    if os_release.exists():
        for line in os_release.read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()
