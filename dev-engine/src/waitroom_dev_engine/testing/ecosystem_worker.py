"""The ecosystem's worker client (camunda-external-task-client-python3), as the tests run it: a
worker in a thread of its own that the test stops."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

with warnings.catch_warnings():
    # The client still declares Pydantic v1 validators; the suite turns warnings into errors.
    warnings.simplefilter("ignore", DeprecationWarning)
    from camunda.external_task.external_task import ExternalTask, TaskResult
    from camunda.external_task.external_task_worker import ExternalTaskWorker, NoExternalTaskFound

__all__ = ["ECOSYSTEM_WORKER_CONFIG", "ExternalTask", "TaskResult", "running_worker"]

#: The client's settings for a test worker: short polls, no pause between them.
ECOSYSTEM_WORKER_CONFIG: dict[str, int] = {
    "asyncResponseTimeout": 500,
    "lockDuration": 10_000,
    "httpTimeoutMillis": 5_000,
    "timeoutDeltaMillis": 1_000,
    "sleepSeconds": 0,
}


@contextmanager
def running_worker(
    base_url: str,
    topics: Sequence[str],
    handle: Callable[[ExternalTask], TaskResult],
    *,
    worker_id: str,
    config: Mapping[str, Any] | None = None,
    join_timeout_s: float = 5,
) -> Iterator[threading.Thread]:
    """The client fetching ``topics`` for ``handle`` until the block ends; yields its thread, which
    the test may check has stopped."""
    worker = ExternalTaskWorker(
        worker_id=worker_id, base_url=base_url, config={**ECOSYSTEM_WORKER_CONFIG, **(config or {})}
    )
    stop = threading.Event()

    def work() -> None:
        # ExternalTaskWorker.subscribe loops forever; this is its loop with a way out.
        while not stop.is_set():
            try:
                worker.fetch_and_execute(list(topics), handle)
            except NoExternalTaskFound:
                continue

    thread = threading.Thread(target=work, name=worker_id)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=join_timeout_s)
