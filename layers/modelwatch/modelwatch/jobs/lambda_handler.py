"""The Lambda handler of a monitoring job, the same for drift, quality and performance.

Invoked by the job's queue (an SQS event: one :class:`JobRequest` per record, put there by
the dispatcher) or on demand (``{"model": ..., "window_start": ..., "force": true}``, what
the demo and the tests send; ``{"model": ..., "time": ...}`` runs the window before
``time``). An empty window is a ``no_data`` result, not an error. An error is stored as a
``failed`` result and raised: on demand, the invocation fails; from the queue, the record is
reported in ``batchItemFailures`` (the others of the batch are done), so SQS retries it and,
after the queue's ``maxReceiveCount``, moves it to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.contracts.results import JobName, JobResult
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.requests import JobRequest
from modelwatch.jobs.runner import run_job, window_of
from modelwatch.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


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
    window = window_of(current, job, request)
    return run_job(current, job, request.model, window, force=request.force)


def job_handler(job: JobName, job_context: Callable[[], JobContext]) -> Handler:
    """The handler of ``job``; ``job_context`` gives the context built at initialisation."""

    def run_record(record: SQSRecord) -> dict[str, Any]:
        request = JobRequest.model_validate_json(record.body)
        return _answer(run_request(job_context(), job, request))

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
        request = JobRequest.model_validate(event)
        return _answer(run_request(job_context(), job, request))

    return handler
