"""Wake-ups for long-polling fetchAndLock requests.

Writers bump a version after committing anything that can make an external task fetchable; a
waiting request remembers the version it last fetched under and sleeps until the version moves,
its timeout passes, or the engine shuts down. Comparing versions (instead of relying on a bare
notify) means a change committed between a fetch attempt and the wait is never missed.
"""

from __future__ import annotations

import threading


class TaskNotifier:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._version = 0
        self._closed = False

    @property
    def version(self) -> int:
        with self._condition:
            return self._version

    def notify(self) -> None:
        with self._condition:
            self._version += 1
            self._condition.notify_all()

    def wait(self, seen_version: int, timeout_seconds: float) -> bool:
        """Sleep until the version differs from ``seen_version`` or the timeout passes.

        Returns False when the notifier was closed, i.e. the engine is shutting down.
        """
        with self._condition:
            self._condition.wait_for(
                lambda: self._closed or self._version != seen_version, timeout=max(timeout_seconds, 0.0)
            )
            return not self._closed

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
