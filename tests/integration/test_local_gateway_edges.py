"""The local gateway at its edges, spoken to over raw sockets as a hostile client would: it answers
as API Gateway does (JSON ``{"message"}``), never hangs on a client, never hands a function a body
that did not arrive whole, and never lets slow clients hold every thread."""

from __future__ import annotations

import itertools
import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.functions import FunctionPool, NotReady
from devstack.gateway import Gateway
from devstack.stack import LocalSettings, LocalStack
from devstack.template import Function
from tests.support.refusals import assert_refused
from tests.support.stacks import run_stack

#: The longest any answer here may take; the gateways under test time reads out after 1 s.
ANSWER_WITHIN_S = 15


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalSettings(data_dir=tmp_path_factory.mktemp("edges"), engine_port=0, concurrency=1, schedules=False)
    with run_stack(local, {"DATABASE_URL": None}) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(stack: LocalStack) -> Iterator[Gateway]:
    """A second gateway over the stack's functions, with a short read timeout and few connections."""
    edge = Gateway(
        stack.application,
        stack.pools,
        identity=stack.identity,
        host="127.0.0.1",
        port=0,
        read_timeout_s=1.0,
        max_connections=4,
    ).start()
    yield edge
    edge.stop()


def address(gateway: Gateway) -> tuple[str, int]:
    host, port = gateway.url.removeprefix("http://").split(":")
    return host, int(port)


def connect(gateway: Gateway) -> socket.socket:
    connection = socket.create_connection(address(gateway), timeout=ANSWER_WITHIN_S)
    connection.settimeout(ANSWER_WITHIN_S)
    return connection


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The whole answer until the server closes or its Content-Length is read; (0, {}, b"") for none."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return 0, {}, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def exchange(gateway: Gateway, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(gateway) as connection:
        connection.sendall(raw)
        return read_answer(connection)


def api_gateway_message(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert headers.get("content-type") == "application/json", (status, headers, body)
    return assert_refused(status, json.loads(body), expected).message


def token(stack: LocalStack) -> str:
    return stack.identity.issue("edge-tester")


def start_request(stack: LocalStack, body: bytes, *, length: str | None, extra: str = "") -> bytes:
    head = (
        "POST /api/process/start HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token(stack)}\r\nPrefer: respond-async\r\n{extra}"
    )
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode() + body


def status_of(stack: LocalStack, correlation_id: str) -> int:
    headers = {"Authorization": f"Bearer {token(stack)}"}
    return requests.get(f"{stack.url}/api/process/status/{correlation_id}", headers=headers, timeout=30).status_code


# --- Content-Length ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "extra"),
    [
        ("abc", ""),
        ("-1", ""),
        ("1e3", ""),
        ("+12", ""),
        (None, ""),
        ("12", "Content-Length: 13\r\n"),
        ("12", "Transfer-Encoding: chunked\r\n"),
    ],
    ids=["letters", "negative", "exponent", "plus-sign", "missing", "contradicted", "with-chunked"],
)
def test_a_bad_or_missing_content_length_is_400(
    stack: LocalStack, gateway: Gateway, length: str | None, extra: str
) -> None:
    body = b'{"processKey":"onboard-user","correlationId":"len-1"}'
    status, headers, answer = exchange(gateway, start_request(stack, body, length=length, extra=extra))
    api_gateway_message(status, headers, answer, 400)
    assert status_of(stack, "len-1") == 404, "nothing reached the function"


def test_a_chunked_body_is_read_whole(stack: LocalStack, gateway: Gateway) -> None:
    body = b'{"processKey":"onboard-user","correlationId":"chunked-1"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    status, _, answer = exchange(
        gateway, start_request(stack, chunks, length=None, extra="Transfer-Encoding: chunked\r\n")
    )
    assert status == 202, answer


# --- bodies that do not arrive ------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_never_reaches_the_function(stack: LocalStack, gateway: Gateway) -> None:
    body = b'{"processKey":"onboard-user","correlationId":"aborted-1"}'
    with connect(gateway) as connection:
        connection.sendall(start_request(stack, body, length=str(len(body) + 10)))
        connection.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        status, _, _ = read_answer(connection)
    assert status == 0, "nothing is answered to a client that left"
    assert status_of(stack, "aborted-1") == 404, "and the function never saw the body"


