"""Lambda's durable execution service on this machine, for ``WAIT_MODE=durable``: the durable
execution SDK's test kit's ``dex-local-runner`` (aws-durable-execution-sdk-python-testing, the
emulator ``sam local`` runs in Docker), in a process of its own.

It holds the executions and their checkpoints, and invokes the start function for each invocation
through the local Lambda API (``devstack/lambda_api.py``, its ``Invoke``). The functions reach its
durable APIs (checkpoints, state, callbacks: the paths under ``/2025-12-01/``) through the same local
Lambda API, which forwards them here: ``AWS_ENDPOINT_URL_LAMBDA`` names one endpoint, as in AWS.
The gateway starts an execution per request and answers with its result once it ends, as API
Gateway's synchronous invocation of a durable function does.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from devstack.http_server import LISTEN_BACKLOG

logger = logging.getLogger("devstack.durable")

#: The paths of Lambda's durable execution APIs (checkpoints, state, callbacks).
DURABLE_API_PREFIX = "/2025-12-01/"
#: How often the gateway looks whether an execution ended once one of its invocations returned an end
#: (SUCCEEDED or FAILED): the runner records the end a few milliseconds after the invocation's answer.
#: The local runner has no synchronous invocation; this is what the local hop adds to a wake, at most.
RESULT_POLL_S = 0.005
#: How long after an invocation returned an end the gateway keeps looking every ``RESULT_POLL_S``.
AFTER_INVOCATION_S = 0.5
#: How often it looks while no invocation of the execution returned an end. Every end but an
#: execution's own timeout or a stop comes with an invocation (a callback's timeout invokes the
#: function, which answers 202), so this look is for those two only: a look a second at each of
#: hundreds of suspended executions kept the runner, one Python process, busy answering them.
IDLE_POLL_S = 30.0
#: How long the gateway waits for the runner's answer: a loaded machine slows it past seconds.
RUNNER_TIMEOUT_S = 60.0
#: What a durable function's invocation answers (aws-durable-execution-sdk-python, ``InvocationStatus``).
INVOCATION_ENDED = frozenset({"SUCCEEDED", "FAILED"})
INVOCATION_SUSPENDED = "PENDING"
#: How long the return of an invocation no gateway waits for (yet) is kept for one to come.
EARLY_KEPT_S = 60.0
#: An execution lasts at most the longest wait a start grants (the Function URL's, 14 minutes).
EXECUTION_TIMEOUT_S = 900
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
START_TIMEOUT_S = 60.0


def _execution_of(event: Any) -> str | None:
    """The execution an invocation's event belongs to (None: not a durable function's invocation)."""
    arn = event.get("DurableExecutionArn") if isinstance(event, dict) else None
    return arn if isinstance(arn, str) else None


class ExecutionFailed(RuntimeError):
    """The durable execution ended otherwise than with the function's answer."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: dex-local-runner invokes handlers on a thread pool whose size it does not let its caller choose:
#: ``ThreadPoolExecutor``'s default, min(32, CPUs + 4), six on a two-core machine. Lambda's bound is
#: the function's concurrency, which the local Lambda API applies (devstack/functions.py), so the
#: runner is started with a pool of that size: the default its thread pools take is replaced before
#: its executor is built (aws-durable-execution-sdk-python-testing 1.4.0, ``threads.py``,
#: ``executor.py``'s ``_invocation_pool``; tests/unit/test_local_durable_runner.py holds it to that).
RUNNER_BOUND = (
    "from aws_durable_execution_sdk_python_testing import threads\nthreads.default_max_workers = lambda: {threads}\n"
)
#: The runner's web server (``web/server.py``'s ``WebServer``, a ``ThreadingHTTPServer``) listens with
#: the standard library's backlog of 5; a fleet of starts checkpointing at once had its connections
#: reset, and those executions never suspended. It listens with the local stack's backlog instead.
RUNNER_BACKLOG = (
    "from aws_durable_execution_sdk_python_testing.web import server\n"
    f"server.WebServer.request_queue_size = {LISTEN_BACKLOG}\n"
)
RUNNER_MAIN = (
    "import sys\n"
    + RUNNER_BOUND
    + RUNNER_BACKLOG
    + "from aws_durable_execution_sdk_python_testing.cli import main\nsys.exit(main())\n"
)


class _Watch:
    """What the gateway waiting for one execution learns from the local Lambda API."""

    def __init__(self) -> None:
        self.returned = threading.Event()
        self.ended = False
        """An invocation answered SUCCEEDED or FAILED: the execution's end follows."""


