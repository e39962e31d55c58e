"""Regenerate ``events/`` from ``sam local generate-event`` and shape each event like its route.

Run with ``make events``. SAM's sample carries placeholders (cookies, sample headers, a JWT
authorizer, a base64 body); each event here is edited into what API Gateway sends for its route,
so that ``sam local invoke -e events/<name>.json`` and the tests use the very same files.
``events/env.json`` (the functions' settings for ``sam local invoke --env-vars``) is written by hand.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"

#: The context API Gateway's JWT authorizer adds to a request with a valid token (client routes).
JWT_AUTHORIZER = {
    "jwt": {
        "claims": {
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
            "aud": "waitroom-dev-client-id",
            "sub": "alice",
            "scope": "waitroom/processes",
            "iat": "1767225600",
            "exp": "1767229200",
        },
        "scopes": ["waitroom/processes"],
    }
}

#: The IAM context API Gateway adds to a SigV4-signed request (the /complete route).
IAM_AUTHORIZER = {
    "iam": {
        "accessKey": "AKIAEXAMPLE",
        "accountId": "123456789012",
        "callerId": "AROAEXAMPLE:worker",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": "arn:aws:sts::123456789012:assumed-role/waitroom-worker/worker",
        "userId": "AROAEXAMPLE:worker",
    }
}


def generate(method: str, path: str, body: Any | None) -> dict[str, Any]:
    command = [
        "sam",
        "local",
        "generate-event",
        "apigateway",
        "http-api-proxy",
        "--method",
        method,
        "--path",
        path.lstrip("/"),
    ]
    event: dict[str, Any] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    event["rawQueryString"] = ""
    event.pop("cookies", None)
    event.pop("queryStringParameters", None)
    event.pop("stageVariables", None)
    event["pathParameters"] = {}
    event["headers"] = {"accept": "application/json", "host": event["requestContext"]["domainName"]}
    event["requestContext"].pop("authentication", None)
    event["requestContext"].pop("authorizer", None)
    event["requestContext"]["requestId"] = "c0ffee00-0000-4000-8000-000000000000"
    if body is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    else:
        event["headers"]["content-type"] = "application/json"
        event["body"] = json.dumps(body)
        event["isBase64Encoded"] = False
    return event


def scheduled(rule: str) -> dict[str, Any]:
    command = ["sam", "local", "generate-event", "cloudwatch", "scheduled-event"]
    event: dict[str, Any] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/waitroom-dev-{rule}"]
    return event


def route(event: dict[str, Any], route_key: str) -> dict[str, Any]:
    event["routeKey"] = route_key
    event["requestContext"]["routeKey"] = route_key
    return event


def main() -> None:
    start = route(
        generate(
            "POST",
            "/api/process/start",
            {
                "processKey": "onboard-user",
                "correlationId": "user-123",
                "variables": {"userId": "user-123", "email": "user@example.com"},
            },
        ),
        "POST /api/process/start",
    )
    status = route(generate("GET", "/api/process/status/user-123", None), "GET /api/process/status/{correlationId}")
    status["pathParameters"] = {"correlationId": "user-123"}
    status_all = route(generate("GET", "/api/process/status/all", None), "GET /api/process/status/all")
    status_all["rawQueryString"] = "limit=20"
    status_all["queryStringParameters"] = {"limit": "20"}
    complete = route(
        generate(
            "POST",
            "/api/process/complete",
            {"correlationId": "user-123", "status": "ok", "data": {"success": True, "userId": "user-123"}},
        ),
        "POST /api/process/complete",
    )
    complete["requestContext"]["authorizer"] = IAM_AUTHORIZER
    for client_event in (start, status, status_all):
        client_event["requestContext"]["authorizer"] = JWT_AUTHORIZER
    cancel = route(
        generate("POST", "/api/process/cancel", {"correlationId": "user-123", "reason": "the user withdrew"}),
        "POST /api/process/cancel",
    )
    cancel["requestContext"]["authorizer"] = JWT_AUTHORIZER
    # Public: no authorizer context, as API Gateway sends it for Auth NONE.
    docs = route(generate("GET", "/api/process/docs", None), "GET /api/process/docs")
    events = {
        "docs": docs,
        "start": start,
        "status": status,
        "status-all": status_all,
        "complete": complete,
        "cancel": cancel,
        "worker": scheduled("WorkerFunctionEveryMinute"),
        "dispatcher": scheduled("DispatcherFunctionEveryMinute"),
        "reconciler": scheduled("ReconcilerFunctionEveryMinute"),
        "retention": scheduled("RetentionFunctionHourly"),
    }
    for name, event in events.items():
        (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
