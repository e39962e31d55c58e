"""The Python client's two transports over real sockets: ``Waitroom`` (requests) and
``AsyncWaitroom`` (httpx) send the same requests, retry the same way, and honour the same timeouts,
against a scripted HTTP server, a server that never answers, and a port where nothing listens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests

from tests.support.scripted_http import Scripted, ScriptedServer, SilentServer, refusing_url
from waitroom_client import AsyncWaitroom, Process, Retry, TransportError, Unavailable, Waitroom

PENDING = {
    "correlationId": "c-1",
    "processKey": "onboard-user",
    "status": "PENDING",
    "startedAt": "2026-01-01T00:00:00+00:00",
    "updatedAt": "2026-01-01T00:00:00+00:00",
}
DONE = {**PENDING, "status": "DONE", "data": {"accountId": "acct-1"}}
BUSY = Scripted(
    503, {"status": 503, "code": "CAMUNDA_UNAVAILABLE", "title": "Service Unavailable"}, {"Retry-After": "1"}
)

#: A call on a client of either kind: the sync one's result, or the async one's, awaited.
Call = Callable[[Any], Any]


def on_sync(url: str, call: Call, pauses: list[float], **options: Any) -> Any:
    with Waitroom(url, token="t", sleep=pauses.append, **options) as client:
        return call(client)


def on_async(url: str, call: Call, pauses: list[float], **options: Any) -> Any:
    async def record(seconds: float) -> None:
        pauses.append(seconds)

    async def main() -> Any:
        async with AsyncWaitroom(url, token="t", sleep=record, **options) as client:
            result = call(client)
            return await result if isinstance(result, Awaitable) else result

    return asyncio.run(main())


CLIENTS = pytest.mark.parametrize("perform", [on_sync, on_async], ids=["sync", "async"])


@CLIENTS
def test_a_wait_in_seconds_a_503_retried_after_its_retry_after_and_the_result(perform: Callable[..., Any]) -> None:
    pauses: list[float] = []
    with ScriptedServer(BUSY, Scripted(200, DONE)) as server:
        process = perform(server.url, lambda client: client.run("onboard-user", {"x": 1}, wait=30), pauses)
    assert isinstance(process, Process)
    assert process.data == {"accountId": "acct-1"}
    first, second = server.received
    assert (first.method, first.path, first.headers["prefer"]) == ("POST", "/api/process/start", "wait=25")
    assert first.headers["authorization"] == "Bearer t"
    assert second.body == first.body, "the same start, with the same correlation id"
    assert json.loads(first.body)["variables"] == {"x": 1}
    assert len(pauses) == 1 and 1.0 <= pauses[0] <= 1.2, "Retry-After, stretched by at most 20 %"


@CLIENTS
def test_a_503_on_every_attempt_is_raised_after_the_last(perform: Callable[..., Any]) -> None:
    pauses: list[float] = []
    with ScriptedServer(BUSY) as server, pytest.raises(Unavailable) as raised:
        perform(server.url, lambda client: client.status("c-1", wait=timedelta(0)), pauses, retry=Retry(attempts=3))
    assert raised.value.code == "CAMUNDA_UNAVAILABLE"
    assert len(server.received) == 3
    assert server.received[0].headers["prefer"] == "respond-async"


@CLIENTS
def test_a_refused_connection_is_tried_three_times_then_raised(perform: Callable[..., Any]) -> None:
    pauses: list[float] = []
    with pytest.raises(TransportError, match="no connection after 3 attempts") as raised:
        perform(refusing_url(), lambda client: client.status("c-1"), pauses)
    assert isinstance(raised.value.__cause__, requests.ConnectionError | httpx.ConnectError)
    assert len(pauses) == 2
    assert sum(pauses) <= 1.5


@CLIENTS
def test_a_server_that_never_answers_is_left_after_the_read_timeout(perform: Callable[..., Any]) -> None:
    pauses: list[float] = []
    with SilentServer() as server, pytest.raises(TransportError, match="no answer after 2 attempts") as raised:
        perform(
            server.url,
            lambda client: client.status("c-1", wait=0),
            pauses,
            read_timeout=0.2,
            retry=Retry(attempts=2, base_s=0.01),
        )
    assert isinstance(raised.value.__cause__, requests.ReadTimeout | httpx.ReadTimeout)
    assert len(pauses) == 1


def test_both_clients_send_the_same_requests() -> None:
    sent: dict[str, list[tuple[str, str, str | None, bytes]]] = {}

    def run(client: Any) -> Any:
        return client.run("onboard-user", {"userId": "u1"}, correlation_id="c-1", wait=timedelta(seconds=8))

    for perform in (on_sync, on_async):
        with ScriptedServer(Scripted(202, PENDING, {"Retry-After": "1"}), Scripted(200, DONE)) as server:
            perform(
                server.url,
                lambda client: client.run(
                    "onboard-user", {"userId": "u1"}, correlation_id="c-1", wait=timedelta(seconds=8)
                ),
                [],
            )
        sent[perform.__name__] = [
            (received.method, received.path, received.headers.get("prefer"), received.body)
            for received in server.received
        ]
    assert sent["on_sync"] == sent["on_async"]
    assert [(method, path) for method, path, _, _ in sent["on_sync"]] == [
        ("POST", "/api/process/start"),
        ("GET", "/api/process/status/c-1"),
    ]


def test_the_async_list_follows_every_page() -> None:
    pages = [
        Scripted(200, {"items": [PENDING], "nextCursor": "p2"}),
        Scripted(200, {"items": [DONE], "nextCursor": None}),
    ]

    async def listed(client: AsyncWaitroom) -> list[str]:
        return [process.status async for process in client.list(page_size=1)]

    with ScriptedServer(*pages) as server:
        statuses = on_async(server.url, listed, [])
    assert statuses == ["PENDING", "DONE"]
    assert [received.path for received in server.received] == [
        "/api/process/status/all?limit=1",
        "/api/process/status/all?limit=1&cursor=p2",
    ]
