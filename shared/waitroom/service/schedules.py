"""The poll schedule of each process key, learnt from the key's recent durations."""

from __future__ import annotations

from waitroom.service.policies import WaitPolicy
from waitroom.service.ports import Clock, ProcessRepository, Waker
from waitroom.service.waiting import PollSchedule, plan_from_history

#: How long a schedule learnt from a key's history is used before the history is read again.
LEARNT_FOR_S = 60.0


class Schedules:
    """The pauses between a waiter's reads: a steady fallback when the waker pushes, else the
    policy's schedule; an ``adaptive`` one is learnt per key (and kept for ``LEARNT_FOR_S``)."""

    def __init__(self, repository: ProcessRepository, waker: Waker, policy: WaitPolicy, clock: Clock) -> None:
        self._repository = repository
        self._waker = waker
        self._policy = policy
        self._clock = clock
        self._learnt: dict[str, tuple[float, PollSchedule | None]] = {}

    def for_key(self, process_key: str | None) -> PollSchedule:
        if self._waker.pushes:
            return PollSchedule("push-fallback", (self._policy.push_fallback_poll_ms,))
        schedule = self._policy.poll_schedule
        if not schedule.adaptive or process_key is None or not self._policy.adaptive_history:
            return schedule
        expires_at, learnt = self._learnt.get(process_key, (0.0, None))
        if self._clock() >= expires_at:
            history = self._repository.recent_durations_ms(process_key, limit=self._policy.adaptive_history)
            learnt = plan_from_history(history)
            self._learnt[process_key] = (self._clock() + LEARNT_FOR_S, learnt)
        return learnt or schedule
