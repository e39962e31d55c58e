"""The local gateway's JWT check passes on what API Gateway's JWT authorizer passes on: the claims as
strings, and ``scopes`` only for a route that declares ``AuthorizationScopes``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from devstack.identity import ADMIN_SCOPE, AUDIENCE, ISSUER, LocalIdentity, Rejected
from devstack.template import load


def token(identity: LocalIdentity, **claims: Any) -> str:
    now = int(time.time())
    given = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "iat": now, "exp": now + 600, **claims}
    return "Bearer " + jwt.encode(given, identity.key, algorithm="HS256")


def test_a_route_without_authorization_scopes_gets_the_claims_as_strings_and_no_scopes() -> None:
    identity = LocalIdentity("k" * 48)
    verified = identity.verify_token(token(identity, scp=["waitroom/processes", ADMIN_SCOPE], admin=True))["jwt"]
    assert "scopes" not in verified
    assert verified["claims"]["scp"] == f"[waitroom/processes {ADMIN_SCOPE}]"
    assert verified["claims"]["admin"] == "true"
    assert isinstance(verified["claims"]["exp"], str)


def test_a_route_with_authorization_scopes_needs_one_of_them_and_gets_them() -> None:
    identity = LocalIdentity("k" * 48)
    with pytest.raises(Rejected) as refused:
        identity.verify_token(token(identity, scope="waitroom/processes"), (ADMIN_SCOPE,))
    assert (refused.value.status, refused.value.message) == (403, "Forbidden")
    verified = identity.verify_token(token(identity, scope=f"waitroom/processes {ADMIN_SCOPE}"), (ADMIN_SCOPE,))
    assert verified["jwt"]["scopes"] == ["waitroom/processes", ADMIN_SCOPE]


def test_the_routes_carry_the_authorization_scopes_the_template_declares(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt: {JwtConfiguration: {issuer: x, audience: [y]}}
  AdminFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/status/
      Handler: app.lambda_handler
      Events:
        Purge:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: /purge, Auth: {AuthorizationScopes: [waitroom/admin]}}
        Read:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /read}
""",
        encoding="utf-8",
    )
    routes = {route.route_key: route for route in load(template).routes}
    assert routes["POST /purge"].scopes == ("waitroom/admin",)
    assert routes["GET /read"].scopes == ()
