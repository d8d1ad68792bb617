"""Quality function: run the quality job for one model over the window before the schedule fired.

Invoked by an EventBridge schedule (``{"model": ..., "time": ...}``) or on demand
(``{"model": ..., "window_start": ..., "force": true}``). An empty window is a
``no_data`` result, not an error; an error is stored as a ``failed`` result and
raised, so the invocation is retried and then dead-lettered.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.jobs.context import build_job_context
from modelwatch.jobs.requests import JobRequest
from modelwatch.jobs.runner import run_job, window_of
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import load_monitoring_settings

job_context = build_job_context(load_monitoring_settings())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = JobRequest.model_validate(event)
    window = window_of(job_context, "quality", request)
    result = run_job(job_context, "quality", request.model, window, force=request.force)
    return result.model_dump(mode="json", include={"job", "model", "status", "alert", "reason", "result_uri"})
