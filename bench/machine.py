"""The machine a run measured, read at run time: the figures mean little without it."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ProcessTimes:
    """One process's line of ``/proc/<pid>/stat``, the parts the bench reads."""

    parent: int
    cpu_s: float
    """User and system CPU seconds of the process itself (``utime``, ``stime``)."""
    reaped_children_cpu_s: float
    """Those of its children it has waited for (``cutime``, ``cstime``)."""


def processes() -> dict[int, ProcessTimes]:
    """Every process now, by pid, from one pass over ``/proc``."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, ProcessTimes] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8")
        except OSError:
            continue  # the process ended meanwhile
        # The command name, in parentheses, may hold spaces: the fields follow its last parenthesis
        # (fields[0] is field 3 of proc(5): ppid is field 4, utime to cstime fields 14 to 17).
        fields = text.rsplit(")", 1)[1].split()
        found[int(stat.parent.name)] = ProcessTimes(
            parent=int(fields[1]),
            cpu_s=(int(fields[11]) + int(fields[12])) / ticks,
            reaped_children_cpu_s=(int(fields[13]) + int(fields[14])) / ticks,
        )
    return found


def process_tree_cpu_s(root_pid: int | None = None) -> float:
    """CPU seconds (user and system) used so far by a process and every process under it, with the
    children already reaped: what a cell cost the machine, whichever process of the stack spent it."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, times in table.items():
        children.setdefault(times.parent, []).append(pid)
    tree, frontier = set(), [root_pid or os.getpid()]
    while frontier:
        pid = frontier.pop()
        tree.add(pid)
        frontier.extend(children.get(pid, []))
    return sum(table[pid].cpu_s + table[pid].reaped_children_cpu_s for pid in tree if pid in table)


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
