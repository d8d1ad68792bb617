"""The event store: a window's objects from its model's hour prefixes only; records by their own time."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.window import Window
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import InMemoryStorage, ObjectStorage, StoredObject
from tests.unit.stores.conftest import BUCKET

WINDOW = Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))


def _lines(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _event(model: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "version": "1", "timestamp": at, **extra}


def test_objects_of_a_window_are_those_delivered_from_the_hour_before_to_the_hour_after(
    storage: ObjectStorage,
) -> None:
    # Given objects delivered every hour from 06:00 to 12:00, and another model's in the window
    for hour in range(6, 13):
        storage.put(BUCKET, f"events/model=fraud/dt=2026-11-26/hour={hour:02d}/o", b"")
    storage.put(BUCKET, "events/model=other/dt=2026-11-26/hour=09/o", b"")
    storage.put(BUCKET, "events/model=fraudulent/dt=2026-11-26/hour=09/o", b"")  # shares a key start
    # When the objects of the 09:00-10:00 window are listed
    found = [o.key for o in EventStore(storage, BUCKET).objects("events", WINDOW, "fraud")]
    # Then they are the model's objects of 08:00 to 11:00 (late deliveries), in key order
    assert found == [f"events/model=fraud/dt=2026-11-26/hour={h:02d}/o" for h in range(8, 12)]


def test_a_window_lists_only_its_hour_prefixes() -> None:
    storage = InMemoryStorage()
    storage.put(BUCKET, "rejected/model=fraud/dt=2026-11-26/hour=09/o", b"")
    EventStore(storage, BUCKET).objects("rejected", WINDOW, "fraud")
    # 08:00, 09:00, 10:00 and 11:00: one LIST each, whatever is kept
    assert storage.calls["list_objects"] == 4 and storage.list_requests == 4


def test_delivered_since_lists_the_hours_from_since_to_until(storage: ObjectStorage) -> None:
    for day, hour in ((25, 23), (26, 0), (26, 5), (26, 6), (26, 7)):
        storage.put(BUCKET, f"labels/model=fraud/dt=2026-11-{day:02d}/hour={hour:02d}/l", b"")
    storage.put(BUCKET, "labels/model=churn/dt=2026-11-26/hour=05/l", b"")
    found = EventStore(storage, BUCKET).delivered_since(
        "labels",
        "fraud",
        datetime(2026, 11, 25, 23, 40, tzinfo=UTC),
        datetime(2026, 11, 26, 6, 10, tzinfo=UTC),
    )
    assert [o.key for o in found] == [
        "labels/model=fraud/dt=2026-11-25/hour=23/l",
        "labels/model=fraud/dt=2026-11-26/hour=00/l",
        "labels/model=fraud/dt=2026-11-26/hour=05/l",
        "labels/model=fraud/dt=2026-11-26/hour=06/l",
    ]


def test_records_are_kept_by_their_own_timestamp_and_read_gzip_or_not(storage: ObjectStorage) -> None:
    storage.put(
        BUCKET,
        "events/model=fraud/dt=2026-11-26/hour=09/a.gz",
        gzip.compress(
            _lines(_event("fraud", "2026-11-26T09:30:00Z", i=1), _event("fraud", "2026-11-26T08:59:59Z", i=0))
        ),
    )
    storage.put(
        BUCKET,
        "events/model=fraud/dt=2026-11-26/hour=10/b",
        _lines(
            _event("fraud", "2026-11-26T09:59:59+00:00", i=2), _event("fraud", "2026-11-26T10:00:00Z", i=3)
        ),
    )
    records = EventStore(storage, BUCKET).records("events", WINDOW, "fraud")
    assert [r["i"] for r in records] == [1, 2]


class _RecordingStorage(InMemoryStorage):
    """Keeps the key of every GET."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[str] = []

    def get(self, bucket: str, key: str, if_none_match: str | None = None) -> StoredObject | None:
        self.got.append(key)
        return super().get(bucket, key, if_none_match)


@pytest.mark.parametrize("kind", ["rejected", "labels"])
def test_rejections_and_labels_of_another_model_are_never_read(kind: layout.CaptureKind) -> None:
    # Given records of two models and unrouted rejections, all delivered in the window
    storage = _RecordingStorage()
    for model in ("fraud", "churn", layout.UNROUTED_MODEL):
        key = layout.partitioned_key(kind, WINDOW.start, "o", model)
        storage.put(BUCKET, key, _lines(_event(model, "2026-11-26T09:10:00Z", i=model)))
    # When fraud's records of the window are read
    records = EventStore(storage, BUCKET).records(kind, WINDOW, "fraud")
    # Then only fraud's object was fetched
    assert [r["i"] for r in records] == ["fraud"]
    assert storage.got == [layout.partitioned_key(kind, WINDOW.start, "o", "fraud")]
    assert storage.calls["get"] == 1


def test_delivered_keys_list_the_hours_asked_for_of_the_models_and_their_rejections(
    storage: ObjectStorage,
) -> None:
    for key in (
        "events/model=fraud/dt=2027-01-15/hour=07/a",
        "events/model=fraud/dt=2027-01-15/hour=08/b",
        "events/model=fraud/dt=2027-01-15/hour=05/old",
        "events/model=churn/dt=2027-01-15/hour=08/c",
        "rejected/model=fraud/dt=2027-01-15/hour=08/d",
        "rejected/model=churn/dt=2027-01-15/hour=08/d2",
        "rejected/model=_unrouted/dt=2027-01-15/hour=07/u",
        "labels/model=fraud/dt=2027-01-15/hour=08/e",
    ):
        storage.put(BUCKET, key, b"")
    keys = EventStore(storage, BUCKET).delivered_keys(
        ["fraud"], datetime(2027, 1, 15, 6, 30, tzinfo=UTC), datetime(2027, 1, 15, 8, 30, tzinfo=UTC)
    )
    assert sorted(keys) == [
        "events/model=fraud/dt=2027-01-15/hour=07/a",
        "events/model=fraud/dt=2027-01-15/hour=08/b",
        "rejected/model=_unrouted/dt=2027-01-15/hour=07/u",
        "rejected/model=fraud/dt=2027-01-15/hour=08/d",
    ]


def test_all_records_reads_every_object_of_a_kind_in_key_order(storage: ObjectStorage) -> None:
    storage.put(BUCKET, "events/model=fraud/dt=2026-01-01/hour=01/b", b'{"i": 3}\n')
    storage.put(BUCKET, "events/model=fraud/dt=2026-01-01/hour=00/a", gzip.compress(b'{"i": 1}\n{"i": 2}\n'))
    storage.put(BUCKET, "rejected/model=fraud/dt=2026-01-01/hour=00/c", b'{"i": 99, "model": "fraud"}\n')
    storage.put(BUCKET, "rejected/model=_unrouted/dt=2026-01-01/hour=00/c", b'{"i": 98, "model": "x"}\n')
    store = EventStore(storage, BUCKET)
    assert [r["i"] for r in store.all_records("events", "fraud")] == [1, 2, 3]
    assert [r["i"] for r in store.all_records("rejected", "fraud")] == [99]
    assert [r["i"] for r in store.all_records("rejected")] == [98, 99]  # every model's, in key order
    assert list(store.all_records("labels")) == []


def test_a_corrupt_line_is_an_error_not_silently_dropped(storage: ObjectStorage) -> None:
    storage.put(BUCKET, "events/model=fraud/dt=2026-11-26/hour=09/bad", b'{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError):
        EventStore(storage, BUCKET).records("events", WINDOW, "fraud")
