"""Running a job for one model and window: idempotent, timed, stored, announced."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from modelwatch.contracts.platform_events import DETAIL_TYPES, alert_detail
from modelwatch.contracts.results import JobName, JobResult
from modelwatch.contracts.window import Window, window_before
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.job_metrics import result_samples
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.requests import JobRequest
from modelwatch.observability import logger, metrics

JobFunction = Callable[[JobContext, str, Window], JobOutcome]


def _job_functions() -> dict[str, JobFunction]:
    # Imported here: each function bundles what its own job needs (the drift job, numpy).
    from modelwatch.jobs.drift_job import run_drift
    from modelwatch.jobs.performance_job import run_performance
    from modelwatch.jobs.quality_job import run_quality

    return {"drift": run_drift, "quality": run_quality, "performance": run_performance}


def window_of(context: JobContext, job: JobName, request: JobRequest) -> Window:
    """The window a request asks for: its ``window_start``, or the last complete one before its ``time``.

    The length is the request's ``window_minutes`` (a model's own schedule) or the default;
    the performance job's window is lagged by ``label_lag_minutes``, since labels come late.
    """
    minutes = request.window_minutes or context.settings.window_minutes
    length = timedelta(minutes=minutes)
    if request.window_start is not None:
        start = request.window_start
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        return Window(start, start + length)
    lag = timedelta(minutes=context.settings.label_lag_minutes if job == "performance" else 0)
    return window_before(request.time or context.clock(), length, lag)


def run_job(context: JobContext, job: JobName, model: str, window: Window, force: bool = False) -> JobResult:
    """Run ``job`` over ``window`` unless it already has a result; store and announce the result.

    A failure inside the job is caught and stored as a ``failed`` result naming the
    error, then re-raised so the invocation is retried and, in the end, dead-lettered.
    """
    results = context.results
    if not force:
        existing = results.read(job, model, window.key)
        if existing is not None and existing.status != "failed":
            logger.info("window already reported", extra={"job": job, "model": model, "window": window.key})
            return existing
    started = time.perf_counter()
    result = JobResult(
        job=job,
        model=model,
        window_start=window.start,
        window_end=window.end,
        status="failed",
        started_at=context.clock(),
    )
    try:
        outcome = _job_functions()[job](context, model, window)
    except Exception as error:
        result.reason = f"{type(error).__name__}: {error}"
        result.duration_seconds = time.perf_counter() - started
        results.write(result, window.key, {})
        _push_metrics(context, result, window)
        logger.exception("monitoring job failed", extra={"job": job, "model": model, "window": window.key})
        raise
    result = result.model_copy(
        update={
            "status": outcome.status,
            "alert": outcome.alert,
            "versions": outcome.versions,
            "summary": outcome.summary,
            "details": outcome.details,
            "reason": outcome.reason,
            "duration_seconds": time.perf_counter() - started,
        }
    )
    result = results.write(result, window.key, outcome.pages, outcome.primary_version)
    metrics.add_metric(name="JobDurationSeconds", unit=MetricUnit.Seconds, value=result.duration_seconds)
    metrics.add_metric(name="JobAlerts", unit=MetricUnit.Count, value=int(result.alert))
    if result.alert and context.bus is not None:
        context.bus.put(DETAIL_TYPES[job], alert_detail(result))
    _push_metrics(context, result, window)
    logger.info(
        "monitoring job done",
        extra={
            "job": job,
            "model": model,
            "window": window.key,
            "status": result.status,
            "alert": result.alert,
        },
    )
    return result


def _push_metrics(context: JobContext, result: JobResult, window: Window) -> None:
    """Push the result's metrics; a failure is logged and counted, never raised (the result is in S3)."""
    finished = context.clock().timestamp()
    schedule = (window.end - window.start).total_seconds()
    try:
        outcome = context.metrics.push(result_samples(result, finished, schedule))
    except Exception as error:  # a sink must not fail the run
        logger.warning("metrics push raised", extra={"job": result.job, "error": str(error)})
        metrics.add_metric(name="MetricsPushFailures", unit=MetricUnit.Count, value=1)
        return
    if not outcome.ok:
        logger.warning("metrics push incomplete", extra={"job": result.job, "outcome": str(outcome)})
        metrics.add_metric(name="MetricsPushFailures", unit=MetricUnit.Count, value=1)
