"""Serving metrics derived from captured events: cumulative counters, each object once, conflicts."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts import catalogue as cat
from modelwatch.contracts import layout
from modelwatch.contracts.custom_metrics import parse_custom_metrics
from modelwatch.metrics.provider import InMemorySink
from modelwatch.metrics.serving_metrics import (
    ServingState,
    apply_records,
    dead_letter_samples,
    export_serving_metrics,
    run_metrics_export,
    serving_samples_from_events,
)
from modelwatch.settings import ExportSettings
from modelwatch.stores.dead_letter_queue import InMemoryQueue, QueueDepth
from modelwatch.stores.events import EventStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.state import StateConflict, StateStore

BUCKET = "events-bucket"
STATE_KEY = "state/metrics_export/serving.json"

NOW = 1_800_000_000.0


def prediction(
    index: int = 0, latency_ms: float = 20.0, model: str = "fraud", version: str = "1", **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": 1, "event_id": f"e{index}", "request_id": "r", "index": index,
        "model": model, "version": version, "timestamp": "2027-01-15T08:00:00Z",
        "features": {"amount": 120.0}, "prediction": 0.95, "latency_ms": latency_ms, **extra,
    }  # fmt: skip


def rejected(
    reason: str = "schema_violation", model: str = "fraud", version: str | None = "1"
) -> dict[str, Any]:
    return {
        "schema_version": 1, "event_id": "x", "request_id": "r", "model": model, "version": version,
        "timestamp": "2027-01-15T08:00:00Z", "reason": reason, "status_code": 422, "errors": [], "body": "{}",
    }  # fmt: skip


def test_predictions_requests_rejections_and_latency_histogram() -> None:
    state = ServingState()
    records = [
        prediction(0, 30.0),
        prediction(1, 30.0),
        prediction(0, 700.0),
        rejected(),
        rejected("invalid_body"),
    ]

    counts = apply_records(state, records)

    labels = {"model": "fraud", "version": "1"}
    assert (counts.predictions, counts.requests, counts.rejections) == (3, 2, 2)
    assert state.counter(cat.PREDICTIONS_TOTAL.name, **labels) == 3
    assert state.counter(cat.PREDICTION_REQUESTS_TOTAL.name, **labels) == 2
    assert state.counter(cat.REJECTIONS_TOTAL.name, **labels, reason="schema_violation") == 1
    bucket = f"{cat.PREDICTION_LATENCY.name}_bucket"
    assert state.counter(bucket, **labels, le="0.025") == 0
    assert state.counter(bucket, **labels, le="0.05") == 1
    assert state.counter(bucket, **labels, le="1.0") == 2
    assert state.counter(bucket, **labels, le="+Inf") == 2
    assert state.counter(f"{cat.PREDICTION_LATENCY.name}_sum", **labels) == pytest.approx(0.73)


def test_unknown_models_and_missing_versions_have_bounded_labels() -> None:
    state = ServingState()

    apply_records(state, [rejected("unknown_model", model="anything-a-user-typed", version=None)])
    apply_records(state, [prediction(model="other")], known_models=frozenset({"fraud"}))

    assert (
        state.counter(cat.REJECTIONS_TOTAL.name, model="_unknown", version="_none", reason="unknown_model")
        == 1
    )
    assert state.counter(cat.PREDICTIONS_TOTAL.name, model="_unknown", version="1") == 1


def test_unrecognised_records_are_skipped() -> None:
    counts = apply_records(ServingState(), [{"foo": 1}, rejected("made_up_reason")])

    assert counts.skipped == 2


def test_samples_are_cumulative_across_batches_and_every_bucket_is_present() -> None:
    state = ServingState()
    serving_samples_from_events([prediction()], NOW, state)

    samples = serving_samples_from_events([prediction(), prediction()], NOW + 60, state)

    totals = [s for s in samples if s.name == cat.PREDICTIONS_TOTAL.name]
    assert [s.value for s in totals] == [3.0]
    assert totals[0].timestamp_ms == int((NOW + 60) * 1000)
    buckets = {s.label_dict["le"] for s in samples if s.name.endswith("_bucket")}
    assert len(buckets) == len(cat.LATENCY_BUCKETS) + 1
    last_event = [s for s in samples if s.name == cat.LAST_EVENT_TIMESTAMP.name]
    assert last_event[0].value == 1_800_000_000.0  # the events' timestamp


class Delivered:
    """Event objects in an in-memory bucket, the export's state beside them."""

    def __init__(self, *bodies: list[dict[str, Any]], gzipped: bool = False) -> None:
        self.storage = InMemoryStorage()
        self.events = EventStore(self.storage, BUCKET)
        self.store = StateStore(self.storage, BUCKET, STATE_KEY, ServingState)
        for i, records in enumerate(bodies):
            data = "".join(json.dumps(r) + "\n" for r in records).encode()
            self.put(
                f"events/model=fraud/dt=2027-01-15/hour=08/o{i}", gzip.compress(data) if gzipped else data
            )

    def put(self, key: str, body: bytes) -> None:
        self.storage.put(BUCKET, key, body)

    @property
    def keys(self) -> list[str]:
        return self.storage.keys(BUCKET, "events/")


