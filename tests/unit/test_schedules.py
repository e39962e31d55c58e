"""The poll schedule learnt per process key: planned from the key's history once per
``LEARNT_FOR_S``, and, once planned, handed to another :class:`Schedules` without its planning again."""

from __future__ import annotations

import math
import random

from tests.support.fakes import FakeClock, InMemoryRepository, ScriptedWaker
from waitroom.service.policies import WaitPolicy
from waitroom.service.schedules import LEARNT_FOR_S, Schedules
from waitroom.service.waiting import PollSchedule

ADAPTIVE = WaitPolicy(
    poll_schedule=PollSchedule.parse("adaptive"),
    push_fallback_poll_ms=5_000,
    adaptive_history=200,
)


class CountingRepository(InMemoryRepository):
    """Counts the reads of a key's history."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.history_reads = 0

    def recent_durations_ms(self, process_key: str, *, limit: int) -> list[float]:
        self.history_reads += 1
        return super().recent_durations_ms(process_key, limit=limit)


def repository_with_history(clock: FakeClock) -> CountingRepository:
    repository = CountingRepository(clock)
    rng = random.Random(7)  # noqa: S311 -- a reproducible sample, not cryptography
    repository.durations_ms["k"] = [1_000 * math.exp(rng.gauss(0, 0.5)) for _ in range(200)]
    return repository


def test_a_keys_schedule_is_planned_from_its_history_and_kept_for_a_while() -> None:
    clock = FakeClock()
    repository = repository_with_history(clock)
    schedules = Schedules(repository, ScriptedWaker(clock), ADAPTIVE, clock)
    planned = schedules.for_key("k")
    assert planned != ADAPTIVE.poll_schedule, "the history gave the key a plan of its own"
    learnt = schedules.learnt("k")
    assert learnt is not None and learnt.schedule == planned and learnt.until == LEARNT_FOR_S
    assert schedules.for_key("k") == planned and repository.history_reads == 1, "kept, not read again"
    assert schedules.learnt("other") is None, "nothing is learnt of a key never asked for"


def test_an_adopted_schedule_is_used_without_reading_the_history_until_it_expires() -> None:
    clock = FakeClock()
    repository = repository_with_history(clock)
    teacher = Schedules(repository, ScriptedWaker(clock), ADAPTIVE, clock)
    planned = teacher.for_key("k")
    learnt = teacher.learnt("k")
    assert learnt is not None
    pupil = Schedules(repository, ScriptedWaker(clock), ADAPTIVE, clock)
    pupil.adopt("k", learnt)
    assert pupil.for_key("k") == planned
    assert repository.history_reads == 1, "the pupil read no history"
    clock.advance(LEARNT_FOR_S)
    assert pupil.for_key("k") == planned
    assert repository.history_reads == 2, "expired: the pupil reads the history itself"
