"""Samples of the monitoring jobs' results: drift, quality, performance, rollouts, and the jobs themselves.

The scheduled jobs call these builders with their results and push the samples
through a :class:`~modelwatch.metrics.provider.MetricsSink`; the labels are those
of the catalogue (:mod:`modelwatch.contracts.catalogue`), checked as samples are made.
Gauges carry the time of the run; a job run writes one sample per series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from modelwatch.contracts import catalogue as cat
from modelwatch.contracts.rollout import RolloutEvaluation, WindowEvidence
from modelwatch.contracts.sample import Sample


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift verdict (``p_value`` is ``None`` for distance methods)."""

    feature: str
    method: str
    score: float
    p_value: float | None
    detected: bool


@dataclass(frozen=True)
class QualityCheck:
    """One data-quality check on one feature: the failing share and the verdict."""

    feature: str
    check: str
    rate: float
    failed: bool


@dataclass(frozen=True)
class PerformanceValue:
    """One performance metric, its configured threshold (if any) and the verdict."""

    metric: str
    value: float
    threshold: float | None = None
    degraded: bool = False


def _window_rows(job: str, model: str, version: str, rows: int | None, now: float) -> list[Sample]:
    if rows is None:
        return []
    return [cat.MONITORING_WINDOW_ROWS.sample(rows, now, job=job, model=model, version=version)]


def drift_samples(
    model: str,
    version: str,
    features: Iterable[FeatureDrift],
    *,
    drift_share: float,
    dataset_drift: bool,
    now: float,
    window_rows: int | None = None,
) -> list[Sample]:
    """Return the drift job's samples: per feature score, p-value and verdict; dataset share and verdict."""
    samples = []
    for item in features:
        labels = {"model": model, "version": version, "feature": item.feature, "method": item.method}
        p_value = math.nan if item.p_value is None else item.p_value
        samples += [
            cat.FEATURE_DRIFT_SCORE.sample(item.score, now, **labels),
            cat.FEATURE_DRIFT_P_VALUE.sample(p_value, now, **labels),
            cat.FEATURE_DRIFT_DETECTED.sample(float(item.detected), now, **labels),
        ]
    samples += [
        cat.DATASET_DRIFT_SHARE.sample(drift_share, now, model=model, version=version),
        cat.DATASET_DRIFT_DETECTED.sample(float(dataset_drift), now, model=model, version=version),
    ]
    return samples + _window_rows("drift", model, version, window_rows, now)


def quality_samples(
    model: str, version: str, checks: Iterable[QualityCheck], *, now: float, window_rows: int | None = None
) -> list[Sample]:
    """Return the quality job's samples: per feature and check, the failing rate and the verdict."""
    samples = []
    for item in checks:
        labels = {"model": model, "version": version, "feature": item.feature, "check": item.check}
        samples += [
            cat.DATA_QUALITY_RATE.sample(item.rate, now, **labels),
            cat.DATA_QUALITY_FAILED.sample(float(item.failed), now, **labels),
        ]
    return samples + _window_rows("quality", model, version, window_rows, now)


def performance_samples(
    model: str,
    version: str,
    values: Iterable[PerformanceValue],
    *,
    now: float,
    window_rows: int | None = None,
) -> list[Sample]:
    """Return the performance job's samples: each metric, its threshold when set, and the verdict."""
    samples = []
    for item in values:
        labels = {"model": model, "version": version, "metric": item.metric}
        samples.append(cat.MODEL_PERFORMANCE.sample(item.value, now, **labels))
        if item.threshold is not None:
            samples.append(cat.MODEL_PERFORMANCE_THRESHOLD.sample(item.threshold, now, **labels))
        samples.append(cat.MODEL_PERFORMANCE_DEGRADED.sample(float(item.degraded), now, **labels))
    return samples + _window_rows("performance", model, version, window_rows, now)


