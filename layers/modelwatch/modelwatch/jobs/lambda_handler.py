"""The Lambda handler of a monitoring job, the same for drift, quality and performance.

Invoked by the job's queue (an SQS event: one :class:`JobRequest` per record, put there by
the dispatcher) or on demand (``{"model": ..., "window_start": ..., "force": true}``, what
the demo and the tests send; ``{"model": ..., "time": ...}`` runs the window before
``time``). An empty window is a ``no_data`` result, not an error. An error is stored as a
``failed`` result and raised: on demand, the invocation fails; from the queue, the record is
reported in ``batchItemFailures`` (the others of the batch are done), so SQS retries it and,
after the queue's ``maxReceiveCount``, moves it to the dead-letter queue.

A run that would outlive the invocation is stopped ``timeout_margin_seconds`` before Lambda's
timeout (:func:`deadline_guard`): :class:`JobTimedOut` is raised in the job, which stores the
window as ``failed`` ("timed out"), so the window is never left looking computed and the retry
recomputes it. (Killed without the guard, a run leaves no result at all, since the result is
written last: see ``modelwatch.stores.results``.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.contracts.results import JobName, JobResult
from modelwatch.jobs import runner
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.requests import JobRequest
from modelwatch.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# Enough to store a failed result (one PUT) and answer, before Lambda ends the invocation.
TIMEOUT_MARGIN_SECONDS = 10.0


class JobTimedOut(Exception):
    """The invocation is about to reach its timeout; raised inside the running job.

    An ``Exception``, so ``run_job`` stores the window as ``failed`` with this reason.
    """


@contextmanager
def deadline_guard(context: LambdaContext, margin_seconds: float) -> Iterator[None]:
    """Raise :class:`JobTimedOut` in the block ``margin_seconds`` before the invocation's timeout.

    The margin is at most a third of the time left when the block starts.

    A timer signal (``SIGALRM``) interrupts the job wherever it is. Without a deadline
    (a context without ``get_remaining_time_in_millis``) or off the main thread, where
    signals cannot be handled (the local scheduler's thread), the block runs unguarded.
    """
    remaining: Callable[[], int] | None = getattr(context, "get_remaining_time_in_millis", None)
    if (
        remaining is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0  # someone else's timer: leave it alone
    ):
        yield
        return
    left = remaining() / 1000
    # A run starting late in a batch (or a test's short deadline) keeps two thirds of what is left.
    margin = min(margin_seconds, left / 3)
    budget = left - margin
    if budget <= 0:
        raise JobTimedOut("timed out: no time left in the invocation to start")

    def on_alarm(signum: int, frame: object) -> None:
        raise JobTimedOut(f"timed out: stopped {margin:.3g} s before the invocation's timeout")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _answer(result: JobResult) -> dict[str, Any]:
    return result.model_dump(mode="json", include={"job", "model", "status", "alert", "reason", "result_uri"})


def is_queue_event(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a batch from an SQS event source mapping."""
    records = event.get("Records")
    return isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records
    )


def run_request(current: JobContext, job: JobName, request: JobRequest) -> JobResult:
    """Run what ``request`` asks of ``job``; a message meant for another job is an error."""
    if request.job is not None and request.job != job:
        raise ValueError(f"a {request.job} request reached the {job} function")
    return runner.run_request(current, job, request)


def job_handler(
    job: JobName,
    job_context: Callable[[], JobContext],
    timeout_margin_seconds: float = TIMEOUT_MARGIN_SECONDS,
) -> Handler:
    """The handler of ``job``; ``job_context`` gives the context built at initialisation.

    Each run is guarded: it stops ``timeout_margin_seconds`` before the invocation's timeout.
    """

    def guarded(request: JobRequest, context: LambdaContext) -> dict[str, Any]:
        with deadline_guard(context, timeout_margin_seconds):
            return _answer(run_request(job_context(), job, request))

    # The batch processor passes the invocation's context to a record handler that takes ``lambda_context``.
    def run_record(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
        return guarded(JobRequest.model_validate_json(record.body), lambda_context)

    @logger.inject_lambda_context
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if is_queue_event(event):
            processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
            response = process_partial_response(
                event=event, record_handler=run_record, processor=processor, context=context
            )
            return dict(response)
        return guarded(JobRequest.model_validate(event), context)

    return handler
