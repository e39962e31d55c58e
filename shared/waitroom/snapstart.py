"""SnapStart: what an execution environment must not carry through a snapshot.

With SnapStart on (template.yaml, parameter ``SnapStart``), Lambda runs a published version's init
once, snapshots the memory, and starts new execution environments from that snapshot. Whatever
the init held is then shared by every environment restored from it: an open connection (its
socket is dead after the restore, and its server-side session cannot belong to thousands of
environments), a cached secret (a password rotated since the snapshot would live on in it), the
random module's state (every environment would draw the same numbers). So the hook before the
snapshot drops them, and the hook after the restore reseeds and re-opens. ``waitroom.bootstrap``
hands each composition to :func:`hold`, so the hooks reach the connections it holds.

The hooks go through AWS's ``snapshot_restore_py``, which the Python managed runtimes include
(docs/CAPACITY.md); the layer does not ship it, since a second copy would hold registrations the
runtime never reads. Where it is missing (a local run, the local stack) there are no snapshots,
and the hooks are simply never called.
"""

from __future__ import annotations

import logging
import random
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from waitroom.domain.errors import StoreUnavailable

logger = logging.getLogger(__name__)

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # pragma: no cover -- exercised where the runtime's library is absent

    def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func

    def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func


class Connectable(Protocol):
    def connect(self) -> None: ...


class Held(Protocol):
    """What an execution environment composed at its init (``waitroom.bootstrap.Application``)."""

    @property
    def repository(self) -> Connectable: ...

    def close(self) -> None: ...


#: The compositions of this environment (weakly: a test's composition may go).
_held: list[weakref.ref[Any]] = []


def hold[T: Held](application: T) -> T:
    """Let the hooks drop and re-open ``application``'s connections."""
    _held.append(weakref.ref(application))
    return application


def _live() -> list[Held]:
    return [application for reference in _held if (application := reference()) is not None]


def before_snapshot() -> None:
    """Drop every connection and the cached secrets: nothing of them goes into the snapshot."""
    for application in _live():
        application.close()
    # Only if a secret was read at all: importing Powertools' parameters would import boto3.
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


def after_restore() -> None:
    """Reseed from the operating system, and open this environment's own connection."""
    random.seed()
    for application in _live():
        try:
            application.repository.connect()
        except StoreUnavailable:
            # Not fatal: the first request connects, and answers 503 if it still cannot.
            logger.warning("could not connect after the restore; the first request will try again", exc_info=True)


register_before_snapshot(before_snapshot)
register_after_restore(after_restore)
