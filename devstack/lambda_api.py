"""The Lambda ``Invoke`` API for the local stack's functions, so that code which starts a function
with boto3 (the dispatcher starting worker invocations) runs here unchanged: the stack points
``AWS_ENDPOINT_URL_LAMBDA`` at this server.

``POST /2015-03-31/functions/{name}/invocations`` with ``X-Amz-Invocation-Type: Event`` answers 202
at once and runs the invocation in an environment of the function's pool, as Lambda's asynchronous
invocation does; ``RequestResponse`` (the default) answers with the function's result. When every
environment the function may have is busy, the invocation is throttled: an asynchronous one is
counted in ``throttled`` and dropped (Lambda would retry it until the event's maximum age, which the
template keeps short), a synchronous one gets Lambda's 429.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from devstack.durable import DURABLE_API_PREFIX, DurableRunner
from devstack.functions import WARM_TIMEOUT_S, ColdStartsThrottled, FunctionPool, NotReady, Throttled
from devstack.http_answers import send
from devstack.http_server import LocalHTTPServer

logger = logging.getLogger("devstack.lambda")

_INVOCATIONS = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def function_name(identifier: str) -> str:
    """The function ``Invoke`` names: by its name or ARN, either with an alias or version after a
    colon (``WorkerFunction:live``, ``arn:aws:lambda:us-east-1:123456789012:function:WorkerFunction:live``).
    Locally every qualifier runs the one code there is."""
    parts = identifier.split(":")
    return parts[6] if parts[0] == "arn" and len(parts) >= 7 else parts[0]


#: The header dex-local-runner marks its invocations of a durable function's handler with
#: (aws-durable-execution-sdk-python-testing 1.4.0, ``invoker.py``, ``INVOCATION_MARKER_HEADER``).
RUNNER_INVOCATION_HEADER = "X-Dex-Handler-Invoke"
#: How often an invocation held back by this machine's bound on cold starts tries again.
COLD_START_RETRY_S = 0.02
#: How long it tries (the stack's own start waits as long for its first environments).
COLD_START_WAIT_S = WARM_TIMEOUT_S


def invoke_waiting_for_cold_starts(pool: FunctionPool, event: Any, *, within_s: float = COLD_START_WAIT_S) -> Any:
    """Invoke, waiting (up to ``within_s``) while this machine's bound on cold starts at once holds the
    invocation back, or while its environment's cold start outlasts Lambda's 10 s on a loaded machine.
    The durable runner takes any refusal or failure for Lambda's and invokes again only 5 s later
    (``Executor.RETRY_BACKOFF_SECONDS``), failing the execution at the fifth: a limit of the local
    machine would turn into late answers and failed starts that Lambda does not give."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return pool.invoke(event)
        except (ColdStartsThrottled, NotReady):
            if time.monotonic() >= deadline:
                raise
            time.sleep(COLD_START_RETRY_S)


class LambdaApi:
    def __init__(self, pool_of: Callable[[str], FunctionPool | None], *, host: str = "127.0.0.1", port: int = 0):
        #: Where the durable execution APIs go, in the durable wait mode (the stack sets it).
        self.durable: DurableRunner | None = None
        self.throttled = 0
        self.started = 0
        self._pool_of = pool_of
        self._guard = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # see the gateway's handler

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the functions' logs tell the story."""

            def forward_durable(self) -> bool:
                """A durable execution API (a checkpoint, an execution's state, a callback) goes to
                the durable execution service, as Lambda's endpoint serves both."""
                if api.durable is None or not self.path.startswith(DURABLE_API_PREFIX):
                    return False
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload, content_type = api.durable.forward(
                    self.command, self.path, body, dict(self.headers.items())
                )
                send(self, status, payload, [("Content-Type", content_type)])
                return True

            def do_GET(self) -> None:
                if not self.forward_durable():
                    send(self, 404, {"Type": "User", "message": "Not found"})

            def do_POST(self) -> None:
                if self.forward_durable():
                    return
                matched = _INVOCATIONS.match(self.path.split("?", 1)[0])
                pool = None if matched is None else api._pool_of(function_name(unquote(matched.group("name"))))
                if pool is None:
                    send(self, 404, {"Type": "User", "message": "Function not found"})
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = json.loads(body or b"{}")
                if self.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
                    api.start(pool, event)
                    send(self, 202, b"", [("Content-Type", "application/json")])
                    return
                handler_invocation = self.headers.get(RUNNER_INVOCATION_HEADER) == "true"
                api.invocation_began(event)
                result = None
                try:
                    result = invoke_waiting_for_cold_starts(pool, event) if handler_invocation else pool.invoke(event)
                except Throttled as exc:
                    send(self, 429, {"Type": "User", "message": str(exc)})
                except Exception as exc:  # the function's error, as Lambda reports it
                    send(self, 200, {"errorMessage": str(exc)}, [("X-Amz-Function-Error", "Unhandled")])
                else:
                    send(self, 200, result)
                finally:
                    api.invocation_returned(event, result)

        self._server = LocalHTTPServer((host, port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def invocation_began(self, event: Any) -> None:
        """Tell the durable execution service that an invocation of a durable function began."""
        if self.durable is not None:
            self.durable.invocation_began(event)

    def invocation_returned(self, event: Any, result: Any) -> None:
        """Tell the durable execution service's waiting gateway that an invocation answered the runner
        (``result`` None: it failed, or was throttled)."""
        if self.durable is not None:
            self.durable.invocation_returned(event, result)

    def start(self, pool: FunctionPool, event: Any) -> None:
        """One asynchronous invocation, in a thread of its own."""

        def invoke() -> None:
            try:
                pool.invoke(event)
            except Throttled:
                with self._guard:
                    self.throttled += 1
                logger.warning("%s: an asynchronous invocation was throttled", pool.function.name)
            except (EOFError, OSError):
                # Its environment ended under it: killed (a crash, a test) or the stack is stopping.
                logger.warning("%s: an asynchronous invocation lost its environment", pool.function.name)
            except Exception:  # the invocation's failure is the function's, logged as Lambda logs it
                logger.exception("%s: an asynchronous invocation failed", pool.function.name)

        with self._guard:
            self.started += 1
        threading.Thread(target=invoke, name=f"async-{pool.function.name}", daemon=True).start()

    def serve(self) -> LambdaApi:
        threading.Thread(target=self._server.serve_forever, name="lambda-api", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
