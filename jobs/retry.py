"""The retry policy: which retry runs when (1, 5, 15 minutes by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RetryPolicy", "DEFAULT_BACKOFF_MINUTES"]

DEFAULT_BACKOFF_MINUTES: tuple[float, ...] = (1.0, 5.0, 15.0)


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_retries`` retries after the first attempt; retry *n* waits ``backoff_minutes[n-1]``
    (the last value repeats when there are more retries than values). Checked when created."""

    max_retries: int = 3
    backoff_minutes: tuple[float, ...] = DEFAULT_BACKOFF_MINUTES

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries} must be >= 0")
        if not self.backoff_minutes:
            raise ValueError("backoff_minutes must hold at least one delay")
        if any(m < 0 for m in self.backoff_minutes):
            raise ValueError(f"backoff_minutes={self.backoff_minutes} must all be >= 0")
        object.__setattr__(self, "backoff_minutes", tuple(float(m) for m in self.backoff_minutes))

    def delay(self, retry_number: int) -> timedelta | None:
        """Wait before retry ``retry_number`` (1-based), or None when no retry is left."""
        if retry_number < 1 or retry_number > self.max_retries:
            return None
        idx = min(retry_number, len(self.backoff_minutes)) - 1
        return timedelta(minutes=self.backoff_minutes[idx])

    def next_retry_at(self, failed_at: datetime, retries_done: int) -> datetime | None:
        """When the next retry is due after a failure at ``failed_at``; None when exhausted."""
        wait = self.delay(retries_done + 1)
        return None if wait is None else failed_at + wait
