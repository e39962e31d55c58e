"""AWS Signature Version 4, with botocore's signer (``pip install 'waitroom-client[sigv4]'``).

Waitroom takes SigV4-signed requests in two places: ``/api/process/complete`` behind API Gateway
(service ``execute-api``), and the optional Lambda Function URLs of the start and status functions
(service ``lambda``), on which a process is owned by the IAM principal that signed its start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

API_GATEWAY_SERVICE = "execute-api"
FUNCTION_URL_SERVICE = "lambda"
_FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.on\.aws$")


def _botocore() -> Any:
    try:
        import botocore.auth  # noqa: PLC0415 -- an optional dependency, needed only to sign
        import botocore.awsrequest  # noqa: PLC0415
        import botocore.credentials  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("SigV4 signing needs botocore: pip install 'waitroom-client[sigv4]'") from exc
    return botocore


@dataclass(frozen=True)
class SigV4:
    """Credentials that sign requests; ``region`` is where the API (or Function URL) lives."""

    access_key: str
    secret_key: str
    session_token: str | None = None
    region: str = "us-east-1"

    def __repr__(self) -> str:
        return f"SigV4(access_key={self.access_key!r}, region={self.region!r})"

    @classmethod
    def from_environment(cls, region: str | None = None) -> SigV4:
        """The credentials botocore finds (environment, profile, instance or task role)."""
        import botocore.session  # noqa: PLC0415 -- optional dependency

        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise LookupError("no AWS credentials found (environment, profile or role)")
        frozen = credentials.get_frozen_credentials()
        if not (frozen.access_key and frozen.secret_key):
            raise LookupError("the AWS credentials found are incomplete")
        return cls(
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
            region or session.get_config_variable("region") or "us-east-1",
        )

    def sign(self, method: str, url: str, body: bytes, headers: Mapping[str, str], *, service: str) -> dict[str, str]:
        """The headers of the request, signed (``Authorization``, ``X-Amz-Date``, the token if any)."""
        botocore = _botocore()
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        credentials = botocore.credentials.Credentials(self.access_key, self.secret_key, self.session_token)
        botocore.auth.SigV4Auth(credentials, service, region_for(url, self.region)).add_auth(request)
        return {str(name): str(value) for name, value in request.headers.items()}


def region_for(url: str, default: str) -> str:
    """A Function URL names its region (``<id>.lambda-url.<region>.on.aws``); other URLs take ``default``."""
    match = _FUNCTION_URL_HOST.match(urlsplit(url).hostname or "")
    return match["region"] if match else default
