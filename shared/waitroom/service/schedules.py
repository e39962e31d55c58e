"""The poll schedule of each process key, learnt from the key's recent durations."""

from __future__ import annotations

from dataclasses import dataclass

from waitroom.service.policies import WaitPolicy
from waitroom.service.ports import Clock, ProcessRepository, Waker
from waitroom.service.waiting import PollSchedule, plan_from_history

#: How long a schedule learnt from a key's history is used before the history is read again.
LEARNT_FOR_S = 60.0
#: The finished processes of a key whose durations set the ``Retry-After`` of its 202s.
RETRY_AFTER_HISTORY = 200


@dataclass(frozen=True)
class Learnt:
    """A key's schedule planned from its history (None: the history planned none), used until ``until``
    on the service's clock."""

    schedule: PollSchedule | None
    until: float


class Schedules:
    """The pauses between a waiter's reads: a steady fallback when the waker pushes, else the
    policy's schedule; an ``adaptive`` one is learnt per key (and kept for ``LEARNT_FOR_S``)."""

    def __init__(self, repository: ProcessRepository, waker: Waker, policy: WaitPolicy, clock: Clock) -> None:
        self._repository = repository
        self._waker = waker
        self._policy = policy
        self._clock = clock
        self._learnt: dict[str, Learnt] = {}
        self._durations: dict[str, tuple[float, list[float]]] = {}

    def for_key(self, process_key: str | None) -> PollSchedule:
        if self._waker.pushes:
            return PollSchedule("push-fallback", (self._policy.push_fallback_poll_ms,))
        schedule = self._policy.poll_schedule
        if not schedule.adaptive or process_key is None or not self._policy.adaptive_history:
            return schedule
        learnt = self._learnt.get(process_key)
        if learnt is None or self._clock() >= learnt.until:
            history = self._repository.recent_durations_ms(process_key, limit=self._policy.adaptive_history)
            learnt = Learnt(plan_from_history(history), self._clock() + LEARNT_FOR_S)
            self._learnt[process_key] = learnt
        return learnt.schedule or schedule

    def learnt(self, process_key: str) -> Learnt | None:
        """What :meth:`for_key` planned for the key from its history (None: it has read none)."""
        return self._learnt.get(process_key)

    def adopt(self, process_key: str, learnt: Learnt) -> None:
        """Use ``learnt``, planned by another :class:`Schedules` on the same history, for the key until it
        expires, instead of reading the history and planning: planning costs milliseconds of CPU, which
        the many simulated environments of one process in bench/fleet.py would otherwise spend at once."""
        self._learnt[process_key] = learnt

    def durations_ms(self, process_key: str) -> list[float]:
        """The key's recent durations (``RETRY_AFTER_HISTORY`` of them), read at most once per
        ``LEARNT_FOR_S``: what the ``Retry-After`` of its 202s is estimated from."""
        expires_at, durations = self._durations.get(process_key, (0.0, []))
        if self._clock() >= expires_at:
            durations = self._repository.recent_durations_ms(process_key, limit=RETRY_AFTER_HISTORY)
            self._durations[process_key] = (self._clock() + LEARNT_FOR_S, durations)
        return durations
