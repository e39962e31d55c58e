"""What a Waitroom client sends, when it sends it again and what it makes of the answers, without I/O.

Every call is a generator of :class:`Send` and :class:`Pause` steps: the caller performs each step
(an HTTP request answered by an :class:`Answer`, or :class:`NoAnswer` when none came; a sleep) and
sends its outcome back in. :class:`~waitroom_client.Waitroom` performs the steps with ``requests``
and ``time.sleep``, :class:`~waitroom_client.aio.AsyncWaitroom` with ``httpx`` and ``asyncio.sleep``:
one set of rules, two transports.

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
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from waitroom_client.auth import API_GATEWAY_SERVICE, FUNCTION_URL_SERVICE, SigV4
from waitroom_client.durations import Duration, to_seconds
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
#: How long ``run`` waits for a result unless told otherwise.
DEFAULT_RUN_WAIT_S = 60.0
#: Answers that say "the same request may succeed later".
RETRIED_STATUSES = frozenset({429, 503, 504})
#: A 502 after which the process may be running; the same start again joins it.
START_UNCONFIRMED = "CAMUNDA_START_UNCONFIRMED"

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """When a call is sent again.

    **An answer that says "later", or none at all**: after 429, 503, 504, a ``502
    CAMUNDA_START_UNCONFIRMED``, or a request sent whose answer never came (reset, read timeout), up
    to ``attempts`` sends in all. The pause honours ``Retry-After`` when the answer has one, stretched
    by up to ``jitter`` (a fraction) so that clients turned away together do not return together;
    without it, the pause doubles from ``base_s`` up to ``cap_s``, with "equal jitter" (half fixed,
    half random).

    **A connection that cannot be made** (refused, or not made within the connect timeout): nothing
    was sent, so trying again is always safe, but a server that is down stays down for a while. Up to
    ``connect_attempts`` tries in a row, with the same back-off, and none begun later than
    ``connect_budget`` after the first refusal; then :class:`~waitroom_client.TransportError`. By
    default three tries within 5 s: against a port where nothing listens, the error comes in about a
    second.

    ``base_s``, ``cap_s`` and ``connect_budget`` take seconds or a ``timedelta``.
    """

    attempts: int = 6
    base_s: Duration = 0.5
    cap_s: Duration = 30.0
    jitter: float = 0.2
    connect_attempts: int = 3
    connect_budget: Duration = 5.0

    def __post_init__(self) -> None:
        for name in ("attempts", "connect_attempts"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{name}: must be a whole number of at least 1, not {count!r}")
        for name in ("base_s", "cap_s", "connect_budget"):
            to_seconds(getattr(self, name), name)
        to_seconds(self.jitter, "jitter")

    def pause_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """The pause after the failed ``attempt`` (0 for the first)."""
        if retry_after_s is not None:
            return retry_after_s * (1 + rng.uniform(0, self.jitter))
        backoff = min(to_seconds(self.cap_s, "cap_s"), to_seconds(self.base_s, "base_s") * 2.0**attempt)
        return backoff / 2 + rng.uniform(0, backoff / 2)


@dataclass(frozen=True)
class FunctionUrls:
    """The Lambda Function URLs of the start and status functions (template parameter
    ``LongWaits``): calls through them may wait up to the server's ``LONG_WAIT_MAX_MS`` instead of
    API Gateway's 30 s. They take SigV4 signatures (service ``lambda``), not tokens."""

    start: str
    status: str
    max_wait: Duration = FUNCTION_URL_WAIT

    def __post_init__(self) -> None:
        to_seconds(self.max_wait, "max_wait")


@dataclass(frozen=True)
class Progress:
    """What ``run`` reports before each call it makes."""

    correlation_id: str
    status: ProcessStatus | None
    """The process's status as last answered (None before the first answer)."""
    elapsed_s: float
    remaining_s: float
    attempt: int


# --- the steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send this request; answer with an :class:`Answer`, or :class:`NoAnswer` if none came."""

    method: str
    url: str
    content: bytes
    headers: dict[str, str]
    connect_timeout_s: float
    read_timeout_s: float


@dataclass(frozen=True)
class Pause:
    """Sleep this long, then go on (answer with None)."""

    seconds: float


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full. ``headers`` looks names up case-insensitively."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except ValueError:
            return None


@dataclass(frozen=True)
class NoAnswer:
    """No answer came. ``connected`` is False when no connection was made, so nothing was sent."""

    connected: bool
    error: BaseException


Outcome = Answer | NoAnswer | None
Steps = Generator[Send | Pause, Outcome, T]


def _outcome_of(outcome: Outcome) -> Answer | NoAnswer:
    if outcome is None:
        raise TypeError("a Send step is answered with an Answer or a NoAnswer, not None")
    return outcome


# --- the calls ----------------------------------------------------------------------------------


