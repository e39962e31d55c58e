"""The Camunda 8 client's OAuth client credentials (waitroom.adapters.camunda8.client.OAuthTokens) on a
local HTTP server that is both the token endpoint and a Camunda API refusing any other token: a token
is fetched once and kept until shortly before it expires, fetched again when Camunda refuses it, and
the credentials are read afresh once when the token endpoint refuses them (a rotated secret, read
from Secrets Manager through moto)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from waitroom.adapters.camunda8.client import TOKEN_MARGIN_S, Camunda8Client, ClientCredentials, OAuthTokens
from waitroom.domain.errors import CamundaRejected, ConfigurationError
from waitroom.settings import Settings

CLIENT = ClientCredentials("waitroom", "s3cret")


@dataclass
class Identity:
    """What the server saw and what it accepts."""

    url: str = ""
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    api_tokens: list[str | None] = field(default_factory=list)
    valid_secret: str = CLIENT.client_secret
    expires_in: int = 300
    #: The token the API accepts now (the last one issued, unless a test revokes it).
    accepted: str | None = None

    def issue(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        if form.get("client_secret") != [self.valid_secret] or form.get("grant_type") != ["client_credentials"]:
            return 401, {"error": "invalid_client"}
        self.accepted = f"token-{len(self.token_requests)}"
        return 200, {"access_token": self.accepted, "token_type": "Bearer", "expires_in": self.expires_in}


@pytest.fixture
def identity() -> Iterator[Identity]:
    state = Identity()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            self._send(*state.issue(form))

        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization")
            token = authorization.removeprefix("Bearer ") if authorization else None
            state.api_tokens.append(token)
            if token is None or token != state.accepted:
                self._send(401, {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "no"})
            else:
                self._send(200, {"gatewayVersion": "8.8.0"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _client(identity: Identity, tokens: OAuthTokens) -> Camunda8Client:
    return Camunda8Client(identity.url + "/v2", tokens=tokens)


def test_a_token_is_fetched_once_and_kept_until_shortly_before_it_expires(identity: Identity) -> None:
    now = [1000.0]
    tokens = OAuthTokens(
        identity.url + "/oauth/token", lambda _refresh: CLIENT, audience="zeebe.camunda.io", clock=lambda: now[0]
    )
    client = _client(identity, tokens)
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert identity.api_tokens == ["token-1", "token-1"]
    (form,) = identity.token_requests
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["waitroom"],
        "client_secret": ["s3cret"],
        "audience": ["zeebe.camunda.io"],
    }
    # Just before the margin the kept token still serves; at it a new one is fetched.
    now[0] += identity.expires_in - TOKEN_MARGIN_S - 1
    client.request("GET", "/topology")
    assert len(identity.token_requests) == 1
    now[0] += 1
    client.request("GET", "/topology")
    assert (len(identity.token_requests), identity.api_tokens[-1]) == (2, "token-2")
    client.close()


def test_a_token_camunda_refuses_is_replaced_once(identity: Identity) -> None:
    client = _client(identity, OAuthTokens(identity.url + "/oauth/token", lambda _refresh: CLIENT))
    client.request("GET", "/topology")
    identity.accepted = "revoked-for-all"
    # Refused: a new token is fetched and the request sent again with it.
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert identity.api_tokens == ["token-1", "token-1", "token-2"]
    client.close()


def test_the_credentials_are_read_afresh_once_when_the_token_endpoint_refuses_them(identity: Identity) -> None:
    identity.valid_secret = "rotated"
    reads: list[bool] = []

    def credentials(refresh: bool) -> ClientCredentials:
        reads.append(refresh)
        return ClientCredentials("waitroom", "rotated" if refresh else "s3cret")

    client = _client(identity, OAuthTokens(identity.url + "/oauth/token", credentials))
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert reads == [False, True]
    client.close()

    # Refused with the fresh ones too: a rejection, and no endless asking.
    identity.valid_secret = "something else"
    client = _client(identity, OAuthTokens(identity.url + "/oauth/token", credentials))
    with pytest.raises(CamundaRejected, match="refused the client credentials"):
        client.request("GET", "/topology")
    assert reads == [False, True, False, True]
    assert identity.api_tokens == ["token-2"]


def test_the_settings_build_a_client_that_authenticates(identity: Identity) -> None:
    settings = Settings(
        engine="camunda8",
        camunda8_url=identity.url + "/v2",
        camunda8_oauth_url=identity.url + "/oauth/token",
        camunda8_client_id="waitroom",
        camunda8_client_secret="s3cret",
        camunda8_scope="orchestration",
    )
    client = Camunda8Client.from_settings(settings)
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert identity.token_requests[0]["scope"] == ["orchestration"]
    assert "audience" not in identity.token_requests[0]
    client.close()


def test_without_a_token_endpoint_nothing_authenticates(identity: Identity) -> None:
    client = Camunda8Client.from_settings(Settings(engine="camunda8", camunda8_url=identity.url + "/v2"))
    with pytest.raises(CamundaRejected):
        client.request("GET", "/topology")
    assert (identity.token_requests, identity.api_tokens) == ([], [None])
    client.close()


@pytest.fixture
def secrets_manager() -> Iterator[Any]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def test_the_client_credentials_come_from_their_secret_and_follow_a_rotation(
    identity: Identity, secrets_manager: Any
) -> None:
    arn = secrets_manager.create_secret(
        Name="waitroom/camunda8", SecretString=json.dumps({"clientId": "waitroom", "clientSecret": "s3cret"})
    )["ARN"]
    settings = Settings(
        engine="camunda8", camunda8_url=identity.url + "/v2", camunda8_oauth_url=identity.url + "/oauth/token",
        camunda8_secret_arn=arn,
    )  # fmt: skip
    client = Camunda8Client.from_settings(settings)
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    # Rotated: the cached secret is refused, read again, and the new one accepted.
    secrets_manager.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"clientId": "waitroom", "clientSecret": "rotated"})
    )
    identity.valid_secret = "rotated"
    identity.accepted = "revoked-for-all"
    assert client.request("GET", "/topology") == {"gatewayVersion": "8.8.0"}
    assert [form["client_secret"] for form in identity.token_requests] == [["s3cret"], ["s3cret"], ["rotated"]]
    client.close()


def test_a_secret_without_client_credentials_names_the_setting(identity: Identity, secrets_manager: Any) -> None:
    arn = secrets_manager.create_secret(Name="waitroom/camunda8-bad", SecretString=json.dumps({"id": "x"}))["ARN"]
    settings = Settings(
        engine="camunda8", camunda8_url=identity.url + "/v2", camunda8_oauth_url=identity.url + "/oauth/token",
        camunda8_secret_arn=arn,
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="CAMUNDA8_SECRET_ARN"):
        Camunda8Client.from_settings(settings).request("GET", "/topology")
