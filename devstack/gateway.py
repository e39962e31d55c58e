"""A local stand-in for the API Gateway HTTP API of ``template.yaml``.

It routes as the template does, turns each request into an API Gateway v2 (payload format 2.0)
event, invokes the function in one of its local execution environments, and turns the function's
answer back into an HTTP response, with API Gateway's own answers where API Gateway would give them
(no route or an unknown method → 404, no valid token on a JWT route → 401, no valid SigV4
signature on an IAM route → 403, a function error or timeout → 500, a route's throttle
(``RouteSettings``) → 429, the function's concurrency reached → 500 as API Gateway answers a Lambda
throttle, an environment not ready within its init limit → 503, body over 10 MB → 413), every one a JSON
``{"message": ...}`` as API Gateway's are. Every function behind a route has a ``Timeout`` under the
gateway's 30 s (or the 15 minutes the template gives start and status for their Function URLs, of
which a route still uses only 30 s).

At its edges it holds as API Gateway does: a request whose ``Content-Length`` is missing (on a
method with a body), malformed or contradicted is 400; every read of a request times out, and the
whole of a request (its head and its body) must arrive within a deadline, however its bytes trickle
in (the connection is closed, or a body answered 408); a body that does not arrive whole never
reaches a function; and it serves a bounded number of connections at once, answering 429 to the
ones beyond, so slow clients cannot hold every thread. Repeated headers reach the function joined
with commas, as API Gateway joins them.

It also serves the template's Lambda Function URLs (``AWS::Lambda::Url``), each on its own path,
``/lambda-url/<function logical id>/…``: what follows the prefix is the path the function sees, the
request must carry a SigV4 signature for the service ``lambda`` (``AuthType: AWS_IAM``), and the
event is the Function URL's (``routeKey`` ``$default``, the signer in ``authorizer.iam``), handed
to the same execution environments as the routes'.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.durable import DurableRunner
from devstack.functions import ColdStartsThrottled, FunctionPool, NotReady, Throttled
from devstack.http_answers import send
from devstack.http_server import LocalHTTPServer
from devstack.identity import FUNCTION_URL_SERVICE, REGION, LocalIdentity, Rejected
from devstack.template import Application, Route
from devstack.throttle import TokenBucket

logger = logging.getLogger(__name__)

#: API Gateway HTTP APIs take a request body of at most 10 MB.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
#: Longest wait for any one read of a request (its head, a chunk of its body) before a 408.
READ_TIMEOUT_S = 10.0
#: Longest a request may take to arrive whole, head and body, however its bytes trickle in: a read
#: timeout alone lets a client that sends a byte every few seconds hold its connection for ever.
REQUEST_DEADLINE_S = 30.0
#: Connections served at once; one more is answered 429 and closed at once.
MAX_CONNECTIONS = 256
#: Methods whose request carries a body, so must say how long it is.
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class Refused(Exception):
    """The request cannot be read as HTTP: answered ``status`` and closed (its body is not read)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyAborted(Exception):
    """The client went away before its whole body arrived: nothing is answered, nothing invoked."""


def _read_exactly(stream: Any, length: int) -> bytes:
    try:
        data: bytes = stream.read(length)
    except TimeoutError:
        raise Refused(408, "Request Timeout") from None
    except OSError:
        raise BodyAborted from None
    if len(data) < length:
        raise BodyAborted
    return data


def _read_line(stream: Any) -> bytes:
    try:
        line: bytes = stream.readline(1024)
    except TimeoutError:
        raise Refused(408, "Request Timeout") from None
    except OSError:
        raise BodyAborted from None
    if not line.endswith(b"\n"):
        raise BodyAborted
    return line


