"""The local stack as the integration tests run it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest

from devstack.stack import LocalSettings, LocalStack


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
