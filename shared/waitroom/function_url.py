"""The second entry of the start and status functions: their Lambda Function URLs (``LongWaits``).

The same handler serves both entries, and the authorizer in the event tells them apart: the
template puts a JWT authorizer in front of every client route of the HTTP API, so a request that
arrives there carries token claims; a Function URL (``AuthType: AWS_IAM``) passes on only the IAM
identity that signed the request. Such a caller is its IAM principal (the owner of what it starts),
and may wait up to ``LONG_WAIT_MAX_MS``, since no gateway cuts the call at 30 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def iam_principal(authorizer: Mapping[str, Any]) -> str | None:
    """The ARN of the IAM principal that signed a Function URL request, or None for a gateway request."""
    iam = authorizer.get("iam") or {}
    principal = iam.get("userArn") or iam.get("callerId")
    return str(principal) if principal else None
