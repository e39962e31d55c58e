"""The local gateway checks what API Gateway checks: a JWT on client routes, a SigV4 signature on
/complete, nothing on the docs. So the authorisation model is tested, not assumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from devstack.identity import AUDIENCE, ISSUER, LocalIdentity
from devstack.stack import LocalSettings, LocalStack
from devstack.template import ROOT
from tests.support.stacks import run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalSettings(data_dir=tmp_path_factory.mktemp("secure"), engine_port=0, concurrency=1, schedules=False)
    with run_stack(local, {"DATABASE_URL": None}) as running:
        yield running


def start(stack: LocalStack, token: str | None, correlation_id: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"processKey": "onboard-user", "correlationId": correlation_id}
    return requests.post(
        f"{stack.url}/api/process/start", json=body, headers={**headers, "Prefer": "respond-async"}, timeout=30
    )


def forged(claims: dict[str, object], key: str) -> str:
    """A token with the local issuer and audience, fresh, and ``claims`` (a None one left out)."""
    now = int(time.time())
    given = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 60, **claims}
    return jwt.encode({name: value for name, value in given.items() if value is not None}, key)


@pytest.mark.parametrize(
    "token_of",
    [
        lambda stack: None,
        lambda stack: "not-a-jwt",
        lambda stack: forged({}, "another key, long enough for HS256 to sign with"),
        lambda stack: forged({"exp": int(time.time()) - 10}, stack.identity.key),
        lambda stack: forged({"aud": "someone-else"}, stack.identity.key),
        lambda stack: forged({"iss": "https://evil.example/"}, stack.identity.key),
        lambda stack: forged({"exp": None}, stack.identity.key),
        lambda stack: forged({"exp": "9999999999"}, stack.identity.key),
    ],
    ids=["no-token", "garbage", "wrong-key", "expired", "wrong-audience", "wrong-issuer", "no-exp", "text-exp"],
)
def test_client_routes_refuse_a_request_without_a_valid_token(stack: LocalStack, token_of) -> None:  # type: ignore[no-untyped-def]
    response = start(stack, token_of(stack), "denied-1")
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    listed = requests.get(f"{stack.url}/api/process/status/all", timeout=10)
    assert listed.status_code == 401


def test_a_valid_token_gets_through_and_names_the_owner(stack: LocalStack) -> None:
    alice, bob = stack.identity.issue("alice"), stack.identity.issue("bob")
    assert start(stack, alice, "owned-1").status_code == 202
    as_bob = requests.get(
        f"{stack.url}/api/process/status/owned-1", headers={"Authorization": f"Bearer {bob}"}, timeout=10
    )
    assert as_bob.status_code == 404, "bob does not learn that alice's process exists"
    admin = stack.identity.issue("root", admin=True)
    as_admin = requests.get(
        f"{stack.url}/api/process/status/owned-1", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert as_admin.status_code == 202


def test_complete_accepts_only_a_valid_sigv4_signature(stack: LocalStack) -> None:
    assert start(stack, stack.identity.issue("alice"), "signed-1").status_code == 202
    url = f"{stack.url}/api/process/complete"
    body = json.dumps({"correlationId": "signed-1", "status": "ok", "data": {"signed": True}}).encode()

    unsigned = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    with_a_token = requests.post(
        url, data=body, headers={"Authorization": f"Bearer {stack.identity.issue('alice')}"}, timeout=10
    )
    assert with_a_token.status_code == 403, "a client's token is no signature"
    signed = LocalIdentity.sign("POST", url, body, {"Content-Type": "application/json"})
    tampered = requests.post(url, data=body.replace(b"true", b"false"), headers=signed, timeout=10)
    assert tampered.status_code == 403, "the signature covers the body"
    accepted = requests.post(url, data=body, headers=signed, timeout=10)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"] == {"signed": True}


def test_the_signing_helper_completes_a_process(stack: LocalStack) -> None:
    assert start(stack, stack.identity.issue("alice"), "helper-1").status_code == 202
    body = json.dumps({"correlationId": "helper-1", "status": "ok", "data": 7})
    result = subprocess.run(
        [sys.executable, "-m", "devstack.signed", "POST", f"{stack.url}/api/process/complete", body],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 ")


def test_make_token_prints_a_token_the_stack_accepts(stack: LocalStack) -> None:
    data_dir = stack.local.data_dir
    environment = {**os.environ, "LOCAL_DATA_DIR": str(data_dir), "SUB": "dora", "ADMIN": "1"}
    token = subprocess.run(
        ["make", "-s", "token"], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    ).stdout.strip()
    claims = jwt.decode(token, stack.identity.key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "dora"
    assert "waitroom/admin" in claims["scope"].split()
    assert start(stack, token, "made-1").status_code == 202


def test_the_docs_are_public_and_describe_every_route(stack: LocalStack) -> None:
    document = requests.get(f"{stack.url}/api/process/openapi.json", timeout=10)
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert set(paths) == {
        "/api/process/start",
        "/api/process/status/all",
        "/api/process/status/{correlationId}",
        "/api/process/complete",
        "/api/process/cancel",
    }
    assert paths["/api/process/complete"]["post"]["security"] == [{"sigv4": []}]
    assert paths["/api/process/start"]["post"]["security"] == [{"jwt": []}]
    ui = requests.get(f"{stack.url}/api/process/docs", timeout=10)
    assert ui.status_code == 200
    assert ui.headers["Content-Type"].startswith("text/html")
    assert "swagger" in ui.text.lower()
    assert '"/api/process/status/{correlationId}"' in ui.text, "Swagger UI shows the API's own document"
    # The page links its document as ?format=json on its own URL: that link gives the document.
    assert 'href="?format=json"' in ui.text or "?format=json" in ui.text
    linked = requests.get(f"{stack.url}/api/process/docs", params={"format": "json"}, timeout=10)
    assert linked.status_code == 200
    assert linked.headers["Content-Type"].startswith("application/json")
    assert linked.json() == document.json()


def test_the_identity_key_is_kept_private(stack: LocalStack) -> None:
    key_file = Path(stack.local.data_dir) / "local-jwt.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
