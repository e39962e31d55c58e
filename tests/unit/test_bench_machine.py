"""The bench's reading of the machine: the CPU a cell cost counts every process under the bench."""

from __future__ import annotations

import subprocess
import sys

from bench import machine

#: Enough work that the child's CPU time is well above a clock tick, however busy the machine.
BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_the_cpu_of_a_child_counts_toward_the_process_tree() -> None:
    before = machine.process_tree_cpu_s()
    child = subprocess.Popen([sys.executable, "-c", BURN])
    child.wait()
    assert machine.process_tree_cpu_s() - before >= 0.29


def test_a_tree_rooted_at_a_child_leaves_its_parent_out() -> None:
    # A child that only sleeps: its tree holds its own start-up, not this process's CPU.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        burner = subprocess.Popen([sys.executable, "-c", BURN])
        burner.wait()
        assert machine.process_tree_cpu_s(sleeper.pid) < 0.25 <= machine.process_tree_cpu_s()
    finally:
        sleeper.kill()
        sleeper.wait()
