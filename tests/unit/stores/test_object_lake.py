"""The object lake: the bucket's capture objects mirrored as files, partition by partition, for DuckDB."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.stores.objects import InMemoryStorage, ObjectStorage
from modelwatch.stores.sql import DuckDBEngine, ObjectLake, Query, QueryLimitExceeded, TableScan
from tests.unit.stores.conftest import BUCKET

HOUR = datetime(2026, 11, 30, 10, tzinfo=UTC)


def _body(n: int, model: str = "fraud", start: int = 0) -> bytes:
    lines = [
        json.dumps(
            {
                "schema_version": 1,
                "event_id": f"e{start + i}",
                "request_id": f"r{start + i}",
                "index": 0,
                "model": model,
                "version": "1",
                "timestamp": "2026-11-30T10:00:00Z",
                "features": {"amount": float(i)},
                "prediction": 0.5,
                "latency_ms": 1.0,
            }
        )
        for i in range(n)
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)  # the same bytes for the same lines


def _put(storage: ObjectStorage, hour: datetime, name: str, body: bytes, model: str = "fraud") -> str:
    key = layout.partitioned_key("events", hour, name, model)
    storage.put(BUCKET, key, body)
    return key


def test_a_sync_downloads_the_scanned_partitions_only_and_then_only_what_changed(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    inside = _put(storage, HOUR, "a", _body(3))
    outside = _put(storage, HOUR - timedelta(hours=5), "old", _body(2))
    other_model = _put(storage, HOUR, "c", _body(2, model="churn"), model="churn")
    lake = ObjectLake(storage, BUCKET, tmp_path)
    scan = TableScan("events", "fraud", HOUR - timedelta(hours=1), HOUR)

    first = lake.sync([scan])

    assert (first.prefixes, first.objects, first.downloaded) == (2, 1, 1)
    assert (tmp_path / inside).read_bytes() == _body(3)
    assert not (tmp_path / outside).exists() and not (tmp_path / other_model).exists()

    again = lake.sync([scan])
    assert (again.objects, again.downloaded) == (1, 0)  # already held, same size

    storage.put(BUCKET, inside, _body(5))  # rewritten with another size
    added = _put(storage, HOUR - timedelta(hours=1), "b", _body(1))
    changed = lake.sync([scan])
    assert changed.downloaded == 2
    assert (tmp_path / inside).read_bytes() == _body(5)
    assert (tmp_path / added).is_file()


def test_a_file_whose_object_is_gone_is_removed(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    kept = _put(storage, HOUR, "kept", _body(1))
    gone = _put(storage, HOUR, "gone", _body(1))
    lake = ObjectLake(storage, BUCKET, tmp_path)
    lake.sync([TableScan("events", "fraud", HOUR, HOUR)])
    del storage.objects[(BUCKET, gone)]

    report = lake.sync([TableScan("events", "fraud", HOUR, HOUR)])

    assert report.removed == 1
    assert (tmp_path / kept).is_file() and not (tmp_path / gone).exists()


def test_a_sync_lists_one_prefix_per_scanned_hour_whatever_the_history(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    for day in range(30):  # a month of history before the window
        _put(storage, HOUR - timedelta(days=day + 1), f"h{day}", _body(1))
    _put(storage, HOUR, "now", _body(1))
    lake = ObjectLake(storage, BUCKET, tmp_path)

    report = lake.sync([TableScan("events", "fraud", HOUR - timedelta(hours=2), HOUR)])

    assert storage.calls["list_objects"] == 3
    assert (report.objects, report.downloaded) == (1, 1)
    assert storage.calls["get"] == 1


def test_sync_all_mirrors_every_partition_of_the_kinds_or_of_one_model(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    fraud = [_put(storage, HOUR - timedelta(days=d), f"f{d}", _body(1)) for d in range(3)]
    churn = _put(storage, HOUR, "c", _body(1, model="churn"), model="churn")
    lake = ObjectLake(storage, BUCKET, tmp_path)

    one_model = lake.sync_all(["events"], model="fraud")
    assert one_model.downloaded == 3 and not (tmp_path / churn).exists()

    every_model = lake.sync_all(["events", "rejected", "labels"])
    assert every_model.downloaded == 1 and every_model.prefixes == 3
    assert all((tmp_path / key).is_file() for key in [*fraud, churn])


def _count_query(first: datetime, last: datetime) -> Query:
    return Query(
        sql="SELECT count(*) AS n FROM events WHERE model = 'fraud'",
        description=f"events of fraud from {first:%Y-%m-%dT%H}Z to {last:%Y-%m-%dT%H}Z",
        scans=(TableScan("events", "fraud", first, last),),
    )


def test_the_embedded_engine_with_a_lake_syncs_what_the_query_reads_first(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    _put(storage, HOUR, "a", _body(4))
    _put(storage, HOUR - timedelta(days=2), "old", _body(100, start=100))
    lake = ObjectLake(storage, BUCKET, tmp_path / "lake")
    engine = DuckDBEngine(tmp_path / "lake", lake=lake)

    assert engine.run(_count_query(HOUR, HOUR)).rows == [{"n": 4}]

    _put(storage, HOUR, "b", _body(3, start=10))  # delivered after the first query
    assert engine.run(_count_query(HOUR, HOUR)).rows == [{"n": 7}]


def test_the_lake_engine_refuses_a_query_past_its_limit_after_syncing(tmp_path: Path) -> None:
    storage: Any = InMemoryStorage()
    body = _body(50)
    for hour in range(3):
        _put(storage, HOUR - timedelta(hours=hour), f"o{hour}", body)
    engine = DuckDBEngine(tmp_path, bytes_limit=2 * len(body), lake=ObjectLake(storage, BUCKET, tmp_path))

    assert engine.run(_count_query(HOUR - timedelta(hours=1), HOUR)).rows == [{"n": 100}]
    with pytest.raises(QueryLimitExceeded, match="events of fraud from 2026-11-30T08Z to 2026-11-30T10Z"):
        engine.run(_count_query(HOUR - timedelta(hours=2), HOUR))
