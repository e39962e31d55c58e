"""The Waitroom client for asyncio, over ``httpx`` (``pip install 'waitroom-client[async]'``).

:class:`AsyncWaitroom` has the calls of :class:`~waitroom_client.Waitroom`, awaited, and follows
the same rules (:mod:`waitroom_client.protocol`): the same retries, timeouts and errors, the same
SigV4 signing. Example::

    async with AsyncWaitroom("http://127.0.0.1:8080", token=token) as client:
        process = await client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"}, wait=60)
        print(process.data)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("the async client needs httpx: pip install 'waitroom-client[async]'") from exc

from waitroom_client.auth import SigV4
from waitroom_client.durations import Duration
from waitroom_client.models import Process, ProcessStatus
from waitroom_client.protocol import (
    DEFAULT_RUN_WAIT_S,
    Answer,
    Calls,
    FunctionUrls,
    NoAnswer,
    Outcome,
    Pause,
    Progress,
    Retry,
    Send,
    Steps,
)

__all__ = ["AsyncWaitroom"]

T = TypeVar("T")

#: No connection was made, so nothing was sent.
_NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: The request may have been sent, and no answer came.
_LOST = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class AsyncWaitroom(Calls):
    """A client of one Waitroom API, for asyncio: the calls of :class:`~waitroom_client.Waitroom`,
    awaited (``list`` is an async iterator). ``session`` is an ``httpx.AsyncClient`` to share."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | Callable[[], str] | None = None,
        sigv4: SigV4 | None = None,
        function_urls: FunctionUrls | None = None,
        retry: Retry | None = None,
        session: httpx.AsyncClient | None = None,
        connect_timeout: Duration = 5.0,
        read_timeout: Duration = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            sigv4=sigv4,
            function_urls=function_urls,
            retry=retry,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            clock=clock,
            rng=rng,
        )
        self.session = session or httpx.AsyncClient()
        self._sleep = sleep

    async def __aenter__(self) -> AsyncWaitroom:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    # --- the calls -------------------------------------------------------------------------------

    async def run(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        wait: Duration = DEFAULT_RUN_WAIT_S,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Process:
        """As :meth:`Waitroom.run <waitroom_client.Waitroom.run>`: the process once ``DONE``, or the
        error of its outcome."""
        return await self._perform(
            self._run(process_key, variables, correlation_id=correlation_id, wait=wait, on_progress=on_progress)
        )

    async def start(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        wait: Duration | None = None,
        fetch_variables: Sequence[str] | None = None,
    ) -> Process:
        """One start: the process as answered, whatever its state."""
        return await self._perform(
            self._start(
                process_key, variables, correlation_id=correlation_id, wait=wait, fetch_variables=fetch_variables
            )
        )

    async def status(self, correlation_id: str, *, wait: Duration | None = None, history: bool = False) -> Process:
        """The process now, or once it ends if that happens within ``wait``."""
        return await self._perform(self._status(correlation_id, wait=wait, history=history))

    async def cancel(self, correlation_id: str, reason: str | None = None) -> Process:
        """Cancel a running process (again ``CANCELLED`` if it already was)."""
        return await self._perform(self._cancel(correlation_id, reason))

    async def complete(
        self, correlation_id: str, *, data: Any = None, error: str | Mapping[str, Any] | None = None
    ) -> Process:
        """Finish a process as ``DONE`` with ``data``, or as ``ERROR`` with ``error`` (SigV4-signed)."""
        return await self._perform(self._complete(correlation_id, data=data, error=error))

    async def list(
        self,
        *,
        status: ProcessStatus | str | None = None,
        process_key: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Process]:
        """Every process the caller may see, newest first, following the pages as they are read."""
        query = self._list_query(
            status=status,
            process_key=process_key,
            started_after=started_after,
            started_before=started_before,
            page_size=page_size,
        )
        while True:
            processes, cursor = await self._perform(self._page(query))
            for process in processes:
                yield process
            if cursor is None:
                return
            query["cursor"] = cursor

    # --- transport -------------------------------------------------------------------------------

    async def _perform(self, steps: Steps[T]) -> T:
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, Pause):
                await self._sleep(step.seconds)
                outcome = None
            else:
                outcome = await self._send(step)

    async def _send(self, step: Send) -> Answer | NoAnswer:
        timeout = httpx.Timeout(step.read_timeout_s, connect=step.connect_timeout_s)
        try:
            response = await self.session.request(
                step.method, step.url, content=step.content or None, headers=step.headers, timeout=timeout
            )
        except _NOT_CONNECTED as refused:
            return NoAnswer(connected=False, error=refused)
        except _LOST as lost:
            return NoAnswer(connected=True, error=lost)
        return Answer(response.status_code, response.headers, response.content)
