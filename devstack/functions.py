"""Local execution environments of a Lambda function.

Lambda runs one invocation at a time in each execution environment and the code relies on it
(the module-level logger keys, metrics and cached connection). Each local environment is a
process of its own that imports the function's ``app.py`` once (a cold start) and then serves one
invocation at a time, so that concurrent local requests never share state that AWS would keep
apart.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from devstack.lambda_context import LocalLambdaContext
from devstack.template import ROOT, Function

LAYER_DIR = ROOT / "shared"

_handler: Callable[[Any, Any], Any] | None = None
_init_error: BaseException | None = None


class InitError(RuntimeError):
    """The function failed its cold start (as Lambda's ``Runtime.InitError``)."""


def _cold_start(code_dir: str, module: str, entry_point: str, environment: Mapping[str, str]) -> None:
    """Runs once in each new environment: the layer and the function's code on the path, as in Lambda.

    A failure is kept and raised by every invocation: a pool whose initializer raises would only
    start new processes forever.
    """
    global _handler, _init_error  # noqa: PLW0603 -- the one handler of this process, as in a Lambda environment
    # Ctrl-C is the stack's to handle: it stops the environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(environment)
    sys.path[:0] = [code_dir, str(LAYER_DIR)]
    try:
        _handler = getattr(importlib.import_module(module), entry_point)
    except Exception as exc:  # kept and raised by every invocation, as Lambda reports an init error
        _init_error = exc


def _is_warm() -> bool:
    return _handler is not None or _init_error is not None


def _invoke(event: Any, function_name: str, timeout_s: float) -> Any:
    if _handler is None:
        raise InitError(f"{function_name} failed its cold start: {_init_error!r}")
    return _handler(event, LocalLambdaContext(function_name=function_name, timeout_s=timeout_s))


class FunctionPool:
    def __init__(self, function: Function, *, size: int, environment: Mapping[str, str]) -> None:
        self.function = function
        self.size = size
        context = multiprocessing.get_context("spawn")
        self._pool: Pool = context.Pool(
            processes=size,
            initializer=_cold_start,
            initargs=(str(function.code_dir), function.module, function.entry_point, dict(environment)),
        )

    def warm(self) -> None:
        """Wait until the environments have cold-started (``size`` pings in parallel reach them all)."""
        pings = [self._pool.apply_async(_is_warm) for _ in range(self.size)]
        for ping in pings:
            ping.get()

    def submit(self, event: Any) -> AsyncResult[Any]:
        """Invoke the function with ``event`` in the next free environment."""
        return self._pool.apply_async(_invoke, (event, self.function.name, self.function.timeout_s))

    def invoke(self, event: Any, *, wait_s: float | None = None) -> Any:
        """Invoke and wait at most ``wait_s`` for the answer (``multiprocessing.TimeoutError`` after)."""
        return self.submit(event).get(timeout=wait_s)

    def close(self) -> None:
        """Stop every environment at once, mid-invocation if need be (as Lambda does at a timeout)."""
        self._pool.terminate()
        self._pool.join()
