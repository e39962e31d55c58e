"""Scale-out: a dispatcher that follows the engine's backlog with worker invocations.

One worker invocation is always listening (the scheduled one, see ``runner.py``): at low load it
picks a task up within milliseconds of its creation. When tasks arrive faster than it runs them,
they wait in the engine unlocked: that is the backlog. The dispatcher reads it every
``DISPATCH_INTERVAL_MS``, per topic (:meth:`~waitroom.service.ports.TaskQueue.backlog`; Camunda 7's
``POST /external-task/count``), and starts asynchronous worker invocations that drain it: each runs
``WORKER_MAX_TASKS`` tasks at once and returns when a fetch finds nothing left.
``WORKER_MAX_INVOCATIONS`` bounds the invocations running tasks at once, the listening one included;
the worker function's reserved concurrency bounds them again in AWS.

The engine's locks keep each task with the one worker that took it: the dispatcher never hands out
tasks, it only decides how many workers ask for them. Its arithmetic is
``waitroom.service.scale_out``; the invocations start through ``waitroom.adapters.lambda_invoke``
(composed in ``functions/dispatcher/app.py``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from waitroom.domain.errors import WaitroomError
from waitroom.entrypoints.worker.tasks import TopicRegistry
from waitroom.observability import emit
from waitroom.service.ports import TaskQueue
from waitroom.service.scale_out import invocations_to_start
from waitroom.settings import Settings

logger = logging.getLogger(__name__)

#: The event a scale-out invocation of the worker receives (the schedule's event has no ``drain``).
DRAIN_EVENT_KEY = "drain"

#: Starts one asynchronous invocation of the worker function with this event: boto3's ``Invoke``
#: with ``InvocationType=Event`` (``waitroom.adapters.lambda_invoke``), which reaches Lambda in AWS
#: and the local stack's Lambda API on this machine.
InvokeWorker = Callable[[Mapping[str, Any]], None]


@dataclass
class DispatchSummary:
    ticks: int = 0
    started: int = 0
    """Worker invocations started."""
    backlog_max: int = 0
    read_failures: int = 0
    invoke_failures: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Dispatcher:
    tasks: TaskQueue
    registry: TopicRegistry
    settings: Settings
    invoke: InvokeWorker
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _launched: deque[float] = field(default_factory=deque)

    def run(self, remaining_ms: Callable[[], int]) -> DispatchSummary:
        """Tick every ``DISPATCH_INTERVAL_MS`` while the invocation has time for another tick."""
        summary = DispatchSummary()
        interval_s = self.settings.dispatch_interval_ms / 1000
        while remaining_ms() > self.settings.dispatch_interval_ms + 1_000:
            began = self.clock()
            self.tick(summary)
            self.sleep(max(0.0, interval_s - (self.clock() - began)))
        logger.info("dispatcher invocation finished", extra=summary.to_dict())
        return summary

    def tick(self, summary: DispatchSummary) -> int:
        """Read the backlog, start the invocations it needs; returns how many were started."""
        summary.ticks += 1
        try:
            by_topic = {topic.name: self.tasks.backlog(topic.name) for topic in self.registry}
            # The listening invocation counts even while it holds no lock: it is always there.
            busy = max(1, self.tasks.busy_workers())
        except WaitroomError as exc:
            summary.read_failures += 1
            logger.error("could not read the backlog", extra={"code": exc.code, "reason": exc.message})
            return 0
        backlog = sum(by_topic.values())
        summary.backlog_max = max(summary.backlog_max, backlog)
        emit("Backlog", backlog)
        count = invocations_to_start(
            backlog=backlog,
            threads=self.settings.worker_max_tasks,
            busy=busy,
            starting=self._starting(),
            bound=self.settings.worker_max_invocations,
        )
        started = 0
        for _ in range(count):
            try:
                self.invoke({DRAIN_EVENT_KEY: True, "requestedBy": f"dispatcher-{uuid.uuid4().hex[:8]}"})
            except Exception as exc:  # the next tick tries again; the listening worker keeps running
                summary.invoke_failures += 1
                logger.error("could not start a worker invocation", extra={"reason": f"{type(exc).__name__}: {exc}"})
                break
            self._launched.append(self.clock())
            started += 1
        if started:
            emit("WorkerInvocationsStarted", started)
            logger.info(
                "worker invocations started",
                extra={"started": started, "backlog": backlog, "byTopic": by_topic, "busyWorkers": busy},
            )
        summary.started += started
        return started

    def _starting(self) -> int:
        """Invocations started within ``WORKER_STARTUP_MS``: they may not hold a lock yet."""
        horizon = self.clock() - self.settings.worker_startup_ms / 1000
        while self._launched and self._launched[0] < horizon:
            self._launched.popleft()
        return len(self._launched)


def is_drain(event: Mapping[str, Any]) -> bool:
    """Whether the worker was invoked by the dispatcher (drain the backlog, then return) rather than
    by its schedule (listen for the invocation's whole time)."""
    return bool(event.get(DRAIN_EVENT_KEY))
