"""Backfill: rerun the monitoring jobs over a range of history, window by window, each window once.

A backfill asks for ``model``, a range ``[from, to)`` (ISO dates or datetimes, UTC unless they
carry an offset), a subset of the jobs and ``force``. :func:`plan_backfill` turns it into the
windows of each job that cover the range: aligned on the model's window length (its manifest's
``monitoring.window_minutes``, else the deployment's default) exactly as the dispatcher aligns
them (:func:`modelwatch.contracts.window.window_before`), so a backfilled window has the same key
as a scheduled one, and the result of one is the result of the other.

It runs two ways:

- :func:`run_backfill`: here, ``run_job`` per window on a bounded thread pool (the jobs wait on
  S3, not on the CPU); what the ``modelwatch backfill`` command does.
- :func:`queue_backfill`: one message per window on each job's queue (what the dispatcher
  function does with a ``{"backfill": {...}}`` payload); the queues' consumers bound the
  parallelism and retry what fails.

Either way a window with a result that is not ``failed`` is skipped unless ``force`` (the
jobs are idempotent per window), so running the same backfill twice computes nothing twice,
and a window left without a result, or with a ``failed`` one, by an interrupted run is
recomputed by the next.

Windows that have not closed yet (their end, plus the delivery lag, and the label lag of the
performance job, is after now) are left out and counted: computing a window whose events are
still arriving would store a result marked complete over part of its data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelwatch.contracts.names import MODEL_NAME_PATTERN
from modelwatch.contracts.results import JobName, JobResult, WindowJobName
from modelwatch.contracts.window import EPOCH, Window
from modelwatch.jobs.dispatch import JOBS, DispatchContext, DueWindow
from modelwatch.observability import logger, metrics
from modelwatch.stores.manifests import ManifestStore

if TYPE_CHECKING:  # the dispatcher queues backfills without the jobs' modules
    from modelwatch.jobs.context import JobContext

# The dispatcher queues a whole backfill in one invocation (60 s timeout): 10,000 windows are
# 1,000 SendMessageBatch calls, 10-20 s at SQS's usual 10-20 ms a call. A year of hourly windows
# of one job is 8,760; a longer range, or all three jobs over a year, is split (by quarter, say).
MAX_BACKFILL_WINDOWS = 10_000

# Firehose delivers a window's last events up to 90 s after it ends (the dispatcher's default lag).
DELIVERY_LAG = timedelta(minutes=3)

DEFAULT_PARALLEL = 4
MAX_PARALLEL = 10  # botocore keeps 10 connections a client; more threads would wait for one

WindowStatus = Literal["done", "skipped", "no_data", "failed"]
WINDOW_STATUSES: tuple[WindowStatus, ...] = ("done", "skipped", "no_data", "failed")


class BackfillError(ValueError):
    """A backfill that cannot be planned; ``field`` names what is wrong (``from``, ``jobs``, ...)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class BackfillRequest(BaseModel):
    """What a backfill asks for: the payload ``{"model", "from", "to", "jobs", "force"}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    model: str = Field(pattern=MODEL_NAME_PATTERN)
    start: datetime = Field(alias="from", description="First moment of the range (an ISO date or datetime).")
    end: datetime = Field(alias="to", description="End of the range, excluded.")
    jobs: list[WindowJobName] = Field(default_factory=lambda: list(JOBS), min_length=1)
    force: bool = Field(False, description="Recompute windows that already have a result.")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("jobs")
    @classmethod
    def _distinct_in_order(cls, value: list[WindowJobName]) -> list[WindowJobName]:
        return [job for job in JOBS if job in value]

    @classmethod
    def from_payload(cls, payload: object) -> BackfillRequest:
        """Validate a payload; raise :class:`BackfillError` naming the first bad field."""
        if not isinstance(payload, Mapping):
            raise BackfillError("backfill", f"expected an object, got {type(payload).__name__}")
        try:
            request = cls.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "backfill"
            raise BackfillError(where, first.get("msg", "invalid")) from None
        request.check_range()
        return request

    def check_range(self) -> None:
        """Raise :class:`BackfillError` unless ``from`` is before ``to``."""
        if self.start >= self.end:
            raise BackfillError("from", f"{self.start.isoformat()} is not before to ({self.end.isoformat()})")


@dataclass(frozen=True)
class BackfillPlan:
    """The windows of each job covering ``[start, end)``, oldest first."""

    model: str
    start: datetime
    end: datetime
    window_length: timedelta
    force: bool
    windows: dict[JobName, list[Window]]
    not_closed: dict[JobName, int] = field(default_factory=dict)

    @property
    def window_minutes(self) -> int:
        return int(self.window_length.total_seconds() // 60)

    @property
    def total(self) -> int:
        return sum(len(windows) for windows in self.windows.values())

    def due(self) -> list[DueWindow]:
        """Every (job, window), window after window (a window's jobs together), as queue messages."""
        keyed = [
            (window.start, JOBS.index(job), job, window) for job, ws in self.windows.items() for window in ws
        ]
        return [DueWindow(job, self.model, window, self.force) for _, _, job, window in sorted(keyed)]

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "window_minutes": self.window_minutes,
            "force": self.force,
            "windows": {job: len(windows) for job, windows in self.windows.items()},
            "not_closed": dict(self.not_closed),
        }


