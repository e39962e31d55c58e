"""Run several processes at once with the asyncio client, and print each result as it comes.

    pip install 'waitroom-client[async]'
    WAITROOM_TOKEN=$(make -s token) python run_concurrently.py 5

``WAITROOM_URL`` is the API (default: the local stack, http://127.0.0.1:8080); ``WAITROOM_TOKEN`` a
bearer token it accepts; the argument how many processes to run (default 3).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from waitroom_client import Process, WaitroomError
from waitroom_client.aio import AsyncWaitroom


def token() -> str:
    return os.environ.get("WAITROOM_TOKEN") or sys.exit("set WAITROOM_TOKEN to a bearer token (make -s token)")


async def onboard(client: AsyncWaitroom, number: int) -> Process:
    user = {"userId": f"user-{number}", "email": f"user-{number}@example.com"}
    return await client.run("onboard-user", user, wait=60)


async def main(count: int) -> int:
    url = os.environ.get("WAITROOM_URL", "http://127.0.0.1:8080")
    async with AsyncWaitroom(url, token=token()) as client:
        outcomes = await asyncio.gather(*(onboard(client, n) for n in range(count)), return_exceptions=True)
    failed = 0
    for number, outcome in enumerate(outcomes):
        if isinstance(outcome, WaitroomError):
            print(f"user-{number}: {outcome}", file=sys.stderr)
            failed += 1
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            print(json.dumps({"correlationId": outcome.correlation_id, "status": outcome.status}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
