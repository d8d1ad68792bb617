"""The metrics a job result becomes (drift scores, quality rates, performance, rollouts, job health).

Pushed through the same sink as everything else (AMP in the cloud, the local
Prometheus on one machine). A push that fails never fails the run: the result is
already in S3, and the failure is logged and counted.
"""

from __future__ import annotations

from typing import Any

from modelwatch.contracts.results import JobResult
from modelwatch.contracts.rollout import RolloutEvaluation, WindowEvidence
from modelwatch.metrics import (
    FeatureDrift,
    PerformanceValue,
    QualityCheck,
    Sample,
    drift_samples,
    job_samples,
    performance_samples,
    quality_samples,
    rollout_samples,
)

_PERFORMANCE_METRICS = ("auc", "accuracy", "precision", "recall", "f1", "log_loss", "rmse", "mae")


def _drift(result: JobResult, now: float) -> list[Sample]:
    samples: list[Sample] = []
    for version, report in result.details.items():
        features = [
            FeatureDrift(
                f["name"], f["method"], float(f["effect_size"] or 0.0), f["p_value"], f["drift_detected"]
            )
            for f in report["features"]
        ]
        samples += drift_samples(
            result.model,
            version,
            features,
            drift_share=report["drift_share"],
            dataset_drift=report["dataset_drift"],
            now=now,
            window_rows=report["n_current"],
        )
    return samples


def _quality(result: JobResult, now: float) -> list[Sample]:
    samples: list[Sample] = []
    for version, report in result.details.items():
        checks = []
        for feature in report["features"]:
            failed = {v["check"] for v in feature["violations"]}
            for check in ("missing", "out_of_range", "unseen_category", "type_error"):
                checks.append(QualityCheck(feature["name"], check, feature[f"{check}_rate"], check in failed))
        samples += quality_samples(result.model, version, checks, now=now, window_rows=report["n_rows"])
    return samples


def _performance(result: JobResult, now: float) -> list[Sample]:
    samples: list[Sample] = []
    breaches: dict[str, Any] = result.summary.get("breaches", {})
    for version, values in result.summary.get("metrics", {}).items():
        degraded = {b["metric"]: b for b in breaches.get(version, [])}
        points = [
            PerformanceValue(
                name,
                float(values[name]),
                degraded[name].get("min", degraded[name].get("max")) if name in degraded else None,
                name in degraded,
            )
            for name in _PERFORMANCE_METRICS
            if values.get(name) is not None
        ]
        samples += performance_samples(
            result.model, version, points, now=now, window_rows=values["n_labelled"]
        )
    return samples


def _rollout(result: JobResult, now: float) -> list[Sample]:
    details = dict(result.details)
    window = WindowEvidence.model_validate(details.pop("window"))
    evaluation = RolloutEvaluation.model_validate(details)
    metric = next((name for name in evaluation.tests if name not in ("error_rate", "latency_ms")), "metric")
    return rollout_samples(result.model, evaluation, window, metric, now=now)


def result_samples(result: JobResult, finished: float, schedule_seconds: float) -> list[Sample]:
    """Every sample of a result: what the job measured (when ``ok``) and the job's own health."""
    measured: list[Sample] = []
    if result.status == "ok":
        measured = {"drift": _drift, "quality": _quality, "performance": _performance, "rollout": _rollout}[
            result.job
        ](result, finished)
    return measured + job_samples(
        result.job,
        result.model,
        started=finished - result.duration_seconds,
        finished=finished,
        succeeded=result.status != "failed",
        schedule_seconds=schedule_seconds,
    )
