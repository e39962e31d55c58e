"""Local execution environments of a Lambda function.

Lambda runs one invocation at a time in each execution environment and the code relies on it
(the module-level logger keys, metrics and cached connection). Each local environment is a
process of its own that imports the function's ``app.py`` once (a cold start) and then serves one
invocation at a time. As in Lambda, a request that finds every environment busy gets a new one
(up to ``max_size``), and an invocation that outlives the function's ``Timeout`` is killed with its
environment.

An environment writes its logs to the stack's console, as Lambda writes them to CloudWatch Logs;
given a ``metrics_path``, it appends its metric lines (the embedded metric format, ``{"_aws": …}``)
to that file instead, so that an idle stack's console is not a line every two seconds.
"""

from __future__ import annotations

import importlib
import io
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from devstack.lambda_context import LocalLambdaContext
from devstack.template import ROOT, Function

LAYER_DIR = ROOT / "shared"
#: Lambda limits a cold start (the init phase) to 10 s; an invocation waits no longer for one.
INIT_TIMEOUT_S = 10.0
#: The stack's start waits this long for its first environments (many cold starts at once).
WARM_TIMEOUT_S = 120.0
#: Cold starts under way at once in one pool; a request that would start one more is throttled
#: (429), as Lambda throttles a function scaling faster than its burst rate. Without it a burst of
#: 100 requests started 60 environments at once on two cores, and none was ready for a minute.
MAX_COLD_STARTS = 8
_SPAWN = multiprocessing.get_context("spawn")


class InitError(RuntimeError):
    """The function failed its cold start (as Lambda's ``Runtime.InitError``)."""


class InvocationTimeout(RuntimeError):
    """The invocation outlived the function's ``Timeout``; its environment was stopped."""


class NotReady(RuntimeError):
    """The environment did not finish its cold start in time; it goes on starting for a later invocation."""


class Throttled(RuntimeError):
    """Every environment is busy and no more may be created (Lambda's concurrency limit)."""


class ColdStartsThrottled(Throttled):
    """Too many environments are starting at once on this machine (:data:`MAX_COLD_STARTS`)."""


#: How an embedded-metric-format line begins (the shape Powertools prints).
METRIC_LINE_PREFIX = '{"_aws":'


class MetricLines(io.TextIOBase):
    """Standard output that appends the metric lines to the file ``metrics`` and writes every other line
    to ``console``.

    Text is routed a whole line at a time, per thread (``print`` writes a line and its newline in
    two calls, and the worker's threads print at once)."""

    def __init__(self, console: TextIO, metrics: Path) -> None:
        self._console = console
        # Open for the life of the environment's process, which ends without closing anything.
        self._metrics = metrics.open("a", encoding="utf-8")
        self._pending = threading.local()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._pending, "text", "") + text
        *lines, self._pending.text = pending.split("\n")
        for line in lines:
            target = self._metrics if line.startswith(METRIC_LINE_PREFIX) else self._console
            with self._lock:
                target.write(line + "\n")
                target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._console.flush()
            self._metrics.flush()

    def close(self) -> None:
        """Closes the metrics file; the console is not this object's to close."""
        super().close()  # flushes first
        self._metrics.close()


def _serve(
    connection: Connection,
    code_dir: str,
    module: str,
    entry_point: str,
    env: Mapping[str, str],
    *,
    metrics_path: str | None = None,
) -> None:
    """The environment's process: cold-start once, then serve invocations one at a time until closed."""
    # Ctrl-C is the stack's to handle: it stops the environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if metrics_path is not None:
        # Before the function's modules are imported: their logger keeps the stream it finds.
        sys.stdout = MetricLines(sys.stdout, Path(metrics_path))
    os.environ.update(env)
    sys.path[:0] = [code_dir, str(LAYER_DIR)]
    handler, init_error = None, None
    try:
        handler = getattr(importlib.import_module(module), entry_point)
    except Exception as exc:  # kept and reported to every invocation, as Lambda reports an init error
        init_error = exc
    connection.send(("ready", None if init_error is None else repr(init_error)))
    while True:
        try:
            event, function_name, timeout_s = connection.recv()
        except EOFError:
            return
        if handler is None:
            connection.send(("error", InitError(f"{function_name} failed its cold start: {init_error!r}")))
            continue
        try:
            result = handler(event, LocalLambdaContext(function_name=function_name, timeout_s=timeout_s))
        except Exception as exc:  # the function's error goes back to the caller, as Lambda returns it
            connection.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        else:
            connection.send(("ok", result))


