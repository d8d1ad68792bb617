"""Running a job for one model and window: idempotent, timed, stored, announced.

Performance also converges: labels arrive hours or days after their predictions, so after
a scheduled performance run :func:`refresh_late_labels` recomputes the earlier windows
that new labels may have reached, at ages of 1, 2, 4, 8, ... window lengths, up to the
label horizon (see docs/monitoring.md, "Late labels").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from modelwatch.contracts.platform_events import DETAIL_TYPES, alert_detail
from modelwatch.contracts.results import JobName, JobResult
from modelwatch.contracts.window import Window, window_before
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.job_metrics import result_samples
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.requests import JobRequest
from modelwatch.observability import logger, metrics
from modelwatch.stores.events import DELIVERY_SLACK

JobFunction = Callable[[JobContext, str, Window], JobOutcome]


def _job_functions() -> dict[str, JobFunction]:
    # Imported here: each function bundles what its own job needs (the drift job, numpy).
    from modelwatch.jobs.drift_job import run_drift
    from modelwatch.jobs.performance_job import run_performance
    from modelwatch.jobs.quality_job import run_quality
    from modelwatch.jobs.rollout_job import run_rollout

    return {
        "drift": run_drift,
        "quality": run_quality,
        "performance": run_performance,
        "rollout": run_rollout,
    }


def window_of(context: JobContext, job: JobName, request: JobRequest) -> Window:
    """The window a request asks for: its ``window_start``, or the last complete one before its ``time``.

    The length is the request's ``window_minutes`` (a model's own schedule) or the default (the
    rollout job's: ``rollout_window_minutes``);
    the performance job's window is lagged by ``label_lag_minutes``, since labels come late.
    """
    default = context.settings.rollout_window_minutes if job == "rollout" else context.settings.window_minutes
    minutes = request.window_minutes or default
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


def run_request(context: JobContext, job: JobName, request: JobRequest) -> JobResult:
    """Run the window ``request`` asks of ``job``; then, when it asks, refresh what late labels reached."""
    window = window_of(context, job, request)
    result = run_job(context, job, request.model, window, force=request.force)
    if job == "performance" and request.refresh_late_labels:
        refresh_late_labels(context, request.model, window)
    return result


def revisit_ages(length: timedelta, horizon: timedelta) -> list[timedelta]:
    """How far back the windows revisited after a run are: 1, 2, 4, ... window lengths, then the horizon.

    Each window is thus revisited about ``log2(horizon / length) + 1`` times in its life
    (9 for hourly windows and 7 days: 1, 2, 4, ..., 128 hours and 168), so a run costs at
    most that many queries; the last revisit, at the horizon, counts every label the window
    will ever count.
    """
    ages: list[timedelta] = []
    age = length
    while age <= horizon:
        ages.append(age)
        age *= 2
    if horizon >= length and (not ages or ages[-1] < horizon):
        # the horizon, rounded down to whole windows (windows are aligned on their length)
        ages.append(length * (horizon // length))
    return sorted(set(ages))


def _labels_arrived_since(context: JobContext, model: str, window: Window, since: datetime) -> bool:
    """Whether label objects of ``model`` were delivered since ``since``, while they count for ``window``."""
    horizon_end = window.end + timedelta(days=context.settings.label_horizon_days)
    now = context.clock()
    if since >= horizon_end:  # computed after its horizon: final
        return False
    until = min(now, horizon_end + DELIVERY_SLACK)
    return bool(context.events.delivered_since("labels", model, since, until))


def refresh_late_labels(context: JobContext, model: str, window: Window) -> list[JobResult]:
    """Recompute the earlier performance windows of ``model`` that late labels may have changed.

    After a run over ``window``, the windows :func:`revisit_ages` back are recomputed
    (forced) when they have no result, a failed one, or when label objects were delivered
    since their result was computed; a window past the label horizon is final.

    A recompute that raises (the engine is down, the invocation is about to time out) is
    stored as failed by :func:`run_job` and ends the refresh without failing the run that
    triggered it (its own result is stored): the failed window is due again at the next
    refresh, and the others wait for theirs, rather than hammering an engine that is down
    or running past the invocation's deadline.

    Returns
    -------
    list[JobResult]
        The results recomputed, most recent window first.
    """
    length = window.end - window.start
    horizon = timedelta(days=context.settings.label_horizon_days)
    recomputed: list[JobResult] = []
    for age in revisit_ages(length, horizon):
        earlier = Window(window.start - age, window.end - age)
        existing = context.results.read("performance", model, earlier.key)
        due = (
            existing is None
            or existing.status == "failed"
            or _labels_arrived_since(context, model, earlier, existing.started_at)
        )
        if not due:
            continue
        logger.info("late labels: recomputing", extra={"model": model, "window": earlier.key})
        try:
            recomputed.append(run_job(context, "performance", model, earlier, force=True))
        except Exception as error:  # stored as failed by run_job: due again at the next refresh
            logger.warning(
                "late labels: recompute failed, refresh stopped",
                extra={"model": model, "window": earlier.key, "error": f"{type(error).__name__}: {error}"},
            )
            break
    metrics.add_metric(name="LateLabelRecomputes", unit=MetricUnit.Count, value=len(recomputed))
    return recomputed
