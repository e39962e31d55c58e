"""One call that may wait longer than API Gateway's 30 s, through the Lambda Function URLs of a
deployment with ``LongWaits=true``, signed with SigV4.

    pip install 'waitroom-client[sigv4]'
    python long_wait.py START_FUNCTION_URL STATUS_FUNCTION_URL [DELAY_MS]

The URLs are the stack's outputs ``StartFunctionUrl`` and ``StatusFunctionUrl`` (locally
http://127.0.0.1:8080/lambda-url/StartFunction/ and …/StatusFunction/); ``DELAY_MS`` makes the
process's background check take that long (default 0). Credentials as in complete_as_worker.py.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

from waitroom_client import FunctionUrls, SigV4, Waitroom


def main(start_url: str, status_url: str, delay_ms: int) -> int:
    url = os.environ.get("WAITROOM_URL", "http://127.0.0.1:8080")
    urls = FunctionUrls(start=start_url, status=status_url)
    with Waitroom(url, sigv4=SigV4.from_environment(), function_urls=urls) as client:
        user = {"userId": "u1", "email": "u1@example.com", "delayMs": delay_ms}
        process = client.run("onboard-user", user, wait=timedelta(minutes=10))
    print(json.dumps({"correlationId": process.correlation_id, "status": process.status, "data": process.data}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: {sys.argv[0]} START_FUNCTION_URL STATUS_FUNCTION_URL [DELAY_MS]")
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 0))
