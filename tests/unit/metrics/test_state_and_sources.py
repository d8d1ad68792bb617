"""The S3 state store's conditional writes (moto) and the CloudWatch capture-failure source (stub)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.metrics.serving_metrics import (
    CloudWatchCaptureFailures,
    S3StateStore,
    ServingState,
    StateConflict,
)


def test_s3_state_round_trips_and_refuses_stale_writes(s3: Any) -> None:
    s3.create_bucket(Bucket="events-bucket")
    store = S3StateStore(s3, "events-bucket")
    state, version = store.load()
    assert version is None
    state.add("modelwatch_predictions_total", {"model": "fraud", "version": "1"}, 5)

    store.save(state, version)
    loaded, current = store.load()

    assert loaded.counter("modelwatch_predictions_total", model="fraud", version="1") == 5
    with pytest.raises(StateConflict):
        store.save(ServingState(), None)  # someone created it meanwhile
    with pytest.raises(StateConflict):
        store.save(ServingState(), '"stale-etag"')
    store.save(loaded, current)


class StubCloudWatch:
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_metrics"

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                assert kwargs == {"Namespace": "modelwatch", "MetricName": "CaptureFailures"}
                dims = [
                    [{"Name": "stream", "Value": "ev-fraud"}, {"Name": "outcome", "Value": "dead_lettered"}],
                    [{"Name": "stream", "Value": "ev-fraud"}, {"Name": "outcome", "Value": "logged"}],
                ]
                return [
                    {
                        "Metrics": [
                            {"Namespace": "modelwatch", "MetricName": "CaptureFailures", "Dimensions": d}
                            for d in dims
                        ]
                    }
                ]

        return Paginator()

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        return {"MetricDataResults": [{"Id": "m0", "Values": [2.0, 3.0]}, {"Id": "m1", "Values": []}]}


def test_cloudwatch_capture_failures_sum_per_stream_and_outcome() -> None:
    client = StubCloudWatch()

    found = CloudWatchCaptureFailures(client).failures(1_800_000_000.0, 1_800_000_120.0)

    assert found == {("ev-fraud", "dead_lettered"): 5.0, ("ev-fraud", "logged"): 0.0}
    (query,) = client.queries
    assert query["StartTime"] == datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert {q["MetricStat"]["Stat"] for q in query["MetricDataQueries"]} == {"Sum"}