def test_export_counts_each_object_once_and_writes_every_series() -> None:
    bucket, sink = Delivered([prediction(), prediction(1)], [rejected()], gzipped=True), InMemorySink()

    first = export_serving_metrics(
        keys=bucket.keys, read_records=bucket.events.read, store=bucket.store, sink=sink, clock=lambda: NOW
    )
    second = export_serving_metrics(
        keys=bucket.keys,
        read_records=bucket.events.read,
        store=bucket.store,
        sink=sink,
        clock=lambda: NOW + 60,
    )

    assert (first.objects, second.objects) == (2, 0)
    assert sink.values(cat.PREDICTIONS_TOTAL.name, model="fraud") == [2.0, 2.0]
    assert sink.values(cat.REJECTIONS_TOTAL.name, reason="schema_violation") == [1.0, 1.0]
    assert first.write.ok and first.series == second.series


def test_a_failed_write_loses_nothing_the_next_run_writes_larger_totals() -> None:
    bucket = Delivered([prediction()])
    down = InMemorySink(fail_with="connection refused")

    outcome = export_serving_metrics(
        keys=bucket.keys, read_records=bucket.events.read, store=bucket.store, sink=down, clock=lambda: NOW
    )
    bucket.put("events/model=fraud/dt=2027-01-15/hour=08/later", json.dumps(prediction()).encode())
    up = InMemorySink()
    export_serving_metrics(
        keys=bucket.keys, read_records=bucket.events.read, store=bucket.store, sink=up, clock=lambda: NOW + 60
    )

    assert not outcome.write.ok
    assert up.last(cat.PREDICTIONS_TOTAL.name, model="fraud") == 2.0


def test_an_unreadable_object_is_left_for_the_next_run() -> None:
    bucket = Delivered([prediction()])
    bucket.put("events/model=fraud/dt=2027-01-15/hour=08/broken", b"{not json")

    outcome = export_serving_metrics(
        keys=bucket.keys,
        read_records=bucket.events.read,
        store=bucket.store,
        sink=InMemorySink(),
        clock=lambda: NOW,
    )

    assert outcome.unreadable == ["events/model=fraud/dt=2027-01-15/hour=08/broken"]
    assert outcome.objects == 1
    state, _ = bucket.store.load()
    assert "events/model=fraud/dt=2027-01-15/hour=08/broken" not in state.processed


def test_a_concurrent_save_makes_the_run_recount_from_the_new_state() -> None:
    bucket = Delivered([prediction()])

    class RacingStore(StateStore[ServingState]):
        raced = False

        def save(self, state: ServingState, version: str | None) -> None:
            if not self.raced:
                self.raced = True
                other = ServingState()
                other.add(cat.PREDICTIONS_TOTAL.name, {"model": "fraud", "version": "1"}, 10)
                super().save(other, version)
                raise StateConflict("changed")
            super().save(state, version)

    store, sink = RacingStore(bucket.storage, BUCKET, STATE_KEY, ServingState), InMemorySink()

    outcome = export_serving_metrics(
        keys=bucket.keys, read_records=bucket.events.read, store=store, sink=sink, clock=lambda: NOW
    )

    assert outcome.conflicts == 1
    assert sink.last(cat.PREDICTIONS_TOTAL.name, model="fraud") == 11.0


def test_processed_keys_are_forgotten_after_the_retention() -> None:
    state = ServingState(processed={"old": NOW - 10_000, "new": NOW - 10})

    state.prune(NOW, retain_seconds=3600)

    assert state.processed == {"new": NOW - 10}


