"""The arithmetic of the worker's scale-out: how many invocations the backlog needs, and what one
invocation can run. Plain numbers in, plain numbers out; the dispatcher that reads the backlog and
starts the invocations is ``waitroom.entrypoints.worker.dispatch``."""

from __future__ import annotations

import math


def invocations_to_start(*, backlog: int, threads: int, busy: int, starting: int, bound: int) -> int:
    """How many worker invocations to start now.

    ``backlog`` tasks wait unlocked, so the workers running (``busy``) have no thread free for them
    (a worker with a free thread fetches at once): each ``threads`` of the backlog needs one more
    invocation, less those started a moment ago that have not fetched yet (``starting``). Never more
    than the ``bound`` of invocations at once allows.
    """
    if backlog <= 0 or threads <= 0:
        return 0
    wanted = math.ceil(backlog / threads) - starting
    room = bound - busy - starting
    return max(0, min(wanted, room))


def tasks_per_second(*, threads: int, task_s: float) -> float:
    """What one invocation completes per second when every thread is busy with tasks of ``task_s``
    (the task's whole time in the worker: fetch, handler, report)."""
    if task_s <= 0:
        raise ValueError("a task takes some time")
    return threads / task_s


def invocations_needed(*, arrivals_per_s: float, tasks_per_process: int, task_s: float, threads: int) -> int:
    """Invocations that keep up with processes arriving at ``arrivals_per_s`` (Little's law: the
    tasks in flight are the task rate times the task time, ``threads`` of them per invocation)."""
    in_flight = arrivals_per_s * tasks_per_process * task_s
    return max(1, math.ceil(in_flight / threads))