def test_a_body_that_stops_coming_is_408_after_the_read_timeout(stack: LocalStack, gateway: Gateway) -> None:
    body = b'{"processKey":"onboard-user","correlationId":"slow-body-1"}'
    began = time.monotonic()
    with connect(gateway) as connection:
        connection.sendall(start_request(stack, body, length=str(len(body) + 10)))
        status, headers, answer = read_answer(connection)
    assert time.monotonic() - began < ANSWER_WITHIN_S
    api_gateway_message(status, headers, answer, 408)
    assert status_of(stack, "slow-body-1") == 404


# --- methods, routes and malformed requests ------------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "QUERY", "BREW", "DELETE"])
def test_a_method_no_route_has_is_404_as_api_gateway_answers(gateway: Gateway, method: str) -> None:
    raw = f"{method} /api/process/start HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n".encode()
    status, headers, answer = exchange(gateway, raw)
    assert api_gateway_message(status, headers, answer, 404) == "Not Found"


def test_an_unknown_route_is_404_json(gateway: Gateway) -> None:
    status, headers, answer = exchange(gateway, b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert api_gateway_message(status, headers, answer, 404) == "Not Found"


@pytest.mark.parametrize("line", [b"GET / HTTP/1.1 extra", b"GARBAGE", b"GET / HTTP/one"])
def test_a_malformed_request_line_is_answered_in_json(gateway: Gateway, line: bytes) -> None:
    status, headers, answer = exchange(gateway, line + b"\r\nHost: localhost\r\n\r\n")
    api_gateway_message(status, headers, answer, 400)


def test_invalid_utf8_is_refused_not_replaced(stack: LocalStack, gateway: Gateway) -> None:
    body = b'{"processKey":"onboard-user","correlationId":"utf8-1","variables":{"name":"\xff\xfe"}}'
    status, _, answer = exchange(gateway, start_request(stack, body, length=str(len(body))))
    assert_refused(status, json.loads(answer), 400, field="body")
    assert status_of(stack, "utf8-1") == 404, "nothing was stored"


# --- how many at once ---------------------------------------------------------------------------


def test_slow_clients_cannot_hold_every_connection(stack: LocalStack, gateway: Gateway) -> None:
    idle = [connect(gateway) for _ in range(4)]
    try:
        for connection in idle:
            connection.sendall(b"GET /api/process/status/all HTTP/1.1\r\n")  # and never the rest
        time.sleep(0.2)
        status, headers, answer = exchange(gateway, b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert api_gateway_message(status, headers, answer, 429) == "Too Many Requests"
    finally:
        for connection in idle:
            connection.close()
    # The slots come back once those clients are gone (or timed out).
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while True:
        status, _, _ = exchange(gateway, b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
        if status == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 404


class Trickler(threading.Thread):
    """A client that sends ``head``, then one byte of ``drip`` every 0.2 s, faster than any read
    times out, for as long as the gateway lets it; ``answer`` is what it got when cut off (``b""``:
    the connection was closed), None if it never was."""

    def __init__(self, gateway: Gateway, head: bytes, drip: bytes) -> None:
        super().__init__(daemon=True)
        self.gateway, self.head, self.drip = gateway, head, drip
        self.connected = threading.Event()
        self.answer: bytes | None = None

    def run(self) -> None:
        with connect(self.gateway) as connection:
            connection.sendall(self.head)
            self.connected.set()
            connection.settimeout(0.2)
            ends = time.monotonic() + 2 * ANSWER_WITHIN_S
            for byte in itertools.cycle(self.drip):
                if time.monotonic() > ends:
                    return
                try:
                    connection.sendall(bytes([byte]))
                    self.answer = connection.recv(65536)
                    return
                except TimeoutError:
                    continue
                except OSError:
                    self.answer = b""
                    return


def test_a_request_that_trickles_in_is_cut_off_at_its_deadline_and_frees_its_connection(stack: LocalStack) -> None:
    """Every read comes in time, but the request never ends: its head or body is cut off at the
    request's deadline, so trickling clients cannot keep the others at 429."""
    edge = Gateway(
        stack.application,
        stack.pools,
        identity=stack.identity,
        host="127.0.0.1",
        port=0,
        read_timeout_s=1.0,
        request_deadline_s=2.0,
        max_connections=2,
    ).start()
    try:
        tricklers = [
            Trickler(edge, b"GET /api/process/status/all HTTP/1.1\r\nX-Slow: ", b"abcdef"),
            Trickler(edge, start_request(stack, b"", length="100000"), b'{"a":1}'),
        ]
        for trickler in tricklers:
            trickler.start()
            assert trickler.connected.wait(ANSWER_WITHIN_S)
        # Both connections are taken by clients still sending (for twice this long at least): another
        # is served once they are cut.
        ends = time.monotonic() + ANSWER_WITHIN_S
        while (status := exchange(edge, b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")[0]) == 429:
            assert time.monotonic() < ends, "the trickling clients kept every connection"
            time.sleep(0.1)
        assert status == 404
        for trickler in tricklers:
            trickler.join(2 * ANSWER_WITHIN_S)
        head, body = (trickler.answer for trickler in tricklers)
        assert head == b"", "a head that does not end is closed, as http.server closes a timed-out one"
        assert body is not None and body.startswith(b"HTTP/1.1 408 "), body
    finally:
        edge.stop()


def test_a_repeated_header_reaches_the_function_joined_with_commas(stack: LocalStack, gateway: Gateway) -> None:
    """As API Gateway joins them: the first Prefer (respond-async) is not lost to the second."""
    body = b'{"processKey":"onboard-user","correlationId":"prefer-twice-1"}'
    raw = start_request(stack, body, length=str(len(body)), extra="Prefer: wait=1\r\n")
    assert raw.count(b"\r\nPrefer: ") == 2
    status, headers, answer = exchange(gateway, raw)
    assert status == 202, answer
    assert headers["preference-applied"] == "respond-async"


# --- environments that do not start ------------------------------------------------------------


def test_an_environment_that_does_not_start_in_time_is_not_waited_for(tmp_path: Path) -> None:
    code = tmp_path / "slow"
    code.mkdir()
    (code / "app.py").write_text(
        textwrap.dedent(
            """
            import time
            time.sleep(60)

            def lambda_handler(event, context):
                return {"statusCode": 200, "body": "late"}
            """
        )
    )
    function = Function(
        name="slow", code_dir=code, handler="app.lambda_handler", timeout_s=5, schedule=None, environment={}
    )
    pool = FunctionPool(function, size=0, max_size=1, environment={}, init_timeout_s=1.0)
    try:
        began = time.monotonic()
        with pytest.raises(NotReady):
            pool.invoke({})
        assert time.monotonic() - began < ANSWER_WITHIN_S
    finally:
        pool.close()


# --- what the document says of API Gateway's own answers --------------------------------------


def test_the_document_describes_the_bodies_api_gateway_answers(stack: LocalStack, gateway: Gateway) -> None:
    """401 (no token), 403 (no signature) and 429 (no slot) as clients get them match the document."""
    api_schema = schemathesis.openapi.from_url(f"{stack.url}/api/process/openapi.json")
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    start = api_schema["/api/process/start"]["POST"].Case(body={"processKey": "onboard-user"})
    unauthorized = start.call(base_url=stack.url, timeout=30)
    assert unauthorized.status_code == 401
    start.validate_response(unauthorized, checks=checks)

    complete = api_schema["/api/process/complete"]["POST"].Case(body={"correlationId": "x", "status": "ok"})
    forbidden = complete.call(base_url=stack.url, timeout=30)
    assert forbidden.status_code == 403
    complete.validate_response(forbidden, checks=checks)

    idle = [connect(gateway) for _ in range(4)]
    try:
        for connection in idle:
            connection.sendall(b"GET /api/process/status/all HTTP/1.1\r\n")
        time.sleep(0.2)
        throttled = start.call(base_url=gateway.url, timeout=30)
    finally:
        for connection in idle:
            connection.close()
    assert throttled.status_code == 429
    start.validate_response(throttled, checks=checks)