class DurableRunner:
    def __init__(self, *, lambda_endpoint: str, environment: Mapping[str, str], invocation_threads: int = 64) -> None:
        #: Executions started (the gateway's starts in the durable wait mode).
        self.executions = 0
        #: Invocations of durable functions under way now (what Lambda counts against concurrency).
        self.running = 0
        #: Executions whose last invocation returned suspended (PENDING): they wait, running nothing.
        self.suspended: set[str] = set()
        self._watches: dict[str, _Watch] = {}
        #: Returns of executions no gateway waits for yet: when, and whether the execution ended.
        self._early: dict[str, tuple[float, bool]] = {}
        self._guard = threading.Lock()
        self.invocation_threads = invocation_threads
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-c",
            RUNNER_MAIN.format(threads=int(invocation_threads)),
            "start-server",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--lambda-endpoint={lambda_endpoint}",
            f"--local-runner-endpoint={self.url}",
            f"--local-runner-region={environment.get('AWS_DEFAULT_REGION', 'us-east-1')}",
            f"--execution-timeout={EXECUTION_TIMEOUT_S}",
            "--log-level=WARNING",
        ]
        # Its invocations go through boto3, which signs them: the local Lambda API's dummy credentials.
        self._process = subprocess.Popen(command, env={**os.environ, **environment})  # noqa: S603 -- our own interpreter

    def start(self) -> DurableRunner:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dex-local-runner exited with {self._process.returncode}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    logger.info("durable execution service (dex-local-runner) on %s", self.url)
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dex-local-runner did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    def invoke(self, function: str, event: Any) -> Any:
        """Start an execution of ``function`` with ``event`` and answer with its result once it ends,
        as a synchronous invocation of a durable function does."""
        started = requests.post(
            f"{self.url}/start-durable-execution",
            json={
                "AccountId": "123456789012",
                "FunctionName": function,
                "FunctionQualifier": "live",
                "ExecutionName": uuid.uuid4().hex,
                "ExecutionTimeoutSeconds": EXECUTION_TIMEOUT_S,
                "ExecutionRetentionPeriodDays": 1,
                "Input": json.dumps(event),
            },
            timeout=RUNNER_TIMEOUT_S,
        )
        started.raise_for_status()
        arn = started.json()["ExecutionArn"]
        watch = _Watch()
        with self._guard:
            self.executions += 1
            self._watches[arn] = watch
            early = self._early.pop(arn, None)
        if early is not None:
            watch.ended = early[1]
            watch.returned.set()
        looking_until = 0.0
        try:
            with requests.Session() as session:
                while True:
                    answer = session.get(
                        f"{self.url}{DURABLE_API_PREFIX}durable-executions/{quote(arn, safe='')}",
                        timeout=RUNNER_TIMEOUT_S,
                    )
                    answer.raise_for_status()
                    execution = answer.json()
                    if execution["Status"] in ENDED:
                        break
                    if time.monotonic() < looking_until:
                        time.sleep(RESULT_POLL_S)
                    elif watch.returned.wait(IDLE_POLL_S):
                        watch.returned.clear()
                        # A suspension needs no look: the execution waits for its callback.
                        if watch.ended:
                            looking_until = time.monotonic() + AFTER_INVOCATION_S
        finally:
            with self._guard:
                self._watches.pop(arn, None)
                self.suspended.discard(arn)
        if execution["Status"] != "SUCCEEDED":
            raise ExecutionFailed(
                f"{function}: the durable execution ended {execution['Status']}: {execution.get('Error')}"
            )
        return json.loads(execution.get("Result") or "null")

    def invocation_began(self, event: Any) -> None:
        """An invocation of a durable function began (the local Lambda API calls it)."""
        arn = _execution_of(event)
        if arn is None:
            return
        with self._guard:
            self.running += 1
            self.suspended.discard(arn)

    def invocation_returned(self, event: Any, result: Any = None) -> None:
        """An invocation of a durable function returned ``result`` (the local Lambda API calls it; None:
        it failed or was throttled, and the runner invokes it again): the gateway waiting for its
        execution looks again at once if it ended."""
        arn = _execution_of(event)
        if arn is None:
            return
        status = result.get("Status") if isinstance(result, dict) else None
        ended = status in INVOCATION_ENDED
        with self._guard:
            self.running -= 1
            if status == INVOCATION_SUSPENDED:
                self.suspended.add(arn)
            watch = self._watches.get(arn)
            if watch is None:
                # Returned before the gateway had the execution's ARN (or after it saw the end):
                # kept a while for a gateway still to come.
                now = time.monotonic()
                self._early = {key: kept for key, kept in self._early.items() if now - kept[0] < EARLY_KEPT_S}
                self._early[arn] = (now, ended or self._early.get(arn, (now, False))[1])
                return
            watch.ended = watch.ended or ended
        watch.returned.set()

    def forward(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, str]:
        """A request of the durable APIs, as the local Lambda API received it: its answer."""
        kept = {
            name: value for name, value in headers.items() if name.lower() in {"content-type", "x-amz-client-context"}
        }
        answer = requests.request(method, f"{self.url}{path}", data=body, headers=kept, timeout=60)
        return answer.status_code, answer.content, answer.headers.get("Content-Type", "application/json")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
