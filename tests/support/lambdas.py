"""Compose an API function through :mod:`waitroom.composition.http`, as its ``app.py`` does, on the
settings a test chooses, and invoke it with the files of ``events/``."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.lambda_context import LocalLambdaContext
from waitroom.bootstrap import Application
from waitroom.composition.http import http_function
from waitroom.entrypoints.http.resolver import ApiHandler

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "events"


@dataclass(frozen=True)
class ApiFunction:
    name: str
    handler: ApiHandler


def api_function(name: str, application: Application) -> ApiFunction:
    """The API function ``name`` composed as ``functions/<name>/app.py`` composes it, on the service of
    ``application`` (whose settings and adapters the test chose)."""
    _, handler = http_function(name, application)
    return ApiFunction(name, handler)


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(event)


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    """The event carrying ``body``: a ``str`` is sent as it is, anything else as JSON."""
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def with_path(event: dict[str, Any], path: str, path_parameters: dict[str, str] | None = None) -> dict[str, Any]:
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = path_parameters or {}
    return event


def with_query(event: dict[str, Any], **parameters: str) -> dict[str, Any]:
    event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in parameters.items())
    event["queryStringParameters"] = dict(parameters)
    return event


def with_headers(event: dict[str, Any], **headers: str) -> dict[str, Any]:
    event["headers"].update({name.lower().replace("_", "-"): value for name, value in headers.items()})
    return event


def with_caller(event: dict[str, Any], subject: str, *, admin: bool = False) -> dict[str, Any]:
    """The event as API Gateway's JWT authorizer passes it on for a token of ``subject``: the claims
    as strings, and no ``scopes``, which it fills only for routes that declare ``AuthorizationScopes``."""
    scopes = ["waitroom/processes", *(["waitroom/admin"] if admin else [])]
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": subject, "scope": " ".join(scopes)}}}
    return event


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_fields(self) -> list[str]:
        return [error.get("field", "") for error in self.body["errors"]]


def invoke(function: ApiFunction, event: dict[str, Any], *, timeout_s: float = 29) -> HttpResult:
    context = LocalLambdaContext(function_name=function.name, timeout_s=timeout_s)
    raw = function.handler(event, context)  # type: ignore[arg-type]  # the local context has what Lambda's has
    text = raw.get("body") or ""
    if raw.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    headers = {name.lower(): value for name, value in (raw.get("headers") or {}).items()}
    json_types = ("application/json", "application/problem+json")
    body = json.loads(text) if text and headers.get("content-type", "").startswith(json_types) else text
    return HttpResult(status=raw["statusCode"], headers=headers, body=body)
