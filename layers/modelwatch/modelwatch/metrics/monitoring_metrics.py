"""Samples of the monitoring jobs' results: drift, data quality, performance, and the jobs themselves.

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
