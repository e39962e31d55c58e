"""The API's own documentation: the OpenAPI document generated from the routes, and Swagger UI.

The document is generated from the routes by ``make openapi`` into ``functions/docs/openapi.json``
(a test keeps it equal to what the routes generate), and the docs function serves that file: a
function that generated it on every cold start would build Powertools' OpenAPI models and import
every route first, about 50 ms more before its first answer.
"""

from __future__ import annotations

import functools
import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from waitroom import __version__
from waitroom.entrypoints.http.problems import PROBLEM_JSON
from waitroom.entrypoints.http.schemas import VARIABLE_INTEGER_BOUNDS
from waitroom.settings import Settings

OPENAPI_PATH = "/api/process/openapi.json"
LIST_PATH = "/api/process/status/all"
DOCS_PATH = "/api/process/docs"
TITLE = "Waitroom"
DESCRIPTION = (
    "Start a Camunda 7 process and get its result in the same call when it ends in time (200), "
    "or a 202 with a status URL when it does not. Every error Waitroom answers is RFC 9457 problem "
    "details (`application/problem+json`: `type`, `title`, `status`, `detail`, `instance`, and the "
    "extension members `code`, `errors` `[{field, reason}]` and, when Camunda failed, `camunda`). "
    'API Gateway answers some errors itself, before any function runs, as `{"message"}` '
    "(`application/json`): no valid token (401) or signature (403), throttling (429), a function "
    "that failed (500) or could not start (503)."
)


def openapi_json(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI document of the routes ``app`` includes, as ``make openapi`` writes it."""
    # Only generating needs the OpenAPI models; the function that serves the file never imports them.
    from aws_lambda_powertools.event_handler.openapi.models import (  # noqa: PLC0415
        APIKey,
        APIKeyIn,
        HTTPBearer,
        SecurityScheme,
    )

    # The two ways in: a JWT for clients, an AWS SigV4 signature (IAM) for the steps of a process.
    security_schemes: dict[str, SecurityScheme] = {
        "jwt": HTTPBearer(bearerFormat="JWT", description="A JWT from the issuer the deployment trusts"),
        "sigv4": APIKey(
            name="Authorization",
            in_=APIKeyIn.header,
            description="AWS Signature Version 4 (IAM), as API Gateway's AWS_IAM authorizer verifies it",
        ),
    }
    document = json.loads(
        app.get_openapi_json_schema(
            title=TITLE, version=__version__, description=DESCRIPTION, security_schemes=security_schemes
        )
    )
    # Powertools documents a 422 for invalid input; this API answers 400 (a problem) instead.
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        document.get("components", {}).get("schemas", {}).pop(unused, None)
    _exact_integer_bounds(document)
    return dump(document)


#: Powertools' OpenAPI models hold ``minimum`` and ``maximum`` as floats, which cannot hold the
#: bounds of a 64-bit integer: 2**63 - 1 becomes 2**63. Each such float, and the bound it stands for.
_INTEGER_BOUNDS = {float(bound): bound for bound in VARIABLE_INTEGER_BOUNDS}


def _exact_integer_bounds(value: Any) -> None:
    """The bounds of every integer schema in ``value`` as integers, exactly as the models give them."""
    if isinstance(value, dict):
        if value.get("type") == "integer":
            for name in ("minimum", "maximum"):
                bound = value.get(name)
                if isinstance(bound, float):
                    value[name] = _INTEGER_BOUNDS.get(bound, int(bound))
        for item in value.values():
            _exact_integer_bounds(item)
    elif isinstance(value, list):
        for item in value:
            _exact_integer_bounds(item)


def dump(document: dict[str, Any]) -> str:
    """The document as JSON, in one order whatever built it: keys sorted, except that a response's
    problem (``application/problem+json``) comes before its other media types, since Swagger UI
    shows the first one."""
    return json.dumps(_ordered(document), indent=2) + "\n"


def _ordered(value: Any, *, key: str | None = None) -> Any:
    if isinstance(value, dict):
        names = sorted(value)
        if key == "content" and PROBLEM_JSON in names:
            names = [PROBLEM_JSON, *(name for name in names if name != PROBLEM_JSON)]
        return {name: _ordered(value[name], key=name) for name in names}
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


@functools.cache
def swagger_ui_html(document: str) -> str:
    """Swagger UI on ``document``, with Powertools' copy of its script and styles inline (no CDN)."""
    # Importing Powertools' swagger_ui builds its OpenAPI models (for OAuth2): the page for people
    # pays that on its first view, and the document's route, which programs call, never does.
    from aws_lambda_powertools.event_handler.openapi import swagger_ui  # noqa: PLC0415

    assets = Path(swagger_ui.__file__).parent
    return swagger_ui.generate_swagger_html(
        # Escaped so that the document cannot close the <script> it is embedded in.
        spec=document.replace("</", "<\\/"),
        swagger_js=(assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        swagger_css=(assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
    )


def as_configured(document: str, settings: Settings) -> str:
    """The generated document with what the deployment's settings decide: the list's largest limit
    and the largest body."""
    parsed = json.loads(document)
    for parameter in parsed["paths"][LIST_PATH]["get"]["parameters"]:
        if parameter["name"] == "limit":
            parameter["schema"]["maximum"] = settings.list_max_limit
    for operations in parsed["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["requestBody"]["description"] = (
                    f"JSON (UTF-8) of at most {settings.max_body_bytes} bytes (`MAX_BODY_BYTES`); larger is a 413"
                )
    return dump(parsed)


def add_docs(app: APIGatewayHttpResolver, generated: str, settings: Settings) -> None:
    """Serve the ``generated`` document, as configured, at ``OPENAPI_PATH`` and Swagger UI on it at
    ``DOCS_PATH``."""
    document = as_configured(generated, settings)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(HTTPStatus.OK.value, content_types.APPLICATION_JSON, document)

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui_page() -> Response[str]:
        # Powertools' page links its document as ``?format=json`` on its own URL: answer that link too.
        if app.current_event.get_query_string_value("format") == "json":
            return openapi()
        return Response(HTTPStatus.OK.value, content_types.TEXT_HTML, swagger_ui_html(document))
