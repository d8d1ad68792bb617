"""The CloudWatch capture-failure source of the metrics export (a stub CloudWatch client)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelwatch.metrics.serving_metrics import CloudWatchCaptureFailures


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
