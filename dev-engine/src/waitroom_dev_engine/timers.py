"""Timer definitions of intermediate timer catch events: when a timer started now falls due.

Camunda reads ``timeDuration`` as an ISO 8601 duration added to the engine's clock (calendar-aware
for months and years) and ``timeDate`` as an ISO 8601 date, in the server's zone when it has none.
``timeCycle`` and expressions are refused at deployment (dev-engine/src/waitroom_dev_engine/parsing.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import isodate  # type: ignore[import-untyped]


class TimerError(ValueError):
    """The timer definition cannot be read."""


def parse_timer(detail: str, now_ms: int) -> int:
    """The due time, in epoch milliseconds, of a timer ``kind:text`` (see parsing.WaitTask) set at ``now_ms``."""
    kind, _, text = detail.partition(":")
    if "${" in text or "#{" in text:
        raise TimerError(f"timer expressions are not supported by the development engine: {text}")
    try:
        if kind == "timeDuration":
            start = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
            due: datetime = start + isodate.parse_duration(text)
            return now_ms + round((due - start).total_seconds() * 1000)
        if kind == "timeDate":
            moment: datetime = isodate.parse_datetime(text)
            if moment.tzinfo is None:
                moment = moment.astimezone()
            return round(moment.timestamp() * 1000)
    except (isodate.ISO8601Error, ValueError) as error:
        raise TimerError(f"'{text}' is not an ISO 8601 {'duration' if kind == 'timeDuration' else 'date'}") from error
    raise TimerError(f"unknown timer kind '{kind}'")