def _read_chunked(stream: Any) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (RFC 9112 §7.1), within :data:`MAX_PAYLOAD_BYTES`."""
    body = bytearray()
    while True:
        size_text = _read_line(stream).split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 8 or any(byte not in b"0123456789abcdefABCDEF" for byte in size_text):
            raise Refused(400, "Bad Request")
        size = int(size_text, 16)
        if len(body) + size > MAX_PAYLOAD_BYTES:
            raise Refused(413, "Request Entity Too Large")
        if size == 0:
            while _read_line(stream) not in (b"\r\n", b"\n"):
                pass  # a trailer field: not passed on, as API Gateway does not
            return bytes(body)
        body += _read_exactly(stream, size)
        if _read_exactly(stream, 2) != b"\r\n":
            raise Refused(400, "Bad Request")


def read_body(request: BaseHTTPRequestHandler) -> bytes:
    """The request's body, read whole, or Refused/BodyAborted as API Gateway would treat it."""
    lengths = request.headers.get_all("Content-Length") or []
    encodings = ",".join(request.headers.get_all("Transfer-Encoding") or []).lower()
    if encodings:
        if lengths or [part.strip() for part in encodings.split(",")] != ["chunked"]:
            # Both framings at once is how requests are smuggled (RFC 9112 §6.3): refused.
            raise Refused(400, "Bad Request")
        return _read_chunked(request.rfile)
    if not lengths:
        if request.command in METHODS_WITH_BODY:
            raise Refused(400, "Bad Request")
        return b""
    values = {value.strip() for value in lengths}
    if len(values) != 1:
        raise Refused(400, "Bad Request")
    text = values.pop()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise Refused(400, "Bad Request")
    length = int(text)
    if length > MAX_PAYLOAD_BYTES:
        raise Refused(413, "Request Entity Too Large")
    return _read_exactly(request.rfile, length) if length else b""


