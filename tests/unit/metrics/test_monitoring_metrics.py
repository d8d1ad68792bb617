"""Samples of the monitoring jobs: catalogue labels, verdicts as 0/1, NaN p-values, job health."""

from __future__ import annotations

import math

import pytest

from modelwatch.metrics import (
    FeatureDrift,
    InMemorySink,
    PerformanceValue,
    QualityCheck,
    drift_samples,
    job_samples,
    performance_samples,
    quality_samples,
)

NOW = 1_800_000_000.0


def test_drift_samples_per_feature_and_for_the_dataset() -> None:
    features = [FeatureDrift("amount", "psi", 0.4, None, True), FeatureDrift("hour", "chi2", 3.1, 0.2, False)]
    sink = InMemorySink()

    sink.push(
        drift_samples("fraud", "2", features, drift_share=0.5, dataset_drift=True, now=NOW, window_rows=1000)
    )

    assert sink.last("modelwatch_feature_drift_score", feature="amount", method="psi") == 0.4
    assert math.isnan(sink.last("modelwatch_feature_drift_p_value", feature="amount"))
    assert sink.last("modelwatch_feature_drift_detected", feature="hour") == 0.0
    assert sink.last("modelwatch_dataset_drift_share", model="fraud", version="2") == 0.5
    assert sink.last("modelwatch_dataset_drift_detected") == 1.0
    assert sink.last("modelwatch_monitoring_window_rows", job="drift") == 1000


def test_quality_and_performance_samples() -> None:
    sink = InMemorySink()
    sink.push(
        quality_samples("fraud", "2", [QualityCheck("channel", "unseen_category", 0.07, True)], now=NOW)
    )
    sink.push(
        performance_samples(
            "fraud", "2", [PerformanceValue("auc", 0.71, 0.8, True), PerformanceValue("f1", 0.6)], now=NOW
        )
    )

    assert sink.last("modelwatch_data_quality_rate", check="unseen_category") == 0.07
    assert sink.last("modelwatch_data_quality_check_failed", feature="channel") == 1.0
    assert sink.last("modelwatch_model_performance_threshold", metric="auc") == 0.8
    assert sink.values("modelwatch_model_performance_threshold", metric="f1") == []
    assert sink.last("modelwatch_model_performance_degraded", metric="auc") == 1.0


def test_job_samples_record_success_time_only_on_success() -> None:
    ok = job_samples("drift", "fraud", started=NOW - 12, finished=NOW, succeeded=True, schedule_seconds=3600)
    failed = job_samples(
        "drift", "fraud", started=NOW - 3, finished=NOW, succeeded=False, schedule_seconds=3600
    )

    names_ok = {s.name: s.value for s in ok}
    assert names_ok["modelwatch_job_duration_seconds"] == 12
    assert names_ok["modelwatch_job_last_success_timestamp_seconds"] == NOW
    assert names_ok["modelwatch_job_last_run_success"] == 1
    assert "modelwatch_job_last_success_timestamp_seconds" not in {s.name for s in failed}
    with pytest.raises(ValueError, match="not one of"):
        job_samples("nightly", "fraud", started=0, finished=1, succeeded=True, schedule_seconds=60)
