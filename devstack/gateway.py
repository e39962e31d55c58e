"""A local stand-in for the API Gateway HTTP API of ``template.yaml``.

It routes as the template does, turns each request into an API Gateway v2 (payload format 2.0)
event, invokes the function in one of its local execution environments, and turns the function's
answer back into an HTTP response, with API Gateway's own answers where API Gateway would give them
(no route → 404, no valid token on a JWT route → 401, no valid SigV4 signature on an IAM route →
403, a function error or timeout → 500, no environment free → 429, body over 10 MB → 413). Every
function behind a route has a ``Timeout`` under the gateway's 30 s (or the 15 minutes the
template gives start and status for their Function URLs, of which a route still uses only 30 s).

It also serves the template's Lambda Function URLs (``AWS::Lambda::Url``), each on its own path,
``/lambda-url/<function logical id>/…``: what follows the prefix is the path the function sees, the
request must carry a SigV4 signature for the service ``lambda`` (``AuthType: AWS_IAM``), and the
event is the Function URL's (``routeKey`` ``$default``, the signer in ``authorizer.iam``), handed
to the same execution environments as the routes'.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.functions import FunctionPool, Throttled
from devstack.http_answers import send
from devstack.identity import FUNCTION_URL_SERVICE, REGION, LocalIdentity, Rejected
from devstack.template import Application, Route

logger = logging.getLogger(__name__)

#: API Gateway HTTP APIs take a request body of at most 10 MB.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
#: Where the local stack serves each Lambda Function URL: ``/lambda-url/StartFunction/api/process/start``.
FUNCTION_URL_PREFIX = "/lambda-url/"
FUNCTION_URL_ROUTE_KEY = "$default"


def build_event(
    route_key: str,
    path_parameters: Mapping[str, str],
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    authorizer: dict[str, Any] | None = None,
    domain_name: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway (or a Function URL, whose events have the same format) would send for
    this request (payload format version 2.0)."""
    now = datetime.now(UTC)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    # API Gateway and Function URLs say where the request came from and how it arrived.
    lowered["x-forwarded-for"] = (
        f"{lowered['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in lowered else source_ip
    )
    lowered["x-forwarded-proto"] = "http"
    host = lowered.get("host", "")
    lowered["x-forwarded-port"] = host.rpartition(":")[2] if ":" in host else "80"
    domain = domain_name or lowered.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if "cookie" in lowered:
        event["cookies"] = [cookie.strip() for cookie in lowered["cookie"].split(";")]
    if raw_query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body:
        content_type = lowered.get("content-type", "")
        if content_type.startswith(TEXT_TYPES):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # The standard library listens with a backlog of 5: fifty clients connecting at once were reset.
    request_queue_size = 128


class Gateway:
    def __init__(
        self,
        application: Application,
        pools: Mapping[str, FunctionPool],
        *,
        identity: LocalIdentity,
        host: str,
        port: int,
    ) -> None:
        self.application = application
        self.pools = pools
        self.identity = identity
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server sends headers and body in two writes: with Nagle on, a keep-alive client's
            # delayed ACK holds the body back ~40 ms. API Gateway has no such stall.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                gateway.handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

        self._server = _GatewayServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Gateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            send(request, 413, {"message": "Request Entity Too Large"})
            return
        body = request.rfile.read(length) if length else b""
        if parts.path.startswith(FUNCTION_URL_PREFIX):
            self._handle_function_url(request, body)
            return
        found = self.application.route_for(request.command, parts.path)
        if found is None:
            send(request, 404, {"message": "Not Found"})
            return
        route, path_parameters = found
        try:
            authorizer = self._authorize(route, request, body)
        except Rejected as rejected:
            send(request, rejected.status, {"message": rejected.message})
            return
        event = build_event(
            route.route_key,
            path_parameters,
            method=request.command,
            raw_path=parts.path,
            raw_query=parts.query,
            headers=dict(request.headers.items()),
            body=body,
            source_ip=request.client_address[0],
            authorizer=authorizer,
        )
        self._invoke(request, route.function, event, started)

    def _invoke(self, request: BaseHTTPRequestHandler, function: str, event: dict[str, Any], started: float) -> None:
        try:
            result = self.pools[function].invoke(event)
        except Throttled:
            send(request, 429, {"message": "Too Many Requests"})
            return
        except Exception:
            # A function error, a crash or a timeout: API Gateway and Function URLs answer them all alike.
            logger.exception("%s failed", function)
            send(request, 500, {"message": "Internal Server Error"})
            return
        _send_result(request, result)
        logger.info(
            "%s %s → %s in %.0f ms", request.command, event["rawPath"], function, (time.monotonic() - started) * 1000
        )

    def _handle_function_url(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        """``/lambda-url/<function>/<path>``: the function's Function URL, SigV4-checked as Lambda does."""
        started = time.monotonic()
        parts = urlsplit(request.path)
        name, _, rest = parts.path.removeprefix(FUNCTION_URL_PREFIX).partition("/")
        function_url = self.application.function_urls.get(name)
        if function_url is None or name not in self.pools:
            send(request, 404, {"message": "Not Found"})
            return
        authorizer = None
        if function_url.auth == "AWS_IAM":
            url = f"http://{request.headers.get('Host', 'localhost')}{request.path}"
            try:
                authorizer = self.identity.verify_signature(
                    request.command, url, dict(request.headers.items()), body, service=FUNCTION_URL_SERVICE
                )
            except Rejected as rejected:
                send(request, rejected.status, {"Message": rejected.message})
                return
        event = build_event(
            FUNCTION_URL_ROUTE_KEY,
            {},
            method=request.command,
            raw_path=f"/{rest}",
            raw_query=parts.query,
            headers=dict(request.headers.items()),
            body=body,
            source_ip=request.client_address[0],
            authorizer=authorizer,
            domain_name=f"{name.lower()}.lambda-url.{REGION}.on.aws",
        )
        self._invoke(request, name, event, started)

    def _authorize(self, route: Route, request: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any] | None:
        """What the route's authorizer adds to the event; raises Rejected as API Gateway refuses."""
        if route.auth == "JWT":
            return self.identity.verify_token(request.headers.get("Authorization"))
        if route.auth == "AWS_IAM":
            url = f"http://{request.headers.get('Host', 'localhost')}{request.path}"
            return self.identity.verify_signature(request.command, url, dict(request.headers.items()), body)
        return None


def _send_result(request: BaseHTTPRequestHandler, result: Any) -> None:
    """A Lambda proxy answer (format 2.0) → HTTP. A bare value is a 200 JSON body, as API Gateway does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        send(request, 200, result)
        return
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or []]
    send(request, int(result["statusCode"]), payload, headers)
