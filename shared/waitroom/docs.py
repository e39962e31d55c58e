"""The API's own documentation: the OpenAPI document generated from the routes, and Swagger UI."""

from __future__ import annotations

import json
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, SecurityScheme

OPENAPI_PATH = "/api/process/openapi.json"
DOCS_PATH = "/api/process/docs"
TITLE = "Waitroom"
DESCRIPTION = (
    "Start a Camunda 7 process and get its result in the same call when it ends in time (200), "
    "or a 202 with a status URL when it does not. Every error has the shape "
    '`{"error": {"code", "message", "details": [{"field", "reason"}]}}`.'
)
#: The two ways in: a JWT for clients, an AWS SigV4 signature (IAM) for the steps of a process.
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "jwt": HTTPBearer(bearerFormat="JWT", description="A JWT from the issuer the deployment trusts"),
    "sigv4": APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="AWS Signature Version 4 (IAM), as API Gateway's AWS_IAM authorizer verifies it",
    ),
}


def api_version() -> str:
    try:
        return version("waitroom")
    except PackageNotFoundError:  # in Lambda the layer carries the package, not its metadata
        return "1"


def openapi_json(app: APIGatewayHttpResolver) -> str:
    document = json.loads(
        app.get_openapi_json_schema(
            title=TITLE, version=api_version(), description=DESCRIPTION, security_schemes=SECURITY_SCHEMES
        )
    )
    # Powertools documents a 422 for invalid input; this API answers 400 (in the error shape) instead.
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        document.get("components", {}).get("schemas", {}).pop(unused, None)
    return json.dumps(document)


def add_docs(app: APIGatewayHttpResolver) -> None:
    """Serve the document at ``OPENAPI_PATH`` and Swagger UI (self-contained, no CDN) at ``DOCS_PATH``."""

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(HTTPStatus.OK.value, content_types.APPLICATION_JSON, openapi_json(app))

    app.enable_swagger(
        path=DOCS_PATH,
        title=TITLE,
        version=api_version(),
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
    )
