"""The durable waiters' callbacks, sent through boto3's Lambda client (which comes with Lambda's Python
runtime): how the one finish of a process resumes the durable executions of the start function that
wait for it (``waitroom.service.processes.ProcessService._wake_durable_waiters``). On this machine
``AWS_ENDPOINT_URL_LAMBDA`` points boto3 at the local durable execution runner.

boto3 is imported and the client made at the first callback sent, not at the cold start: many
environments never send one (a finish sends only to the durable waiters its process has, and the start
function only when a start it made fails while a join waits on it), and the client alone costs about
as much as the durable SDK's own modules (docs/PERFORMANCE.md, "Cold start").
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from waitroom.domain.errors import CallbackNotSent

#: SendDurableExecutionCallbackSuccess takes a result of at most 256 KB
#: (https://docs.aws.amazon.com/lambda/latest/api/API_SendDurableExecutionCallbackSuccess.html).
MAX_RESULT_BYTES = 262_144
#: The answers that say nobody waits on the callback any more: it timed out or was closed
#: (``CallbackTimeoutException``, same page), or its execution is gone (``ResourceNotFoundException``).
CLOSED = frozenset({"CallbackTimeoutException", "ResourceNotFoundException"})


def lambda_client() -> Any:
    """boto3's Lambda client for callbacks. A finish sends from a request that answers a client or a
    worker: short bounds, one retry. A callback not sent costs its waiter nothing but the rest of its
    wait, after which it reads the row."""
    import boto3  # noqa: PLC0415 -- at the first callback: see the module's docstring
    from botocore.config import Config  # noqa: PLC0415

    config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.client("lambda", config=config)


class LambdaCallbacks:
    """:class:`~waitroom.service.ports.Callbacks` on the Lambda API."""

    max_message_bytes = MAX_RESULT_BYTES

    def __init__(self, client: Any | None = None) -> None:
        self._client = client
        # A worker's threads may send their first callbacks at once: one client for all of them.
        self._making = threading.Lock()

    @property
    def client(self) -> Any:
        """boto3's Lambda client, made at the first use."""
        if self._client is None:
            with self._making:
                if self._client is None:
                    self._client = lambda_client()
        return self._client

    def send(self, callback_id: str, message: str) -> bool:
        try:
            self.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=message.encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in CLOSED:
                return False
            raise CallbackNotSent(f"the Lambda API refused a callback: {exc}") from exc
        except BotoCoreError as exc:
            raise CallbackNotSent(f"could not reach the Lambda API to send a callback: {exc}") from exc
        return True
