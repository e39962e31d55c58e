"""The example's onboarding stand-in as the behaviour suite runs it: it counts the calls for each
user, and refuses (503) the users a test names, so that one stack serves both a step that succeeds
and one that fails until its incident."""

from __future__ import annotations

from collections import Counter
from typing import Any

from onboard_user.onboarding_api import OnboardingApi


class ScriptedOnboarding(OnboardingApi):
    def __init__(self) -> None:
        super().__init__()
        self.calls_for: Counter[str] = Counter()
        self.refused: set[str] = set()

    def create(self, user_id: str, email: str, idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls_for[user_id] += 1
            refused = user_id in self.refused
        if refused:
            return 503, {"message": "the onboarding service is unavailable"}
        return super().create(user_id, email, idempotency_key)
