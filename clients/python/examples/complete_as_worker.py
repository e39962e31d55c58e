"""Finish a running process as its worker would: ``/api/process/complete``, signed with SigV4.

    pip install 'waitroom-client[sigv4]'
    python complete_as_worker.py CORRELATION_ID

``WAITROOM_URL`` is the API (default: the local stack, http://127.0.0.1:8080). The credentials are
the AWS environment's (variables, profile or role); for the local stack, its own fixed ones:

    export AWS_ACCESS_KEY_ID=AKIAWAITROOMLOCAL000
    export AWS_SECRET_ACCESS_KEY=waitroom-local-secret-access-key-not-a-real-one AWS_DEFAULT_REGION=us-east-1
"""

from __future__ import annotations

import json
import os
import sys

from waitroom_client import SigV4, Waitroom


def main(correlation_id: str) -> int:
    url = os.environ.get("WAITROOM_URL", "http://127.0.0.1:8080")
    with Waitroom(url, sigv4=SigV4.from_environment()) as worker:
        process = worker.complete(correlation_id, data={"decidedBy": "complete_as_worker.py"})
    print(json.dumps({"correlationId": process.correlation_id, "status": process.status, "data": process.data}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} CORRELATION_ID")
    sys.exit(main(sys.argv[1]))
