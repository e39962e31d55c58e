"""Time as the engine sees it: epoch milliseconds inside, Camunda's date format on the wire."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

# Camunda REST's default date format, Java pattern yyyy-MM-dd'T'HH:mm:ss.SSSZ (Z = +hhmm).
_DATE_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-])(\d{2})(\d{2})$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    """The engine's time: the system clock moved by an offset, like Camunda's ClockUtil.

    Tests move it forward to make timers fall due instead of sleeping.
    """

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return now_ms() + self._offset_ms

    def advance(self, milliseconds: int) -> None:
        self._offset_ms += milliseconds


def format_date(epoch_ms: int | None) -> str | None:
    """Render epoch milliseconds in the server's local zone, as Camunda renders java.util.Date."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone()
    millis = epoch_ms % 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}" + moment.strftime("%z")


def parse_date(text: str) -> int:
    """Parse ``yyyy-MM-dd'T'HH:mm:ss.SSS+hhmm`` into epoch milliseconds; ValueError otherwise."""
    match = _DATE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not in the format yyyy-MM-dd'T'HH:mm:ss.SSSZ")
    year, month, day, hour, minute, second, millis, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    zone = timezone(offset if sign == "+" else -offset)
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=zone)
    return int(moment.timestamp()) * 1000 + int(millis)
