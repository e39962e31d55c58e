"""Run one process and print its result.

    WAITROOM_TOKEN=$(make -s token) python run_process.py

``WAITROOM_URL`` is the API (default: the local stack, http://127.0.0.1:8080); ``WAITROOM_TOKEN`` a
bearer token it accepts.
"""

from __future__ import annotations

import json
import os
import sys

from waitroom_client import ProcessFailed, Progress, Waitroom, WaitTimedOut


def show(progress: Progress) -> None:
    state = progress.status or "starting"
    print(f"{progress.correlation_id}: {state}, {progress.remaining_s:.0f} s left", file=sys.stderr)


def token() -> str:
    return os.environ.get("WAITROOM_TOKEN") or sys.exit("set WAITROOM_TOKEN to a bearer token (make -s token)")


def main() -> int:
    url = os.environ.get("WAITROOM_URL", "http://127.0.0.1:8080")
    with Waitroom(url, token=token()) as client:
        try:
            process = client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"}, wait=60, on_progress=show)
        except ProcessFailed as failed:
            print(f"{failed.process.correlation_id} failed: {failed.code}", file=sys.stderr)
            return 1
        except WaitTimedOut as still:
            # The process goes on: read it later with client.status(correlation_id).
            print(f"{still.process.correlation_id} is still running", file=sys.stderr)
            return 3
    print(json.dumps({"correlationId": process.correlation_id, "status": process.status, "data": process.data}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
