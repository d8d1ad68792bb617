"""Time windows of the monitoring jobs, aligned on the window length."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)``, in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} to {self.end.isoformat()}")

    @property
    def key(self) -> str:
        """A sortable, S3-safe name of the window: its start, e.g. ``2026-11-26T10:00Z``."""
        return self.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window_before(moment: datetime, length: timedelta, lag: timedelta = timedelta(0)) -> Window:
    """The last complete window of ``length`` ending at or before ``moment - lag``.

    Windows are aligned on multiples of ``length`` since the Unix epoch, so two runs
    for the same period (a retry, a duplicate schedule) name the same window.
    """
    if length <= timedelta(0):
        raise ValueError("window length must be positive")
    anchor = (moment - lag).astimezone(UTC)
    periods = (anchor - EPOCH) // length
    end = EPOCH + periods * length
    return Window(end - length, end)


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
