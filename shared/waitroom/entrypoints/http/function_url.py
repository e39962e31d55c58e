"""The second entry of the start and status functions: their Lambda Function URLs (``LongWaits``).

The same handler serves both entries, and the event tells them apart: a Function URL's event has
the route key ``$default`` (the HTTP API has no such route) and, with ``AuthType: AWS_IAM``, the IAM
identity that signed the request, where the HTTP API passes on a token's claims. Such a caller is
its IAM principal (the owner of what it starts), and may wait up to ``LONG_WAIT_MAX_MS``, since no
gateway cuts the call at 30 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A Function URL's events have this route key; the HTTP API's name their route.
FUNCTION_URL_ROUTE_KEY = "$default"


def function_url_principal(request_context: Mapping[str, Any]) -> str | None:
    """The ARN of the IAM principal that signed a request that came through a Function URL; None
    for a request that came through API Gateway."""
    if request_context.get("routeKey") != FUNCTION_URL_ROUTE_KEY:
        return None
    iam = (request_context.get("authorizer") or {}).get("iam") or {}
    principal = iam.get("userArn") or iam.get("callerId")
    return str(principal) if principal else None
