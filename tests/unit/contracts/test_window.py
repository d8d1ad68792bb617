"""Windows of the monitoring jobs: aligned, half-open, named by their start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.contracts.window import Window, parse_timestamp, window_before


def test_window_before_is_the_last_complete_aligned_window() -> None:
    moment = datetime(2026, 11, 26, 10, 7, 30, tzinfo=UTC)

    hourly = window_before(moment, timedelta(hours=1))
    daily = window_before(moment, timedelta(days=1))
    lagged = window_before(moment, timedelta(hours=1), lag=timedelta(hours=2))

    assert (hourly.start, hourly.end) == (
        datetime(2026, 11, 26, 9, tzinfo=UTC),
        datetime(2026, 11, 26, 10, tzinfo=UTC),
    )
    assert (daily.start, daily.end) == (
        datetime(2026, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 26, tzinfo=UTC),
    )
    assert lagged.end == datetime(2026, 11, 26, 8, tzinfo=UTC)


def test_a_retry_of_the_same_schedule_names_the_same_window() -> None:
    first = window_before(datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC), timedelta(minutes=15))
    retry = window_before(datetime(2026, 11, 26, 10, 14, 59, tzinfo=UTC), timedelta(minutes=15))
    assert first == retry and first.key == "2026-11-26T09:45Z"


def test_window_is_half_open_and_rejects_naive_or_empty_bounds() -> None:
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert window.contains(window.start) and not window.contains(window.end)
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="empty window"):
        Window(window.end, window.start)


def test_parse_timestamp_accepts_z_offsets_and_naive_utc() -> None:
    expected = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert parse_timestamp("2026-11-26T10:00:00Z") == expected
    assert parse_timestamp("2026-11-26T11:00:00+01:00") == expected
    assert parse_timestamp("2026-11-26T10:00:00") == expected
