"""The local stand-ins for what API Gateway checks before a request reaches a function.

* JWT routes: a token signed with the local stack's own key (PyJWT, HS256), with the local issuer
  and audience, and an ``exp`` that is a number not yet past (API Gateway refuses a token without
  one). ``make -s token`` prints one.
* IAM routes: an AWS Signature Version 4 made with the local stack's credentials (botocore), within
  five minutes of now. ``python -m devstack.signed`` sends one.

The key lives in the local data directory, so that ``make run`` and ``make -s token`` share it.
Nothing here is used in AWS, where API Gateway's own authorizers do this work.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ISSUER = "https://waitroom.local/"
AUDIENCE = "waitroom-local"
ADMIN_SCOPE = "waitroom/admin"
#: The local stack's IAM principal. Local only: never valid anywhere else.
ACCESS_KEY = "AKIAWAITROOMLOCAL000"
SECRET_KEY = "waitroom-local-secret-access-key-not-a-real-one"  # noqa: S105 -- a fixed local test credential
REGION = "us-east-1"
SERVICE = "execute-api"
#: Lambda Function URLs take signatures for the service ``lambda``.
FUNCTION_URL_SERVICE = "lambda"
MAX_CLOCK_SKEW_S = 300
_SIGV4_HEADER = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


class Rejected(Exception):
    """The request does not get through: ``status`` and ``message`` are API Gateway's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _claim_text(value: Any) -> str:
    """A claim as API Gateway's JWT authorizer passes it on: a string; a list as ``[a b]``."""
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class LocalIdentity:
    key: str

    @classmethod
    def in_directory(cls, directory: Path) -> LocalIdentity:
        """The identity of the local stack whose data lives in ``directory`` (created on first use)."""
        path = directory / "local-jwt.key"
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        return cls(path.read_text(encoding="utf-8").strip())

    # --- JWT -----------------------------------------------------------------------------------

    def issue(self, subject: str, *, admin: bool = False, ttl_s: int = 12 * 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_s,
            "scope": " ".join(["waitroom/processes", *([ADMIN_SCOPE] if admin else [])]),
        }
        return jwt.encode(claims, self.key, algorithm="HS256")

    def verify_token(self, authorization: str | None, required_scopes: Sequence[str] = ()) -> dict[str, Any]:
        """The ``requestContext.authorizer`` API Gateway's JWT authorizer would add, or 401 (no valid
        token) or 403 (a route's ``AuthorizationScopes``, none of which the token has).

        As API Gateway: every claim is passed as a string (a list as ``[a b]``), and ``scopes`` only
        on a route that declares ``AuthorizationScopes``; elsewhere the code reads the claims.
        """
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not token:
            raise Rejected(401, "Unauthorized")
        try:
            claims = jwt.decode(
                token, self.key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp"]}
            )
        except jwt.PyJWTError:
            raise Rejected(401, "Unauthorized") from None
        # API Gateway's JWT authorizer takes only numeric dates; PyJWT reads "9999999999" as a number.
        if any(not _is_numeric_date(claims[name]) for name in ("exp", "nbf", "iat") if name in claims):
            raise Rejected(401, "Unauthorized")
        verified: dict[str, Any] = {"claims": {name: _claim_text(value) for name, value in claims.items()}}
        if required_scopes:
            granted = claims.get("scope") or claims.get("scp") or []
            scopes = granted if isinstance(granted, list) else str(granted).split()
            if not set(scopes) & set(required_scopes):
                raise Rejected(403, "Forbidden")
            verified["scopes"] = [str(scope) for scope in scopes]
        return {"jwt": verified}

    # --- SigV4 ---------------------------------------------------------------------------------

    @staticmethod
    def sign(
        method: str, url: str, body: bytes, headers: Mapping[str, str] | None = None, *, service: str = SERVICE
    ) -> dict[str, str]:
        """The headers of a request signed with the local credentials."""
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
        return dict(request.headers.items())

    @staticmethod
    def verify_signature(
        method: str, url: str, headers: Mapping[str, str], body: bytes, *, service: str = SERVICE
    ) -> dict[str, Any]:
        """The ``requestContext.authorizer`` API Gateway's IAM authorizer (or a Function URL with
        ``AuthType: AWS_IAM``, for ``service="lambda"``) would add, or 403."""
        lowered = {name.lower(): value for name, value in headers.items()}
        match = _SIGV4_HEADER.fullmatch(lowered.get("authorization", "").strip())
        stamp = lowered.get("x-amz-date", "")
        if match is None or not stamp or match["key"] != ACCESS_KEY or match["service"] != service:
            raise Rejected(403, "Forbidden")
        try:
            signed_at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            raise Rejected(403, "Forbidden") from None
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_CLOCK_SKEW_S:
            raise Rejected(403, "Signature expired")
        signed = {name: lowered[name] for name in match["signed"].split(";") if name in lowered}
        request = AWSRequest(method=method, url=url, data=body, headers=signed)
        request.context["timestamp"] = stamp
        auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, match["region"])
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise Rejected(403, "Forbidden")
        return {
            "iam": {
                "accessKey": ACCESS_KEY,
                "accountId": "000000000000",
                "callerId": "local",
                "principalOrgId": None,
                "userArn": "arn:aws:iam::000000000000:user/local",
                "userId": "local",
            }
        }


def _is_numeric_date(value: object) -> bool:
    """A JWT NumericDate (RFC 7519 §2): a JSON number of seconds, not a string or a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)
