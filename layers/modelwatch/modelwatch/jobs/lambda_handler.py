"""The Lambda handler of a scheduled job, the same for drift, quality and performance.

Invoked by an EventBridge schedule (``{"model": ..., "time": ..., "window_minutes": ...}``)
or on demand (``{"model": ..., "window_start": ..., "force": true}``). An empty window
is a ``no_data`` result, not an error; an error is stored as a ``failed`` result and
raised, so the invocation is retried and then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.contracts.results import JobName
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.requests import JobRequest
from modelwatch.jobs.runner import run_job, window_of
from modelwatch.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def job_handler(job: JobName, job_context: Callable[[], JobContext]) -> Handler:
    """The handler of ``job``; ``job_context`` gives the context built at initialisation."""

    @logger.inject_lambda_context
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = JobRequest.model_validate(event)
        current = job_context()
        window = window_of(current, job, request)
        result = run_job(current, job, request.model, window, force=request.force)
        return result.model_dump(
            mode="json", include={"job", "model", "status", "alert", "reason", "result_uri"}
        )

    return handler
