"""The rollout evidence query on DuckDB over hand-built events, rejected requests and labels.

Each test builds records of both variants as files in the bucket's layout, runs the one query,
and checks the figures against what the same records give counted in Python.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.rollout import Rollout, RolloutCandidate, RolloutMetric, WindowEvidence
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.contracts.window import Window
from modelwatch.monitoring.performance import PredictionType
from modelwatch.monitoring.rollout_evidence import (
    InvalidRolloutMetric,
    check_metric_expression,
    evidence_from_rows,
    rollout_evidence_query,
)
from modelwatch.stores.sql import DuckDBEngine
from tests.unit.lake import write_object

MODEL = "fraud"
WINDOW = Window(datetime(2026, 11, 26, 9, 0, tzinfo=UTC), datetime(2026, 11, 26, 9, 5, tzinfo=UTC))
SCHEMA = InputSchema(features=[FeatureSpec(name="amount", type=FeatureType.NUMBER)])


def make_rollout(mode: str = "ab", share: float = 0.5, metric: RolloutMetric | None = None) -> Rollout:
    return Rollout(
        id="r-1",
        mode=mode,  # type: ignore[arg-type]
        candidate=RolloutCandidate(
            version="2", flavor="sklearn", artifact_uri="s3://m/2", input_schema=SCHEMA
        ),
        production_version="1",
        share=share,
        metric=metric or RolloutMetric(),
    )


@dataclass
class Records:
    """Records of one window, written as files under ``root`` (one object per kind and hour)."""

    root: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    ids: count[int] = field(default_factory=count)

    def request(
        self,
        request_id: str,
        version: str,
        predictions: list[Any],
        latency_ms: float,
        variant: str | None = "production",
        served: bool | None = True,
        at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        stamp = (at or WINDOW.start + timedelta(minutes=2)).isoformat()
        made = []
        for index, prediction in enumerate(predictions):
            event: dict[str, Any] = {
                "schema_version": 1,
                "event_id": f"e{next(self.ids)}",
                "request_id": request_id,
                "index": index,
                "model": MODEL,
                "version": version,
                "timestamp": stamp,
                "features": {"amount": 10.0 * index},
                "prediction": prediction,
                "latency_ms": latency_ms,
            }
            if variant is not None:
                event["variant"] = variant
            if served is not None:
                event["served"] = served
            made.append(event)
        self.events += made
        return made

    def failure(
        self, variant: str | None, version: str | None, reason: str, error_type: str, message: str
    ) -> None:
        self.rejected.append(
            {
                "schema_version": 1,
                "event_id": f"x{next(self.ids)}",
                "request_id": f"failed-{next(self.ids)}",
                "model": MODEL,
                "version": version,
                "timestamp": (WINDOW.start + timedelta(minutes=3)).isoformat(),
                "reason": reason,
                "status_code": 200 if reason == "candidate_failed" else 500,
                "errors": [{"type": error_type, "message": message}],
                "body": "{}",
                "body_truncated": False,
                "variant": variant,
            }
        )

    def label(self, request_id: str, index: int, value: Any, at: datetime | None = None) -> None:
        self.labels.append(
            {
                "schema_version": 1,
                "event_id": f"l{next(self.ids)}",
                "model": MODEL,
                "request_id": request_id,
                "index": index,
                "label": value,
                "timestamp": (at or WINDOW.end).isoformat(),
            }
        )

    def write(self) -> None:
        hour = WINDOW.start
        for kind, records in (("events", self.events), ("rejected", self.rejected), ("labels", self.labels)):
            if records:
                key = layout.partitioned_key(kind, hour, f"stream-{kind}", MODEL)  # type: ignore[arg-type]
                write_object(self.root, key, records)

    def evidence(
        self, rollout: Rollout, prediction_type: PredictionType = "probability", **kwargs: Any
    ) -> WindowEvidence:
        self.write()
        planned = rollout_evidence_query(
            MODEL,
            WINDOW,
            rollout,
            prediction_type,
            WINDOW.end + timedelta(minutes=1),
            timedelta(days=7),
            **kwargs,
        )
        result = DuckDBEngine(self.root).run(planned.query)
        return evidence_from_rows(result.rows, planned, rollout, WINDOW)


@pytest.fixture
def records(tmp_path: Path) -> Records:
    return Records(tmp_path)


def test_ab_figures_per_variant_count_requests_instances_latency_and_errors(records: Records) -> None:
    rng = random.Random(7)
    latencies: dict[str, list[float]] = {"1": [], "2": []}
    instances = {"1": 0, "2": 0}
    for i in range(300):
        version = "2" if i % 3 == 0 else "1"
        variant = "candidate" if version == "2" else "production"
        size = rng.randint(1, 4)
        latency = rng.lognormvariate(2.0 if version == "1" else 2.5, 0.3)
        # a record from before rollouts has no variant nor served field: production's
        records.request(
            f"q{i}",
            version,
            [rng.random() for _ in range(size)],
            latency,
            variant=variant if i % 7 else None if version == "1" else variant,
            served=True if i % 5 else None,
        )
        latencies[version].append(latency)
        instances[version] += size
    records.request("other-version", "0", [0.5], 1.0)  # neither rollout version: not counted
    records.request("late", "1", [0.5], 1.0, at=WINDOW.end + timedelta(seconds=1))  # the next window's
    records.events.append(dict(records.events[0]))  # a redelivery: same event id, counted once
    for _ in range(6):
        records.failure("candidate", "2", "candidate_failed", "prediction_failed", "boom")
    records.failure(None, "1", "prediction_failed", "prediction_failed", "production failed")
    records.failure("candidate", "2", "schema_violation", "x", "not a failure of the model")

    evidence = records.evidence(make_rollout())

    production, candidate = evidence.variants["production"], evidence.variants["candidate"]
    assert (production.version, candidate.version) == ("1", "2")
    assert production.instances == instances["1"] and candidate.instances == instances["2"]
    assert candidate.errors == 6 and production.errors == 1
    assert candidate.requests == len(latencies["2"]) + 6
    assert production.requests == len(latencies["1"]) + 1
    assert candidate.error_moments.n == candidate.requests and candidate.error_moments.total == 6
    for variant, version in ((production, "1"), (candidate, "2")):
        observed = latencies[version]
        assert variant.latency_moments.n == len(observed)  # per request, not per instance
        assert variant.latency_moments.total == pytest.approx(sum(observed))
        assert variant.latency_moments.total_sq == pytest.approx(sum(x * x for x in observed))
        for quantile, value in ((0.5, variant.latency_p50_ms), (0.99, variant.latency_p99_ms)):
            exact = float(np.quantile(observed, quantile))
            assert value is not None and value == pytest.approx(exact, rel=0.1)
    assert evidence.share == 0.5 and evidence.agreement.pairs == 0
    assert sum(production.prediction_histogram) == instances["1"]
    assert len(candidate.prediction_histogram) == 10


def test_shadow_predictions_are_the_candidates_and_agreement_pairs_them_with_production(
    records: Records,
) -> None:
    rng = random.Random(3)
    identical = 0
    differences: list[float] = []
    for i in range(200):
        scores = [rng.random() for _ in range(2)]
        records.request(f"s{i}", "1", scores, 5.0)
        if i % 2:  # half the requests are mirrored to the candidate
            shadow = [min(1.0, max(0.0, s + rng.gauss(0, 0.1))) for s in scores]
            records.request(f"s{i}", "2", shadow, 7.0, variant="candidate", served=False)
            identical += sum((a >= 0.5) == (b >= 0.5) for a, b in zip(scores, shadow, strict=True))
            differences += [abs(a - b) for a, b in zip(scores, shadow, strict=True)]

    evidence = records.evidence(make_rollout("shadow", 0.5))

    assert evidence.variants["production"].requests == 200  # the shadow copies are not production's
    assert evidence.variants["candidate"].requests == 100
    assert evidence.agreement.pairs == 200
    assert evidence.agreement.identical == identical
    assert evidence.agreement.absolute_difference_sum == pytest.approx(sum(differences))
    assert evidence.agreement.mean_absolute_difference == pytest.approx(statistics.mean(differences))


def test_an_unloadable_candidate_is_counted_apart_with_its_first_message(records: Records) -> None:
    records.request("a", "1", [0.2], 3.0)
    records.failure("candidate", "2", "candidate_failed", "candidate_unavailable", "artifact missing")
    records.failure("candidate", "2", "candidate_failed", "candidate_unavailable", "artifact missing")

    candidate = records.evidence(make_rollout()).variants["candidate"]

    assert candidate.unavailable == 2 and candidate.unavailable_reason == "artifact missing"
    assert candidate.errors == 0 and candidate.requests == 0


def test_accuracy_per_variant_from_the_last_label_of_each_instance(records: Records) -> None:
    rng = random.Random(11)
    right = {"1": [], "2": []}
    for i in range(240):
        version = "2" if i % 2 else "1"
        score = rng.random()
        truth = int(rng.random() < (0.8 if version == "1" else 0.5)) if score >= 0.5 else 0
        records.request(
            f"r{i}", version, [score], 1.0, variant="candidate" if version == "2" else "production"
        )
        if i % 4 == 0:
            continue  # unlabelled
        records.label(f"r{i}", 0, 1 - truth, at=WINDOW.start + timedelta(minutes=3))  # superseded
        records.label(f"r{i}", 0, truth, at=WINDOW.start + timedelta(minutes=4))
        right[version].append(int((score >= 0.5) == (truth == 1)))

    evidence = records.evidence(make_rollout())

    for variant, version in (("production", "1"), ("candidate", "2")):
        moments = evidence.variants[variant].metric_moments
        assert moments.n == len(right[version])
        assert moments.total == sum(right[version]) == moments.total_sq


def test_an_expression_metric_is_computed_per_labelled_instance(records: Records) -> None:
    records.request("a", "1", [0.9], 1.0)
    records.request("b", "2", [0.2], 1.0, variant="candidate")
    records.label("a", 0, 0)
    records.label("b", 0, 1)
    cost = RolloutMetric(
        name="cost",
        builtin=None,
        expression="CASE WHEN prediction >= 0.5 AND label = 0 THEN -5 "
        "WHEN prediction < 0.5 AND label = 1 "
        "THEN -CAST(json_extract_scalar(features, '$.amount') AS double) - 1 "
        "ELSE 0 END",
    )

    evidence = records.evidence(make_rollout(metric=cost))

    assert evidence.variants["production"].metric_moments.total == -5.0
    assert evidence.variants["candidate"].metric_moments.total == -1.0  # amount 0 at index 0


@pytest.mark.parametrize(
    "expression",
    [
        "(SELECT 1)",
        "prediction; DROP TABLE events",
        "price * 2",
        "prediction IN (SELECT 1 FROM labels)",
        "((",
    ],
)
def test_a_metric_that_is_not_an_expression_over_the_instance_is_refused(expression: str) -> None:
    with pytest.raises(InvalidRolloutMetric):
        check_metric_expression(expression)


def test_a_plain_expression_is_accepted() -> None:
    assert check_metric_expression("abs(prediction - label)") == "abs(prediction - label)"


def test_value_models_bin_by_productions_deciles(records: Records) -> None:
    rng = np.random.default_rng(5)
    production = rng.normal(10.0, 2.0, 1000)
    candidate = rng.normal(12.0, 2.0, 1000)
    for i, value in enumerate(production):
        records.request(f"p{i}", "1", [float(value)], 1.0)
    for i, value in enumerate(candidate):
        records.request(f"c{i}", "2", [float(value)], 1.0, variant="candidate")

    evidence = records.evidence(make_rollout(), "value")

    edges = evidence.histogram_edges
    assert len(edges) == 9 and edges == sorted(edges)
    exact = np.quantile(production, np.arange(1, 10) / 10)
    assert np.allclose(edges, exact, atol=0.3)
    flat = evidence.variants["production"].prediction_histogram
    assert sum(flat) == 1000 and max(flat) - min(flat) < 40
    shifted = evidence.variants["candidate"].prediction_histogram
    assert shifted[-1] > 300  # a candidate 1 sd higher: a third of it above production's 9th decile


def test_label_models_bin_the_values_the_first_window_fixed(records: Records) -> None:
    for i in range(30):
        records.request(f"p{i}", "1", ["fraud" if i % 3 == 0 else "ok"], 1.0)
        records.request(f"c{i}", "2", ["review" if i % 5 == 0 else "ok"], 1.0, variant="candidate")

    first = records.evidence(make_rollout(), "label")
    fixed = records.evidence(make_rollout(), "label", label_values=["fraud", "ok"])

    assert first.histogram_labels == ["fraud", "ok", "review"]
    assert first.variants["production"].prediction_histogram == [10, 20, 0, 0]
    assert fixed.variants["candidate"].prediction_histogram == [0, 24, 6]  # "review": the other bin