def covering_windows(start: datetime, end: datetime, length: timedelta) -> Iterator[Window]:
    """The windows of ``length``, aligned since the epoch, that overlap ``[start, end)``, in order."""
    first = EPOCH + ((start - EPOCH) // length) * length
    while first < end:
        yield Window(first, first + length)
        first += length


def count_covering_windows(start: datetime, end: datetime, length: timedelta) -> int:
    """How many windows :func:`covering_windows` yields, without making them."""
    first = (start - EPOCH) // length
    last = -((EPOCH - end) // length)  # ceiling division
    return max(0, last - first)


def plan_backfill(
    request: BackfillRequest,
    manifests: ManifestStore,
    default_window_minutes: int,
    now: datetime,
    alias: str = "production",
    delivery_lag: timedelta = DELIVERY_LAG,
    label_lag: timedelta = timedelta(0),
    max_windows: int = MAX_BACKFILL_WINDOWS,
) -> BackfillPlan:
    """The windows of each requested job covering ``[request.start, request.end)``.

    Parameters
    ----------
    request
        The validated request.
    manifests
        Where the model's serving manifest is (its window length; a model without one is refused).
    default_window_minutes
        The window length of a model whose manifest names none.
    now
        Windows that close after ``now`` (plus the lags) are left out and counted in ``not_closed``.
    alias
        The alias whose manifest is the model's (the monitored one).
    delivery_lag, label_lag
        How long after its end a window is complete; the performance job adds ``label_lag``.
    max_windows
        At most this many windows over all jobs (see ``MAX_BACKFILL_WINDOWS``).

    Raises
    ------
    BackfillError
        ``from`` is not before ``to``; the range is more than ``max_windows`` windows; the
        model has no serving manifest under ``alias``.
    """
    request.check_range()
    manifest = manifests.current(request.model, alias)
    if manifest is None:
        raise BackfillError(
            "model", f"{request.model!r} has no serving manifest under alias {alias!r}: nothing to monitor"
        )
    own = manifest.monitoring.window_minutes if manifest.monitoring is not None else None
    length = timedelta(minutes=own or default_window_minutes)
    per_job = count_covering_windows(request.start, request.end, length)
    total = per_job * len(request.jobs)
    if total > max_windows:
        raise BackfillError(
            "to",
            f"{request.start.isoformat()} to {request.end.isoformat()} is {per_job:,} windows of "
            f"{int(length.total_seconds() // 60)} min for {len(request.jobs)} job(s), {total:,} in all: "
            f"more than the {max_windows:,} one backfill runs (the dispatcher queues a backfill in one "
            "invocation); split the range",
        )
    windows: dict[JobName, list[Window]] = {}
    not_closed: dict[JobName, int] = {}
    for job in request.jobs:
        lag = delivery_lag + (label_lag if job == "performance" else timedelta(0))
        covering = list(covering_windows(request.start, request.end, length))
        windows[job] = [window for window in covering if window.end + lag <= now]
        not_closed[job] = len(covering) - len(windows[job])
    return BackfillPlan(
        model=request.model,
        start=request.start,
        end=request.end,
        window_length=length,
        force=request.force,
        windows=windows,
        not_closed=not_closed,
    )


# --- running a plan here ----------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRun:
    """What one (job, window) of a backfill came to."""

    job: JobName
    window: Window
    status: WindowStatus
    reason: str | None = None


@dataclass
class BackfillReport:
    """Every window of a plan that ran, and whether the run was interrupted before the end."""

    plan: BackfillPlan
    runs: list[WindowRun] = field(default_factory=list)
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(WINDOW_STATUSES, 0)
        for run in self.runs:
            counts[run.status] += 1
        return counts

    @property
    def failed(self) -> list[WindowRun]:
        return sorted(
            (run for run in self.runs if run.status == "failed"),
            key=lambda run: (run.window.start, JOBS.index(run.job)),
        )

    @property
    def not_run(self) -> int:
        return self.plan.total - len(self.runs)

    def summary(self) -> dict[str, Any]:
        return {
            **self.plan.describe(),
            **self.counts(),
            "not_run": self.not_run,
            "interrupted": self.interrupted,
            "failed_windows": [
                {"job": run.job, "window": run.window.key, "reason": run.reason} for run in self.failed
            ],
        }


def run_window(context: JobContext, model: str, item: DueWindow) -> WindowRun:
    """Run one (job, window) with ``run_job``; say whether it was computed, skipped or failed.

    ``run_job`` returns the stored result unchanged when it skips a computed window, so a
    window is ``skipped`` when what came back is what was stored before the call.
    """
    from modelwatch.jobs.runner import run_job

    before = None if item.force else context.results.read(item.job, model, item.window.key)
    try:
        result: JobResult = run_job(context, item.job, model, item.window, force=item.force)
    except Exception as error:  # stored as a failed result by run_job; the other windows go on
        return WindowRun(item.job, item.window, "failed", f"{type(error).__name__}: {error}")
    if before is not None and before.status != "failed" and result == before:
        return WindowRun(item.job, item.window, "skipped")
    if result.status == "failed":
        return WindowRun(item.job, item.window, "failed", result.reason)
    return WindowRun(item.job, item.window, "done" if result.status == "ok" else "no_data", result.reason)


def run_backfill(
    context: JobContext,
    plan: BackfillPlan,
    parallel: int = DEFAULT_PARALLEL,
    on_window: Callable[[WindowRun], None] | None = None,
    stop: threading.Event | None = None,
) -> BackfillReport:
    """Run every window of ``plan`` on ``parallel`` threads; a failed window does not stop the others.

    At most ``parallel`` windows run at once and at most as many more are queued, so a plan of
    10,000 windows holds a few futures, not 10,000. ``on_window`` is called (in this thread)
    after each window. A ``KeyboardInterrupt`` (or ``stop`` set) starts no further window,
    waits for those running (their results are whole: see ``ResultStore.write``) and returns
    the report marked ``interrupted``.
    """
    if not 1 <= parallel <= MAX_PARALLEL:
        raise BackfillError("parallel", f"must be 1 to {MAX_PARALLEL}, got {parallel}")
    report = BackfillReport(plan)
    todo = iter(plan.due())
    running: set[Future[WindowRun]] = set()
    executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="backfill")

    def submit_more() -> None:
        while len(running) < 2 * parallel and not (stop is not None and stop.is_set()):
            item = next(todo, None)
            if item is None:
                return
            running.add(executor.submit(run_window, context, plan.model, item))

    try:
        submit_more()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.discard(future)
                run = future.result()
                report.runs.append(run)
                if on_window is not None:
                    on_window(run)
            submit_more()
        report.interrupted = report.not_run > 0
    except KeyboardInterrupt:
        report.interrupted = True
        for future in running:
            future.cancel()
        # The windows already running finish; their runs are counted if they finished in time.
        executor.shutdown(wait=True, cancel_futures=True)
        report.runs.extend(f.result() for f in running if f.done() and not f.cancelled())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    logger.info("backfill done", extra=report.summary())
    return report


# --- queueing a plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillQueued:
    """What :func:`queue_backfill` put on the queues: the plan, and the messages per job."""

    plan: BackfillPlan
    queued: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {"backfill": {**self.plan.describe(), "queued": dict(self.queued)}}


def queue_backfill(context: DispatchContext, payload: object) -> BackfillQueued:
    """Plan the backfill ``payload`` asks for and put one message per window on each job's queue.

    Sends go ten messages a call (``SqsJobQueues``); the scheduled dispatch state is not
    touched. A send SQS refuses raises after the messages before it were sent: sending the
    same backfill again is harmless (the jobs skip what they computed).

    Raises
    ------
    BackfillError
        The payload is invalid, or names a job without a queue.
    modelwatch.stores.job_queue.JobQueueError
        SQS refused a message.
    """
    request = BackfillRequest.from_payload(payload)
    settings = context.settings
    missing = [job for job in request.jobs if job not in settings.job_queue_urls]
    if missing:
        raise BackfillError("jobs", f"no queue for {', '.join(missing)} in this deployment")
    plan = plan_backfill(
        request,
        context.manifests,
        settings.window_minutes,
        context.clock(),
        alias=settings.served_alias,
        delivery_lag=timedelta(minutes=settings.delivery_lag_minutes),
        label_lag=timedelta(minutes=settings.label_lag_minutes),
    )
    queued: dict[str, int] = {}
    for job, windows in plan.windows.items():
        bodies = [DueWindow(job, plan.model, window, plan.force).body() for window in windows]
        if bodies:
            context.queues.send(job, bodies)
        queued[job] = len(bodies)
    metrics.add_metric(name="BackfillWindowsQueued", unit=MetricUnit.Count, value=sum(queued.values()))
    logger.info("backfill queued", extra={**plan.describe(), "queued": queued})
    return BackfillQueued(plan, queued)
