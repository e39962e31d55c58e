"""Send a request signed with the local stack's IAM credentials (SigV4), as the steps of a process
call ``/api/process/complete`` in AWS, or as a caller of the start and status Function URLs does
(``--service lambda``):

    python -m devstack.signed POST http://127.0.0.1:8080/api/process/complete \\
        '{"correlationId": "user-123", "status": "ok", "data": {"done": true}}'
    python -m devstack.signed --service lambda GET \\
        http://127.0.0.1:8080/lambda-url/StatusFunction/api/process/status/user-123 --header 'Prefer: wait=60'
"""

from __future__ import annotations

import argparse
import sys

import requests

from devstack.identity import FUNCTION_URL_SERVICE, SERVICE, LocalIdentity

#: Longer than the longest wait a Function URL honours (14 minutes).
READ_TIMEOUT_S = 900


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.signed", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", help="GET, POST, ...")
    parser.add_argument("url")
    parser.add_argument("body", nargs="?", default="", help="the JSON body")
    parser.add_argument("--service", choices=[SERVICE, FUNCTION_URL_SERVICE], default=SERVICE)
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'", help="sent and signed")
    args = parser.parse_args(argv)
    body = args.body.encode()
    headers = {"Content-Type": "application/json"} if body else {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    signed = LocalIdentity.sign(args.method.upper(), args.url, body, headers, service=args.service)
    response = requests.request(args.method.upper(), args.url, data=body, headers=signed, timeout=READ_TIMEOUT_S)
    print(response.status_code, response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
