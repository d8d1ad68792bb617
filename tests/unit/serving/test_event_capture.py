"""Served and rejected requests as event lines, and how capture failures are counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts.events import PredictionEvent, RejectedRequest
from modelwatch.serving.context import ServingContext
from modelwatch.serving.event_capture import (
    MAX_REJECTED_LINE_BYTES,
    capture_predictions,
    capture_rejection,
    prediction_lines,
    rejected_line,
)
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.model_cache import ModelCache
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import MAX_RECORD_BYTES, CaptureOutcome, MemorySink
from tests.unit.fakes import FakeManifestSource, RaisingSink, RecordingFetcher

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


class FixedOutcomeSink:
    def __init__(self, outcome: CaptureOutcome) -> None:
        self.outcome = outcome

    def emit(self, stream: str, lines: Any, deadline: float | None = None) -> CaptureOutcome:
        return self.outcome


def context_with(sink: Any) -> ServingContext:
    settings = ServingSettings(
        models_bucket="models",
        rejected_stream="rejected-stream",
        events_stream="fraud-events",
        catalog_models=["fraud"],
    )
    models = ModelCache(FakeManifestSource(), RecordingFetcher(), settings.served_models)
    return ServingContext(
        settings=settings, models=models, sink=sink, metrics=InMemoryServingMetrics(), clock=lambda: NOW
    )


def test_prediction_lines_are_prediction_events() -> None:
    instances = [{"amount": 1.5, "hour": 3}, {"amount": 2.0, "hour": 4, "note": "é"}]
    lines = prediction_lines("req-1", "fraud", "2", NOW.isoformat(), instances, [0.1, 0.9], 12.34567)
    events = [PredictionEvent.model_validate_json(line) for line in lines]
    assert [e.index for e in events] == [0, 1]
    assert [e.features for e in events] == instances
    assert [e.prediction for e in events] == [0.1, 0.9]
    assert {e.request_id for e in events} == {"req-1"}
    assert {e.version for e in events} == {"2"}
    assert events[0].timestamp == NOW
    assert events[0].latency_ms == 12.346
    assert events[0].event_id != events[1].event_id
    assert all("\n" not in line for line in lines)


def test_prediction_lines_need_one_prediction_per_instance() -> None:
    with pytest.raises(ValueError):
        prediction_lines("r", "fraud", "1", NOW.isoformat(), [{}, {}], [0.5], 1.0)


def test_rejected_line_is_a_rejected_request() -> None:
    line = rejected_line(
        "req-2",
        "fraud",
        None,
        NOW.isoformat(),
        "unknown_model",
        404,
        [{"message": "nope"}],
        '{"instances": []}',
    )
    event = RejectedRequest.model_validate_json(line)
    assert (event.request_id, event.model, event.version, event.reason, event.status_code) == (
        "req-2",
        "fraud",
        None,
        "unknown_model",
        404,
    )
    assert event.body == '{"instances": []}'
    assert event.body_truncated is False
    assert event.errors == [{"message": "nope"}]


def test_rejected_body_truncated_past_the_limit_keeps_the_longest_prefix_that_fits() -> None:
    body = "x" * (MAX_REJECTED_LINE_BYTES + 10)
    line = rejected_line("r", "fraud", "1", NOW.isoformat(), "too_many_instances", 413, [], body)
    event = RejectedRequest.model_validate_json(line)
    assert event.body_truncated is True
    assert body.startswith(event.body)
    # the longest prefix: one more character would not fit
    assert len(line.encode()) <= MAX_REJECTED_LINE_BYTES
    assert len(line.encode()) + 1 > MAX_REJECTED_LINE_BYTES


def test_rejected_body_under_the_limit_is_whole() -> None:
    body = '{"instances": [' + ", ".join(['{"amount": 1.5, "channel": "pos"}'] * 5000) + "]}"
    event = RejectedRequest.model_validate_json(
        rejected_line("r", "fraud", "1", NOW.isoformat(), "too_many_instances", 413, [], body)
    )
    assert event.body == body
    assert event.body_truncated is False


@pytest.mark.parametrize("unit", ['{"a":"b"},', "é"])
def test_rejected_line_fits_a_firehose_record(unit: str) -> None:
    # Given a large body (e.g. a 413 with thousands of instances)
    body = unit * (MAX_REJECTED_LINE_BYTES // len(unit) + 1000)
    # When it becomes a rejected line
    line = rejected_line("r", "fraud", "1", NOW.isoformat(), "too_many_instances", 413, [], body)
    # Then the line, with its newline, fits one Firehose record
    assert len(line.encode()) + 1 <= MAX_RECORD_BYTES


def test_rejected_line_tolerates_non_json_values_in_errors() -> None:
    line = rejected_line(
        "r", "fraud", None, NOW.isoformat(), "invalid_body", 422, [{"loc": ["body", 0], "value": NOW}], ""
    )
    assert json.loads(line)["errors"][0]["value"] == str(NOW)


def test_capture_predictions_goes_to_the_model_stream_with_context_time() -> None:
    sink = MemorySink()
    context = context_with(sink)
    outcome = capture_predictions(context, "req", "fraud", "1", [{"a": 1}], [0.5], 3.0)
    assert outcome is not None and outcome.delivered == 1
    assert list(sink.lines) == ["fraud-events"]
    assert PredictionEvent.model_validate_json(sink.lines["fraud-events"][0]).timestamp == NOW
    assert context.metrics.counts == {}  # type: ignore[attr-defined]


def test_capture_rejection_goes_to_the_rejected_stream() -> None:
    sink = MemorySink()
    capture_rejection(context_with(sink), "req", "ghost", None, "unknown_model", 404, [], "{}")
    assert list(sink.lines) == ["rejected-stream"]
    assert RejectedRequest.model_validate_json(sink.lines["rejected-stream"][0]).model == "ghost"


def test_a_raising_sink_is_counted_not_raised() -> None:
    sink = RaisingSink()
    context = context_with(sink)
    assert capture_predictions(context, "req", "fraud", "1", [{"a": 1}, {"a": 2}], [0, 1], 1.0) is None
    assert sink.calls == 1
    assert context.metrics.counts == {("capture_failures", "fraud-events", "logged"): 2}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            CaptureOutcome(records=3, delivered=1, dead_lettered=2),
            {("capture_failures", "s", "dead_lettered"): 2},
        ),
        (CaptureOutcome(records=3, delivered=2, logged_only=1), {("capture_failures", "s", "logged"): 1}),
        (CaptureOutcome(records=3, delivered=3, retried=2), {}),
    ],
)
def test_failed_records_are_counted(outcome: CaptureOutcome, expected: dict[Any, int]) -> None:
    context = context_with(FixedOutcomeSink(outcome))
    context.settings.events_stream = "s"
    capture_predictions(context, "req", "fraud", "1", [{"a": 1}], [0], 1.0)
    assert context.metrics.counts == expected  # type: ignore[attr-defined]


def test_event_ids_are_unique_within_and_across_requests() -> None:
    rows = [{"a": i} for i in range(1000)]
    first = [
        json.loads(line)["event_id"] for line in prediction_lines("r", "m", "1", "t", rows, [0] * 1000, 1.0)
    ]
    second = [
        json.loads(line)["event_id"] for line in prediction_lines("r", "m", "1", "t", rows, [0] * 1000, 1.0)
    ]

    assert len(set(first)) == 1000 and not set(first) & set(second)
    assert all(len(event_id) == 32 for event_id in first)
