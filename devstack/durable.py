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

logger = logging.getLogger("devstack.durable")

#: The paths of Lambda's durable execution APIs (checkpoints, state, callbacks).
DURABLE_API_PREFIX = "/2025-12-01/"
#: How often the gateway looks whether an execution ended, for a while after one of its invocations
#: returned (the local runner has no synchronous invocation: this is what the local hop adds to a wake,
#: at most); then once a second until the next returns, so that hundreds of suspended executions
#: cost the runner nothing.
RESULT_POLL_S = 0.005
#: How long after an invocation returned the gateway keeps looking every ``RESULT_POLL_S``.
AFTER_INVOCATION_S = 0.5
#: How often it looks while no invocation of the execution returned.
IDLE_POLL_S = 1.0
#: An execution lasts at most the longest wait a start grants (the Function URL's, 14 minutes).
EXECUTION_TIMEOUT_S = 900
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
START_TIMEOUT_S = 60.0


class ExecutionFailed(RuntimeError):
    """The durable execution ended otherwise than with the function's answer."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DurableRunner:
    def __init__(self, *, lambda_endpoint: str, environment: Mapping[str, str]) -> None:
        #: Executions started (the gateway's starts in the durable wait mode).
        self.executions = 0
        #: Set when an invocation of the execution (by its ARN) returned: its end may follow.
        self._returned: dict[str, threading.Event] = {}
        self._guard = threading.Lock()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-c",
            "import sys; from aws_durable_execution_sdk_python_testing.cli import main; sys.exit(main())",
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
            timeout=10,
        )
        started.raise_for_status()
        self.executions += 1
        arn = started.json()["ExecutionArn"]
        returned = threading.Event()
        with self._guard:
            self._returned[arn] = returned
        looking_until = time.monotonic() + AFTER_INVOCATION_S
        try:
            with requests.Session() as session:
                while True:
                    answer = session.get(
                        f"{self.url}{DURABLE_API_PREFIX}durable-executions/{quote(arn, safe='')}", timeout=10
                    )
                    answer.raise_for_status()
                    execution = answer.json()
                    if execution["Status"] in ENDED:
                        break
                    if time.monotonic() < looking_until:
                        time.sleep(RESULT_POLL_S)
                    elif returned.wait(IDLE_POLL_S):
                        returned.clear()
                        looking_until = time.monotonic() + AFTER_INVOCATION_S
        finally:
            with self._guard:
                self._returned.pop(arn, None)
        if execution["Status"] != "SUCCEEDED":
            raise ExecutionFailed(
                f"{function}: the durable execution ended {execution['Status']}: {execution.get('Error')}"
            )
        return json.loads(execution.get("Result") or "null")

    def invocation_returned(self, event: Any) -> None:
        """An invocation of a durable function returned (the local Lambda API calls it): the gateway
        waiting for its execution looks again at once."""
        arn = event.get("DurableExecutionArn") if isinstance(event, dict) else None
        with self._guard:
            returned = self._returned.get(arn) if isinstance(arn, str) else None
        if returned is not None:
            returned.set()

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
