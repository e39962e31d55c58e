"""Local execution environments of a Lambda function.

Lambda runs one invocation at a time in each execution environment and the code relies on it
(the module-level logger keys, metrics and cached connection). Each local environment is a
process of its own that imports the function's ``app.py`` once (a cold start) and then serves one
invocation at a time. As in Lambda, a request that finds every environment busy gets a new one
(up to ``max_size``), and an invocation that outlives the function's ``Timeout`` is killed with its
environment.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from devstack.lambda_context import LocalLambdaContext
from devstack.template import ROOT, Function

LAYER_DIR = ROOT / "shared"
_SPAWN = multiprocessing.get_context("spawn")


class InitError(RuntimeError):
    """The function failed its cold start (as Lambda's ``Runtime.InitError``)."""


class InvocationTimeout(RuntimeError):
    """The invocation outlived the function's ``Timeout``; its environment was stopped."""


class Throttled(RuntimeError):
    """Every environment is busy and no more may be created (Lambda's concurrency limit)."""


def _serve(connection: Connection, code_dir: str, module: str, entry_point: str, env: Mapping[str, str]) -> None:
    """The environment's process: cold-start once, then serve invocations one at a time until closed."""
    # Ctrl-C is the stack's to handle: it stops the environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    def __init__(self, function: Function, environment: Mapping[str, str]) -> None:
        self.function = function
        self._connection, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_serve,
            args=(child, str(function.code_dir), function.module, function.entry_point, dict(environment)),
            name=f"lambda-{function.name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._ready = False
        self._stopping = threading.Lock()

    def wait_ready(self) -> None:
        if not self._ready:
            self._connection.recv()
            self._ready = True

    def invoke(self, event: Any) -> Any:
        self.wait_ready()
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
        self, function: Function, *, size: int, environment: Mapping[str, str], max_size: int | None = None
    ) -> None:
        self.function = function
        self.size = size
        self.max_size = max(size, max_size or size)
        self._environment = dict(environment)
        self._idle: list[Environment] = []
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
            environment.wait_ready()

    def invoke(self, event: Any) -> Any:
        """Invoke the function with ``event`` in an idle environment, or a new one."""
        environment = self._acquire()
        try:
            result = environment.invoke(event)
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

    def close(self) -> None:
        """Stop every environment at once, mid-invocation if need be (as Lambda does at a timeout)."""
        with self._guard:
            self._closed = True
            environments, self._all, self._idle = self._all, [], []
        for environment in environments:
            environment.stop()

    def _create(self) -> Environment:
        environment = Environment(self.function, self._environment)
        self._all.append(environment)
        return environment

    def _acquire(self) -> Environment:
        with self._guard:
            if self._closed:
                raise RuntimeError(f"{self.function.name} is stopped")
            if self._idle:
                environment = self._idle.pop()
            elif len(self._all) >= self.max_size:
                raise Throttled(f"{self.function.name} has {self.max_size} busy environments")
            else:
                environment = self._create()
            self.peak_busy = max(self.peak_busy, len(self._all) - len(self._idle))
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
