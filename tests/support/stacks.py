"""The local stack as the integration tests run it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest

from devstack.stack import LocalSettings, LocalStack

#: The reconciler judges a row only once its start can no longer be under way, which the timeouts
#: bound (Settings.start_under_way_max_s): these let it judge rows after
#: 2 * (2 * 2 + 1) + 2 * (2 * 1 + 5) = 24 s instead of 120.
RECONCILE_SOON = {
    "DB_QUERY_TIMEOUT_S": "2",
    "DB_CONNECT_TIMEOUT_S": "1",
    "CAMUNDA_CONNECT_TIMEOUT_S": "1",
    "CAMUNDA_READ_TIMEOUT_S": "5",
    "RECONCILE_MIN_AGE_S": "24",
}


@contextmanager
def run_stack(local: LocalSettings, environment: Mapping[str, str | None]) -> Iterator[LocalStack]:
    """The stack, with ``environment`` set in this process until it stops (``None``: unset), since
    the functions' processes are spawned with this process's environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        running = LocalStack(port=0, local=local).start()
        try:
            yield running
        finally:
            running.stop()
