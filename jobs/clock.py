"""Injectable clocks: every ``now`` in jobs/ comes from one, so tests can drive time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "utcnow", "FakeClock", "as_utc"]

#: A clock is any function returning an aware UTC datetime.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime (naive = UTC) or an ISO string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class FakeClock:
    """A clock that moves only when told to (``advance``/``set``); thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start) or datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = as_utc(when)  # type: ignore[assignment]
