"""A small client of Camunda 8's Orchestration Cluster REST API (``/v2``, Camunda 8.8 and later) on one ``requests``
session, and the OAuth client-credentials tokens it authenticates with.

Only the endpoints Waitroom calls; shapes as in Camunda's OpenAPI document
(``dev-engine/src/waitroom_dev_engine/reference/camunda8-orchestration-cluster-api.openapi.json``; what 8.9 adds,
``camunda8.9-orchestration-cluster-api.openapi.json`` beside it). Camunda's own Python
SDK is not used: docs/ARCHITECTURE.md ("Camunda 8: a thin client, not the SDK") gives the figures.
Failures become the domain's ``Camunda*`` errors exactly as Camunda 7's do
(:mod:`waitroom.adapters.camunda.client`); Camunda 8 answers RFC 9457 problem details, whose
``title`` (the rejection type, ``NOT_FOUND``, ``INVALID_STATE`` ...) and ``detail`` travel in the
error's details.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from waitroom.adapters.camunda.client import GATEWAY_STATUSES, never_sent, new_session
from waitroom.adapters.secrets import read_secret
from waitroom.domain.errors import (
    CamundaFailed,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaRejected,
    CamundaUnavailable,
    ConfigurationError,
    WaitroomError,
)
from waitroom.settings import Settings

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

#: A token is fetched again this long before the identity provider says it expires: a request
#: sent with it must still be accepted when it arrives.
TOKEN_MARGIN_S = 30.0
#: The major and minor of a version as ``GET /topology``'s ``gatewayVersion`` gives it (``8.9.0``,
#: ``8.10.0-SNAPSHOT``).
_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


class OAuthTokens:
    """Bearer tokens from an OAuth token endpoint by the client-credentials grant (RFC 6749 §4.4), as
    Camunda SaaS and self-managed Identity hand them out: one is kept until shortly before it expires.

    ``credentials`` gives the client id and secret; ``refresh=True`` asks for them afresh (a rotated
    secret), which happens once when the endpoint refuses them.
    """

    def __init__(
        self,
        token_url: str,
        credentials: Callable[[bool], ClientCredentials],
        *,
        audience: str | None = None,
        scope: str | None = None,
        timeout: tuple[float, float] = (3, 10),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self._credentials = credentials
        self._audience = audience
        self._scope = scope
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def token(self, session: requests.Session) -> str:
        """A token valid for at least :data:`TOKEN_MARGIN_S` more: the kept one, or a new one."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._fetch(session)
            assert self._token is not None  # noqa: S101 -- _fetch sets it or raises
            return self._token

    def forget(self) -> None:
        """Drop the kept token: Camunda refused it (revoked, or a clock ahead of ours)."""
        with self._lock:
            self._token = None

    def _fetch(self, session: requests.Session) -> None:
        import requests  # noqa: PLC0415 -- imported by the session already

        for refresh in (False, True):
            credentials = self._credentials(refresh)
            form = {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            }
            if self._audience:
                form["audience"] = self._audience
            if self._scope:
                form["scope"] = self._scope
            started = self._clock()
            try:
                # Not the API's session: its Authorization header must not go to the identity provider.
                response = requests.post(self.token_url, data=form, timeout=self._timeout)
            except requests.RequestException as exc:
                raise CamundaUnavailable("Camunda's token endpoint cannot be reached") from exc
            if response.status_code in (400, 401) and not refresh:
                # invalid_client: the secret may have been rotated since it was cached.
                continue
            if response.status_code >= 400:
                raise CamundaRejected(
                    f"Camunda's token endpoint refused the client credentials ({response.status_code})",
                    details=[{"camundaStatus": response.status_code}],
                )
            try:
                body = response.json()
                token = str(body["access_token"])
                expires_in = float(body.get("expires_in", 300))
            except (ValueError, KeyError, TypeError) as exc:
                raise CamundaFailed("Camunda's token endpoint answered without an access_token") from exc
            self._token = token
            self._expires_at = started + max(expires_in - TOKEN_MARGIN_S, 0.0)
            return


def secret_credentials(arn: str) -> Callable[[bool], ClientCredentials]:
    """Client credentials in a Secrets Manager secret, ``{"clientId", "clientSecret"}``."""

    def read(refresh: bool) -> ClientCredentials:
        secret: Any = read_secret(arn, transform="json", refresh=refresh)
        if isinstance(secret, dict) and secret.get("clientId") and secret.get("clientSecret"):
            return ClientCredentials(str(secret["clientId"]), str(secret["clientSecret"]))
        raise ConfigurationError('CAMUNDA8_SECRET_ARN: the secret must be JSON with "clientId" and "clientSecret"')

    return read


