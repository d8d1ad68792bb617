"""Finding a window among a year of history: one LIST request per hour prefix of the window, whatever is kept.

The issue's scale test: 500,000 older objects of the same model, spread over a year of hours,
and the same with 5,000: the count does not move. Counts, not time (the benchmark measures time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.window import Window
from modelwatch.stores.events import DELIVERY_SLACK, EventStore
from modelwatch.stores.objects import InMemoryStorage

BUCKET = "modelwatch-events-bench"
MODEL = "fraud"
WINDOW = Window(datetime(2027, 1, 1, 12, tzinfo=UTC), datetime(2027, 1, 1, 13, tzinfo=UTC))
YEAR_HOURS = 365 * 24


def _with_history(kind: layout.CaptureKind, older: int) -> InMemoryStorage:
    """``older`` objects of the model over the year before the window, and two in the window's hour."""
    storage = InMemoryStorage()
    oldest = WINDOW.start - DELIVERY_SLACK - timedelta(hours=YEAR_HOURS)
    for i in range(older):
        hour = oldest + timedelta(hours=i % YEAR_HOURS)
        storage.objects[(BUCKET, layout.partitioned_key(kind, hour, f"old-{i:06d}", MODEL))] = (b"", '""')
    for name in ("now-1", "now-2"):
        storage.put(BUCKET, layout.partitioned_key(kind, WINDOW.start, name, MODEL), b"")
    return storage


def _window_prefixes(kind: layout.CaptureKind) -> list[str]:
    prefix = layout.capture_prefix(kind, MODEL)
    return list(layout.hourly_prefixes(prefix, WINDOW.start - DELIVERY_SLACK, WINDOW.end + DELIVERY_SLACK))


# The layout is the same for every kind: one large history is enough.
@pytest.mark.parametrize(
    ("kind", "older"), [("events", 5_000), ("rejected", 5_000), ("labels", 5_000), ("events", 500_000)]
)
def test_finding_a_window_makes_one_list_request_per_hour_prefix_whatever_the_history(
    kind: layout.CaptureKind, older: int
) -> None:
    # Given a year of the model's history
    storage = _with_history(kind, older)
    # When the one-hour window's objects are found
    found = EventStore(storage, BUCKET).objects(kind, WINDOW, MODEL)
    # Then exactly the window's hour prefixes were listed, one request each
    prefixes = _window_prefixes(kind)
    assert len(prefixes) == 4  # the hour before, the window's hour, the next, and the one after
    assert storage.list_requests == len(prefixes) == storage.calls["list_objects"]
    assert [o.key for o in found] == [
        layout.partitioned_key(kind, WINDOW.start, name, MODEL) for name in ("now-1", "now-2")
    ]
