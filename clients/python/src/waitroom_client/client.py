"""The Waitroom client: start a process and get its result, however long it takes.

One rule makes retries safe: the correlation id of a start is fixed before its first attempt. A
start whose answer was lost (a reset connection, a read timeout, a 503) is sent again with the
same id, the same key and the same variables, which Waitroom treats as the same request: it joins
the process started the first time and never starts a second one.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests

from waitroom_client.auth import API_GATEWAY_SERVICE, FUNCTION_URL_SERVICE, SigV4
from waitroom_client.errors import (
    ApiError,
    BadGateway,
    ProcessCancelled,
    ProcessFailed,
    TransportError,
    WaitTimedOut,
    error_for,
)
from waitroom_client.models import Process, ProcessStatus

#: The longest one call waits through API Gateway: the gateway cuts every call at 30 s and the
#: server answers 202 before that (its SYNC_TIMEOUT_MS, 25 s by default).
GATEWAY_WAIT = timedelta(seconds=25)
#: The longest one call waits through a Function URL: the server's maximum is at most 14 minutes.
FUNCTION_URL_WAIT = timedelta(minutes=14)
#: Time allowed on top of the wait for the answer itself to arrive.
READ_SLACK_S = 15.0
#: Answers that say "the same request may succeed later".
RETRIED_STATUSES = frozenset({429, 503, 504})
#: A 502 after which the process may be running; the same start again joins it.
START_UNCONFIRMED = "CAMUNDA_START_UNCONFIRMED"


@dataclass(frozen=True)
class Retry:
    """When a call is sent again: after 429, 503, 504 or a lost answer, up to ``attempts`` times.

    The pause honours ``Retry-After`` when the answer has one, stretched by up to ``jitter`` (a
    fraction) so that clients turned away together do not return together; without it, the pause
    doubles from ``base_s`` up to ``cap_s``, with "equal jitter" (half fixed, half random).
    """

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    jitter: float = 0.2

    def pause_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        if retry_after_s is not None:
            return retry_after_s * (1 + rng.uniform(0, self.jitter))
        backoff = min(self.cap_s, self.base_s * 2.0**attempt)
        return backoff / 2 + rng.uniform(0, backoff / 2)


@dataclass(frozen=True)
class FunctionUrls:
    """The Lambda Function URLs of the start and status functions (template parameter
    ``LongWaits``): calls through them may wait up to the server's ``LONG_WAIT_MAX_MS`` instead of
    API Gateway's 30 s. They take SigV4 signatures (service ``lambda``), not tokens."""

    start: str
    status: str
    max_wait: timedelta = FUNCTION_URL_WAIT


@dataclass(frozen=True)
class Progress:
    """What :meth:`Waitroom.run` reports before each call it makes."""

    correlation_id: str
    status: ProcessStatus | None
    """The process's status as last answered (None before the first answer)."""
    elapsed_s: float
    remaining_s: float
    attempt: int