class _ArrivalReader(io.RawIOBase):
    """The connection's bytes, each read bounded by the read timeout and by what is left of the
    current request's deadline: past it a read raises ``TimeoutError``, as a timed-out read does."""

    def __init__(self, connection: socket.socket, read_timeout_s: float) -> None:
        self._connection = connection
        self._read_timeout_s = read_timeout_s
        self.deadline: float | None = None
        """``time.monotonic()`` by which the request must have arrived whole; None while none is read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self._read_timeout_s
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("the request did not arrive whole within its deadline")
        self._connection.settimeout(timeout)
        try:
            return self._connection.recv_into(buffer)
        finally:
            # Answers are written with the read timeout, not with what was left of the deadline.
            self._connection.settimeout(self._read_timeout_s)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: Where the local stack serves each Lambda Function URL: ``/lambda-url/StartFunction/api/process/start``.
FUNCTION_URL_PREFIX = "/lambda-url/"
FUNCTION_URL_ROUTE_KEY = "$default"


def _joined(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers by lower-case name, a repeated one's values joined with commas, as API Gateway
    hands them to a function and as a SigV4 signer puts them in its canonical request."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def build_event(
    route_key: str,
    path_parameters: Mapping[str, str],
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    authorizer: dict[str, Any] | None = None,
    domain_name: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway (or a Function URL, whose events have the same format) would send for
    this request (payload format version 2.0). ``headers`` are the request's, in order, a name
    repeated as often as it came: API Gateway joins the values of a repeated header with commas."""
    now = datetime.now(UTC)
    lowered = _joined(headers)
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
        content_type = lowered.get("content-type", "").lower()
        # Text goes as text; anything else, and text that is not UTF-8, as base64: never altered.
        if content_type.startswith(TEXT_TYPES) and _is_utf8(body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


_BUSY_BODY = json.dumps({"message": "Too Many Requests"}).encode()
_BUSY = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


class _GatewayServer(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to the bound; beyond it, 429 at once from the accepting thread."""
        if not self._slots.acquire(blocking=False):
            _answer_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _answer_busy(connection: socket.socket) -> None:
    """429 without a thread and without waiting on the client: what has arrived of its request is
    read (so that closing does not reset the connection before the answer is read), then answered."""
    try:
        connection.setblocking(False)
        with contextlib.suppress(BlockingIOError, InterruptedError):
            connection.recv(65536)
        connection.settimeout(1.0)
        connection.sendall(_BUSY)
    except OSError:
        logger.debug("a client refused for want of a connection slot went away first")


class Gateway:
    def __init__(
        self,
        application: Application,
        pools: Mapping[str, FunctionPool],
        *,
        identity: LocalIdentity,
        host: str,
        port: int,
        read_timeout_s: float = READ_TIMEOUT_S,
        request_deadline_s: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.application = application
        self.pools = pools
        self.identity = identity
        #: The durable execution service and the functions it runs (the durable wait mode's start
        #: function): a route to one of them starts an execution and answers with its result.
        self.durable: DurableRunner | None = None
        self.durable_functions: frozenset[str] = frozenset()
        self._buckets = {route.route_key: TokenBucket(route.throttle) for route in application.routes if route.throttle}
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server sends headers and body in two writes: with Nagle on, a keep-alive client's
            # delayed ACK holds the body back ~40 ms. API Gateway has no such stall.
            disable_nagle_algorithm = True
            arrival: _ArrivalReader
            # Every read of the socket gives up after this long: a request line or headers that do not
            # come in time close the connection (http.server's own handling), a body is answered 408.
            timeout = read_timeout_s

            def setup(self) -> None:
                super().setup()
                self.arrival = _ArrivalReader(self.connection, read_timeout_s)
                self.rfile = io.BufferedReader(self.arrival)

            def handle_one_request(self) -> None:
                # The deadline runs from the wait for the request line: a kept-alive connection's idle
                # wait counts, and is bounded by the read timeout anyway.
                self.arrival.deadline = time.monotonic() + request_deadline_s
                try:
                    super().handle_one_request()
                finally:
                    self.arrival.deadline = None

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("%s %s", self.address_string(), format % args)

            def __getattr__(self, name: str) -> Any:
                # Every method, known or not (TRACE, PROPFIND, QUERY, …), goes to the router, which
                # answers 404 for a method no route has, as API Gateway does, not 501.
                if name.startswith("do_"):
                    return lambda: gateway.handle(self)
                raise AttributeError(name)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (a malformed request line, a line or headers too long)
                in API Gateway's JSON, not HTML."""
                self.close_connection = True
                # Before the request line is understood http.server takes the client for HTTP/0.9 and
                # would send a bare body; API Gateway answers HTTP/1.1 with a status line.
                self.request_version = "HTTP/1.1"
                try:
                    send(self, code, {"message": HTTPStatus(code).phrase}, [("Connection", "close")])
                except (OSError, ValueError):
                    logger.debug("could not answer %s: the client went away", code)

        self._server = _GatewayServer((host, port), Handler, max_connections)
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
        try:
            body = read_body(request)
        except Refused as refused:
            request.close_connection = True
            send(request, refused.status, {"message": refused.message}, [("Connection", "close")])
            return
        except BodyAborted:
            request.close_connection = True
            logger.info("%s %s: the body did not arrive whole; nothing invoked", request.command, parts.path)
            return
        if parts.path.startswith(FUNCTION_URL_PREFIX):
            self._handle_function_url(request, body)
            return
        found = self.application.route_for(request.command, parts.path)
        if found is None:
            send(request, 404, {"message": "Not Found"})
            return
        route, path_parameters = found
        bucket = self._buckets.get(route.route_key)
        if bucket is not None and not bucket.take():
            send(request, 429, {"message": "Too Many Requests"})
            return
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
            headers=request.headers.items(),
            body=body,
            source_ip=request.client_address[0],
            authorizer=authorizer,
        )
        self._invoke(request, route.function, event, started, throttled_status=500)

    def _invoke(
        self,
        request: BaseHTTPRequestHandler,
        function: str,
        event: dict[str, Any],
        started: float,
        *,
        throttled_status: int = 429,
    ) -> None:
        try:
            if self.durable is not None and function in self.durable_functions:
                result = self.durable.invoke(function, event)
            else:
                result = self.pools[function].invoke(event)
        except ColdStartsThrottled:
            # This machine's limit on cold starts at once, not Lambda's: "try again".
            send(request, 429, {"message": "Too Many Requests"})
            return
        except Throttled:
            # The function's concurrency is reached: API Gateway answers Lambda's throttle as an
            # integration failure, 500 (a Function URL answers it 429).
            status = HTTPStatus(throttled_status)
            send(request, status, {"message": status.phrase})
            return
        except NotReady:
            # Lambda's init phase has a limit; an environment past it answers as an unavailable service.
            send(request, 503, {"message": "Service Unavailable"})
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
                    request.command, url, _joined(request.headers.items()), body, service=FUNCTION_URL_SERVICE
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
            headers=request.headers.items(),
            body=body,
            source_ip=request.client_address[0],
            authorizer=authorizer,
            domain_name=f"{name.lower()}.lambda-url.{REGION}.on.aws",
        )
        self._invoke(request, name, event, started)

    def _authorize(self, route: Route, request: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any] | None:
        """What the route's authorizer adds to the event; raises Rejected as API Gateway refuses."""
        if route.auth == "JWT":
            return self.identity.verify_token(request.headers.get("Authorization"), route.scopes)
        if route.auth == "AWS_IAM":
            url = f"http://{request.headers.get('Host', 'localhost')}{request.path}"
            return self.identity.verify_signature(request.command, url, _joined(request.headers.items()), body)
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
