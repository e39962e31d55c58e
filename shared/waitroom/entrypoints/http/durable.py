"""The durable wait: the start function as a Lambda durable function (``WAIT_MODE=durable``).

The start route runs as in the classic mode (the same parsing, problems and answers), but its wait
holds nothing: the row's save and the instance's start are a checkpointed step, the wait is a
callback whose timeout is the request's wait budget, and the execution suspends on it until the
process's one finish sends it the process (``ProcessService._wake_durable_waiters``), or the
callback times out and the row is read. Replays run the route again from the start: the steps
answer from their checkpoints, so the process is started once.

Only this module and the start function's composition import the durable execution SDK; the classic
functions never load it. Platform facts relied on (docs/ARCHITECTURE.md, "The durable wait", cites
them): a callback's timeout is whole seconds, and 0 means none (the SDK's ``CallbackConfig``); an
execution resumes when its callback is sent or times out; a synchronous invocation waits for the
execution's end and answers its result.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from aws_durable_execution_sdk_python import state as sdk_state
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.exceptions import CallbackError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from waitroom.domain import errors
from waitroom.domain.errors import WaitroomError
from waitroom.domain.process import Caller, ProcessRecord, record_from_json, record_to_json
from waitroom.entrypoints.http.resolver import api_handler
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

#: A callback's timeout is whole seconds, and its shortest is one: a shorter budget is not waited.
MIN_CALLBACK_WAIT_MS = 1000


def _never_retry(_error: Exception, _attempt: int) -> RetryDecision:
    # A step's domain errors are answers, checkpointed as they are; anything else is a failure that a
    # retry a few seconds later would answer no sooner than the client's own retry.
    return RetryDecision.no_retry()


STEP = StepConfig(retry_strategy=_never_retry)


class DurableWait:
    """:class:`~waitroom.entrypoints.http.routes.StartWait` on a durable execution's operations."""

    bounded_by_invocation: ClassVar[bool] = False

    def __init__(self, service: ProcessService) -> None:
        self.service = service
        self._local = threading.local()

    @contextmanager
    def within(self, context: DurableContext) -> Any:
        """The durable context of the invocation the route runs in."""
        self._local.context = context
        try:
            yield
        finally:
            self._local.context = None

    def start(
        self,
        process_key: str,
        *,
        correlation_id: str,
        variables: Mapping[str, Any],
        caller: Caller,
        wait_ms: int,
    ) -> ProcessRecord:
        context: DurableContext | None = getattr(self._local, "context", None)
        if context is None:
            raise RuntimeError("the durable wait runs inside a durable execution only")
        begun = _checkpointed(
            context,
            "start",
            lambda: {
                "created": self.service.begin(
                    process_key, correlation_id=correlation_id, variables=variables, caller=caller
                ),
                # The budget as the first invocation granted it: a replay answers with the same.
                "waitMs": wait_ms,
            },
        )
        created, budget_ms = bool(begun["created"]), int(begun["waitMs"])
        if budget_ms < MIN_CALLBACK_WAIT_MS:
            return self.service.waited(self.service.current(correlation_id), created=created)
        callback = context.create_callback(
            name="finish", config=CallbackConfig(timeout=Duration.from_seconds(budget_ms // 1000))
        )
        seen = _checkpointed(
            context,
            "record-callback",
            lambda: {"final": _final_json(self.service.await_callback(correlation_id, callback.callback_id))},
        )
        if seen["final"] is not None:
            return self.service.waited(record_from_json(seen["final"]), created=created)
        try:
            message = callback.result()
        except CallbackError:
            # Timed out (or failed): the row says where the process is.
            message = None
        record = _record_in(message)
        if record is None:
            record = self.service.current(correlation_id)
        return self.service.waited(record, created=created)


def _final_json(record: ProcessRecord) -> dict[str, Any] | None:
    return record_to_json(record) if record.status.is_final else None


def _record_in(message: object) -> ProcessRecord | None:
    """The process a finish sent, or None when the message carries none (too large for a callback,
    or the row is gone): the waiter reads the row."""
    if isinstance(message, bytes):
        message = message.decode()
    if not isinstance(message, str) or not message:
        return None
    sent = json.loads(message)
    record = sent.get("record") if isinstance(sent, dict) else None
    return record_from_json(record) if isinstance(record, dict) else None


def _checkpointed(context: DurableContext, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work`` as a checkpointed step. A domain error is checkpointed too and raised again, on this
    invocation and on every replay, so the same mistake gets the same problem."""

    def step(_: object) -> dict[str, Any]:
        try:
            return {"value": work()}
        except WaitroomError as exc:
            return {"error": {"type": type(exc).__name__, "message": exc.message, "details": exc.details}}

    outcome: dict[str, Any] = context.step(step, name=name, config=STEP)
    if "error" in outcome:
        raise _domain_error(outcome["error"])
    value: dict[str, Any] = outcome["value"]
    return value


def _domain_error(error: Mapping[str, Any]) -> WaitroomError:
    kind = getattr(errors, str(error.get("type")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, WaitroomError) else WaitroomError
    return cls(str(error.get("message")), details=list(error.get("details") or []))


DurableHandler = Callable[[Any, Any], Any]


#: The SDK's private constant: how long its checkpoint thread blocks on an empty queue before it looks
#: at its stop signal again. The SDK stops that thread at every invocation's end and waits for it, so
#: its 100 ms lands on every invocation (billed) and on every wake (the resumed invocation returns that
#: much later); docs/PERFORMANCE.md measures both. tests/unit/test_durable_wait.py fails if it is renamed.
SDK_STOP_POLL_NAME = "_STOP_SIGNAL_POLL_SECONDS"


def set_checkpoint_poll(seconds: float) -> None:
    """Have the SDK's checkpoint thread look for its stop signal every ``seconds`` (``DURABLE_CHECKPOINT_POLL_MS``)."""
    if not hasattr(sdk_state, SDK_STOP_POLL_NAME):
        raise RuntimeError(f"the durable execution SDK has no {SDK_STOP_POLL_NAME} any more: see durable.py")
    setattr(sdk_state, SDK_STOP_POLL_NAME, seconds)


def durable_handler(app: APIGatewayHttpResolver, settings: Settings, waiting: DurableWait) -> DurableHandler:
    """The start function's Lambda entry point in the durable mode: the API handler of the classic
    mode, run inside the durable execution whose context the route's wait uses."""
    handler = api_handler(app, settings)
    set_checkpoint_poll(settings.durable_checkpoint_poll_ms / 1000)

    @durable_execution
    def lambda_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        with waiting.within(context):
            # The invocation's own Lambda context, which the SDK keeps (None only outside Lambda).
            return handler(event, cast("LambdaContext", context.lambda_context))

    return lambda_handler