def test_capture_failures_come_from_the_source_once_per_window() -> None:
    class Source:
        def __init__(self) -> None:
            self.windows: list[tuple[float, float]] = []

        def failures(self, start: float, end: float) -> dict[tuple[str, str], float]:
            self.windows.append((start, end))
            return {("modelwatch-events-fraud", "dead_lettered"): 4.0}

    source, bucket, sink = Source(), Delivered(), InMemorySink()

    for clock in (lambda: NOW, lambda: NOW + 60):
        export_serving_metrics(
            keys=[],
            read_records=bucket.events.read,
            store=bucket.store,
            sink=sink,
            clock=clock,
            capture_failures=source,
        )

    assert source.windows[0][1] == source.windows[1][0]
    assert sink.values(cat.CAPTURE_FAILURES_TOTAL.name, outcome="dead_lettered") == [4.0, 8.0]
    assert sink.values(cat.CAPTURE_FAILURES_TOTAL.name, outcome="logged") == [0.0, 0.0]


def test_custom_metrics_are_counted_from_prediction_events() -> None:
    custom = parse_custom_metrics(
        [
            {
                "name": "modelwatch_custom_high_risk_total",
                "help": "p > 0.9",
                "where": [{"field": "prediction", "op": ">", "value": 0.9}],
            },
            {
                "name": "modelwatch_custom_amount_total",
                "help": "amounts",
                "aggregation": "sum",
                "value": "features.amount",
            },
        ]
    )
    low = prediction(1) | {"prediction": 0.2}

    samples = serving_samples_from_events([prediction(), low], NOW, custom=custom)

    values = {s.name: s.value for s in samples if s.name.startswith("modelwatch_custom")}
    assert values == {"modelwatch_custom_high_risk_total": 1.0, "modelwatch_custom_amount_total": 240.0}


def test_a_run_counts_the_objects_delivered_in_its_lookback_hours_and_reports_its_health() -> None:
    # Given objects of this hour and the last, an older one, a rejection, and another model's rejection
    bucket = Delivered()
    line = (json.dumps(prediction()) + "\n").encode()
    bucket.put("events/model=fraud/dt=2027-01-15/hour=08/now", line)
    bucket.put("events/model=fraud/dt=2027-01-15/hour=07/last-hour", line)
    bucket.put("events/model=fraud/dt=2027-01-15/hour=06/too-old", line)
    bucket.put("rejected/model=fraud/dt=2027-01-15/hour=08/r", (json.dumps(rejected()) + "\n").encode())
    bucket.put("rejected/model=churn/dt=2027-01-15/hour=08/r", (json.dumps(rejected()) + "\n").encode())
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"], export_lookback_hours=1)
    sink = InMemorySink()

    # When the scheduled export runs at 2027-01-15T08:00:00Z
    outcome = run_metrics_export(settings, storage=bucket.storage, sink=sink, clock=lambda: NOW)

    # Then it counted the two recent prediction objects and the rejection, saved its state, and says so
    assert outcome.objects == 3 and outcome.unreadable == []
    assert sink.last(cat.PREDICTIONS_TOTAL.name, model="fraud") == 2.0
    assert sink.last(cat.REJECTIONS_TOTAL.name, reason="schema_violation") == 1.0
    assert sink.last(cat.JOB_LAST_SUCCESS.name, job="metrics_export") == NOW
    assert bucket.storage.keys(BUCKET, "state/") == [STATE_KEY]


def test_a_run_writes_the_depth_of_the_capture_dead_letter_queue() -> None:
    # Given three dead letters, one of them received by a replay and not yet deleted
    queue = InMemoryQueue(clock=lambda: 0.0)
    for body in ("a", "b", "c"):
        queue.send(body)
    queue.receive(1, visibility_timeout=300)
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"])
    sink = InMemorySink()

    # When the export runs
    outcome = run_metrics_export(
        settings, storage=Delivered().storage, sink=sink, dead_letters=queue, clock=lambda: NOW
    )

    # Then the gauge says two wait and one is in flight, written with the job's health
    name = cat.CAPTURE_DEAD_LETTER_MESSAGES.name
    assert sink.last(name, state="visible") == 2.0 and sink.last(name, state="in_flight") == 1.0
    assert outcome.write.ok