class Environment:
    def __init__(self, function: Function, environment: Mapping[str, str], metrics_path: Path | None = None) -> None:
        self.function = function
        self._connection, child = _SPAWN.Pipe()
        metrics = None if metrics_path is None else str(metrics_path)
        self.process = _SPAWN.Process(
            target=_serve,
            args=(child, str(function.code_dir), function.module, function.entry_point, dict(environment)),
            kwargs={"metrics_path": metrics},
            name=f"lambda-{function.name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.ready = False
        self._stopping = threading.Lock()

    def wait_ready(self, timeout_s: float) -> None:
        if self.ready:
            return
        if not self._connection.poll(timeout_s):
            raise NotReady(f"{self.function.name} did not finish its cold start within {timeout_s:.0f} s")
        self._connection.recv()
        self.ready = True

    def invoke(self, event: Any, *, init_timeout_s: float = INIT_TIMEOUT_S) -> Any:
        self.wait_ready(init_timeout_s)
        self._connection.send((event, self.function.name, self.function.timeout_s))
        if not self._connection.poll(self.function.timeout_s):
            self.stop()
            raise InvocationTimeout(f"{self.function.name} timed out after {self.function.timeout_s:.0f} s")
        kind, value = self._connection.recv()
        if kind == "error":
            raise value
        return value

    def stop(self) -> None:
        """Idempotent: a timed-out invocation and the stack's stop may both stop it, in two threads."""
        with self._stopping:
            if self._connection.closed:
                return
            self.process.terminate()
            self.process.join()
            self._connection.close()


class FunctionPool:
    """The environments of one function: ``size`` kept warm, more created when all are busy."""

    def __init__(
        self,
        function: Function,
        *,
        size: int,
        environment: Mapping[str, str],
        max_size: int | None = None,
        init_timeout_s: float = INIT_TIMEOUT_S,
        metrics_path: Path | None = None,
    ) -> None:
        self.function = function
        self.metrics_path = metrics_path
        """Where the environments append their metric lines (None: to the console, with the logs)."""
        self.init_timeout_s = init_timeout_s
        self.size = size
        self.max_size = max(size, max_size or size)
        self._environment = dict(environment)
        self._idle: list[Environment] = []
        self._spawning = 0
        self._all: list[Environment] = []
        self._guard = threading.Lock()
        self._closed = False
        self.peak_busy = 0
        """Most environments invoked at once so far."""

    def warm(self) -> None:
        """Create the first ``size`` environments and wait for their cold starts."""
        with self._guard:
            created = [self._create() for _ in range(self.size - len(self._all))]
            self._idle.extend(created)
        for environment in created:
            environment.wait_ready(WARM_TIMEOUT_S)

    def invoke(self, event: Any) -> Any:
        """Invoke the function with ``event`` in an idle environment, or a new one."""
        environment = self._acquire()
        try:
            result = environment.invoke(event, init_timeout_s=self.init_timeout_s)
        except NotReady:
            # Still starting: the next invocation that picks it may find it ready.
            self._release(environment)
            raise
        except InvocationTimeout:
            self._forget(environment)
            raise
        except (EOFError, OSError):
            # The environment died under the invocation (the stack is stopping, or a crash).
            self._forget(environment)
            raise
        self._release(environment)
        return result

    def busy(self) -> list[Environment]:
        """The environments serving an invocation now."""
        with self._guard:
            return [environment for environment in self._all if environment not in self._idle]

    def environments(self) -> list[Environment]:
        """Every environment of the function now, busy or idle."""
        with self._guard:
            return list(self._all)

    def idle_count(self) -> int:
        """The environments kept warm and serving nothing now."""
        with self._guard:
            return len(self._idle)

    def close(self) -> None:
        """Stop every environment at once, mid-invocation if need be (as Lambda does at a timeout)."""
        with self._guard:
            self._closed = True
            environments, self._all, self._idle = self._all, [], []
        # Every process is told to stop before any is waited for: 64 stops in turn took minutes.
        for environment in environments:
            environment.process.terminate()
        for environment in environments:
            environment.stop()

    def _create(self) -> Environment:
        environment = Environment(self.function, self._environment, self.metrics_path)
        self._all.append(environment)
        return environment

    def _note_busy(self) -> None:
        """Keep the most environments busy at once (the bench reports it); called under the lock."""
        self.peak_busy = max(self.peak_busy, len(self._all) - len(self._idle))

    def _acquire(self) -> Environment:
        with self._guard:
            if self._closed:
                raise RuntimeError(f"{self.function.name} is stopped")
            if self._idle:
                idle = self._idle.pop()
                self._note_busy()
                return idle
            if len(self._all) + self._spawning >= self.max_size:
                raise Throttled(f"{self.function.name} has {self.max_size} busy environments")
            starting = self._spawning + sum(1 for environment in self._all if not environment.ready)
            if starting >= MAX_COLD_STARTS:
                raise ColdStartsThrottled(f"{self.function.name} has {starting} environments starting already")
            self._spawning += 1
        # Spawned outside the lock: a spawn takes a while on a busy machine, and a burst of
        # requests spawning one by one under it waited for each other's.
        environment: Environment | None = None
        try:
            environment = Environment(self.function, self._environment, self.metrics_path)
        finally:
            with self._guard:
                self._spawning -= 1
                if environment is not None:
                    self._all.append(environment)
                    self._note_busy()
                    if self._closed:
                        environment.stop()
        if self._closed:
            raise RuntimeError(f"{self.function.name} is stopped")
        return environment

    def _release(self, environment: Environment) -> None:
        with self._guard:
            if not self._closed:
                self._idle.append(environment)

    def _forget(self, environment: Environment) -> None:
        with self._guard:
            if environment in self._all:
                self._all.remove(environment)
        environment.stop()