class Waitroom:
    """A client of one Waitroom API.

    ``token`` (a JWT, or a function returning a fresh one) authenticates the client routes;
    ``sigv4`` signs ``/complete`` and the Function URLs. Example::

        client = Waitroom("http://127.0.0.1:8080", token=token)
        process = client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"})
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
        connect_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if function_urls is not None and sigv4 is None:
            raise ValueError("Function URLs take SigV4 signatures: pass sigv4=SigV4(...)")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.sigv4 = sigv4
        self.function_urls = function_urls
        self.retry = retry or Retry()
        self.session = session or requests.Session()
        self.connect_timeout_s = connect_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography

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
        wait: timedelta = timedelta(minutes=1),
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Process:
        """Start the process and return it once it is ``DONE`` (its result in ``.data``).

        Follows a 202 by waiting on the status (``Prefer: wait``, long polling) until ``wait`` has
        passed; never asks again sooner than the 202's ``Retry-After`` after its previous call.
        Raises :class:`ProcessFailed` (ERROR, with the process's error code),
        :class:`ProcessCancelled`, :class:`WaitTimedOut` (still running: it goes on), or the
        :class:`ApiError` of a refused request.
        """
        correlation_id = correlation_id or new_correlation_id()
        began = self._clock()
        deadline = began + wait.total_seconds()
        process: Process | None = None
        attempt = 0
        while True:
            remaining = deadline - self._clock()
            if process is not None and remaining <= 0:
                raise WaitTimedOut(process, "WAIT_TIMED_OUT", f"still {process.status} after {wait}")
            if on_progress is not None:
                status = None if process is None else process.status
                elapsed = self._clock() - began
                on_progress(Progress(correlation_id, status, elapsed, max(0.0, remaining), attempt))
            attempt += 1
            sent_at = self._clock()
            call_wait = timedelta(seconds=max(0.0, remaining))
            if process is None:
                try:
                    process = self.start(process_key, variables, correlation_id=correlation_id, wait=call_wait)
                except BadGateway as error:
                    if error.code != START_UNCONFIRMED:
                        raise
                    # The process may be running: read it like any pending one.
                    process = self.status(correlation_id, wait=call_wait)
            else:
                process = self.status(correlation_id, wait=call_wait)
            if process.finished:
                return _outcome(process)
            retry_after = process.retry_after_s or 0.0
            pause = retry_after * (1 + self._rng.uniform(0, self.retry.jitter)) - (self._clock() - sent_at)
            if pause > 0:
                self._sleep(min(pause, max(0.0, deadline - self._clock())))

    def start(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        wait: timedelta | None = None,
        fetch_variables: Sequence[str] | None = None,
    ) -> Process:
        """One start: the process as answered (``DONE``, ``CANCELLED``, ``ERROR`` or still
        ``PENDING``). ``wait`` bounds how long the server holds the call (zero: not at all)."""
        body: dict[str, Any] = {
            "processKey": process_key,
            "correlationId": correlation_id or new_correlation_id(),
            "variables": dict(variables or {}),
        }
        if fetch_variables is not None:
            body["fetchVariables"] = list(fetch_variables)
        base, service = self._entry("start")
        return self._process_call("POST", f"{base}/api/process/start", body=body, wait=wait, service=service)

    def status(self, correlation_id: str, *, wait: timedelta | None = None, history: bool = False) -> Process:
        """The process now, or once it ends if that happens within ``wait``."""
        base, service = self._entry("status")
        url = f"{base}/api/process/status/{quote(correlation_id, safe='')}"
        if history:
            url += "?history=true"
        return self._process_call("GET", url, wait=wait, service=service)

    def cancel(self, correlation_id: str, reason: str | None = None) -> Process:
        """Cancel a running process (again ``CANCELLED`` if it already was)."""
        body: dict[str, Any] = {"correlationId": correlation_id}
        if reason is not None:
            body["reason"] = reason
        return self._process_call("POST", f"{self.base_url}/api/process/cancel", body=body)

    def complete(
        self, correlation_id: str, *, data: Any = None, error: str | Mapping[str, Any] | None = None
    ) -> Process:
        """For the steps of a process: finish it as ``DONE`` with ``data``, or as ``ERROR`` with
        ``error``. SigV4-signed (``sigv4`` is required); repeating the same report is harmless."""
        if self.sigv4 is None:
            raise ValueError("complete is IAM-signed: pass sigv4=SigV4(...)")
        body: dict[str, Any] = {"correlationId": correlation_id, "status": "ok" if error is None else "error"}
        if data is not None:
            body["data"] = data
        if error is not None:
            body["error"] = error if isinstance(error, str) else dict(error)
        return self._process_call(
            "POST", f"{self.base_url}/api/process/complete", body=body, service=API_GATEWAY_SERVICE
        )

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
        query: dict[str, str] = {"limit": str(page_size)}
        if status is not None:
            query["status"] = str(status)
        if process_key is not None:
            query["processKey"] = process_key
        if started_after is not None:
            query["startedAfter"] = started_after.isoformat()
        if started_before is not None:
            query["startedBefore"] = started_before.isoformat()
        base, service = self._entry("status")
        while True:
            response = self._call("GET", f"{base}/api/process/status/all?{urlencode(query)}", service=service)
            page = response.json()
            for item in page.get("items") or []:
                yield Process.from_json(item)
            cursor = page.get("nextCursor")
            if not cursor:
                return
            query["cursor"] = str(cursor)

    # --- transport -------------------------------------------------------------------------------

    def _entry(self, function: str) -> tuple[str, str | None]:
        """Where a start or status call goes: its Function URL (signed for ``lambda``) if given."""
        if self.function_urls is None:
            return self.base_url, None
        url = self.function_urls.start if function == "start" else self.function_urls.status
        return url.rstrip("/"), FUNCTION_URL_SERVICE

    def _longest_wait(self, service: str | None) -> timedelta:
        if service == FUNCTION_URL_SERVICE and self.function_urls is not None:
            return self.function_urls.max_wait
        return GATEWAY_WAIT

    def _process_call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        wait: timedelta | None = None,
        service: str | None = None,
    ) -> Process:
        response = self._call(method, url, body=body, wait=wait, service=service)
        retry_after = retry_after_s(response.headers.get("Retry-After")) if response.status_code == 202 else None
        return Process.from_json(response.json(), retry_after_s=retry_after)

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        wait: timedelta | None = None,
        service: str | None = None,
    ) -> requests.Response:
        """Send, and send again after 429/503/504 or a lost answer; return a 2xx, or a 500 that
        carries a process in ERROR; raise the typed error of any other answer."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        read_timeout_s = READ_SLACK_S
        prefer = None
        if wait is not None:
            seconds = int(min(wait, self._longest_wait(service)).total_seconds())
            prefer = f"wait={seconds}" if seconds > 0 else "respond-async"
            read_timeout_s += seconds
        else:
            read_timeout_s += self._longest_wait(service).total_seconds()
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            headers = self._headers(method, url, payload, prefer=prefer, service=service)
            try:
                response = self.session.request(
                    method,
                    url,
                    data=payload or None,
                    headers=headers,
                    timeout=(self.connect_timeout_s, read_timeout_s),
                )
            except (requests.ConnectionError, requests.Timeout) as lost:
                if last:
                    raise TransportError(f"{method} {url}: no answer after {self.retry.attempts} attempts") from lost
                self._sleep(self.retry.pause_s(attempt, None, self._rng))
                continue
            if response.status_code < 300 or _carries_process(response):
                return response
            retry_after = retry_after_s(response.headers.get("Retry-After"))
            error = error_for(response.status_code, _json_or_none(response), retry_after)
            if last or not _worth_retrying(error):
                raise error
            self._sleep(self.retry.pause_s(attempt, retry_after, self._rng))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _headers(
        self, method: str, url: str, payload: bytes, *, prefer: str | None, service: str | None
    ) -> dict[str, str]:
        headers = {"Accept": "application/json, application/problem+json"}
        if payload:
            headers["Content-Type"] = "application/json"
        if prefer is not None:
            headers["Prefer"] = prefer
        if service is not None:
            if self.sigv4 is None:
                raise ValueError("this call is IAM-signed: pass sigv4=SigV4(...)")
            return self.sigv4.sign(method, url, payload, headers, service=service)
        if self.token is not None:
            token = self.token() if callable(self.token) else self.token
            headers["Authorization"] = f"Bearer {token}"
        return headers


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def retry_after_s(header: str | None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _carries_process(response: requests.Response) -> bool:
    """A 500 whose body is a process (it ended in ERROR), not a problem."""
    if response.status_code != 500:
        return False
    body = _json_or_none(response)
    return isinstance(body, dict) and "correlationId" in body and "status" in body


def _worth_retrying(error: ApiError) -> bool:
    return error.status in RETRIED_STATUSES or (error.status == 502 and error.code == START_UNCONFIRMED)


def _outcome(process: Process) -> Process:
    failure = process.error
    if process.status is ProcessStatus.ERROR:
        raise ProcessFailed(process, failure.code if failure else "ERROR", failure.message if failure else "")
    if process.status is ProcessStatus.CANCELLED:
        raise ProcessCancelled(process, "CANCELLED", failure.message if failure else "cancelled")
    return process