def test_a_queue_that_cannot_be_read_writes_no_depth_and_fails_nothing() -> None:
    class Unreachable:
        def depth(self) -> QueueDepth:
            raise ConnectionError("sqs is down")

    sink = InMemorySink()
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"])

    outcome = run_metrics_export(
        settings, storage=Delivered().storage, sink=sink, dead_letters=Unreachable(), clock=lambda: NOW
    )

    assert sink.values(cat.CAPTURE_DEAD_LETTER_MESSAGES.name) == []
    assert sink.last(cat.JOB_LAST_RUN_SUCCESS.name, job="metrics_export") == 1.0 and outcome.write.ok


def test_an_empty_queue_reads_zero_not_absent() -> None:
    samples = dead_letter_samples(InMemoryQueue(), NOW)

    assert {(s.label_dict["state"], s.value) for s in samples} == {("visible", 0.0), ("in_flight", 0.0)}


MODELS_BUCKET = "models-bucket"


def test_a_run_writes_the_version_each_model_is_published_at(make_manifest: Any) -> None:
    # Given fraud published at version 3 under production (and 2 under staging), churn unpublished,
    # and a manifest of credit that does not parse
    published = datetime(2027, 1, 15, 7, 30, tzinfo=UTC)
    delivered = Delivered()
    manifests = ManifestStore(delivered.storage, MODELS_BUCKET)
    manifests.write(make_manifest(model="fraud", version="3", alias="production", created_at=published))
    manifests.write(make_manifest(model="fraud", version="2", alias="staging"))
    delivered.storage.put(MODELS_BUCKET, layout.manifest_key("credit", "production"), b"{not json")
    settings = ExportSettings(
        events_bucket=BUCKET, served_models=["fraud", "churn", "credit"], models_bucket=MODELS_BUCKET
    )
    sink = InMemorySink()

    # When the export runs
    outcome = run_metrics_export(settings, storage=delivered.storage, sink=sink, clock=lambda: NOW)

    # Then fraud has one series, its production version and publication time; the others none
    name = cat.MODEL_PUBLISHED_TIMESTAMP.name
    assert [(s.label_dict, s.value) for s in sink.samples if s.name == name] == [
        ({"model": "fraud", "version": "3"}, published.timestamp())
    ]
    assert outcome.write.ok
    assert sink.last(cat.JOB_LAST_RUN_SUCCESS.name, job="metrics_export", model="credit") == 1.0


def test_without_a_list_of_models_the_published_manifests_are_exported(make_manifest: Any) -> None:
    # Given two models published under production (one after deployment) and one only under staging
    delivered = Delivered()
    manifests = ManifestStore(delivered.storage, MODELS_BUCKET)
    manifests.write(make_manifest(model="fraud", version="3", alias="production"))
    manifests.write(make_manifest(model="churn", version="1", alias="production"))
    manifests.write(make_manifest(model="credit", version="2", alias="staging"))
    settings = ExportSettings(events_bucket=BUCKET, models_bucket=MODELS_BUCKET)
    sink = InMemorySink()

    # When the export runs with no served_models configured
    run_metrics_export(settings, storage=delivered.storage, sink=sink, clock=lambda: NOW)

    # Then the job's health and the published version are exported for each production model only
    health = {s.label_dict["model"] for s in sink.samples if s.name == cat.JOB_LAST_RUN_SUCCESS.name}
    published = {s.label_dict["model"] for s in sink.samples if s.name == cat.MODEL_PUBLISHED_TIMESTAMP.name}
    assert health == published == {"fraud", "churn"}


def test_without_a_models_bucket_no_manifest_is_read() -> None:
    class Refusing(InMemoryStorage):
        def get(self, bucket: str, key: str, if_none_match: str | None = None) -> Any:
            assert bucket != MODELS_BUCKET, "the models bucket was read"
            return super().get(bucket, key, if_none_match)

    sink = InMemorySink()
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"])

    run_metrics_export(settings, storage=Refusing(), sink=sink, clock=lambda: NOW)

    assert sink.values(cat.MODEL_PUBLISHED_TIMESTAMP.name) == []


def test_the_serving_alias_is_checked_like_a_model_name() -> None:
    with pytest.raises(ValueError, match="serving_alias"):
        ExportSettings(events_bucket=BUCKET, serving_alias="../prod")
