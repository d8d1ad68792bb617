"""Finding a window's objects: LIST requests and time per run, whatever the history (goals, not timed tests).

A model's objects of one kind are spread over a year of delivery hours before a one-hour
window (0, 5,000 and 500,000 older objects), with two objects in the window's hour. One run is
``EventStore.objects(kind, window, model)``, what every job does to find its window. For each
history the benchmark reports the LIST requests S3 would bill for a run
(``InMemoryStorage.list_requests``: one per page of up to 1,000 keys), the window's hour
prefixes (the goal: the same number), the requests that listing the model's whole prefix would
cost (what finding a window cost before the hour prefixes), and the time per run (median).

With ``--s3`` the 5,000-object history is also put in S3 (moto, in-process) and the
``ListObjectsV2`` calls botocore sends for a run are counted.

    python tests/benchmarks/bench_window_listing.py --output .bench/window_listing.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "layers" / "modelwatch"):
    sys.path.insert(0, str(path))

from modelwatch.contracts import layout  # noqa: E402
from modelwatch.contracts.window import Window  # noqa: E402
from modelwatch.stores.events import DELIVERY_SLACK, EventStore  # noqa: E402
from modelwatch.stores.objects import S3_LIST_PAGE_KEYS, InMemoryStorage, ObjectStorage  # noqa: E402

BUCKET = "modelwatch-events-bench"
MODEL = "fraud"
KIND: layout.CaptureKind = "events"
WINDOW = Window(datetime(2027, 1, 1, 12, tzinfo=UTC), datetime(2027, 1, 1, 13, tzinfo=UTC))
YEAR_HOURS = 365 * 24
HISTORIES = (0, 5_000, 500_000)


def _history_keys(older: int) -> list[str]:
    oldest = WINDOW.start - DELIVERY_SLACK - timedelta(hours=YEAR_HOURS)
    keys = [
        layout.partitioned_key(KIND, oldest + timedelta(hours=i % YEAR_HOURS), f"old-{i:06d}", MODEL)
        for i in range(older)
    ]
    return keys + [layout.partitioned_key(KIND, WINDOW.start, f"now-{i}", MODEL) for i in range(2)]


def _window_prefixes() -> int:
    prefix = layout.capture_prefix(KIND, MODEL)
    return len(
        list(layout.hourly_prefixes(prefix, WINDOW.start - DELIVERY_SLACK, WINDOW.end + DELIVERY_SLACK))
    )


def _time_runs(store: EventStore, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        found = store.objects(KIND, WINDOW, MODEL)
        seconds.append(time.perf_counter() - started)
        assert len(found) == 2, found
    return seconds


def bench_in_memory(older: int, runs: int) -> dict[str, Any]:
    storage = InMemoryStorage()
    for key in _history_keys(older):
        storage.put(BUCKET, key, b"")
    store = EventStore(storage, BUCKET)
    started = time.perf_counter()
    store.objects(KIND, WINDOW, MODEL)  # the first listing sorts the index of the keys put; not a run
    first = time.perf_counter() - started
    before = storage.list_requests
    seconds = _time_runs(store, runs)
    per_run = (storage.list_requests - before) / runs
    total = older + 2
    return {
        "older_objects": older,
        "list_requests_per_run": per_run,
        "window_hour_prefixes": _window_prefixes(),
        "goal_met": per_run == _window_prefixes(),
        "list_requests_listing_the_whole_model_prefix": max(1, math.ceil(total / S3_LIST_PAGE_KEYS)),
        "seconds_per_run_median": statistics.median(seconds),
        "seconds_per_run_max": max(seconds),
        "seconds_first_listing_sorting_the_index": first,
        "runs": runs,
    }


def bench_moto(older: int, runs: int) -> dict[str, Any]:
    import os

    import boto3
    from moto import mock_aws

    from modelwatch.stores.objects import S3Storage

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        client: Any = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for key in _history_keys(older):
            client.put_object(Bucket=BUCKET, Key=key, Body=b"")
        calls = {"n": 0}

        def count(**_: Any) -> None:
            calls["n"] += 1

        client.meta.events.register("before-call.s3.ListObjectsV2", count)
        storage: ObjectStorage = S3Storage(client)
        seconds = _time_runs(EventStore(storage, BUCKET), runs)
    return {
        "older_objects": older,
        "list_objects_v2_calls_per_run": calls["n"] / runs,
        "window_hour_prefixes": _window_prefixes(),
        "goal_met": calls["n"] / runs == _window_prefixes(),
        "seconds_per_run_median": statistics.median(seconds),
        "runs": runs,
        "note": "moto in-process: the call count is what S3 would receive; the time is moto's",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", default=".bench/window_listing.json")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--s3", action="store_true", help="also count ListObjectsV2 calls on moto's S3")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "benchmark": "window_listing",
        "python": platform.python_version(),
        "window": WINDOW.key,
        "kind": KIND,
        "goal": "LIST requests per run equal to the window's hour prefixes, whatever the history",
        "in_memory": [bench_in_memory(older, args.runs) for older in HISTORIES],
    }
    if args.s3:
        results["moto_s3"] = [bench_moto(5_000, min(args.runs, 10))]
    results["goal_met"] = all(r["goal_met"] for r in results["in_memory"] + results.get("moto_s3", []))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if results["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
