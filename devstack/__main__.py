"""``python -m devstack`` (``make run``): the whole of Waitroom on this machine until Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from devstack.stack import LocalStack

#: The request the banner suggests, the README's first example.
EXAMPLE_START = {
    "processKey": "onboard-user",
    "correlationId": "user-123",
    "variables": {"userId": "user-123", "email": "user@example.com"},
}


def _redacted(url: str | None) -> str:
    """A URL without its password, for printing."""
    if not url:
        return "?"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    began = time.monotonic()
    try:
        stack = LocalStack().start()
    except OSError as exc:
        print(
            f"The local stack could not start: {exc}. Is the port taken? Set PORT or LOCAL_ENGINE_PORT.",
            file=sys.stderr,
        )
        return 1
    described = stack.describe()
    metrics = (
        f"{described['metrics']}   (LOCAL_METRICS_ON_CONSOLE=true prints them here instead)"
        if described["metrics"]
        else "on this console, among the logs"
    )
    print(
        f"""
Waitroom is running (started in {time.monotonic() - began:.1f} s). Ctrl-C stops everything.

  API       {described["api"]}   routes from template.yaml: {", ".join(described["routes"])}
  Camunda   {_redacted(described["camunda"])}
  Store     {_redacted(described["database"])}
  Metrics   {metrics}
  Waiting   {described["wait_mode"]}   (WAIT_MODE=durable: the start function under dex-local-runner)

Try it (make -s token prints a JWT the local gateway accepts; SUB=alice ADMIN=1 choose who you are):

  curl -sS -X POST {described["api"]}/api/process/start -H "Authorization: Bearer $(make -s token)" \\
    -H 'Content-Type: application/json' \\
    -d '{json.dumps(EXAMPLE_START, separators=(",", ":"))}'

The steps of a process report to /api/process/complete with an IAM signature, as in AWS:

  .venv/bin/python -m devstack.signed POST {described["api"]}/api/process/complete \\
    '{{"correlationId":"...","status":"ok"}}'

Waits longer than 30 s, on the Function URLs (SigV4, service lambda): {" ".join(described["function_urls"])}

  .venv/bin/python -m devstack.signed --service lambda GET \\
    {described["api"]}/lambda-url/StatusFunction/api/process/status/user-123 --header 'Prefer: wait=60'

The API's documentation: {described["api"]}/api/process/docs
""",
        flush=True,
    )
    stopped.wait()
    print("Stopping…", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