class Calls:
    """Everything a Waitroom client does but the I/O: its settings, and each call as :data:`Steps`.

    ``token`` (a JWT, or a function returning a fresh one) authenticates the client routes;
    ``sigv4`` signs ``/complete`` and the Function URLs. ``connect_timeout`` bounds the making of a
    connection; ``read_timeout`` bounds the silence after the server's own wait: a call that asks the
    server to hold it up to N s (``Prefer: wait=N``) stops listening after N + ``read_timeout``
    seconds, one that asks not to wait after ``read_timeout``, one that leaves the wait to the server
    after the longest the server may hold it (25 s through API Gateway) + ``read_timeout``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | Callable[[], str] | None = None,
        sigv4: SigV4 | None = None,
        function_urls: FunctionUrls | None = None,
        retry: Retry | None = None,
        connect_timeout: Duration = 5.0,
        read_timeout: Duration = 15.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if function_urls is not None and sigv4 is None:
            raise ValueError("function_urls: Function URLs take SigV4 signatures: pass sigv4=SigV4(...)")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.sigv4 = sigv4
        self.function_urls = function_urls
        self.retry = retry or Retry()
        self.connect_timeout_s = to_seconds(connect_timeout, "connect_timeout")
        self.read_timeout_s = to_seconds(read_timeout, "read_timeout")
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography

    def _run(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None,
        *,
        correlation_id: str | None,
        wait: Duration,
        on_progress: Callable[[Progress], None] | None,
    ) -> Steps[Process]:
        wait_s = to_seconds(wait, "wait")
        correlation_id = correlation_id or new_correlation_id()
        began = self._clock()
        deadline = began + wait_s
        process: Process | None = None
        attempt = 0
        while True:
            remaining = deadline - self._clock()
            if process is not None and remaining <= 0:
                raise WaitTimedOut(process, "WAIT_TIMED_OUT", f"still {process.status} after {wait_s:g} s")
            if on_progress is not None:
                status = None if process is None else process.status
                elapsed = self._clock() - began
                on_progress(Progress(correlation_id, status, elapsed, max(0.0, remaining), attempt))
            attempt += 1
            sent_at = self._clock()
            call_wait = max(0.0, remaining)
            if process is None:
                try:
                    process = yield from self._start(
                        process_key, variables, correlation_id=correlation_id, wait=call_wait, fetch_variables=None
                    )
                except BadGateway as error:
                    if error.code != START_UNCONFIRMED:
                        raise
                    # The process may be running: read it like any pending one.
                    process = yield from self._status(correlation_id, wait=call_wait, history=False)
            else:
                process = yield from self._status(correlation_id, wait=call_wait, history=False)
            if process.finished:
                return _outcome(process)
            retry_after = process.retry_after_s or 0.0
            pause = retry_after * (1 + self._rng.uniform(0, self.retry.jitter)) - (self._clock() - sent_at)
            if pause > 0:
                yield Pause(min(pause, max(0.0, deadline - self._clock())))

    def _start(
        self,
        process_key: str,
        variables: Mapping[str, Any] | None,
        *,
        correlation_id: str | None,
        wait: Duration | None,
        fetch_variables: Sequence[str] | None,
    ) -> Steps[Process]:
        wait_s = None if wait is None else to_seconds(wait, "wait")
        body: dict[str, Any] = {
            "processKey": process_key,
            "correlationId": correlation_id or new_correlation_id(),
            "variables": dict(variables or {}),
        }
        if fetch_variables is not None:
            body["fetchVariables"] = list(fetch_variables)
        base, service = self._entry("start")
        return (
            yield from self._process_call(
                "POST", f"{base}/api/process/start", body=body, wait_s=wait_s, service=service
            )
        )

    def _status(self, correlation_id: str, *, wait: Duration | None, history: bool) -> Steps[Process]:
        wait_s = None if wait is None else to_seconds(wait, "wait")
        base, service = self._entry("status")
        url = f"{base}/api/process/status/{quote(correlation_id, safe='')}"
        if history:
            url += "?history=true"
        return (yield from self._process_call("GET", url, wait_s=wait_s, service=service))

    def _cancel(self, correlation_id: str, reason: str | None) -> Steps[Process]:
        body: dict[str, Any] = {"correlationId": correlation_id}
        if reason is not None:
            body["reason"] = reason
        return (yield from self._process_call("POST", f"{self.base_url}/api/process/cancel", body=body))

    def _complete(self, correlation_id: str, *, data: Any, error: str | Mapping[str, Any] | None) -> Steps[Process]:
        if self.sigv4 is None:
            raise ValueError("sigv4: complete is IAM-signed: pass sigv4=SigV4(...)")
        body: dict[str, Any] = {"correlationId": correlation_id, "status": "ok" if error is None else "error"}
        if data is not None:
            body["data"] = data
        if error is not None:
            body["error"] = error if isinstance(error, str) else dict(error)
        return (
            yield from self._process_call(
                "POST", f"{self.base_url}/api/process/complete", body=body, service=API_GATEWAY_SERVICE
            )
        )

    def _list_query(
        self,
        *,
        status: ProcessStatus | str | None,
        process_key: str | None,
        started_after: datetime | None,
        started_before: datetime | None,
        page_size: int,
    ) -> dict[str, str]:
        query: dict[str, str] = {"limit": str(page_size)}
        if status is not None:
            query["status"] = str(status)
        if process_key is not None:
            query["processKey"] = process_key
        if started_after is not None:
            query["startedAfter"] = started_after.isoformat()
        if started_before is not None:
            query["startedBefore"] = started_before.isoformat()
        return query

    def _page(self, query: Mapping[str, str]) -> Steps[tuple[list[Process], str | None]]:
        """One page of a list: its processes, and the cursor of the next page (None after the last)."""
        base, service = self._entry("status")
        answer = yield from self._exchange("GET", f"{base}/api/process/status/all?{urlencode(query)}", service=service)
        page = answer.json()
        processes = [Process.from_json(item) for item in page.get("items") or []]
        cursor = page.get("nextCursor")
        return processes, str(cursor) if cursor else None

    # --- transport rules --------------------------------------------------------------------------

    def _entry(self, function: str) -> tuple[str, str | None]:
        """Where a start or status call goes: its Function URL (signed for ``lambda``) if given."""
        if self.function_urls is None:
            return self.base_url, None
        url = self.function_urls.start if function == "start" else self.function_urls.status
        return url.rstrip("/"), FUNCTION_URL_SERVICE

    def _longest_wait_s(self, service: str | None) -> float:
        if service == FUNCTION_URL_SERVICE and self.function_urls is not None:
            return to_seconds(self.function_urls.max_wait, "max_wait")
        return GATEWAY_WAIT.total_seconds()

    def _process_call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        wait_s: float | None = None,
        service: str | None = None,
    ) -> Steps[Process]:
        answer = yield from self._exchange(method, url, body=body, wait_s=wait_s, service=service)
        retry_after = retry_after_s(answer.headers.get("Retry-After")) if answer.status == 202 else None
        return Process.from_json(answer.json(), retry_after_s=retry_after)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        wait_s: float | None = None,
        service: str | None = None,
    ) -> Steps[Answer]:
        """Send, and send again after 429/503/504, a lost answer or a refused connection (see
        :class:`Retry`); return a 2xx, or a 500 that carries a process in ERROR; raise the typed
        error of any other answer."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        read_timeout_s = self.read_timeout_s
        prefer = None
        if wait_s is not None:
            seconds = int(min(wait_s, self._longest_wait_s(service)))
            prefer = f"wait={seconds}" if seconds > 0 else "respond-async"
            read_timeout_s += seconds
        else:
            read_timeout_s += self._longest_wait_s(service)
        sent = 0  # sends that reached the server (answered or not)
        refusals = 0  # connections refused in a row
        refused_since = 0.0
        while True:
            headers = self._headers(method, url, payload, prefer=prefer, service=service)
            outcome = _outcome_of((yield Send(method, url, payload, headers, self.connect_timeout_s, read_timeout_s)))
            if isinstance(outcome, NoAnswer) and not outcome.connected:
                if refusals == 0:
                    refused_since = self._clock()
                refusals += 1
                pause = self.retry.pause_s(refusals - 1, None, self._rng)
                spent = self._clock() - refused_since
                budget = to_seconds(self.retry.connect_budget, "connect_budget")
                if refusals >= self.retry.connect_attempts or spent + pause > budget:
                    raise TransportError(
                        f"{method} {url}: no connection after {refusals} attempts in {spent:.1f} s"
                    ) from outcome.error
                yield Pause(pause)
                continue
            refusals = 0
            sent += 1
            last = sent >= self.retry.attempts
            if isinstance(outcome, NoAnswer):
                if last:
                    raise TransportError(f"{method} {url}: no answer after {sent} attempts") from outcome.error
                yield Pause(self.retry.pause_s(sent - 1, None, self._rng))
                continue
            if outcome.status < 300 or _carries_process(outcome):
                return outcome
            retry_after = retry_after_s(outcome.headers.get("Retry-After"))
            error = error_for(outcome.status, outcome.json_or_none(), retry_after)
            if last or not _worth_retrying(error):
                raise error
            yield Pause(self.retry.pause_s(sent - 1, retry_after, self._rng))

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
                raise ValueError("sigv4: this call is IAM-signed: pass sigv4=SigV4(...)")
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


def _carries_process(answer: Answer) -> bool:
    """A 500 whose body is a process (it ended in ERROR), not a problem."""
    if answer.status != 500:
        return False
    body = answer.json_or_none()
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
