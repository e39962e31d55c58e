"""The second entry of the start and status functions: their Lambda Function URLs (``LongWaits``).

The same handler serves both entries, and the event tells them apart: a Function URL's event has
the route key ``$default`` (the HTTP API has no such route) and, with ``AuthType: AWS_IAM``, the IAM
identity that signed the request, where the HTTP API passes on a token's claims. Such a caller is
its IAM principal (the owner of what it starts; for a role, the role whatever its session), and may
wait up to ``LONG_WAIT_MAX_MS``, since no gateway cuts the call at 30 s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: A Function URL's events have this route key; the HTTP API's name their route.
FUNCTION_URL_ROUTE_KEY = "$default"


#: ``arn:aws:sts::123456789012:assumed-role/ROLE/SESSION``: the role and the session it was assumed as.
_ASSUMED_ROLE = re.compile(r"^(?P<role>arn:[^:]+:sts::\d{12}:assumed-role/[^/]+)/[^/]+$")


def function_url_principal(request_context: Mapping[str, Any]) -> str | None:
    """The IAM principal that signed a request that came through a Function URL; None for a request
    that came through API Gateway.

    A role's caller signs with temporary credentials whose ARN names the session
    (``…:assumed-role/ROLE/SESSION``), and each Lambda execution environment, CI job or ``aws sts
    assume-role`` names its own: the owner is the role, ``…:assumed-role/ROLE``, so that the same
    role reads what it started under any session name."""
    if request_context.get("routeKey") != FUNCTION_URL_ROUTE_KEY:
        return None
    iam = (request_context.get("authorizer") or {}).get("iam") or {}
    principal = iam.get("userArn") or iam.get("callerId")
    if not principal:
        return None
    assumed = _ASSUMED_ROLE.match(str(principal))
    return assumed["role"] if assumed else str(principal)