def job_samples(
    job: str, model: str, *, started: float, finished: float, succeeded: bool, schedule_seconds: float
) -> list[Sample]:
    """Return a job run's samples: duration, outcome, schedule, and the success time when it succeeded.

    Raises
    ------
    ValueError
        ``job`` is not one of the catalogue's jobs.
    """
    if job not in cat.JOBS:
        raise ValueError(f"job {job!r} is not one of {cat.JOBS}")
    labels = {"job": job, "model": model}
    samples = [
        cat.JOB_DURATION.sample(max(0.0, finished - started), finished, **labels),
        cat.JOB_LAST_RUN_SUCCESS.sample(float(succeeded), finished, **labels),
        cat.JOB_SCHEDULE.sample(schedule_seconds, finished, **labels),
    ]
    if succeeded:
        samples.append(cat.JOB_LAST_SUCCESS.sample(finished, finished, **labels))
    return samples


_GUARDRAIL_STATES = {"ok": 0.0, "breached": 1.0, "waiting": -1.0}
_DECISIONS = {"candidate better": 1.0, "candidate worse": -1.0, "no difference yet": 0.0}


def _gauge(spec: cat.MetricSpec, value: float | None, now: float, **labels: str) -> list[Sample]:
    """One sample, none when there is no value yet (an absent series, not a made-up 0)."""
    return [] if value is None else [spec.sample(float(value), now, **labels)]


def rollout_samples(
    model: str, evaluation: RolloutEvaluation, window: WindowEvidence, metric: str, *, now: float
) -> list[Sample]:
    """Return the rollout job's samples: per variant, per test, per guardrail, and the rollout's own.

    ``version`` is the variant's version on per-variant series, the candidate's on the others.
    """
    candidate = evaluation.candidate_version
    samples: list[Sample] = []
    for variant, figures in window.variants.items():
        labels = {"model": model, "version": figures.version, "variant": variant}
        samples += [
            cat.ROLLOUT_WINDOW_REQUESTS.sample(figures.requests, now, **labels),
            cat.ROLLOUT_WINDOW_ERRORS.sample(figures.errors, now, **labels),
        ]
        for quantile, value in (("0.5", figures.latency_p50_ms), ("0.99", figures.latency_p99_ms)):
            seconds = value / 1000.0 if value is not None else None
            samples += _gauge(cat.ROLLOUT_LATENCY, seconds, now, **labels, quantile=quantile)
    for variant, totals in evaluation.totals.items():
        labels = {"model": model, "version": totals.version, "variant": variant}
        samples += _gauge(cat.ROLLOUT_ERROR_RATE, totals.error_rate, now, **labels)
        samples += _gauge(cat.ROLLOUT_METRIC_MEAN, totals.metric_mean, now, **labels, metric=metric)
    rollout = {"model": model, "version": candidate}
    samples += _gauge(cat.ROLLOUT_PREDICTION_DRIFT, evaluation.prediction_drift, now, **rollout)
    samples += _gauge(cat.ROLLOUT_AGREEMENT, evaluation.agreement.identical_share, now, **rollout)
    samples += _gauge(
        cat.ROLLOUT_MEAN_ABSOLUTE_DIFFERENCE, evaluation.agreement.mean_absolute_difference, now, **rollout
    )
    samples.append(cat.ROLLOUT_SHARE.sample(evaluation.share_after, now, **rollout))
    samples.append(cat.ROLLOUT_ROLLED_BACK.sample(float(evaluation.action == "rollback"), now, **rollout))
    for check in evaluation.guardrails:
        labels = {**rollout, "guardrail": check.name}
        samples.append(cat.ROLLOUT_GUARDRAIL_STATE.sample(_GUARDRAIL_STATES[check.state], now, **labels))
        samples += _gauge(cat.ROLLOUT_GUARDRAIL_VALUE, check.value, now, **labels)
        samples += _gauge(cat.ROLLOUT_GUARDRAIL_LIMIT, check.limit, now, **labels)
    for name, test in evaluation.tests.items():
        labels = {**rollout, "test": name}
        samples.append(cat.ROLLOUT_DECISION.sample(_DECISIONS[test.decision], now, **labels))
        samples += _gauge(cat.ROLLOUT_ESTIMATE, test.estimate, now, **labels)
        samples += _gauge(cat.ROLLOUT_INTERVAL_LOW, test.low, now, **labels)
        samples += _gauge(cat.ROLLOUT_INTERVAL_HIGH, test.high, now, **labels)
        for variant, n in (("candidate", test.n_candidate), ("production", test.n_production)):
            samples.append(cat.ROLLOUT_TEST_SAMPLES.sample(n, now, **labels, variant=variant))
    return samples