class Camunda8Client:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 3,
        read_timeout_s: float = 10,
        tokens: OAuthTokens | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.tokens = tokens
        self._session: requests.Session | None = None
        #: The gateway's (major, minor), or None when it answered without one; unset until asked.
        self._version: tuple[int, int] | None = None
        self._version_known = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Camunda8Client:
        timeout = (settings.camunda_connect_timeout_s, settings.camunda_read_timeout_s)
        tokens = None
        if settings.camunda8_oauth_url is not None:
            credentials: Callable[[bool], ClientCredentials]
            if settings.camunda8_secret_arn:
                credentials = secret_credentials(settings.camunda8_secret_arn)
            elif settings.camunda8_client_id and settings.camunda8_client_secret:
                fixed = ClientCredentials(
                    settings.camunda8_client_id, settings.camunda8_client_secret.get_secret_value()
                )
                credentials = lambda _refresh: fixed  # noqa: E731
            else:
                raise ConfigurationError("CAMUNDA8_OAUTH_URL needs CAMUNDA8_SECRET_ARN or CAMUNDA8_CLIENT_ID")
            tokens = OAuthTokens(
                str(settings.camunda8_oauth_url),
                credentials,
                audience=settings.camunda8_audience,
                scope=settings.camunda8_scope,
                timeout=timeout,
            )
        return cls(str(settings.camunda8_url), connect_timeout_s=timeout[0], read_timeout_s=timeout[1], tokens=tokens)

    def close(self) -> None:
        """Let go of the connections and the token (a SnapStart snapshot, a test's end)."""
        session, self._session = self._session, None
        # A snapshot may be restored after the cluster was upgraded: its version is asked again.
        self._version_known = False
        if self.tokens is not None:
            self.tokens.forget()
        if session is not None:
            session.close()

    @property
    def session(self) -> requests.Session:
        """The HTTP session, made at the first use (as Camunda 7's client does)."""
        if self._session is None:
            self._session = new_session()
        return self._session

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        read_timeout_s: float | None = None,
    ) -> Any:
        """The answer's JSON (None for 204), or the ``Camunda*`` error of a failure."""
        response = self._send(method, path, json=json, files=files, read_timeout_s=read_timeout_s)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CamundaFailed(f"Camunda answered {method} {path} with something that is not JSON") from exc

    def text(self, path: str) -> str | None:
        """``GET path``'s answer as text (a process's XML), None for 204, or the ``Camunda*`` error of a failure."""
        response = self._send("GET", path)
        return None if response.status_code == 204 else response.text

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        read_timeout_s: float | None = None,
    ) -> requests.Response:
        """The answer of a status below 400, or the ``Camunda*`` error of a failure."""
        import requests  # noqa: PLC0415 -- imported by the session already

        timeout = self.timeout if read_timeout_s is None else (self.timeout[0], read_timeout_s)
        for attempt in (1, 2):
            headers = {}
            if self.tokens is not None:
                headers["Authorization"] = f"Bearer {self.tokens.token(self.session)}"
            try:
                response = self.session.request(
                    method, f"{self.base_url}{path}", json=json, files=files, headers=headers, timeout=timeout
                )
            except requests.ConnectionError as exc:
                if never_sent(exc):
                    raise CamundaUnavailable("Camunda cannot be reached") from exc
                raise CamundaNoAnswer(f"Camunda did not answer {method} {path}") from exc
            except requests.Timeout as exc:
                raise CamundaNoAnswer(f"Camunda did not answer {method} {path} in time") from exc
            if response.status_code == 401 and self.tokens is not None and attempt == 1:
                self.tokens.forget()
                continue
            break
        if response.status_code >= 400:
            raise problem_error(response.status_code, _body(response), method, path)
        return response

    def gateway_version(self) -> tuple[int, int] | None:
        """The gateway's (major, minor) from ``GET /topology``'s ``gatewayVersion``, asked once per client;
        None when it cannot be told.

        Only what Waitroom sends beyond 8.8 depends on it, never whether a request is made, so a
        failure to read it is not an error. An answer without a version (refused, or not one) is kept:
        asking again would get the same answer on every start. No answer at all is not kept: Camunda is
        away, the request that needed the version fails on its own, and the next one asks again.
        """
        if self._version_known:
            return self._version
        try:
            topology = self.request("GET", "/topology")
        except (CamundaUnavailable, CamundaNoAnswer) as exc:
            logger.debug("Camunda's version is not known yet: %s", exc)
            return None
        except WaitroomError as exc:
            topology = None
            logger.warning("Camunda's version cannot be read (%s); only 8.8's requests are sent", exc)
        found = _VERSION.match(str(topology.get("gatewayVersion") or "")) if isinstance(topology, dict) else None
        if topology is not None and found is None:
            logger.warning("Camunda's topology names no gatewayVersion; only 8.8's requests are sent")
        self._version = (int(found[1]), int(found[2])) if found else None
        self._version_known = True
        return self._version

    def search(self, path: str, body: Mapping[str, Any], *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every item of a search, page by page (``page.from`` and ``page.limit``)."""
        items: list[dict[str, Any]] = []
        while True:
            answer = self.request("POST", path, json={**body, "page": {"from": len(items), "limit": page_size}})
            page = list(answer.get("items") or [])
            items.extend(page)
            if len(page) < page_size:
                return items


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def problem_error(status: int, body: Any, method: str, path: str) -> WaitroomError:
    """The domain's error for a Camunda 8 answer ``status`` with ``body`` (a problem detail, usually)."""
    if isinstance(body, dict):
        title, detail = str(body.get("title") or ""), str(body.get("detail") or body)
    else:
        title, detail = "", str(body)
    details = [{"camundaStatus": status, "camundaType": title, "camundaMessage": detail}]
    if status in GATEWAY_STATUSES:
        # 503 is also Zeebe's back pressure (RESOURCE_EXHAUSTED), after which the command was not
        # carried out; either way the caller must look before trying again.
        return CamundaNoAnswer(f"Camunda's gateway answered {status} to {method} {path}", details=details)
    if status == 404:
        return CamundaNotFound(detail, details=details)
    if status < 500:
        return CamundaRejected(f"Camunda rejected {method} {path} ({status} {title}): {detail}", details=details)
    return CamundaFailed(f"Camunda failed on {method} {path} ({status} {title}): {detail}", details=details)
