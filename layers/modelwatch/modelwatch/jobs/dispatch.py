"""The job dispatcher: which (model, job, window) are due, put on the job queues, one message each.

One schedule (every ``dispatch_every_minutes``) invokes the dispatcher; it lists the serving
manifests under the served alias, so a model published after deployment is monitored from
the next tick, and no rule, permission or policy exists per model.

The rule, for each model (its own window length: the manifest's ``monitoring.window_minutes``,
else the default) and each job: every window aligned on that length since the epoch (as
:func:`modelwatch.contracts.window.window_before` aligns them) that closed since the last
tick is due. The performance job's windows close ``label_lag_minutes`` later. "Since the last
tick" is the saved ``dispatched_through`` (``layout.JOB_DISPATCH_STATE_KEY``), so a late or
missed schedule catches up: at most ``max_catch_up_windows`` windows per model and job, the
most recent ones; older missed windows are counted as skipped (a backfill payload,
``{"backfill": {...}}``, queues them: :mod:`modelwatch.jobs.backfill`).

The rollout job (``rollout``, when it has a queue) runs only for a model whose production
manifest has a ``running`` rollout, over windows of ``rollout_window_minutes`` (short, so a
guardrail breach is acted on within one such period), by the same catch-up rule. A backfill
never queues it: its windows judge live traffic, in order.

Dispatching the same window twice doubles nothing: the job skips a window that already has
a result (:func:`modelwatch.jobs.runner.run_job`), and result keys are named by the window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from modelwatch.contracts import layout
from modelwatch.contracts.results import WINDOW_JOBS, JobName, WindowJobName
from modelwatch.contracts.window import Window, window_before
from modelwatch.observability import logger, metrics
from modelwatch.settings.job_dispatch import JobDispatchSettings
from modelwatch.stores import aws
from modelwatch.stores.job_queue import JobQueues, SqsJobQueues
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage
from modelwatch.stores.state import StateConflict, StateStore

JOBS: tuple[WindowJobName, ...] = WINDOW_JOBS
ROLLOUT_JOB: Final = "rollout"


class DispatchState(BaseModel):
    """How far the dispatcher has dispatched: windows closing at or before this are on the queues."""

    dispatched_through: datetime | None = None


@dataclass(frozen=True)
class DueWindow:
    """One job to run: ``job`` for ``model`` over ``window`` (recomputed if ``force``: a backfill's)."""

    job: JobName
    model: str
    window: Window
    force: bool = False
    # A scheduled performance run also revisits earlier windows whose labels may have arrived
    # since (modelwatch.jobs.runner); a backfill's runs do not.
    refresh_late_labels: bool = False

    def body(self) -> str:
        """The queue message: a :class:`modelwatch.jobs.requests.JobRequest` naming the window."""
        minutes = int((self.window.end - self.window.start).total_seconds() // 60)
        request: dict[str, object] = {
            "job": self.job,
            "model": self.model,
            "window_start": self.window.start.isoformat(),
            "window_minutes": minutes,
        }
        if self.force:
            request["force"] = True
        if self.refresh_late_labels:
            request["refresh_late_labels"] = True
        return json.dumps(request)


def due_windows(
    length: timedelta, since: datetime, now: datetime, lag: timedelta, limit: int
) -> tuple[list[Window], int]:
    """The windows of ``length`` that closed in ``(since, now]`` (closing ``lag`` after their end).

    Returns the most recent ``limit`` of them, oldest first, and how many older ones were left out.
    """
    due: list[Window] = []
    skipped = 0
    if now <= since:
        return due, skipped
    window = window_before(now, length, lag)
    while window.end + lag > since:
        if len(due) < limit:
            due.append(window)
        else:
            skipped += 1
        window = Window(window.start - length, window.start)
    return list(reversed(due)), skipped


@dataclass
class DispatchResult:
    """What one tick did: the windows it put on the queues, what it skipped and why."""

    since: datetime
    through: datetime
    models: int = 0
    dispatched: dict[str, int] = field(default_factory=dict)
    skipped_windows: int = 0
    unreadable_manifests: dict[str, str] = field(default_factory=dict)
    state_conflict: bool = False

    def summary(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "through": self.through.isoformat(),
            "models": self.models,
            "dispatched": self.dispatched,
            "skipped_windows": self.skipped_windows,
            "unreadable_manifests": self.unreadable_manifests,
            "state_conflict": self.state_conflict,
        }


@dataclass
class DispatchContext:
    """What the dispatcher reads and writes: manifests, its state, the job queues, the clock."""

    settings: JobDispatchSettings
    storage: ObjectStorage
    queues: JobQueues
    clock: Callable[[], datetime]
    manifests: ManifestStore = field(init=False)
    state: StateStore[DispatchState] = field(init=False)

    def __post_init__(self) -> None:
        self.manifests = ManifestStore(self.storage, self.settings.models_bucket)
        self.state = StateStore(
            self.storage, self.settings.events_bucket, layout.JOB_DISPATCH_STATE_KEY, DispatchState
        )


def build_dispatch_context(settings: JobDispatchSettings, clock: Callable[[], datetime]) -> DispatchContext:
    """Wire the production implementations: S3 and SQS."""
    return DispatchContext(
        settings=settings,
        storage=S3Storage(aws.client("s3")),
        queues=SqsJobQueues(aws.client("sqs"), settings.job_queue_urls),
        clock=clock,
    )


def plan_dispatch(
    context: DispatchContext, since: datetime, now: datetime
) -> tuple[list[DueWindow], DispatchResult]:
    """Every due (model, job, window) between ``since`` and ``now``, without sending anything."""
    settings = context.settings
    served = context.manifests.served_models(settings.served_alias)
    result = DispatchResult(since=since, through=now, models=len(served.manifests))
    result.unreadable_manifests = dict(served.unreadable)
    jobs = [job for job in JOBS if job in settings.job_queue_urls]
    due: list[DueWindow] = []
    for manifest in served.manifests:
        own = manifest.monitoring.window_minutes if manifest.monitoring is not None else None
        length = timedelta(minutes=own or settings.window_minutes)
        for job in jobs:
            labels = settings.label_lag_minutes if job == "performance" else 0
            lag = timedelta(minutes=settings.delivery_lag_minutes + labels)
            windows, skipped = due_windows(length, since, now, lag, settings.max_catch_up_windows)
            refresh = job == "performance"
            due.extend(
                DueWindow(job, manifest.model, window, refresh_late_labels=refresh) for window in windows
            )
            result.skipped_windows += skipped
        if (
            ROLLOUT_JOB in settings.job_queue_urls
            and manifest.rollout is not None
            and manifest.rollout.state == "running"
        ):
            # The rollout job's own (short) windows, for a running rollout only.
            length = timedelta(minutes=settings.rollout_window_minutes)
            lag = timedelta(minutes=settings.delivery_lag_minutes)
            windows, skipped = due_windows(length, since, now, lag, settings.max_catch_up_windows)
            due.extend(DueWindow(ROLLOUT_JOB, manifest.model, window) for window in windows)
            result.skipped_windows += skipped
    for item in due:
        result.dispatched[item.job] = result.dispatched.get(item.job, 0) + 1
    return due, result


def run_dispatch(context: DispatchContext, now: datetime | None = None) -> DispatchResult:
    """One tick at ``now`` (the schedule's time; default the clock): put every due window on its
    job's queue, then save how far it dispatched.

    The state is saved only after every message is sent, so a failed send (raised, and the
    invocation retried, then dead-lettered) dispatches the same windows again on the retry
    or the next tick; the jobs skip those that already ran.

    Raises
    ------
    modelwatch.stores.job_queue.JobQueueError
        SQS refused a message.
    """
    now = now or context.clock()
    state, version = context.state.load()
    period = timedelta(minutes=context.settings.dispatch_every_minutes)
    since = state.dispatched_through or now - period
    due, result = plan_dispatch(context, since, now)
    for job in (*JOBS, ROLLOUT_JOB):
        bodies = [item.body() for item in due if item.job == job]
        if bodies:
            context.queues.send(job, bodies)
    if now > since:
        try:
            context.state.save(DispatchState(dispatched_through=now), version)
        except StateConflict:
            # Another tick ran at the same time and saved first; what this one sent, the jobs skip.
            result.state_conflict = True
            logger.warning("dispatch state saved by another run", extra=result.summary())
    metrics.add_metric(name="WindowsDispatched", unit=MetricUnit.Count, value=len(due))
    metrics.add_metric(name="WindowsSkipped", unit=MetricUnit.Count, value=result.skipped_windows)
    metrics.add_metric(
        name="UnreadableManifests", unit=MetricUnit.Count, value=len(result.unreadable_manifests)
    )
    if result.skipped_windows or result.unreadable_manifests:
        logger.warning("dispatch left windows or models out", extra=result.summary())
    else:
        logger.info("dispatched", extra=result.summary())
    return result
