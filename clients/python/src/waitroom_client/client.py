"""The Waitroom client: start a process and get its result, however long it takes.

The rules (what is sent, when it is sent again, what the answers mean) are in
:mod:`waitroom_client.protocol`; this module performs them with ``requests``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from waitroom_client.auth import SigV4
from waitroom_client.durations import Duration
from waitroom_client.models import Process, ProcessStatus
from waitroom_client.protocol import (
    DEFAULT_RUN_WAIT_S,
    FUNCTION_URL_WAIT,
    GATEWAY_WAIT,
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
    new_correlation_id,
    retry_after_s,
)

__all__ = [
    "FUNCTION_URL_WAIT",
    "GATEWAY_WAIT",
    "FunctionUrls",
    "Progress",
    "Retry",
    "Waitroom",
    "new_correlation_id",
    "retry_after_s",
]

T = TypeVar("T")


class Waitroom(Calls):
    """A client of one Waitroom API, over ``requests``.

    ``token`` (a JWT, or a function returning a fresh one) authenticates the client routes;
    ``sigv4`` signs ``/complete`` and the Function URLs. Durations (``wait``, ``connect_timeout``,
    ``read_timeout``) take seconds or a ``timedelta``. Example::

        with Waitroom("http://127.0.0.1:8080", token=token) as client:
            process = client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"}, wait=60)
            print(process.data)
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | Callable[[], str] | None = None,
        sigv4: SigV4 | None = None,
        function_urls: FunctionUrls | None = None,
        retry: Retry | None = None,
        session: requests.Session | None = None,
        connect_timeout: Duration = 5.0,
        read_timeout: Duration = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
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
        self.session = session or requests.Session()
        self._sleep = sleep

    def __enter__(self) -> Waitroom:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # --- the calls -------------------------------------------------------------------------------

    def run(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        wait: Duration = DEFAULT_RUN_WAIT_S,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Process:
        """Start the process and return it once it is ``DONE`` (its result in ``.data``).

        Follows a 202 by waiting on the status (``Prefer: wait``, long polling) until ``wait`` has
        passed; never asks again sooner than the 202's ``Retry-After`` after its previous call.
        Raises :class:`ProcessFailed` (ERROR, with the process's error code),
        :class:`ProcessCancelled`, :class:`WaitTimedOut` (still running: it goes on), or the
        :class:`ApiError` of a refused request.
        """
        return self._perform(
            self._run(process_key, variables, correlation_id=correlation_id, wait=wait, on_progress=on_progress)
        )

    def start(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        wait: Duration | None = None,
        fetch_variables: Sequence[str] | None = None,
    ) -> Process:
        """One start: the process as answered (``DONE``, ``CANCELLED``, ``ERROR`` or still
        ``PENDING``). ``wait`` bounds how long the server holds the call (zero: not at all; None:
        the server's own limit)."""
        return self._perform(
            self._start(
                process_key, variables, correlation_id=correlation_id, wait=wait, fetch_variables=fetch_variables
            )
        )

    def status(self, correlation_id: str, *, wait: Duration | None = None, history: bool = False) -> Process:
        """The process now, or once it ends if that happens within ``wait``."""
        return self._perform(self._status(correlation_id, wait=wait, history=history))

    def cancel(self, correlation_id: str, reason: str | None = None) -> Process:
        """Cancel a running process (again ``CANCELLED`` if it already was)."""
        return self._perform(self._cancel(correlation_id, reason))

    def complete(
        self, correlation_id: str, *, data: Any = None, error: str | Mapping[str, Any] | None = None
    ) -> Process:
        """For the steps of a process: finish it as ``DONE`` with ``data``, or as ``ERROR`` with
        ``error``. SigV4-signed (``sigv4`` is required); repeating the same report is harmless."""
        return self._perform(self._complete(correlation_id, data=data, error=error))

    def list(
        self,
        *,
        status: ProcessStatus | str | None = None,
        process_key: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[Process]:
        """Every process the caller may see, newest first, following the pages as they are read."""
        query = self._list_query(
            status=status,
            process_key=process_key,
            started_after=started_after,
            started_before=started_before,
            page_size=page_size,
        )
        while True:
            processes, cursor = self._perform(self._page(query))
            yield from processes
            if cursor is None:
                return
            query["cursor"] = cursor

    # --- transport -------------------------------------------------------------------------------

    def _perform(self, steps: Steps[T]) -> T:
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, Pause):
                self._sleep(step.seconds)
                outcome = None
            else:
                outcome = self._send(step)

    def _send(self, step: Send) -> Answer | NoAnswer:
        try:
            response = self.session.request(
                step.method,
                step.url,
                data=step.content or None,
                headers=step.headers,
                timeout=(step.connect_timeout_s, step.read_timeout_s),
            )
        except (requests.ConnectionError, requests.Timeout) as lost:
            return NoAnswer(connected=not _not_connected(lost), error=lost)
        return Answer(response.status_code, response.headers, response.content)


def _not_connected(error: requests.RequestException) -> bool:
    """Whether the connection was never made (refused, unresolved, connect timeout): nothing was sent."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)
