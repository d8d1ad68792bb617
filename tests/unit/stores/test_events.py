"""The event store: a window's objects by delivery hour, records by their own time and model."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts.window import Window
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import ObjectStorage
from tests.unit.stores.conftest import BUCKET

WINDOW = Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))


def _lines(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _event(model: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "version": "1", "timestamp": at, **extra}


def test_objects_of_a_window_are_those_delivered_from_the_hour_before_to_the_hour_after(
    storage: ObjectStorage,
) -> None:
    # Given objects delivered every hour from 06:00 to 12:00, and one without an hour
    for hour in range(6, 13):
        storage.put(BUCKET, f"events/model=fraud/dt=2026-11-26/hour={hour:02d}/o", b"")
    storage.put(BUCKET, "events/model=fraud/unpartitioned", b"")
    storage.put(BUCKET, "events/model=other/dt=2026-11-26/hour=09/o", b"")
    # When the objects of the 09:00-10:00 window are listed
    found = [o.key for o in EventStore(storage, BUCKET).objects("events", WINDOW, "fraud")]
    # Then they are the model's objects of 08:00 to 11:00 (late deliveries) plus the one without an hour
    expected = {f"events/model=fraud/dt=2026-11-26/hour={h:02d}/o" for h in range(8, 12)}
    expected.add("events/model=fraud/unpartitioned")
    assert set(found) == expected and len(found) == len(expected)
    assert found == sorted(found)


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


def test_records_of_shared_prefixes_are_those_of_the_model(storage: ObjectStorage) -> None:
    # Rejected requests and labels of every model share one prefix: the store keeps the model's.
    storage.put(
        BUCKET,
        "rejected/dt=2026-11-26/hour=09/r",
        _lines(_event("fraud", "2026-11-26T09:10:00Z", i=1), _event("churn", "2026-11-26T09:10:00Z", i=2)),
    )
    storage.put(
        BUCKET, "labels/dt=2026-11-26/hour=09/l", _lines(_event("churn", "2026-11-26T09:20:00Z", i=3))
    )
    store = EventStore(storage, BUCKET)
    assert [r["i"] for r in store.records("rejected", WINDOW, "fraud")] == [1]
    assert [r["i"] for r in store.records("labels", WINDOW, "churn")] == [3]
    assert store.records("labels", WINDOW, "fraud") == []


def test_delivered_keys_list_the_hours_asked_for_of_the_models_and_rejections(storage: ObjectStorage) -> None:
    for key in (
        "events/model=fraud/dt=2027-01-15/hour=07/a",
        "events/model=fraud/dt=2027-01-15/hour=08/b",
        "events/model=fraud/dt=2027-01-15/hour=05/old",
        "events/model=churn/dt=2027-01-15/hour=08/c",
        "rejected/dt=2027-01-15/hour=08/d",
        "labels/dt=2027-01-15/hour=08/e",
    ):
        storage.put(BUCKET, key, b"")
    keys = EventStore(storage, BUCKET).delivered_keys(
        ["fraud"], datetime(2027, 1, 15, 6, 30, tzinfo=UTC), datetime(2027, 1, 15, 8, 30, tzinfo=UTC)
    )
    assert sorted(keys) == [
        "events/model=fraud/dt=2027-01-15/hour=07/a",
        "events/model=fraud/dt=2027-01-15/hour=08/b",
        "rejected/dt=2027-01-15/hour=08/d",
    ]


def test_all_records_reads_every_object_of_a_kind_in_key_order(storage: ObjectStorage) -> None:
    storage.put(BUCKET, "events/model=fraud/dt=2026-01-01/hour=01/b", b'{"i": 3}\n')
    storage.put(BUCKET, "events/model=fraud/dt=2026-01-01/hour=00/a", gzip.compress(b'{"i": 1}\n{"i": 2}\n'))
    storage.put(
        BUCKET, "rejected/dt=2026-01-01/hour=00/c", b'{"i": 99, "model": "fraud"}\n{"i": 98, "model": "x"}\n'
    )
    store = EventStore(storage, BUCKET)
    assert [r["i"] for r in store.all_records("events", "fraud")] == [1, 2, 3]
    assert [r["i"] for r in store.all_records("rejected", "fraud")] == [99]
    assert [r["i"] for r in store.all_records("rejected")] == [99, 98]
    assert list(store.all_records("labels")) == []


def test_a_corrupt_line_is_an_error_not_silently_dropped(storage: ObjectStorage) -> None:
    storage.put(BUCKET, "events/model=fraud/dt=2026-11-26/hour=09/bad", b'{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError):
        EventStore(storage, BUCKET).records("events", WINDOW, "fraud")
