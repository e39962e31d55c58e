"""Send a request signed with the local stack's IAM credentials (SigV4), as the steps of a process
call ``/api/process/complete`` in AWS:

    python -m devstack.signed POST http://127.0.0.1:8080/api/process/complete \\
        '{"correlationId": "user-123", "status": "ok", "data": {"done": true}}'
"""

from __future__ import annotations

import argparse
import sys

import requests

from devstack.identity import LocalIdentity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.signed", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", help="GET, POST, ...")
    parser.add_argument("url")
    parser.add_argument("body", nargs="?", default="", help="the JSON body")
    args = parser.parse_args(argv)
    body = args.body.encode()
    headers = LocalIdentity.sign(
        args.method.upper(), args.url, body, {"Content-Type": "application/json"} if body else None
    )
    response = requests.request(args.method.upper(), args.url, data=body, headers=headers, timeout=35)
    print(response.status_code, response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
